"""The README's "Your own data" commands, run as a user types them.

The block is read from the README and from docs/datasets.md (they must
agree) and run by bash, as it stands, in a folder laid out as a clone: the
test's own virtual environment as ``.venv`` (what ``make venv`` made) and a
copy of ``docs/examples/nmes1988`` (so that the run writes nothing into the
repository). Nothing is filled in by hand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = Path("docs") / "examples" / "nmes1988"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def _block(page: Path, heading: str) -> str:
    after = page.read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1]
    section = re.split(r"\n#{2,3} ", after, maxsplit=1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    return str(block)


def _clone(folder: Path) -> Path:
    """What a user's clone holds that the commands use."""
    folder.mkdir()
    (folder / ".venv").symlink_to(Path(sys.prefix))
    shutil.copytree(
        ROOT / EXAMPLE,
        folder / EXAMPLE,
        ignore=shutil.ignore_patterns("departments", "runs", "outputs", "state"),
    )
    return folder


def test_your_own_data_runs_as_documented(tmp_path: Path) -> None:
    # Prepare
    block = _block(ROOT / "README.md", "## Your own data")
    assert block == _block(
        ROOT / "docs" / "datasets.md",
        "## Worked example: NMES 1988, four regional health offices",
    )
    clone = _clone(tmp_path / "clone")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "FEDGOV_HOME")
    }
    env["HOME"] = str(tmp_path / "home")

    # Execute
    done = subprocess.run(
        ["bash", "-e", "-c", block],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )

    # Assert: every step ran and said what the README says it does.
    out = done.stdout
    assert done.returncode == 0, (out + done.stderr)[-5000:]
    example = clone / EXAMPLE
    offices = sorted(p.stem for p in (example / "departments").glob("*.csv"))
    assert offices == [
        "office-midwest",
        "office-northeast",
        "office-other",
        "office-west",
    ]
    draft = (example / "draft.yaml").read_text(encoding="utf-8")
    assert "TODO" in draft
    assert "wrote draft.yaml: fill in every TODO" in out
    assert "valid: every record satisfies the declaration" in out
    rounds = re.findall(r"^round +(\d+): accuracy .*AUC (\S+),.* (\d)/4 .*", out, re.M)
    assert [int(r[0]) for r in rounds] == list(range(1, 11))
    assert all(trained == "4" for _, _, trained in rounds)
    (record_file,) = (example / "runs").glob("train-nmes1988-*/run_record.json")
    record = json.loads(record_file.read_text(encoding="utf-8"))
    assert record["dataset"]["task"] == "binary"
    assert "mean of visits by gender on nmes1988" in out
    assert "4 of 4 departments answered" in out
    # One budget per office holds the job's rounds and the query.
    books = re.findall(
        r"^(office-\S+) +nmes1988 +8\.000 +(\S+) +\S+ +(\d+)$", out, re.M
    )
    assert sorted(b[0] for b in books) == offices
    for _, spent, spends in books:
        assert 1.0 < float(spent) < 1.5
        assert int(spends) == 11
    assert not (tmp_path / "home" / ".fedgov").exists()
