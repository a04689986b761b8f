"""The Roles contract and its client: grants, revokes, events, history."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedgov.errors import ConfigurationError
from ledger.chain import Chain
from ledger.chain_roles import Roles, role_from_id, role_id
from ledger.errors import ContractRevertError
from ledger.records import Role

if TYPE_CHECKING:
    from tests.chain_fixtures import LedgerContracts


def test_role_ids_match_the_contract_constants(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    chain, functions = ledger_contracts.chain, ledger_contracts.roles.contract.functions

    # Execute
    on_chain = {
        role: bytes(chain.call(getattr(functions, role.name)())) for role in Role
    }

    # Assert
    assert on_chain == {role: role_id(role) for role in Role}
    # keccak256("fedgov.role.admin")
    assert role_id(Role.ADMIN).hex() == (
        "3daa257c465de30d5aa1be4d78e674e45e4693ed0c51e46c28ad38d4015a3a45"
    )


def test_role_from_id_round_trips_and_rejects_unknown_ids() -> None:
    assert [role_from_id(role_id(role)) for role in Role] == list(Role)
    with pytest.raises(ConfigurationError, match="no fedgov role"):
        role_from_id(b"\x01" * 32)


def test_deployer_is_the_first_admin_and_fixture_roles_are_held(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    expected = {
        c.admin.address: Role.ADMIN,
        c.coordinator.address: Role.COORDINATOR,
        c.department.address: Role.DEPARTMENT,
        c.auditor.address: Role.AUDITOR,
        c.registrar.address: Role.REGISTRAR,
    }

    # Execute
    held = {
        account: {role for role in Role if c.roles.has_role(account, role)}
        for account in [*expected, c.outsider.address]
    }

    # Assert
    assert held == {**{a: {r} for a, r in expected.items()}, c.outsider.address: set()}


def test_every_account_ever_granted_a_role_is_listed_once(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts

    # Execute: a second role, a revoke and a new grant list nobody twice.
    c.roles.grant(c.department.address, Role.AUDITOR, sender=c.admin)
    c.roles.revoke(c.department.address, Role.AUDITOR, sender=c.admin)
    c.roles.grant(c.outsider.address, Role.DEPARTMENT, sender=c.admin)

    # Assert
    assert c.roles.accounts() == [
        c.admin.address,
        c.coordinator.address,
        c.department.address,
        c.auditor.address,
        c.registrar.address,
        c.outsider.address,
    ]


def test_grant_and_revoke_emit_events_with_account_role_and_sender(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts

    # Execute
    granted = c.roles.grant(c.outsider.address, Role.AUDITOR, sender=c.admin)
    revoked = c.roles.revoke(c.outsider.address, Role.AUDITOR, sender=c.admin)

    # Assert
    assert (granted.account, granted.role, granted.granted, granted.sender) == (
        c.outsider.address,
        Role.AUDITOR,
        True,
        c.admin.address,
    )
    assert (revoked.role, revoked.granted, revoked.sender) == (
        Role.AUDITOR,
        False,
        c.admin.address,
    )
    assert revoked.block_number > granted.block_number
    assert not c.roles.has_role(c.outsider.address, Role.AUDITOR)


@pytest.mark.parametrize("holder", ["coordinator", "department", "auditor", "outsider"])
def test_only_an_admin_grants_or_revokes(
    ledger_contracts: LedgerContracts, holder: str
) -> None:
    # Prepare
    c = ledger_contracts
    caller = getattr(c, holder)

    # Execute / Assert
    with pytest.raises(ContractRevertError) as grant:
        c.roles.grant(caller.address, Role.ADMIN, sender=caller)
    with pytest.raises(ContractRevertError) as revoke:
        c.roles.revoke(c.department.address, Role.DEPARTMENT, sender=caller)
    assert grant.value.reason == revoke.value.reason == "Roles: caller is not an admin"
    assert c.roles.has_role(c.department.address, Role.DEPARTMENT)
    assert not c.roles.has_role(caller.address, Role.ADMIN)


def test_invalid_changes_are_rejected_with_reasons(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    grant_unknown = c.roles.contract.functions.grant_role(
        c.outsider.address, b"\x07" * 32
    )

    # Execute / Assert
    with pytest.raises(ContractRevertError, match="unknown role"):
        c.chain.transact(grant_unknown, sender=c.admin)
    with pytest.raises(ContractRevertError, match="already holds the role"):
        c.roles.grant(c.department.address, Role.DEPARTMENT, sender=c.admin)
    with pytest.raises(ContractRevertError, match="does not hold the role"):
        c.roles.revoke(c.outsider.address, Role.AUDITOR, sender=c.admin)
    with pytest.raises(ContractRevertError, match="cannot revoke the last admin"):
        c.roles.revoke(c.admin.address, Role.ADMIN, sender=c.admin)
    with pytest.raises(ContractRevertError, match="zero address"):
        c.roles.grant("0x" + "00" * 20, Role.AUDITOR, sender=c.admin)


def test_admin_hands_over_to_a_new_admin(ledger_contracts: LedgerContracts) -> None:
    # Prepare
    c = ledger_contracts
    c.roles.grant(c.outsider.address, Role.ADMIN, sender=c.admin)

    # Execute
    c.roles.revoke(c.admin.address, Role.ADMIN, sender=c.outsider)

    # Assert
    assert c.roles.has_role(c.outsider.address, Role.ADMIN)
    assert not c.roles.has_role(c.admin.address, Role.ADMIN)
    with pytest.raises(ContractRevertError, match="not an admin"):
        c.roles.grant(c.admin.address, Role.ADMIN, sender=c.admin)


def test_history_answers_whether_a_role_was_held_at_a_block_and_time(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare: granted, revoked, granted again, with unrelated changes between
    c, account = ledger_contracts, ledger_contracts.outsider.address
    first = c.roles.grant(account, Role.AUDITOR, sender=c.admin)
    c.roles.grant(account, Role.REGISTRAR, sender=c.admin)
    revoked = c.roles.revoke(account, Role.AUDITOR, sender=c.admin)
    c.roles.revoke(account, Role.REGISTRAR, sender=c.admin)
    again = c.roles.grant(account, Role.AUDITOR, sender=c.admin)

    # Execute
    history = c.roles.history(account, Role.AUDITOR)
    at_blocks = {
        block: c.roles.held_at(account, Role.AUDITOR, block=block)
        for block in range(first.block_number - 1, again.block_number + 1)
    }
    # Blocks within one second share a timestamp (anvil): time T means the
    # state after the last block stamped at or before T.
    revoked_time = c.chain.block_timestamp(revoked.block_number)
    last_block_at_time = max(
        block for block in at_blocks if c.chain.block_timestamp(block) <= revoked_time
    )

    # Assert
    assert [(h.granted, h.block_number) for h in history] == [
        (True, first.block_number),
        (False, revoked.block_number),
        (True, again.block_number),
    ]
    assert at_blocks == {
        block: first.block_number <= block < revoked.block_number
        or block >= again.block_number
        for block in at_blocks
    }
    assert (
        c.roles.held_at(account, Role.AUDITOR, timestamp=revoked_time)
        is (at_blocks[last_block_at_time])
    )
    assert c.roles.held_at(account, Role.AUDITOR, timestamp=0) is False
    assert c.roles.history(account, Role.COORDINATOR) == []
    with pytest.raises(ConfigurationError, match="exactly one"):
        c.roles.held_at(account, Role.AUDITOR)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from([Role.AUDITOR, Role.REGISTRAR])),
        min_size=1,
        max_size=8,
    )
)
def test_held_at_agrees_with_a_replayed_model_at_every_block(
    toggles: list[tuple[int, Role]],
) -> None:
    # Prepare: each step toggles one role of one of three accounts
    chain = Chain.embedded()
    admin, accounts = chain.accounts[0], chain.accounts[1:4]
    roles = Roles.deploy(chain, admin=admin)
    model: dict[tuple[int, Role], bool] = {}
    states: list[tuple[int, dict[tuple[int, Role], bool]]] = []
    for who, role in toggles:
        address = accounts[who].address
        if model.get((who, role), False):
            change = roles.revoke(address, role, sender=admin)
        else:
            change = roles.grant(address, role, sender=admin)
        model[(who, role)] = not model.get((who, role), False)
        states.append((change.block_number, dict(model)))

    # Execute / Assert: the contract's history reproduces the model everywhere
    for block, state in states:
        for who in range(3):
            for role in (Role.AUDITOR, Role.REGISTRAR):
                held = roles.held_at(accounts[who].address, role, block=block)
                assert held == state.get((who, role), False)


def test_analyst_role_is_granted_checked_now_and_listed(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    analyst, other = c.outsider.address, c.auditor.address
    c.roles.grant(analyst, Role.ANALYST, sender=c.admin)
    c.roles.grant(other, Role.ANALYST, sender=c.admin)
    c.roles.revoke(other, Role.ANALYST, sender=c.admin)

    # Execute
    held = c.roles.check_now(analyst, Role.ANALYST)
    revoked = c.roles.check_now(other, Role.ANALYST)
    holders = c.roles.holders(Role.ANALYST)

    # Assert
    assert (held.held, held.account, held.role) == (True, analyst, Role.ANALYST)
    assert held.block == c.chain.block_number
    assert revoked.held is False
    assert holders == [analyst]
    assert c.roles.holders(Role.ADMIN) == [c.admin.address]
    with pytest.raises(ContractRevertError, match="not an admin"):
        c.roles.grant(c.department.address, Role.ANALYST, sender=c.outsider)
