"""Chain fixtures shared by every test suite that touches the ledger contracts.

The ``chain`` fixture runs a test once per backend: ``embedded`` (in-process
py-evm) and ``anvil`` (a fresh anvil node for the test, marked ``anvil``).
``ledger_contracts`` deploys Roles and AnchorRegistry on it and hands out one
funded account per role. To use them in another test package, import them in
that package's ``conftest.py``::

    from tests.chain_fixtures import chain, ledger_contracts

    __all__ = ["chain", "ledger_contracts"]

anvil tests are skipped only when ``$FEDGOV_ANVIL`` is unset *and* no anvil is
installed (``make anvil``); ``make test`` and CI always set it, and a set but
wrong ``$FEDGOV_ANVIL`` fails loudly instead of skipping.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from ledger.anchor_registry import AnchorRegistry
from ledger.chain import ANVIL_ENV, AnvilProcess, Chain, find_anvil
from ledger.chain_roles import Roles
from ledger.records import Role

if TYPE_CHECKING:
    from collections.abc import Iterator

    from eth_account.signers.local import LocalAccount

__all__ = [
    "ANVIL_SKIP_REASON",
    "BACKENDS",
    "LedgerContracts",
    "anvil_missing",
    "chain",
    "deploy_ledger_contracts",
    "ledger_contracts",
    "open_chain",
    "requires_anvil",
]

ANVIL_SKIP_REASON = (
    f"anvil is not installed and ${ANVIL_ENV} is unset: run `make anvil` "
    "(`make test` sets it; CI always runs these tests)"
)


def anvil_missing() -> bool:
    """True only when no anvil can be found and none was configured."""
    return not os.environ.get(ANVIL_ENV) and find_anvil() is None


requires_anvil = pytest.mark.skipif(anvil_missing(), reason=ANVIL_SKIP_REASON)
"""Skip marker for tests that start anvil themselves (mark them ``anvil`` too)."""

BACKENDS = (
    "embedded",
    pytest.param("anvil", marks=[pytest.mark.anvil, requires_anvil]),
)


@contextlib.contextmanager
def open_chain(backend: str) -> Iterator[Chain]:
    """A fresh chain of ``backend`` ("embedded" or "anvil"), closed on exit."""
    if backend == "embedded":
        yield Chain.embedded()
    elif backend == "anvil":
        with AnvilProcess() as anvil:
            yield Chain.connect(anvil.url, accounts=anvil.accounts)
    else:
        raise ValueError(f"unknown chain backend {backend!r}")


@pytest.fixture(params=BACKENDS)
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """A fresh chain, once per backend."""
    with open_chain(str(request.param)) as opened:
        yield opened


@dataclass(frozen=True)
class LedgerContracts:
    """Deployed Roles + AnchorRegistry, and one funded account per role."""

    chain: Chain
    roles: Roles
    registry: AnchorRegistry
    admin: LocalAccount
    coordinator: LocalAccount
    department: LocalAccount
    auditor: LocalAccount
    registrar: LocalAccount
    outsider: LocalAccount
    """Funded, but holds no role."""


def deploy_ledger_contracts(chain: Chain) -> LedgerContracts:
    """Deploy both contracts with accounts[0] as admin and grant accounts[1..4]."""
    admin, coordinator, department, auditor, registrar, outsider = chain.accounts[:6]
    roles = Roles.deploy(chain, admin=admin)
    registry = AnchorRegistry.deploy(chain, roles, sender=admin)
    for account, role in (
        (coordinator, Role.COORDINATOR),
        (department, Role.DEPARTMENT),
        (auditor, Role.AUDITOR),
        (registrar, Role.REGISTRAR),
    ):
        roles.grant(account.address, role, sender=admin)
    return LedgerContracts(
        chain=chain,
        roles=roles,
        registry=registry,
        admin=admin,
        coordinator=coordinator,
        department=department,
        auditor=auditor,
        registrar=registrar,
        outsider=outsider,
    )


@pytest.fixture
def ledger_contracts(chain: Chain) -> LedgerContracts:
    """Roles and AnchorRegistry deployed on ``chain`` (so: once per backend)."""
    return deploy_ledger_contracts(chain)
