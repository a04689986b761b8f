"""The anchoring relay: batching, outages, stale heads, heads nobody may anchor."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from fedgov.errors import ConfigurationError
from ledger.actor_log import ActorLog
from ledger.anchor_registry import AnchoredHead
from ledger.chain import AnvilProcess, Chain
from ledger.chain_roles import Roles
from ledger.errors import AnchorError, ChainUnavailableError
from ledger.records import Role
from ledger.relay import AnchorPolicy, AnchorRelay, read_latest_head
from tests.chain_fixtures import (
    LedgerContracts,
    deploy_ledger_contracts,
    requires_anvil,
)
from tests.ledger._log_fixtures import make_record

if TYPE_CHECKING:
    from pathlib import Path

    from eth_account.signers.local import LocalAccount

    from ledger.anchor_registry import AnchorRegistry
    from ledger.tree_head import SignedTreeHead, SigningDomain


def _policy(**overrides: float) -> AnchorPolicy:
    values = {
        "interval_s": 3600.0,
        "every_records": 10**6,
        "poll_s": 0.01,
        "initial_backoff_s": 0.01,
        "max_backoff_s": 0.05,
        **overrides,
    }
    return AnchorPolicy(**values)  # type: ignore[arg-type]


def _department_log(
    contracts: LedgerContracts, directory: Path, *, role: bool = True
) -> ActorLog:
    account = Account.create()
    if role:
        contracts.roles.grant(account.address, Role.DEPARTMENT, sender=contracts.admin)
    return ActorLog(directory, account, contracts.registry.domain)


def _append(log: ActorLog, count: int, start: int = 0) -> None:
    log.commit([make_record(start + i, actor=log.account) for i in range(count)])


@pytest.fixture
def embedded() -> LedgerContracts:
    return deploy_ledger_contracts(Chain.embedded())


def test_the_relay_anchors_the_newest_signed_head_and_skips_stale_ones(
    ledger_contracts: LedgerContracts, tmp_path: Path
) -> None:
    # Prepare
    log = _department_log(ledger_contracts, tmp_path)
    relay = AnchorRelay(
        ledger_contracts.registry, sender=ledger_contracts.outsider, policy=_policy()
    )
    relay.watch(log.path)
    for batch in range(3):
        _append(log, 4, start=4 * batch)

    # Act
    first = relay.flush()
    again = relay.flush()

    # Assert
    assert [a.tree_size for a in first] == [12]
    assert again == []
    assert ledger_contracts.registry.anchor_count(_log_id(log)) == 1


def _log_id(log: ActorLog) -> bytes:
    assert log.domain is not None
    latest = read_latest_head(log.path, log.domain)
    assert latest is not None
    return latest.signed.head.log_id


def test_records_wait_for_every_records_or_interval(
    embedded: LedgerContracts, tmp_path: Path
) -> None:
    # Prepare
    by_count = _department_log(embedded, tmp_path / "a")
    by_time = _department_log(embedded, tmp_path / "b")
    relay = AnchorRelay(
        embedded.registry,
        sender=embedded.outsider,
        policy=_policy(every_records=10, interval_s=0.2),
        logs=[by_count.path, by_time.path],
    )

    # Act / Assert
    _append(by_count, 6)
    _append(by_time, 1)
    assert relay.poll() == []
    _append(by_count, 4, start=6)
    assert [a.tree_size for a in relay.poll()] == [10]
    time.sleep(0.25)
    assert [a.tree_size for a in relay.poll()] == [1]


class FlakyRegistry:
    """The real registry behind a switch that makes the chain unreachable."""

    def __init__(self, registry: AnchorRegistry) -> None:
        self.registry = registry
        self.down = True
        self.attempts = 0

    @property
    def domain(self) -> SigningDomain:
        return self.registry.domain

    def latest(self, log_id: bytes) -> AnchoredHead | None:
        self._maybe_fail()
        return self.registry.latest(log_id)

    def anchor(
        self, signed: SignedTreeHead, *, log_name: str, sender: LocalAccount
    ) -> AnchoredHead:
        self._maybe_fail()
        return self.registry.anchor(signed, log_name=log_name, sender=sender)

    def _maybe_fail(self) -> None:
        self.attempts += 1
        if self.down:
            raise ChainUnavailableError("http://chain.example", "connection refused")


def test_an_outage_is_retried_and_one_anchor_then_covers_everything(
    embedded: LedgerContracts, tmp_path: Path
) -> None:
    # Prepare
    log = _department_log(embedded, tmp_path)
    flaky = FlakyRegistry(embedded.registry)
    relay = AnchorRelay(
        flaky, sender=embedded.outsider, policy=_policy(every_records=1)
    )
    relay.watch(log.path)
    _append(log, 3)

    # Act
    assert relay.poll() == []
    _append(log, 3, start=3)
    time.sleep(0.02)
    relay.poll()
    flaky.down = False
    time.sleep(0.06)
    anchored = relay.poll()

    # Assert
    (status,) = relay.status()
    assert [a.tree_size for a in anchored] == [6]
    assert status.failures == 2
    assert status.last_error is None
    assert (status.anchored_size, status.anchors_sent) == (6, 1)


def test_flush_names_the_log_it_could_not_anchor(
    embedded: LedgerContracts, tmp_path: Path
) -> None:
    # Prepare
    log = _department_log(embedded, tmp_path)
    relay = AnchorRelay(
        FlakyRegistry(embedded.registry), sender=embedded.outsider, policy=_policy()
    )
    relay.watch(log.path)
    _append(log, 2)

    # Act / Assert
    with pytest.raises(AnchorError, match="connection refused") as info:
        relay.flush(timeout_s=0.1)
    assert info.value.tree_size == 2
    assert str(log.path) in str(info.value)


def test_a_head_whose_signer_holds_no_role_is_refused_by_the_registry(
    embedded: LedgerContracts, tmp_path: Path
) -> None:
    # Prepare
    rogue = _department_log(embedded, tmp_path, role=False)
    relay = AnchorRelay(embedded.registry, sender=embedded.outsider, policy=_policy())
    relay.watch(rogue.path)
    _append(rogue, 2)

    # Act
    with pytest.raises(AnchorError, match="holds neither coordinator nor department"):
        relay.flush(timeout_s=0.05)

    # Assert
    (status,) = relay.status()
    assert status.anchors_sent == 0
    assert "holds neither" in str(status.last_error)


def test_logs_not_created_yet_are_waited_for(
    embedded: LedgerContracts, tmp_path: Path
) -> None:
    # Prepare
    log = _department_log(embedded, tmp_path)
    relay = AnchorRelay(embedded.registry, sender=embedded.outsider, policy=_policy())
    relay.watch(log.path)

    # Act / Assert
    assert relay.flush(timeout_s=0.05) == []
    _append(log, 1)
    assert [a.tree_size for a in relay.flush()] == [1]


def test_the_background_thread_anchors_without_being_asked(
    embedded: LedgerContracts, tmp_path: Path
) -> None:
    # Prepare
    log = _department_log(embedded, tmp_path)
    relay = AnchorRelay(
        embedded.registry, sender=embedded.outsider, policy=_policy(interval_s=0.05)
    )
    relay.watch(log.path)

    # Act
    with relay:
        _append(log, 2)
        deadline = time.monotonic() + 5
        while relay.status()[0].anchors_sent == 0 and time.monotonic() < deadline:
            time.sleep(0.02)

    # Assert
    assert relay.status()[0].anchored_size == 2


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ConfigurationError, match="interval_s"):
        AnchorPolicy(interval_s=0)
    with pytest.raises(ConfigurationError, match="every_records"):
        AnchorPolicy(every_records=0)
    with pytest.raises(ConfigurationError, match="max_backoff_s"):
        AnchorPolicy(initial_backoff_s=2, max_backoff_s=1)


@pytest.mark.anvil
@requires_anvil
def test_anvil_stopped_and_restarted_is_survived(tmp_path: Path) -> None:
    # Prepare
    with AnvilProcess(workdir=tmp_path, persist_state=True) as anvil:
        chain = Chain.connect(anvil.url, accounts=anvil.accounts, timeout_s=2)
        contracts = deploy_ledger_contracts(chain)
        log = _department_log(contracts, tmp_path / "logs")
        relay = AnchorRelay(
            contracts.registry,
            sender=contracts.outsider,
            policy=_policy(interval_s=0.02, every_records=10),
        )
        relay.watch(log.path)

        # Execute: the chain node goes away while the log keeps growing
        with relay:
            _append(log, 10)
            deadline = time.monotonic() + 10
            while relay.status()[0].anchors_sent == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            anvil.stop()
            for batch in range(10):
                _append(log, 3, start=10 + 3 * batch)
                time.sleep(0.02)
            deadline = time.monotonic() + 10
            while relay.status()[0].failures == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            failures = relay.status()[0].failures
            anvil.start()

        # Assert: one anchor after the restart covers everything, and the
        # contracts' state survived the node's restart
        latest = contracts.registry.latest(_log_id(log))
        assert failures >= 1
        assert latest is not None
        assert latest.tree_size == 40
        assert Roles.at(chain, contracts.roles.address).has_role(
            contracts.department.address, Role.DEPARTMENT
        )
