"""The contract computes commitments, digests, messages and roll roots as Python does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.merkle import MerkleTree, leaf_hash
from ledger.voting import blind_rsa
from ledger.voting.ballot import (
    authorization_signer,
    commitment,
    credential_message,
    request_signer,
    sign_authorization,
    sign_request,
)
from ledger.voting.roll import leaf_data
from tests.ledger.voting._helpers import certify, open_consultation

if TYPE_CHECKING:
    from tests.ledger.voting._helpers import Voting

_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_CHAIN_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_CHAIN_SETTINGS
@given(choice=st.integers(0, 2**256 - 1), salt=st.binary(min_size=32, max_size=32))
def test_commitments_match_the_contract(
    voting: Voting, choice: int, salt: bytes
) -> None:
    # Prepare
    key = Account.create().address
    scope = voting.contract.scope(7)

    # Execute
    on_chain = voting.chain.call(
        voting.contract.contract.functions.commitment_for(7, key, choice, salt)
    )

    # Assert
    assert bytes(on_chain) == commitment(scope, key, choice, salt)


def test_credential_message_matches_the_contract(voting: Voting) -> None:
    key = Account.create().address

    on_chain = voting.chain.call(
        voting.contract.contract.functions.credential_message(3, key)
    )

    assert bytes(on_chain) == credential_message(voting.contract.scope(3), key)


def test_ballot_digest_is_the_eip712_digest_the_voting_key_signs(
    voting: Voting,
) -> None:
    # Prepare
    voting_key = Account.create()
    scope = voting.contract.scope(2)
    ballot = keccak(b"ballot")
    signature = sign_authorization(scope, voting_key, ballot)

    # Execute
    digest = bytes(
        voting.chain.call(
            voting.contract.contract.functions.ballot_digest(
                2, voting_key.address, ballot
            )
        )
    )

    # Assert
    assert Account._recover_hash(digest, signature=signature) == voting_key.address
    assert authorization_signer(scope, voting_key.address, ballot, signature) == (
        voting_key.address
    )
    signable = encode_typed_data(
        domain_data={
            "name": "fedgov-consultation",
            "version": "1",
            "chainId": scope.chain_id,
            "verifyingContract": scope.contract,
        },
        message_types={
            "Ballot": [
                {"name": "consultationId", "type": "uint256"},
                {"name": "votingKey", "type": "address"},
                {"name": "commitment", "type": "bytes32"},
            ]
        },
        message_data={
            "consultationId": 2,
            "votingKey": voting_key.address,
            "commitment": ballot,
        },
    )
    assert digest == keccak(
        b"\x19" + signable.version + signable.header + signable.body
    )


def test_the_contract_accepts_exactly_the_valid_credentials(voting: Voting) -> None:
    # Prepare
    info = open_consultation(voting)
    wallet = certify(voting, info, "alice")
    credential = wallet.credential or b""
    view = voting.contract.contract.functions.credential_valid

    def valid(key: str, prefix: bytes, signature: bytes) -> bool:
        call = view(info.consultation_id, key, prefix, signature, info.modulus)
        return bool(voting.chain.call(call))

    tampered = bytearray(credential)
    tampered[100] ^= 0x10

    # Execute, Assert
    assert blind_rsa.verify(info.public_key, wallet.prepared_message, credential)
    assert valid(wallet.voting_address, wallet.message_prefix, credential)
    assert not valid(wallet.voting_address, wallet.message_prefix, bytes(tampered))
    assert not valid(Account.create().address, wallet.message_prefix, credential)
    assert not valid(wallet.voting_address, bytes(32), credential)
    assert not valid(wallet.voting_address, wallet.message_prefix, credential[:-1])


def test_request_digest_is_the_eip712_digest_the_roll_key_signs(
    voting: Voting,
) -> None:
    # Prepare
    roll_key = Account.create()
    scope = voting.contract.scope(4)
    blinded = b"\x07" * 256
    signature = sign_request(scope, roll_key, blinded)
    high_s = bytearray(signature)
    s = int.from_bytes(signature[32:64], "big")
    high_s[32:64] = (_CURVE_ORDER - s).to_bytes(32, "big")
    high_s[64] = 55 - signature[64]  # the malleable twin: (r, n - s), other v

    # Execute
    digest = bytes(
        voting.chain.call(
            voting.contract.contract.functions.request_digest(4, keccak(blinded))
        )
    )

    # Assert
    assert Account._recover_hash(digest, signature=signature) == roll_key.address
    assert request_signer(scope, keccak(blinded), signature) == roll_key.address
    assert request_signer(scope, keccak(b"other"), signature) != roll_key.address
    assert request_signer(voting.contract.scope(5), keccak(blinded), signature) != (
        roll_key.address
    )
    assert Account._recover_hash(digest, signature=bytes(high_s)) == roll_key.address
    assert request_signer(scope, keccak(blinded), bytes(high_s)) is None
    assert request_signer(scope, keccak(blinded), signature[:64]) is None
    assert request_signer(scope, keccak(blinded), bytes(65)) is None


@_CHAIN_SETTINGS
@given(data=st.data(), size=st.integers(1, 40))
def test_roll_proofs_verify_on_chain_like_rfc9162(
    voting: Voting, data: st.DataObject, size: int
) -> None:
    # Prepare
    entries = [keccak(i.to_bytes(4, "big")) for i in range(size)]
    keys = [to_checksum_address(keccak(e)[:20]) for e in entries]
    tree = MerkleTree(
        leaf_hash(leaf_data(e, k)) for e, k in zip(entries, keys, strict=True)
    )
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index)
    entry, key = entries[index], keys[index]
    roll_root = voting.contract.contract.functions.roll_root

    # Execute
    well_formed, root = voting.chain.call(roll_root(index, size, entry, key, proof))
    short = voting.chain.call(roll_root(index, size, entry, key, proof[:-1]))
    long = voting.chain.call(roll_root(index, size, entry, key, [*proof, b"\0" * 32]))
    other_key = voting.chain.call(
        roll_root(index, size, entry, to_checksum_address(bytes(19) + b"\1"), proof)
    )

    # Assert
    assert well_formed
    assert bytes(root) == tree.root()
    assert not short[0] or size == 1
    assert not long[0]
    assert bytes(other_key[1]) != tree.root()
