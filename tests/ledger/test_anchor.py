"""The Anchorer: batched anchoring, triggers, outages, restarts, flush."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account
from web3.middleware import Web3Middleware

from fedgov.errors import ConfigurationError
from ledger.anchor import Anchorer, AnchorPolicy
from ledger.anchor_registry import AnchoredHead, AnchorRegistry
from ledger.chain import AnvilProcess, Chain
from ledger.chain_roles import Roles
from ledger.errors import AnchorError, ChainUnavailableError, ContractRevertError
from ledger.merkle import MerkleTree, leaf_hash
from ledger.records import Role
from ledger.store import LogStore
from ledger.tree_head import (
    SignedTreeHead,
    SigningDomain,
    TreeHead,
    log_id_for,
    sign_tree_head,
)
from tests.chain_fixtures import deploy_ledger_contracts, requires_anvil
from tests.ledger._log_fixtures import make_record

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from eth_account.signers.local import LocalAccount
    from web3.types import RPCEndpoint, RPCResponse

    from tests.chain_fixtures import LedgerContracts


def _fast(*, interval_s: float = 3600, every_records: int = 10**6) -> AnchorPolicy:
    """A policy that polls and retries quickly, so tests take milliseconds."""
    return AnchorPolicy(
        interval_s=interval_s,
        every_records=every_records,
        poll_s=0.005,
        initial_backoff_s=0.02,
        max_backoff_s=0.1,
    )


class FakeLog:
    """A tiny in-memory log: a Merkle tree over numbered leaves."""

    def __init__(self, owner: str, log_name: str = "audit") -> None:
        self._tree = MerkleTree()
        self._lock = threading.Lock()
        self.log_id = log_id_for(owner, log_name)
        self.signed: list[SignedTreeHead] = []

    @property
    def size(self) -> int:
        with self._lock:
            return self._tree.size

    def append(self, count: int = 1) -> None:
        with self._lock:
            for _ in range(count):
                self._tree.append(leaf_hash(self._tree.size.to_bytes(8, "big")))

    def root(self, size: int) -> bytes:
        with self._lock:
            return self._tree.root(size)

    def sign_head(self, account: LocalAccount, domain: SigningDomain) -> SignedTreeHead:
        with self._lock:
            head = TreeHead(self.log_id, self._tree.size, self._tree.root(), 1)
        signed = sign_tree_head(head, account, domain)
        self.signed.append(signed)
        return signed


class FakeRegistry:
    """An in-memory registry that enforces increasing sizes and can go down."""

    def __init__(self) -> None:
        self.domain = SigningDomain(1, "0x" + "11" * 20)
        self.down = False
        self.anchored: list[AnchoredHead] = []
        self.attempts = 0

    def latest(self, log_id: bytes) -> AnchoredHead | None:
        self._check_up()
        mine = [a for a in self.anchored if a.log_id == log_id]
        return mine[-1] if mine else None

    def anchor(
        self, signed: SignedTreeHead, *, log_name: str, sender: LocalAccount
    ) -> AnchoredHead:
        self.attempts += 1
        self._check_up()
        previous = self.latest(signed.head.log_id)
        if previous is not None and signed.head.tree_size <= previous.tree_size:
            raise ContractRevertError("anchor", "tree size must exceed")
        head = AnchoredHead(
            log_id=signed.head.log_id,
            tree_size=signed.head.tree_size,
            root_hash=signed.head.root_hash,
            timestamp=signed.head.timestamp,
            signer=signed.signer,
            block_number=len(self.anchored) + 1,
            previous_anchor_block=0 if previous is None else previous.block_number,
        )
        self.anchored.append(head)
        return head

    def _check_up(self) -> None:
        if self.down:
            raise ChainUnavailableError("fake", "down for the test")


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


@pytest.fixture
def owner() -> LocalAccount:
    account: LocalAccount = Account.create()
    return account


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ConfigurationError, match="interval_s"):
        AnchorPolicy(interval_s=0)
    with pytest.raises(ConfigurationError, match="every_records"):
        AnchorPolicy(every_records=0)
    with pytest.raises(ConfigurationError, match="max_backoff_s"):
        AnchorPolicy(initial_backoff_s=2, max_backoff_s=1)


def test_anchors_once_every_records_accumulate(owner: LocalAccount) -> None:
    # Prepare
    log, registry = FakeLog(owner.address), FakeRegistry()
    policy = _fast(interval_s=3600, every_records=100)

    with Anchorer(log, registry, signer=owner, policy=policy) as anchorer:
        # Execute
        log.append(99)
        time.sleep(0.1)
        before = len(registry.anchored)
        log.append(1)
        _wait_for(lambda: len(registry.anchored) == 1)
        time.sleep(0.05)

        # Assert
        assert before == 0
        assert [a.tree_size for a in registry.anchored] == [100]
        assert anchorer.latest == registry.anchored[0]


def test_anchors_after_interval_even_below_the_record_threshold(
    owner: LocalAccount,
) -> None:
    # Prepare
    log, registry = FakeLog(owner.address), FakeRegistry()
    policy = _fast(interval_s=0.1, every_records=10**6)

    with Anchorer(log, registry, signer=owner, policy=policy):
        # Execute
        log.append(5)
        started = time.monotonic()
        _wait_for(lambda: len(registry.anchored) == 1)
        waited = time.monotonic() - started
        time.sleep(0.25)  # nothing new: no further anchors

        # Assert
        assert waited >= 0.09
        assert [a.tree_size for a in registry.anchored] == [5]


def test_many_records_need_few_transactions(owner: LocalAccount) -> None:
    # Prepare
    log, registry = FakeLog(owner.address), FakeRegistry()
    policy = _fast(interval_s=3600, every_records=1000)

    # Execute
    with Anchorer(log, registry, signer=owner, policy=policy) as anchorer:
        for _ in range(100):
            log.append(100)
            time.sleep(0.001)

    # Assert: the exit flush anchors the tail
    sizes = [a.tree_size for a in registry.anchored]
    assert sizes[-1] == 10_000
    assert len(sizes) <= 11
    assert sizes == sorted(set(sizes))
    assert anchorer.anchors_sent == len(sizes)
    assert registry.anchored[-1].root_hash == log.root(10_000)


def test_outage_backs_off_then_anchors_the_newest_head(owner: LocalAccount) -> None:
    # Prepare
    log, registry = FakeLog(owner.address), FakeRegistry()
    policy = _fast(interval_s=0.01, every_records=10)
    registry.down = True

    with Anchorer(log, registry, signer=owner, policy=policy) as anchorer:
        # Execute: records keep coming while the chain is away
        went_down = time.monotonic()
        for _ in range(20):
            log.append(3)
            time.sleep(0.03)
        failures_while_down = anchorer.failures
        down_s = time.monotonic() - went_down
        error_while_down = anchorer.last_error
        registry.down = False
        _wait_for(lambda: anchorer.latest is not None)

        # Assert
        assert registry.anchored[0].tree_size == 60  # the newest, not a stale one
        # Backoff: retries end up max_backoff_s (0.1 s) apart, where polling
        # alone would have tried every 5 ms (> 100 times).
        assert 2 <= failures_while_down <= down_s / 0.1 + 5
        assert error_while_down is not None
        assert "unavailable" in error_while_down
        assert anchorer.last_error is None


def test_flush_raises_when_the_chain_stays_away_and_works_once_back(
    owner: LocalAccount,
) -> None:
    # Prepare
    log, registry = FakeLog(owner.address), FakeRegistry()
    anchorer = Anchorer(log, registry, signer=owner, policy=_fast())
    log.append(7)
    registry.down = True

    # Execute
    with pytest.raises(AnchorError) as error:
        anchorer.flush(timeout_s=0.2)
    registry.down = False
    anchored = anchorer.flush(timeout_s=1)

    # Assert
    assert error.value.tree_size == 7
    assert error.value.log_id == log.log_id
    assert "unavailable" in error.value.reason
    assert anchored is not None
    assert anchored.tree_size == 7


def test_a_restarted_anchorer_resumes_from_the_chain(owner: LocalAccount) -> None:
    # Prepare
    log, registry = FakeLog(owner.address), FakeRegistry()
    log.append(12)
    Anchorer(log, registry, signer=owner).flush()

    # Execute
    restarted = Anchorer(log, registry, signer=owner)
    unchanged = restarted.flush()
    log.append(3)
    grown = restarted.flush()

    # Assert
    assert restarted.anchors_sent == 1
    assert unchanged is not None
    assert unchanged.tree_size == 12
    assert grown is not None
    assert grown.tree_size == 15


def test_flush_of_an_empty_log_sends_nothing(owner: LocalAccount) -> None:
    registry = FakeRegistry()
    assert Anchorer(FakeLog(owner.address), registry, signer=owner).flush() is None
    assert registry.attempts == 0


def test_a_source_signing_another_log_is_refused(owner: LocalAccount) -> None:
    # Prepare
    log, registry = FakeLog(owner.address, log_name="budget"), FakeRegistry()
    log.append(1)
    anchorer = Anchorer(log, registry, signer=owner, log_name="audit")

    # Execute / Assert
    with pytest.raises(ConfigurationError, match="signs log"):
        anchorer.anchor_now()
    assert registry.attempts == 0


def test_stop_without_flush_leaves_records_unanchored(owner: LocalAccount) -> None:
    # Prepare
    log, registry = FakeLog(owner.address), FakeRegistry()
    policy = _fast(interval_s=3600, every_records=10**6)
    anchorer = Anchorer(log, registry, signer=owner, policy=policy)
    anchorer.start()
    log.append(4)

    # Execute
    anchorer.stop(flush=False)

    # Assert
    assert registry.anchored == []
    anchorer.start()
    with pytest.raises(ConfigurationError, match="already started"):
        anchorer.start()
    anchorer.stop(flush=False)


# -- on real chains --------------------------------------------------------


def test_batched_anchoring_on_chain_matches_the_log(
    ledger_contracts: LedgerContracts,
) -> None:
    # Prepare
    c = ledger_contracts
    log = FakeLog(c.department.address)
    policy = _fast(interval_s=0.05, every_records=50)

    # Execute
    with Anchorer(
        log, c.registry, signer=c.department, sender=c.admin, policy=policy
    ) as anchorer:
        for _ in range(20):
            log.append(20)
            time.sleep(0.01)

    # Assert
    history = c.registry.history(log.log_id)
    assert history[-1].tree_size == 400
    assert history[-1].root_hash == log.root(400)
    assert all(h.root_hash == log.root(h.tree_size) for h in history)
    assert len(history) == anchorer.anchors_sent < 20


def test_log_store_is_a_tree_head_source(
    ledger_contracts: LedgerContracts, tmp_path: Path
) -> None:
    # Prepare
    c = ledger_contracts
    store = LogStore(tmp_path / "dept.db", actor=c.department.address)
    store.append_many([make_record(i, actor=c.department) for i in range(25)])
    anchorer = Anchorer(store, c.registry, signer=c.department)

    # Execute
    anchored = anchorer.flush()

    # Assert
    assert anchored is not None
    assert (anchored.tree_size, anchored.root_hash) == (25, store.root())
    assert store.latest_tree_head() is not None


class _Outage(Web3Middleware):
    """Makes every request fail like an unreachable node while ``down``."""

    down = False

    def wrap_make_request(
        self, make_request: Callable[[RPCEndpoint, Any], RPCResponse]
    ) -> Callable[[RPCEndpoint, Any], RPCResponse]:
        def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
            if _Outage.down:
                raise ConnectionRefusedError("test outage")
            return make_request(method, params)

        return middleware


def _anchor_through_an_outage(
    c: LedgerContracts, go_down: Callable[[], None], come_back: Callable[[], None]
) -> tuple[int, FakeLog]:
    log = FakeLog(c.department.address)
    policy = _fast(interval_s=0.02, every_records=10)
    with Anchorer(log, c.registry, signer=c.department, policy=policy) as anchorer:
        log.append(10)
        _wait_for(lambda: anchorer.latest is not None)
        go_down()
        for _ in range(10):
            log.append(3)
            time.sleep(0.02)
        failures = anchorer.failures
        come_back()
    return failures, log


def test_embedded_chain_outage_is_survived(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare
    chain = Chain.embedded()
    c = deploy_ledger_contracts(chain)
    chain.w3.middleware_onion.add(_Outage, "outage")
    monkeypatch.setattr(_Outage, "down", False)

    # Execute
    failures, log = _anchor_through_an_outage(
        c,
        lambda: monkeypatch.setattr(_Outage, "down", True),
        lambda: monkeypatch.setattr(_Outage, "down", False),
    )

    # Assert
    latest = c.registry.latest(log.log_id)
    assert failures >= 1
    assert latest is not None
    assert latest.tree_size == 40


@pytest.mark.anvil
@requires_anvil
def test_anvil_stopped_and_restarted_is_survived(tmp_path: Path) -> None:
    # Prepare
    with AnvilProcess(workdir=tmp_path, persist_state=True) as anvil:
        chain = Chain.connect(anvil.url, accounts=anvil.accounts, timeout_s=2)
        c = deploy_ledger_contracts(chain)

        # Execute
        failures, log = _anchor_through_an_outage(c, anvil.stop, anvil.start)

        # Assert
        latest = c.registry.latest(log.log_id)
        assert failures >= 1
        assert latest is not None
        assert latest.tree_size == 40
        assert latest.root_hash == log.root(40)
        assert Roles.at(chain, c.roles.address).has_role(
            c.department.address, Role.DEPARTMENT
        )
        assert (
            AnchorRegistry.at(chain, c.registry.address).address == c.registry.address
        )
