"""``fedgov release``: the documented commands as typed, output and errors."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.bench.watermark import adult_extract, leak, randhie_extract
from fedgov.cli import main

DOCS = Path(__file__).parents[3] / "docs" / "data-protection.md"
DEPARTMENT = "civil-affairs-private"
MAKE = [
    "release", "make", "extract.csv", "--dataset", "adult", "--department", DEPARTMENT,
    "--recipient", "county-planning", "--mark", "fnlwgt", "--mark", "hours_per_week",
    "--state-dir", "state",
]  # fmt: skip


@pytest.fixture(scope="module")
def extract() -> pd.DataFrame:
    return adult_extract(DEPARTMENT)


@pytest.fixture
def workdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extract: pd.DataFrame
) -> Path:
    monkeypatch.chdir(tmp_path)
    extract.to_csv("extract.csv", index=False)
    return tmp_path


def _documented_commands() -> list[list[str]]:
    text = DOCS.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = re.findall(r"^\$ (fedgov release .*)$", text, flags=re.MULTILINE)
    return [shlex.split(line)[1:] for line in lines]


def test_the_documented_commands_run_as_typed(
    workdir: Path, capsys: pytest.CaptureFixture[str], extract: pd.DataFrame
) -> None:
    # Arrange
    commands = _documented_commands()
    assert [c[1] for c in commands] == ["make", "make", "list", "trace"]
    outputs = []

    # Act: the leaked copy is a tenth of the second recipient's file, reordered,
    # without its sex column.
    for argv in commands:
        if argv[1] == "trace":
            copy = pd.read_csv("health-site-1.csv")
            leaked = leak(copy, 0.1, np.random.default_rng(0), drop="sex", decimals={})
            leaked.to_csv("leaked.csv", index=False)
        assert main(argv) == 0
        outputs.append(capsys.readouterr().out)

    # Assert
    assert f"for county-planning: {len(extract)} rows" in outputs[0]
    assert f"for health-site-1: {len(extract)} rows" in outputs[1]
    assert outputs[2].count(DEPARTMENT) == 2
    assert "recipient: health-site-1 (release" in outputs[3]
    assert "false-attribution probability <= " in outputs[3]
    assert Path("county-planning.csv").stat().st_mode & 0o077 == 0


def test_trace_json_names_the_recipient_and_every_release_tested(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for recipient in ("a", "b", "c"):
        argv = [*MAKE, "--out", f"{recipient}.csv"]
        argv[argv.index("county-planning")] = recipient
        assert main(argv) == 0
    copy = pd.read_csv("b.csv")
    leak(copy, 0.2, np.random.default_rng(1), drop="age", decimals={}).to_csv(
        "leaked.csv", index=False
    )
    capsys.readouterr()

    code = main(["release", "trace", "leaked.csv", "--state-dir", "state", "--json"])

    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["tested"] == 3
    assert [n["recipient"] for n in report["named"]] == ["b"]
    assert report["named"][0]["log10_false_attribution"] < -6
    assert report["exact"] == []


def test_an_unmarked_copy_traces_to_no_recipient(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*MAKE, "--out", "out.csv"]) == 0

    code = main(["release", "trace", "extract.csv", "--state-dir", "state"])

    assert code == 0
    assert "no recipient: no release's marks are significant" in capsys.readouterr().out


def test_make_never_overwrites_and_then_records_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("out.csv").write_text("keep me")

    code = main([*MAKE, "--out", "out.csv"])

    assert code == 1
    assert (
        "out.csv exists; a release file is never overwritten" in capsys.readouterr().err
    )
    assert Path("out.csv").read_text() == "keep me"
    assert not Path("state").exists()


def test_make_names_a_float_column_without_a_step(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    randhie_extract("health-site-3").to_csv("bureau.csv", index=False)
    argv = ["release", "make", "bureau.csv", "--dataset", "randhie", "--department",
            "health-site-3", "--recipient", "x", "--mark", "pioff", "--state-dir",
            "state", "--out", "x.csv", "--step", "pioff=1"]  # fmt: skip

    code = main(argv)

    assert code == 1
    assert (
        "steps['xage']: a float column needs a declared step" in capsys.readouterr().err
    )
    assert not Path("x.csv").exists()


def test_make_refuses_a_release_that_fails_the_check(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*MAKE, "--out", "out.csv", "--k", "40"])

    err = capsys.readouterr().err
    assert code == 1
    assert "release of extract.csv refused" in err
    assert "k-anonymity" in err
    assert not Path("out.csv").exists()
    assert not list(Path("state").glob("departments/*/releases/*"))


def test_trace_needs_records_and_one_department_per_key(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["release", "trace", "extract.csv", "--state-dir", "state"]) == 1
    assert "no release records under state/departments" in capsys.readouterr().err
    key = "file:state/departments/civil-affairs-private/watermark.key"

    code = main(["release", "list", "--state-dir", "state", "--key", key,
                 "--department", "a", "--department", "b"])  # fmt: skip

    assert code == 1
    assert "name that department with --department" in capsys.readouterr().err


def test_bad_step_syntax_is_an_argument_error(workdir: Path) -> None:
    with pytest.raises(SystemExit):
        main([*MAKE, "--out", "o.csv", "--step", "fnlwgt"])
