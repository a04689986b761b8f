"""A whole rehearsed consultation, with every abuse attempted, on both backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fedgov.errors import ConfigurationError
from ledger.voting.rehearsal import ABUSES, BLIND_RSA, RING, rehearse_consultation

if TYPE_CHECKING:
    from ledger.chain import Chain


@pytest.mark.parametrize(
    ("ring_size", "kind", "ballots"), [(16, RING, 8), (0, BLIND_RSA, 5)]
)
def test_a_consultation_holds_against_every_abuse(
    chain: Chain, ring_size: int, kind: str, ballots: int
) -> None:
    # Prepare
    lines: list[str] = []

    # Execute
    report = rehearse_consultation(
        chain,
        residents=5,
        seed=3,
        abstain=1,
        no_reveal=1,
        ring_size=ring_size,
        progress=lines.append,
    )

    # Assert
    assert report.ok, lines
    assert report.tally == report.expected_tally == report.retally.tally
    assert sum(report.tally) == 3
    # four voters and Mallory got credentials and committed, three revealed;
    # with ring credentials, three more ballots went on chain for the re-tally
    assert (report.credentials, report.ballots, report.reveals) == (5, ballots, 3)
    assert report.receipts_ok == 3
    assert len(report.retally.unrevealed_keys) == 2  # the silent one and Mallory
    expected = [a.name for a in ABUSES if a.credentials in (None, kind)]
    assert [r.abuse for r in report.rejections] == expected
    for rejection in report.rejections:
        assert rejection.reason is not None, rejection.abuse
        assert rejection.expected in rejection.reason, rejection
    assert len(report.caught) == ballots - 5
    assert report.gas.commit > 0
    assert any("re-tally from events: matches" in line for line in lines)


@pytest.mark.parametrize(
    ("residents", "abstain", "no_reveal"), [(0, 0, 0), (3, 4, 0), (3, 1, 3)]
)
def test_impossible_electorates_are_refused(
    residents: int, abstain: int, no_reveal: int
) -> None:
    with pytest.raises(ConfigurationError):
        rehearse_consultation(
            None,  # type: ignore[arg-type]  # refused before the chain is used
            residents=residents,
            abstain=abstain,
            no_reveal=no_reveal,
        )
