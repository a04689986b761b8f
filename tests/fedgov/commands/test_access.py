"""``fedgov access policy``: a data officer checks the department's policy file."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from department_nodes.access import POLICY_FILE
from fedgov.access_policy import load_policy
from fedgov.cli import main
from ledger.layout import department_dir

if TYPE_CHECKING:
    from pathlib import Path

POLICY = textwrap.dedent(
    """\
    fedgov_access_policy: 1
    department: health-site-1
    data_officers: ["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"]
    max_epsilon: 1.0
    rules:
      - dataset: randhie
        purposes: [health-cost-model]
        max_epsilon: 0.5
      - dataset: randhie
        purposes: [research]
        kinds: [query]
        columns: [mdvis, female]
        approval: required
    """
)


def test_the_department_policy_is_shown_with_its_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: the policy where the department's node finds it
    folder = department_dir(tmp_path, "health-site-1")
    folder.mkdir(parents=True)
    (folder / POLICY_FILE).write_text(POLICY)
    argv = ["--department", "health-site-1", "--state-dir", str(tmp_path)]

    # Act
    code = main(["access", "policy", *argv])

    # Assert: every rule, its effective epsilon, and the digest audit records name
    out = capsys.readouterr().out
    assert code == 0
    assert load_policy(folder / POLICY_FILE).digest().hex() in out
    assert "randhie: query, train for 'health-cost-model'" in out
    assert "epsilon <= 0.5" in out
    assert "columns female, mdvis, epsilon <= 1.0, data-use agreement required" in out


@pytest.mark.parametrize(
    ("text", "argv", "message"),
    [
        (POLICY.replace("max_epsilon: 1.0", "max_epsilon: -1"), [], "max_epsilon"),
        (POLICY.replace("[research]", "research"), [], "rules[1].purposes"),
        (POLICY, ["--department", "roads"], "is the policy of health-site-1"),
    ],
)
def test_a_broken_or_foreign_policy_is_refused_by_name(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    argv: list[str],
    message: str,
) -> None:
    file = tmp_path / "policy.yaml"
    file.write_text(text)

    code = main(["access", "policy", str(file), *argv])

    assert code == 1
    assert message in capsys.readouterr().err


def test_without_a_file_the_department_and_state_folder_are_needed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["access", "policy", "--department", "roads"]) == 1
    assert "--department (and --state-dir)" in capsys.readouterr().err
