"""The county's chain node: a local EVM chain that outlives commands and crashes.

``fedgov ledger node start|stop|status`` (:mod:`ledger.node_cli`) runs it
in the background; ``python -m ledger.node FOLDER`` runs it in the
foreground (a service manager's unit). It is anvil behind a small
journalling JSON-RPC front (:mod:`ledger._node_front`): a transaction's
hash, and any receipt, log or state a client reads, is handed out only once
the call that made it is fsynced to a write-ahead journal; snapshots of
anvil's whole state are taken every few hundred calls and on a clean stop.
A restart (after ``stop``, a reboot, or a ``kill -9`` of the node or of
anvil) loads the snapshot and replays the journal, so no anchor or ballot
the node confirmed is lost.

Why not anvil alone: ``--state`` dumps only on a clean exit, and
``--state-interval`` loses whatever was confirmed since the last dump; a
dump after every transaction costs time proportional to the whole chain
(0.35 s at 3,000 blocks on the development machine), and a dumped state
loaded again loses the block clock's offset (a consultation's windows).

The folder::

    node.json          chain id, host and port of the RPC front
    genesis.json       the first block: chain id, the county's funded accounts
    snapshot.json      anvil's dump; snapshot.meta.json says of which block
    journal.jsonl      calls confirmed since the snapshot
    node.pid           the running node's process id and start time
    node.log           its log; anvil/anvil.log is anvil's
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fedgov.errors import ConfigurationError
from fedgov.files import write_atomic, write_json_atomic
from fedgov.signals import StopSignal
from ledger._node_front import DurableNode
from ledger.errors import ChainUnavailableError

__all__ = [
    "NODE_FILE",
    "NodeSettings",
    "NodeStatus",
    "create_node",
    "node_status",
    "read_node_settings",
    "run_node",
    "start_node",
    "stop_node",
]

_log = logging.getLogger(__name__)

NODE_FILE = "node.json"
_PID_FILE = "node.pid"
_LOG_FILE = "node.log"
_FORMAT = "fedgov-chain-node"


@dataclass(frozen=True)
class NodeSettings:
    """Which chain the node runs and where it answers."""

    chain_id: int
    host: str
    port: int
    snapshot_every: int = 500
    """Journal entries between two snapshots."""

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class NodeStatus:
    """Whether the node in a folder runs, and how far its chain is."""

    folder: Path
    settings: NodeSettings
    pid: int | None
    block: int | None
    """The latest block (``None`` while it does not answer)."""

    @property
    def running(self) -> bool:
        return self.pid is not None

    def describe(self) -> str:
        if self.pid is None:
            return f"chain node in {self.folder}: stopped"
        answer = "not answering" if self.block is None else f"block {self.block}"
        return (
            f"chain node in {self.folder}: running (pid {self.pid}) at "
            f"{self.settings.rpc_url}, chain id {self.settings.chain_id}, {answer}"
        )


def create_node(
    folder: Path,
    *,
    chain_id: int,
    host: str = "127.0.0.1",
    port: int = 8545,
    funded: Mapping[str, int],
    snapshot_every: int = 500,
) -> NodeSettings:
    """Lay out a new node in ``folder``: its settings and its genesis block.

    ``funded`` maps the county's accounts to their starting balance (wei):
    the chain has no other funded account, so no well-known development key
    can send transactions on it.
    """
    if (folder / NODE_FILE).exists():
        raise ConfigurationError("folder", f"{folder} already holds a chain node")
    if not 0 < port < 65536:
        raise ConfigurationError("port", f"must be in 1..65535, got {port}")
    if chain_id < 1:
        raise ConfigurationError("chain_id", f"must be positive, got {chain_id}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    genesis = {
        "config": {"chainId": chain_id},
        "alloc": {address: {"balance": hex(wei)} for address, wei in funded.items()},
        "timestamp": hex(int(time.time())),
        "gasLimit": hex(30_000_000),
        "difficulty": "0x0",
        "nonce": "0x0",
        "extraData": "0x",
        "mixHash": "0x" + "00" * 32,
        "coinbase": "0x" + "00" * 20,
    }
    write_json_atomic(folder / "genesis.json", genesis)
    if snapshot_every < 1:
        raise ConfigurationError(
            "snapshot_every", f"must be at least 1, got {snapshot_every}"
        )
    settings = NodeSettings(chain_id, host, port, snapshot_every)
    write_json_atomic(
        folder / NODE_FILE,
        {
            "format": _FORMAT,
            "chain_id": chain_id,
            "host": host,
            "port": port,
            "snapshot_every": snapshot_every,
        },
    )
    return settings


def read_node_settings(folder: Path) -> NodeSettings:
    """The settings of the node in ``folder``."""
    path = folder / NODE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _FORMAT:
            raise ValueError(f"format is not {_FORMAT!r}")
        return NodeSettings(
            chain_id=int(data["chain_id"]),
            host=str(data["host"]),
            port=int(data["port"]),
            snapshot_every=int(data.get("snapshot_every", 500)),
        )
    except FileNotFoundError as e:
        raise ConfigurationError(
            "node_dir", f"{folder} holds no chain node (no {NODE_FILE}): `fedgov init`"
        ) from e
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigurationError("node_dir", f"{path}: {e}") from e


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot); ``None`` if it
    is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return None if fields[0] in "ZX" else fields[19]


def _node_pid(folder: Path) -> int | None:
    """The pid in ``node.pid`` if that process is alive and is this folder's node.

    The file holds the pid and the process's start time: a pid reused by
    another process has another start time. (The node's command line cannot
    tell: ``fedgov ledger node run`` names no folder.)
    """
    try:
        pid_text, started = (folder / _PID_FILE).read_text(encoding="ascii").split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if _started(pid) == started else None


def _block(settings: NodeSettings, timeout_s: float = 2.0) -> int | None:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    ).encode()
    request = urllib.request.Request(
        settings.rpc_url, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(json.loads(response.read())["result"], 16)
    except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError):
        return None


def node_status(folder: Path) -> NodeStatus:
    """The node in ``folder``: running or not, and its latest block."""
    settings = read_node_settings(folder)
    pid = _node_pid(folder)
    return NodeStatus(folder, settings, pid, _block(settings) if pid else None)


def start_node(folder: Path, *, timeout_s: float = 120.0) -> NodeStatus:
    """Start the node in ``folder`` in the background; return once it answers.

    Starting a node that runs already changes nothing.
    """
    folder = folder.resolve()
    settings = read_node_settings(folder)
    status = node_status(folder)
    if status.running:
        return status
    log = folder / _LOG_FILE
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ledger.node", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ChainUnavailableError(
                f"chain node in {folder}",
                f"exited with code {process.returncode}:\n{_tail(log, offset)}",
            )
        if _node_pid(folder) == process.pid and _block(settings) is not None:
            return node_status(folder)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    raise ChainUnavailableError(
        f"chain node in {folder}",
        f"did not answer within {timeout_s} s:\n{_tail(log, offset)}",
    )


def stop_node(folder: Path, *, timeout_s: float = 120.0) -> bool:
    """Stop the node in ``folder`` (it snapshots first); whether one was running."""
    folder = folder.resolve()
    pid = _node_pid(folder)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _node_pid(folder) == pid:
        if time.monotonic() > deadline:
            _log.error("chain node %d did not stop in %.0f s: SIGKILL", pid, timeout_s)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    return True


def _tail(path: Path, offset: int, lines: int = 30) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run_node(folder: Path) -> int:
    """Run the node in ``folder`` in the foreground until SIGTERM or SIGINT.

    Returns 0 after a clean stop, 1 when anvil died under it (the journal
    holds everything confirmed: start it again).
    """
    folder = folder.resolve()
    settings = read_node_settings(folder)
    stop = StopSignal()
    node = DurableNode(
        folder,
        chain_id=settings.chain_id,
        host=settings.host,
        port=settings.port,
        snapshot_every=settings.snapshot_every,
    )
    node.start()
    write_atomic(
        folder / _PID_FILE, f"{os.getpid()} {_started(os.getpid())}\n".encode()
    )
    try:
        while not stop.wait(0.5):
            if not node.anvil_running:
                _log.error("anvil exited under the chain node; stopping (restart it)")
                return 1
    finally:
        node.stop()
        (folder / _PID_FILE).unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ledger.node", description="run a county chain node"
    )
    parser.add_argument("folder", type=Path, help="the node's folder (fedgov init)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return run_node(args.folder)


if __name__ == "__main__":
    sys.exit(main())
