"""The county chain node: nothing it confirmed is lost to a kill -9."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account
from web3 import Web3

from ledger.anchor_registry import AnchorRegistry
from ledger.chain import Chain
from ledger.chain_roles import Roles
from ledger.errors import ChainError, ChainUnavailableError
from ledger.node import create_node, node_status, start_node, stop_node
from ledger.records import Action, AuditRecord, Role
from ledger.store import LogStore
from ledger.voting._clock import advance_to, latest_timestamp
from tests.chain_fixtures import requires_anvil

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from eth_account.signers.local import LocalAccount

    from ledger.anchor_registry import AnchoredHead

pytestmark = [pytest.mark.anvil, requires_anvil]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Path, LocalAccount]]:
    """A node folder whose genesis funds one admin; stopped at the end."""
    admin = Account.create()
    folder = tmp_path / "chain"
    create_node(
        folder,
        chain_id=4242,
        port=_free_port(),
        funded={admin.address: 10**24},
        snapshot_every=5,
    )
    try:
        yield folder, admin
    finally:
        stop_node(folder)


def _record(actor: str, index: int) -> AuditRecord:
    return AuditRecord(
        actor=actor,
        role=Role.DEPARTMENT,
        action=Action.KEY_ROTATION,
        timestamp_ms=1_700_000_000_000 + index,
        details={"n": str(index)},
    )


def test_a_kill_9_mid_anchoring_loses_no_confirmed_anchor(
    node: tuple[Path, LocalAccount], tmp_path: Path
) -> None:
    # Prepare: the county's contracts on a node, and a department that
    # anchors a new head as fast as the node confirms them.
    folder, admin = node
    status = start_node(folder)
    chain = Chain.connect(status.settings.rpc_url, accounts=[admin])
    roles = Roles.deploy(chain, admin=admin)
    registry = AnchorRegistry.deploy(chain, roles, sender=admin)
    department = Account.create()
    roles.grant(department.address, Role.DEPARTMENT, sender=admin)
    store = LogStore(tmp_path / "log.db", actor=department.address, log_name="audit")
    confirmed: list[AnchoredHead] = []
    stopped = threading.Event()

    def anchor_forever() -> None:
        index = 0
        while not stopped.is_set():
            store.append(_record(department.address, index))
            index += 1
            signed = store.sign_head(department, registry.domain)
            try:
                confirmed.append(
                    registry.anchor(signed, log_name="audit", sender=admin)
                )
            except ChainError:
                return  # the node is gone: this anchor was never confirmed

    worker = threading.Thread(target=anchor_forever)
    worker.start()
    deadline = time.monotonic() + 60
    while len(confirmed) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)

    # Act: SIGKILL the node mid-anchoring (its anvil dies with it), restart.
    assert status.pid is not None
    os.kill(status.pid, signal.SIGKILL)
    worker.join(timeout=60)
    stopped.set()
    assert not worker.is_alive()
    assert node_status(folder).running is False
    restarted = start_node(folder)

    # Assert: every anchor the node confirmed is on the restarted chain, in
    # the same block, and the chain goes on from there.
    chain = Chain.connect(restarted.settings.rpc_url, accounts=[admin])
    registry = AnchorRegistry.at(chain, registry.address)
    history = registry.history(store.log_id)
    assert len(confirmed) >= 12
    assert history[: len(confirmed)] == confirmed
    assert Roles.at(chain, roles.address).has_role(department.address, Role.DEPARTMENT)
    store.append(_record(department.address, 10_000))
    again = registry.anchor(
        store.sign_head(department, registry.domain), log_name="audit", sender=admin
    )
    assert again.tree_size == store.size


def test_the_clock_keeps_its_offset_across_a_restart(
    node: tuple[Path, LocalAccount],
) -> None:
    # Prepare: a consultation's clock moved a day ahead, as `fedgov vote
    # advance-time` does.
    folder, admin = node
    status = start_node(folder)
    chain = Chain.connect(status.settings.rpc_url, accounts=[admin])
    ahead = latest_timestamp(chain) + 86_400
    advance_to(chain, ahead)

    # Act
    assert status.pid is not None
    os.kill(status.pid, signal.SIGKILL)
    time.sleep(0.5)
    restarted = start_node(folder)
    chain = Chain.connect(restarted.settings.rpc_url, accounts=[admin])
    roles = Roles.deploy(chain, admin=admin)

    # Assert: block time did not fall back to the wall clock.
    block = chain.w3.eth.get_transaction_receipt(
        chain.w3.eth.get_block("latest")["transactions"][0]
    )["blockNumber"]
    assert chain.block_timestamp(block) >= ahead
    assert roles.address


def test_a_torn_journal_line_was_never_confirmed(
    node: tuple[Path, LocalAccount],
) -> None:
    # Prepare: a node with a few transactions journalled, then stopped by a
    # kill while (as it might) a last line was half written.
    folder, admin = node
    status = start_node(folder)
    chain = Chain.connect(status.settings.rpc_url, accounts=[admin])
    roles = Roles.deploy(chain, admin=admin)
    for _ in range(3):
        roles.grant(Account.create().address, Role.AUDITOR, sender=admin)
    block = chain.block_number
    assert status.pid is not None
    os.kill(status.pid, signal.SIGKILL)
    time.sleep(0.5)
    with (folder / "journal.jsonl").open("ab") as journal:
        journal.write(b'{"method":"eth_sendRawTransaction","par')

    # Act
    restarted = start_node(folder)

    # Assert: the torn line is dropped, everything confirmed is there.
    chain = Chain.connect(restarted.settings.rpc_url, accounts=[admin])
    assert chain.block_number == block


def _anvil(folder: Path) -> Web3:
    """The anvil behind the running node in ``folder`` (its port from its log)."""
    log = (folder / "anvil" / "anvil.log").read_text(encoding="utf-8")
    port = re.findall(r"Listening on 127\.0\.0\.1:(\d+)", log)[-1]
    return Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    answer = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def _transfer(admin: LocalAccount, nonce: int) -> str:
    signed = admin.sign_transaction(
        {
            "to": admin.address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 1,
            "nonce": nonce,
            "chainId": 4242,
        }
    )
    return "0x" + signed.raw_transaction.hex()


def test_a_transaction_is_journalled_with_its_block_however_late_anvil_mines(
    node: tuple[Path, LocalAccount],
) -> None:
    # Prepare: anvil's automine answers a transaction once it is in the pool
    # and mines it later in another task, late on a busy machine; here its
    # own miner never mines.
    folder, admin = node
    status = start_node(folder)
    _rpc(_anvil(folder), "evm_setAutomine", [False])
    front = Web3(Web3.HTTPProvider(status.settings.rpc_url))

    # Act
    tx_hash = _rpc(front, "eth_sendRawTransaction", [_transfer(admin, 0)])

    # Assert: the hash the client got is journalled with the block that holds
    # it, so a kill -9 and a restart put it back in that block.
    journal = (folder / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    assert [
        (entry["tx_hash"], [number for number, _ in entry["blocks"]])
        for entry in map(json.loads, journal)
    ] == [(tx_hash, [1])]
    stamp = front.eth.get_block(1)["timestamp"]
    assert status.pid is not None
    os.kill(status.pid, signal.SIGKILL)
    time.sleep(0.5)
    restarted = Web3(Web3.HTTPProvider(start_node(folder).settings.rpc_url))
    assert restarted.eth.get_transaction_receipt(tx_hash)["blockNumber"] == 1
    assert restarted.eth.get_block(1)["timestamp"] == stamp


def test_a_transaction_behind_a_nonce_gap_is_answered_and_kept(
    node: tuple[Path, LocalAccount],
) -> None:
    # Prepare
    folder, admin = node
    status = start_node(folder)
    front = Web3(Web3.HTTPProvider(status.settings.rpc_url))

    # Act: nonce 1 waits for nonce 0 in the pool (no block to wait for), then
    # nonce 0 comes, and the node is killed and restarted.
    later = _rpc(front, "eth_sendRawTransaction", [_transfer(admin, 1)])
    first = _rpc(front, "eth_sendRawTransaction", [_transfer(admin, 0)])
    mined = {
        tx: front.eth.get_transaction_receipt(tx)["blockNumber"]
        for tx in (later, first)
    }
    assert mined == {later: 1, first: 1}
    assert status.pid is not None
    os.kill(status.pid, signal.SIGKILL)
    time.sleep(0.5)
    restarted = Web3(Web3.HTTPProvider(start_node(folder).settings.rpc_url))

    # Assert: both are in the blocks that held them before.
    assert {
        tx: restarted.eth.get_transaction_receipt(tx)["blockNumber"] for tx in mined
    } == mined
    assert restarted.eth.get_transaction_count(admin.address) == 2


def test_a_corrupt_journal_stops_the_node_with_a_clear_error(
    node: tuple[Path, LocalAccount],
) -> None:
    folder, admin = node
    status = start_node(folder)
    chain = Chain.connect(status.settings.rpc_url, accounts=[admin])
    Roles.deploy(chain, admin=admin)
    stop_node(folder)
    (folder / "journal.jsonl").write_text(
        json.dumps({"method": "eth_sendRawTransaction"}) + "\nnot json\n"
    )

    with pytest.raises(ChainUnavailableError, match="journal"):
        start_node(folder, timeout_s=60)


def test_state_changes_the_journal_cannot_replay_are_refused(
    node: tuple[Path, LocalAccount],
) -> None:
    folder, admin = node
    status = start_node(folder)
    chain = Chain.connect(status.settings.rpc_url, accounts=[admin])

    answer = chain.w3.provider.make_request(
        "anvil_setBalance",  # type: ignore[arg-type]
        [admin.address, "0x1"],
    )

    assert "not offered by the county chain node" in answer["error"]["message"]
    assert chain.w3.eth.get_balance(admin.address) == 10**24


def test_a_pid_file_naming_another_process_reads_as_stopped(
    node: tuple[Path, LocalAccount],
) -> None:
    # Prepare: a running node, then its pid file as a reused pid would leave
    # it (the same pid, another process's start time; the old pid-only form)
    folder, _ = node
    running = start_node(folder)
    pid_file = folder / "node.pid"
    pid, started = pid_file.read_text().split()

    # Act
    pid_file.write_text(f"{pid} {int(started) + 1}\n")
    reused = node_status(folder)
    pid_file.write_text(f"{pid}\n")
    bare = node_status(folder)
    pid_file.write_text(f"{pid} {started}\n")
    restored = node_status(folder)

    # Assert
    assert running.pid == int(pid)
    assert reused.pid is None
    assert bare.pid is None
    assert restored.pid == int(pid)
