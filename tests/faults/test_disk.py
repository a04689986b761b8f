"""A full disk under a department's budget book and audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from experiments.faults import full_disk

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_a_full_disk_fails_writes_clearly_and_loses_nothing(tmp_path: Path) -> None:
    # Act
    outcome = full_disk(tmp_path)

    # Assert: both writes refused with a clear error, nothing lost or torn
    assert outcome.problems() == [], outcome.must_hold
    assert outcome.failed_clearly == 2
