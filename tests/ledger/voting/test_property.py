"""For random electorates and behaviour, the tally is the truth and receipts hold."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import ContractRevertError
from ledger.voting import resident
from ledger.voting.receipt import check_receipt
from ledger.voting.registrar import Registrar
from ledger.voting.tally import retally
from tests.ledger.voting._helpers import (
    OPTIONS,
    certify,
    open_consultation,
    roll_of,
    to_commit,
    to_end,
    to_reveal,
)

if TYPE_CHECKING:
    from Crypto.PublicKey.RSA import RsaKey

    from ledger.voting.receipt import Receipt
    from ledger.voting.resident import Wallet
    from tests.ledger.voting._helpers import Voting

# What a resident does: stay away, vote, vote and never reveal, or vote and then
# try to vote again with the same credential.
_BEHAVIOUR = st.sampled_from(["abstain", "vote", "silent", "double"])
_RESIDENT = st.tuples(_BEHAVIOUR, st.integers(0, len(OPTIONS) - 1))


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    electorate=st.lists(_RESIDENT, min_size=1, max_size=4),
    extra_on_roll=st.integers(0, 3),
)
def test_tally_is_the_ground_truth_and_honest_receipts_check_out(
    voting: Voting,
    credential_key: RsaKey,
    electorate: list[tuple[str, int]],
    extra_on_roll: int,
) -> None:
    # Prepare: a roll of this electorate (and some who never show up)
    names = [f"r{i}" for i in range(len(electorate) + extra_on_roll)]
    roll, roll_keys = roll_of(names)
    registrar = Registrar(
        voting.contract,
        account=voting.registrar_account,
        roll=roll,
        key=credential_key,
    )
    v = dataclasses.replace(voting, roll=roll, roll_keys=roll_keys, registrar=registrar)
    info = open_consultation(v)
    wallets: dict[str, Wallet] = {
        name: certify(v, info, name)
        for name, (behaviour, _) in zip(names, electorate, strict=False)
        if behaviour != "abstain"
    }
    behaviours = dict(zip(names, electorate, strict=False))

    # Execute
    to_commit(v, info)
    receipts: dict[str, Receipt] = {}
    for name, wallet in wallets.items():
        behaviour, choice = behaviours[name]
        wallets[name], receipts[name] = resident.cast_ballot(
            v.contract, wallet, info, choice, relayer=v.relayer
        )
        if behaviour == "double":
            with pytest.raises(ContractRevertError, match="already cast a ballot"):
                resident.cast_ballot(
                    v.contract,
                    wallet,  # the wallet as it was before its first ballot
                    info,
                    (choice + 1) % len(OPTIONS),
                    relayer=v.relayer,
                )
    to_reveal(v, info)
    for name, wallet in wallets.items():
        if behaviours[name][0] != "silent":
            wallets[name], _ = resident.reveal_ballot(
                v.contract, wallet, relayer=v.relayer
            )
    to_end(v, info)
    v.contract.finalize(info.consultation_id, sender=v.relayer)

    # Assert
    truth = [0] * len(OPTIONS)
    for name in wallets:
        behaviour, choice = behaviours[name]
        if behaviour != "silent":
            truth[choice] += 1
    state = v.contract.state(info.consultation_id)
    assert state.tally == tuple(truth)
    assert state.issued == state.committed == len(wallets)
    audit = retally(v.contract, info.consultation_id)
    assert audit.matches, audit.problems
    assert audit.tally == tuple(truth)
    assert audit.finalized_tally == tuple(truth)
    silent = {
        wallets[n].voting_address for n in wallets if behaviours[n][0] == "silent"
    }
    assert set(audit.unrevealed_keys) == silent
    for name, receipt in receipts.items():
        checked = check_receipt(v.contract, receipt)
        assert checked.recorded, (name, checked)
        if behaviours[name][0] == "silent":
            assert not checked.ok
            assert not checked.revealed
        else:
            assert checked.ok, (name, checked)
            assert checked.counted, (name, checked)
