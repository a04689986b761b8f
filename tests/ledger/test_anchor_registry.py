"""The AnchorRegistry contract: who may anchor which heads, and what it records."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedgov.errors import ConfigurationError
from ledger.anchor_registry import AnchorRegistry
from ledger.errors import ContractRevertError
from ledger.records import Role
from ledger.tree_head import (
    SignedTreeHead,
    SigningDomain,
    TreeHead,
    log_id_for,
    sign_tree_head,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from tests.chain_fixtures import LedgerContracts

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _head(account: LocalAccount, size: int, *, log_name: str = "audit") -> TreeHead:
    return TreeHead(
        log_id=log_id_for(account.address, log_name),
        tree_size=size,
        root_hash=keccak(size.to_bytes(8, "big")),
        timestamp=1_700_000_000_000 + size,
    )


def _signed(
    c: LedgerContracts, account: LocalAccount, size: int, *, log_name: str = "audit"
) -> SignedTreeHead:
    return sign_tree_head(
        _head(account, size, log_name=log_name), account, c.registry.domain
    )


def test_valid_head_is_anchored_with_one_event(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    signed = _signed(c, c.department, 5)

    # Execute
    anchored = c.registry.anchor(signed, log_name="audit", sender=c.department)

    # Assert
    assert (anchored.log_id, anchored.tree_size, anchored.root_hash) == (
        signed.head.log_id,
        5,
        signed.head.root_hash,
    )
    assert (anchored.timestamp, anchored.signer) == (
        signed.head.timestamp,
        c.department.address,
    )
    assert anchored.previous_anchor_block == 0
    assert c.registry.latest(signed.head.log_id) == anchored
    assert c.registry.anchor_count(signed.head.log_id) == 1


def test_sizes_must_strictly_increase_so_stale_and_replayed_heads_revert(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    first = _signed(c, c.coordinator, 10)
    c.registry.anchor(first, log_name="audit", sender=c.coordinator)
    same_size_other_root = sign_tree_head(
        TreeHead(first.head.log_id, 10, b"\x11" * 32, first.head.timestamp + 1),
        c.coordinator,
        c.registry.domain,
    )

    # Execute / Assert
    for stale in (first, same_size_other_root, _signed(c, c.coordinator, 9)):
        with pytest.raises(ContractRevertError) as error:
            c.registry.anchor(stale, log_name="audit", sender=c.coordinator)
        assert error.value.reason == (
            "AnchorRegistry: tree size must exceed the latest anchored size"
        )
    latest = c.registry.latest(first.head.log_id)
    assert latest is not None
    assert (latest.tree_size, latest.root_hash) == (10, first.head.root_hash)
    assert c.registry.anchor_count(first.head.log_id) == 1


@pytest.mark.parametrize("holder", ["auditor", "registrar", "outsider", "admin"])
def test_signer_must_hold_coordinator_or_department_role(
    ledger_contracts: LedgerContracts, holder: str
) -> None:
    # Prepare
    c = ledger_contracts
    signer = getattr(c, holder)

    # Execute
    with pytest.raises(ContractRevertError) as error:
        c.registry.anchor(_signed(c, signer, 1), log_name="audit", sender=c.admin)

    # Assert
    assert error.value.reason == (
        "AnchorRegistry: signer holds neither coordinator nor department role"
    )


def test_revoking_the_role_stops_further_anchors(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    c.registry.anchor(_signed(c, c.department, 1), log_name="audit", sender=c.admin)
    c.roles.revoke(c.department.address, Role.DEPARTMENT, sender=c.admin)

    # Execute / Assert
    with pytest.raises(ContractRevertError, match="holds neither"):
        c.registry.anchor(_signed(c, c.department, 2), log_name="audit", sender=c.admin)


def test_a_signature_by_another_key_is_rejected(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare: the outsider signs the department's head and claims to be it
    c = ledger_contracts
    forged = sign_tree_head(_head(c.department, 1), c.outsider, c.registry.domain)
    claimed = SignedTreeHead(forged.head, c.department.address, forged.signature)

    # Execute
    with pytest.raises(ContractRevertError) as error:
        c.registry.anchor(claimed, log_name="audit", sender=c.outsider)

    # Assert
    assert error.value.reason == (
        "AnchorRegistry: signature is not the signer's over this head and domain"
    )
    assert c.registry.latest(forged.head.log_id) is None


def test_heads_signed_for_another_domain_or_altered_are_rejected(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    head = _head(c.department, 1)
    other_registry = AnchorRegistry.deploy(c.chain, c.roles, sender=c.admin)
    other_chain = SigningDomain(c.chain.chain_id + 1, c.registry.address)
    signed = sign_tree_head(head, c.department, c.registry.domain)
    altered = SignedTreeHead(
        TreeHead(head.log_id, head.tree_size, b"\x22" * 32, head.timestamp),
        signed.signer,
        signed.signature,
    )
    rejected = [
        sign_tree_head(head, c.department, other_registry.domain),
        sign_tree_head(head, c.department, other_chain),
        altered,
    ]

    # Execute / Assert
    for wrong in rejected:
        with pytest.raises(ContractRevertError, match="not the signer's"):
            c.registry.anchor(wrong, log_name="audit", sender=c.department)
    assert (
        c.registry.anchor(signed, log_name="audit", sender=c.department).tree_size == 1
    )


def test_log_must_be_derived_from_the_signer_and_log_name(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    coordinators_log = sign_tree_head(
        TreeHead(log_id_for(c.coordinator.address), 1, b"\x33" * 32, 1),
        c.department,
        c.registry.domain,
    )
    budget_head = _signed(c, c.department, 1, log_name="budget")

    # Execute / Assert
    for signed, name in ((coordinators_log, "audit"), (budget_head, "audit")):
        with pytest.raises(ContractRevertError) as error:
            c.registry.anchor(signed, log_name=name, sender=c.department)
        assert error.value.reason == (
            "AnchorRegistry: log id is not derived from signer and log name"
        )
    assert c.registry.anchor(budget_head, log_name="budget", sender=c.department)


def test_malleable_and_malformed_signatures_are_rejected(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    signed = _signed(c, c.department, 1)
    r, s, v = signed.signature[:32], signed.signature[32:64], signed.signature[64]
    high_s = (_SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big")
    cases = {
        "signature s is not canonical": r + high_s + bytes([55 - v]),  # v: 27 <-> 28
        "signature v must be 27 or 28": r + s + bytes([v + 2]),
        "signature must be 65 bytes": signed.signature[:64],
        "invalid signature": bytes(64) + bytes([27]),
    }
    head = signed.head

    # Execute / Assert
    for reason, signature in cases.items():
        function = c.registry.contract.functions.anchor(
            signed.signer,
            "audit",
            head.log_id,
            head.tree_size,
            head.root_hash,
            head.timestamp,
            signature,
        )
        with pytest.raises(ContractRevertError) as error:
            c.chain.transact(function, sender=c.department)
        assert error.value.reason == f"AnchorRegistry: {reason}"


def test_anyone_may_relay_a_signed_head(ledger_contracts: LedgerContracts) -> None:
    # Prepare
    c = ledger_contracts
    signed = _signed(c, c.department, 3)

    # Execute: the outsider (no role) pays for the department's anchor
    anchored = c.registry.anchor(signed, log_name="audit", sender=c.outsider)

    # Assert
    assert anchored.signer == c.department.address


def test_history_walks_every_anchor_of_a_log_oldest_first(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    anchors = []
    for size in (1, 4, 9):
        anchors.append(
            c.registry.anchor(
                _signed(c, c.department, size), log_name="audit", sender=c.admin
            )
        )
        # Another log's anchor in between must not disturb the chain of pointers.
        c.registry.anchor(
            _signed(c, c.coordinator, size), log_name="audit", sender=c.admin
        )

    # Execute
    history = c.registry.history(log_id_for(c.department.address))

    # Assert
    assert history == anchors
    assert [h.previous_anchor_block for h in history] == [
        0,
        anchors[0].block_number,
        anchors[1].block_number,
    ]
    assert c.registry.history(log_id_for(c.outsider.address)) == []


def test_contract_digest_is_the_eip712_digest(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare: the typed data spelled out from EIP-712, independently of tree_head
    c = ledger_contracts
    head = _head(c.department, 42)
    signable = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "TreeHead": [
                    {"name": "logId", "type": "bytes32"},
                    {"name": "treeSize", "type": "uint64"},
                    {"name": "rootHash", "type": "bytes32"},
                    {"name": "timestamp", "type": "uint64"},
                ],
            },
            "primaryType": "TreeHead",
            "domain": {
                "name": "fedgov-audit-log",
                "version": "1",
                "chainId": c.chain.chain_id,
                "verifyingContract": c.registry.address,
            },
            "message": {
                "logId": head.log_id,
                "treeSize": head.tree_size,
                "rootHash": head.root_hash,
                "timestamp": head.timestamp,
            },
        }
    )

    # Execute
    digest = c.registry.digest(head)

    # Assert
    assert digest == keccak(
        b"\x19" + signable.version + signable.header + signable.body
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    address=st.binary(min_size=20, max_size=20),
    name=st.text(min_size=1, max_size=64).filter(lambda n: len(n.encode()) <= 64),
)
def test_contract_derives_log_ids_like_log_id_for(
    ledger_contracts: LedgerContracts, address: bytes, name: str
) -> None:
    # Prepare
    account = "0x" + address.hex()

    # Execute
    on_chain = ledger_contracts.registry.log_id_for(account, name)

    # Assert: the contract's EIP-55 checksum and concatenation match Python's
    assert on_chain == log_id_for(account, name)


def test_log_names_are_checked_before_sending(
    ledger_contracts: LedgerContracts,
) -> None:
    c = ledger_contracts
    for name in ("", "x" * 65):
        with pytest.raises(ConfigurationError, match="log_name"):
            c.registry.anchor(
                _signed(c, c.department, 1), log_name=name, sender=c.admin
            )


def test_registry_is_loaded_by_address(ledger_contracts: LedgerContracts) -> None:
    # Prepare
    c = ledger_contracts

    # Execute
    loaded = AnchorRegistry.at(c.chain, c.registry.address)

    # Assert
    assert loaded.domain == c.registry.domain
    assert loaded.roles_address == c.roles.address


def test_the_registry_lists_every_log_once_in_the_order_of_its_first_anchor(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    before = c.registry.log_ids()

    # Execute
    for account, size in ((c.department, 3), (c.coordinator, 1), (c.department, 7)):
        c.registry.anchor(_signed(c, account, size), log_name="audit", sender=c.admin)
    listed = c.registry.anchored_logs()

    # Assert
    assert before == []
    assert [entry.log_id for entry in listed] == [
        log_id_for(c.department.address),
        log_id_for(c.coordinator.address),
    ]
    assert [(e.signer, e.anchors, e.tree_size) for e in listed] == [
        (c.department.address, 2, 7),
        (c.coordinator.address, 1, 1),
    ]
    assert listed[0].block_number == c.registry.latest(listed[0].log_id).block_number  # type: ignore[union-attr]
