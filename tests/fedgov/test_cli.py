"""The ``fedgov`` dispatcher: light commands stay light."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from fedgov.cli import main
try:
    main(["vote", "check", "--help"])
except SystemExit:
    pass
print(sorted(m for m in ("torch", "flwr", "opacus") if m in sys.modules))
"""


def test_fedgov_vote_check_loads_neither_torch_nor_flower() -> None:
    # Act: the command's module is imported before --help is answered
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True
    )

    # Assert
    assert "fedgov vote check" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"
