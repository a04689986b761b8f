"""Fixtures for the voting tests: a chain per backend, Roles, and a Consultation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ledger.chain_roles import Roles
from ledger.records import Role
from ledger.voting.consultation import ConsultationContract
from ledger.voting.registrar import Registrar, generate_credential_key
from tests.chain_fixtures import chain
from tests.ledger.voting._helpers import RESIDENTS, Voting, roll_of

if TYPE_CHECKING:
    from Crypto.PublicKey.RSA import RsaKey

    from ledger.chain import Chain

__all__ = ["chain", "credential_key", "voting"]


@pytest.fixture(scope="session")
def credential_key() -> RsaKey:
    """One RSA-2048 credential key for the session (generating one takes ~1 s)."""
    return generate_credential_key()


@pytest.fixture
def voting(chain: Chain, credential_key: RsaKey) -> Voting:
    """Roles, a Consultation contract, a roll of five residents, their registrar."""
    admin, registrar, relayer, other = chain.accounts[:4]
    roles = Roles.deploy(chain, admin=admin)
    roles.grant(registrar.address, Role.REGISTRAR, sender=admin)
    contract = ConsultationContract.deploy(chain, roles, sender=admin)
    roll, roll_keys = roll_of(RESIDENTS)
    return Voting(
        chain=chain,
        roles=roles,
        admin=admin,
        registrar_account=registrar,
        relayer=relayer,
        other=other,
        contract=contract,
        roll=roll,
        roll_keys=roll_keys,
        registrar=Registrar(contract, account=registrar, roll=roll, key=credential_key),
    )
