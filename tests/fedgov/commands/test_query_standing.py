"""``fedgov query`` with a standing federation recorded: a thin client that imports
no torch, Opacus or Flower; a service that does not answer is an error naming it,
never a silent fall back to the simulation engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fedgov.cli import main
from fedgov.questions import FEDERATION_FOLDER, FEDERATION_RECORD

QUESTION = ["query", "count", "--dataset", "randhie", "--epsilon", "0.1"]
HEAVY = ("torch", "opacus", "flwr", "dp_accounting", "ray", "pandas", "numpy")


def test_the_standing_path_imports_nothing_heavy() -> None:
    # Execute: what `fedgov query` imports before it asks a standing federation
    code = (
        "import sys, fedgov.cli, fedgov.commands.query; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    # Assert
    assert json.loads(done.stdout.replace("'", '"')) == []


def test_a_federation_whose_service_does_not_answer_is_an_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Prepare: a federation recorded, nothing listening
    monkeypatch.setenv("FEDGOV_HOME", str(tmp_path))
    folder = tmp_path / FEDERATION_FOLDER
    folder.mkdir()
    (folder / FEDERATION_RECORD).write_text("{}")

    # Execute
    code = main(QUESTION)

    # Assert: named, with what to do; no simulated department was asked
    err = capsys.readouterr().err
    assert code == 1
    assert "query service does not answer" in err
    assert "fedgov federation status" in err
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("extra", "argument"),
    [
        (["--sources", "somewhere"], "--sources"),
        (["--confidence", "0.9"], "--confidence/--num-cpus"),
        (["--num-cpus", "2"], "--confidence/--num-cpus"),
    ],
)
def test_the_federations_own_settings_are_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    argument: str,
) -> None:
    monkeypatch.setenv("FEDGOV_HOME", str(tmp_path))
    folder = tmp_path / FEDERATION_FOLDER
    folder.mkdir()
    (folder / FEDERATION_RECORD).write_text("{}")

    assert main([*QUESTION, *extra]) == 1
    assert argument in capsys.readouterr().err
