"""The main job runs end to end and every check it makes passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedgov.commands.demo import run_demo


@pytest.mark.slow
def test_the_demo_passes_every_check(tmp_path: Path) -> None:
    result = run_demo(output=tmp_path, rounds=3, residents=8)
    assert result.ok
    assert len(result.record.rounds) == 3
    assert {d.rounds_trained for d in result.record.departments} == {3}
    assert result.audit.queries == 1
    assert result.consultation.retally.matches
    assert (tmp_path / "run" / "run_record.json").exists()
