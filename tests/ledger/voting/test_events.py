"""Reading a consultation's events, and moving a dev chain's clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from eth_utils.address import to_checksum_address

from ledger.voting._clock import advance_to, latest_timestamp
from ledger.voting._events import consultation_logs
from tests.ledger.voting._helpers import certify, open_consultation

if TYPE_CHECKING:
    from tests.ledger.voting._helpers import Voting


@pytest.mark.parametrize("chain", ["embedded"], indirect=True)
def test_the_py_evm_fast_path_returns_what_eth_get_logs_returns(
    voting: Voting,
) -> None:
    # Prepare: two consultations whose events interleave
    first = open_consultation(voting)
    second = open_consultation(voting)
    for name in ("alice", "bob"):
        certify(voting, first, name)
        certify(voting, second, name)
    topic = "0x" + first.consultation_id.to_bytes(32, "big").hex()

    # Execute
    fast = consultation_logs(
        voting.chain,
        voting.contract.address,
        first.consultation_id,
        from_block=0,
        to_block=voting.chain.block_number,
    )
    slow = voting.chain.w3.eth.get_logs(
        {
            "address": to_checksum_address(voting.contract.address),
            "fromBlock": 0,
            "toBlock": voting.chain.block_number,
            "topics": [None, topic],
        }
    )

    # Assert
    fields = (
        "address",
        "topics",
        "data",
        "blockNumber",
        "blockHash",
        "transactionHash",
        "transactionIndex",
        "logIndex",
    )
    assert len(fast) == len(slow) == 3  # creation and two issuances
    for mine, theirs in zip(fast, slow, strict=True):
        assert {f: mine[f] for f in fields} == {f: theirs[f] for f in fields}  # type: ignore[literal-required]


def test_events_are_grouped_by_kind_for_one_consultation(voting: Voting) -> None:
    # Prepare
    first = open_consultation(voting)
    second = open_consultation(voting)
    certify(voting, second, "carol")

    # Execute
    events = voting.contract.events(second.consultation_id)

    # Assert
    assert [e["args"]["consultationId"] for e in events.created] == [2]
    assert len(events.issued) == 1
    assert events.committed == events.revealed == events.finalized == ()
    assert len(voting.contract.events(first.consultation_id).issued) == 0


def test_the_clock_moves_forward_only(voting: Voting) -> None:
    # Prepare
    start = latest_timestamp(voting.chain)

    # Execute
    reached = advance_to(voting.chain, start + 5_000)
    unchanged = advance_to(voting.chain, start)

    # Assert
    assert reached >= start + 5_000
    assert latest_timestamp(voting.chain) == reached == unchanged
