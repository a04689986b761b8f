"""Reading a consultation's events, and moving a dev chain's clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from ledger.voting import resident
from ledger.voting._clock import advance_to, latest_timestamp
from ledger.voting._events import EventDecoder, consultation_logs
from tests.ledger.voting._helpers import (
    certify,
    open_consultation,
    to_commit,
    to_end,
    to_reveal,
)

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
    assert len(fast) == len(slow) == 3  # creation and two issuances
    for mine, theirs in zip(fast, slow, strict=True):
        assert mine.address.lower() == theirs["address"].lower()
        assert mine.topics == tuple(bytes(t) for t in theirs["topics"])
        assert mine.data == bytes(theirs["data"])
        assert mine.block_number == theirs["blockNumber"]
        assert mine.transaction_hash == bytes(theirs["transactionHash"])
        assert mine.log_index == theirs["logIndex"]


def test_the_decoder_agrees_with_web3(voting: Voting) -> None:
    # Prepare: one event of each kind
    info = open_consultation(voting)
    wallet = certify(voting, info, "alice")
    to_commit(voting, info)
    wallet, _ = resident.cast_ballot(
        voting.contract, wallet, info, 2, relayer=voting.relayer
    )
    to_reveal(voting, info)
    resident.reveal_ballot(voting.contract, wallet, relayer=voting.relayer)
    to_end(voting, info)
    voting.contract.finalize(info.consultation_id, sender=voting.relayer)
    decoder = EventDecoder(voting.contract.contract.abi)

    # Execute
    logs = consultation_logs(
        voting.chain,
        voting.contract.address,
        info.consultation_id,
        from_block=info.created_block,
        to_block=voting.chain.block_number,
    )

    # Assert
    assert len(logs) == 5
    for log in logs:
        ours = decoder.decode(log)
        assert ours is not None
        event = getattr(voting.contract.contract.events, ours.name)()
        assert decoder.topic(ours.name) == bytes(HexBytes(event.topic))
        theirs = event.process_log(
            {
                "address": log.address,
                "topics": [HexBytes(t) for t in log.topics],
                "data": HexBytes(log.data),
                "blockNumber": log.block_number,
                "blockHash": HexBytes(bytes(32)),
                "transactionHash": HexBytes(log.transaction_hash),
                "transactionIndex": 0,
                "logIndex": log.log_index,
                "removed": False,
            }
        )
        for name, value in theirs["args"].items():
            mine = ours.args[name]
            assert (list(mine) if isinstance(mine, tuple) else mine) == value, name


def test_events_are_grouped_by_kind_for_one_consultation(voting: Voting) -> None:
    # Prepare
    first = open_consultation(voting)
    second = open_consultation(voting)
    certify(voting, second, "carol")

    # Execute
    events = voting.contract.events(second.consultation_id)

    # Assert
    assert [e.args["consultationId"] for e in events.created] == [2]
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
