"""``fedgov data check`` and ``fedgov data draft``, and every command of
docs/datasets.md run exactly as typed there."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fedgov.cli import main
from fedgov.data import DeclarationError, get_dataset
from fedgov.data.declaration import PLACEHOLDER
from privacy.vault import RECORDS, DatasetVault

DOCS = Path(__file__).parents[3] / "docs" / "datasets.md"
_PROMPT = "$ "


def _site3(folder: Path) -> Path:
    raw = get_dataset("randhie").reader("train").frame  # type: ignore[misc]
    path = folder / "departments" / "health-site-3.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    raw[raw["site"] == 3].to_csv(path, index=False)
    return path


def _console_blocks(text: str) -> list[list[tuple[str, list[str]]]]:
    """Each ```console block as (command, expected output lines) pairs."""
    blocks = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL):
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith(_PROMPT):
                steps.append((line[len(_PROMPT) :], []))
            else:
                steps[-1][1].append(line)
        blocks.append(steps)
    return blocks


def test_every_command_in_the_docs_runs_as_shown(tmp_path: Path) -> None:
    _site3(tmp_path)
    blocks = _console_blocks(DOCS.read_text())
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}

    commands = [step for block in blocks for step in block]
    assert len(commands) >= 3
    for command, expected in commands:
        done = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True
        )
        output = [
            line
            for line in (done.stdout + done.stderr).splitlines()
            # Log lines carry a timestamp; the docs show what a person reads.
            if not re.match(r"^\d{4}-\d\d-\d\d ", line)
        ]
        assert output == expected, command


def test_check_exits_1_and_counts_an_invalid_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _site3(tmp_path)
    frame = pd.read_csv(path)
    frame.loc[3, "xage"] = 99
    frame.loc[4, "income"] = -5
    frame.to_csv(path, index=False)

    code = main(["data", "check", "--dataset", "randhie", "--source", f"csv:{path}"])

    out = capsys.readouterr().out
    assert code == 1
    assert "[out-of-range] xage: value '99.0' is outside" in out or "99" in out
    assert "first row 4" in out
    # income is SENSITIVE: the report names its row, never its value (the
    # source's path, named too, may hold "-5": pytest-5xx).
    assert "-5" not in out.replace(str(path), "<source>")


def test_check_of_an_unreadable_source_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["data", "check", "--dataset", "adult", "--source", f"csv:{tmp_path}/no.csv"]
    )

    assert code == 1
    assert "No files found" in capsys.readouterr().err


def test_a_draft_copies_no_value_of_the_records(tmp_path: Path) -> None:
    table = tmp_path / "clinic.csv"
    pd.DataFrame(
        {
            "person": [918273, 918274],
            "age": [17, 93],
            "district": ["Northwick", "Southmoor"],
            "income": [123456.78, 98765.43],
        }
    ).to_csv(table, index=False)
    draft = tmp_path / "clinic.yaml"

    assert main(["data", "draft", f"csv:{table}", "--output", str(draft)]) == 0

    text = draft.read_text()
    for value in ("918273", "17", "93", "Northwick", "Southmoor", "123456", "98765"):
        assert value not in text
    assert "never copy bounds or categories from the records" in text.lower()
    assert "kind: integer  # the source stores BIGINT" in text
    with pytest.raises(DeclarationError, match=PLACEHOLDER):
        get_dataset(str(draft))


def test_a_completed_draft_checks(tmp_path: Path) -> None:
    table = tmp_path / "clinic.csv"
    pd.DataFrame(
        {"person": [1, 2, 3], "age": [17, 93, 40], "visits": [0, 2, 5]}
    ).to_csv(table, index=False)
    draft = tmp_path / "clinic.yaml"
    main(["data", "draft", f"csv:{table}", "--output", str(draft)])
    text = draft.read_text()
    filled = {
        'title: "TODO"': "title: Clinic",
        'source: "TODO: who collects these records, and how"': "source: clinics",
        'licence: "TODO: the terms they are held under"': "licence: internal",
        'kind: "TODO"  # binary': "kind: binary  #",
        'summary: "TODO: what the model predicts, in one sentence"': "summary: visits",
        'label: "TODO"': "label: any_visit",
        'column: "TODO"  # the column': "column: visits  #",
        'description: "TODO: how the label is defined"': "description: visits > 0\n  greater_than: 0",
        '  column: "TODO"\n  max_records_per_unit: "TODO"': "  column: person\n  max_records_per_unit: 1",
    }
    for old, new in filled.items():
        assert old in text, old
        text = text.replace(old, new)
    roles = {
        "person": ("direct_identifier", "core"),
        "age": ("feature", "internal"),
        "visits": ("label", "sensitive"),
    }
    for name, (role, classification) in roles.items():
        start = text.index(f'- name: "{name}"')
        entry = text[start:].split("\n  - ")[0]
        new_entry = (
            entry.replace('roles: ["TODO"]', f"roles: [{role}]")
            .replace('classification: "TODO"', f"classification: {classification}")
            .replace('bounds: ["TODO", "TODO"]', "bounds: [0, 1000000]")
            .replace(f'"TODO: what {name} records"', f"the {name}")
        )
        text = text.replace(entry, new_entry)
    draft.write_text(text)

    code = main(["data", "check", "--dataset", str(draft), "--source", f"csv:{table}"])

    assert code == 0


def test_draft_never_overwrites(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("a\n1\n")
    existing = tmp_path / "t.yaml"
    existing.write_text("mine")

    assert main(["data", "draft", f"csv:{table}", "--output", str(existing)]) == 1
    assert existing.read_text() == "mine"


def test_import_seals_the_table_and_retention_lists_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    table = _site3(tmp_path)
    state = tmp_path / "state"
    plain = pd.read_csv(table)

    # Act
    imported = main(["data", "import", "--dataset", "randhie", "--source",
                     f"csv:{table}", "--department", "health-site-3",
                     "--state-dir", str(state)])  # fmt: skip
    said = capsys.readouterr().out
    listed = main(["data", "retention", "--state-dir", str(state)])

    # Assert: every record sealed in the department's vault, none in clear
    assert imported == 0
    assert f"{len(plain)} records of randhie sealed for health-site-3" in said
    assert listed == 0
    assert "health-site-3" in capsys.readouterr().out
    vault = DatasetVault(state, "health-site-3", "randhie")
    sealed = pd.read_parquet(io.BytesIO(vault.open(RECORDS)))
    assert len(sealed) == len(plain)
    files = [f for f in vault.folder.rglob("*") if f.is_file()]
    assert files
    # Parquet's magic and its schema's column names would show in clear.
    assert not any(b"PAR1" in f.read_bytes() for f in files)
    assert not any(b"mdvis" in f.read_bytes() for f in files)
