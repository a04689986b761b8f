"""The county chain node's JSON-RPC front: nothing is confirmed before it is on disk.

:class:`DurableNode` runs anvil as a child process on a private port and
serves the county's RPC URL itself. Every call is handled under one lock,
so no client ever sees a chain state that is not yet durable:

- reads (``eth_call``, ``eth_getLogs``, receipts, blocks, nonces...) are
  forwarded as they are;
- ``eth_sendRawTransaction`` and ``evm_mine`` are forwarded, then the
  blocks they mined are read back and the call is appended to the journal
  and fsynced (:mod:`ledger._node_journal`) before the answer leaves. The
  front mines a transaction itself before it answers (anvil runs without
  automine, see :meth:`DurableNode._mine_ready`), so when a client holds a
  transaction hash the transaction is mined and journalled with its block,
  and a receipt it reads is durable;
- ``evm_setNextBlockTimestamp``/``evm_increaseTime`` (development clocks,
  ``fedgov vote advance-time``) pass through: their effect is the
  timestamp of the next block mined, which the journal pins;
- everything else (node-side signing, ``anvil_setBalance``, state resets,
  dumps) is refused: a state change the journal cannot replay is one a
  crash could lose.

Recovery (:meth:`DurableNode.start`): anvil loads the snapshot (or the
genesis, the first time), then every journalled call past the snapshot is
sent again and its blocks mined with their timestamps pinned, and the block
numbers and stamps must come out as they were recorded: the same signed
transactions in the same blocks, so the same receipts, logs and nonces.
Then the clock is set so that block time keeps its offset from the wall
clock (a consultation's windows survive a restart), a new snapshot is
taken and the journal emptied.
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ledger._anvil import AnvilProcess
from ledger._node_journal import (
    JOURNAL_FILE,
    SNAPSHOT_FILE,
    Journal,
    JournalEntry,
    SnapshotMeta,
    read_journal,
    read_snapshot_meta,
    write_snapshot,
)
from ledger.errors import ChainError, ChainUnavailableError

__all__ = ["DurableNode"]

_log = logging.getLogger(__name__)

_READ_ONLY = frozenset(
    {
        "web3_clientVersion",
        "net_version",
        "net_listening",
        "eth_chainId",
        "eth_syncing",
        "eth_accounts",
        "eth_blockNumber",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_blobBaseFee",
        "eth_feeHistory",
        "eth_getBalance",
        "eth_getTransactionCount",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_getProof",
        "eth_call",
        "eth_estimateGas",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getBlockReceipts",
        "eth_getBlockTransactionCountByNumber",
        "eth_getTransactionByHash",
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionReceipt",
        "eth_getLogs",
    }
)
_SEND = "eth_sendRawTransaction"
_MINE = "evm_mine"
_CLOCK = frozenset({"evm_setNextBlockTimestamp", "evm_increaseTime"})
_MAX_BODY = 16 * 1024 * 1024


class DurableNode:
    """anvil behind a journalling JSON-RPC front on ``host:port``.

    ``folder`` holds the snapshot, the journal, ``genesis.json`` (used until
    the first snapshot) and anvil's working folder. ``snapshot_every``
    journal entries trigger a snapshot.
    """

    def __init__(
        self,
        folder: Path,
        *,
        chain_id: int,
        host: str,
        port: int,
        anvil_binary: Path | None = None,
        snapshot_every: int = 500,
    ) -> None:
        if snapshot_every < 1:
            raise ChainError(
                "start the chain node",
                f"snapshot_every must be >= 1, got {snapshot_every}",
            )
        self.folder = folder
        self.chain_id = chain_id
        self.host = host
        self.port = port
        self.snapshot_every = snapshot_every
        self._anvil = AnvilProcess(
            anvil_binary,
            workdir=folder / "anvil",
            chain_id=chain_id,
            accounts=0,
            genesis=folder / "genesis.json",
            load_state=(folder / SNAPSHOT_FILE)
            if (folder / SNAPSHOT_FILE).is_file()
            else None,
            die_with_parent=True,
            startup_timeout_s=60.0,
        )
        self._lock = threading.Lock()
        self._upstream: http.client.HTTPConnection | None = None
        self._journal: Journal | None = None
        self._since_snapshot = 0
        self._server: ThreadingHTTPServer | None = None

    # -- lifetime -------------------------------------------------------------------

    def start(self) -> None:
        """Recover the chain, then serve on ``host:port`` in background threads."""
        (self.folder / "anvil").mkdir(parents=True, exist_ok=True)
        self._anvil.start()
        try:
            self._call("evm_setAutomine", [False])
            replayed = self._recover()
            self._journal = Journal(self.folder / JOURNAL_FILE)
            if replayed or not (self.folder / SNAPSHOT_FILE).is_file():
                with self._lock:
                    self._snapshot()
            self._server = _Server((self.host, self.port), _Handler, self)
        except BaseException:
            self._anvil.kill()
            raise
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, name="chain-node-front", daemon=True
        ).start()
        _log.info(
            "county chain node at http://%s:%d (anvil pid %s), %d calls replayed",
            self.host,
            self.port,
            self._anvil.pid,
            replayed,
        )

    @property
    def anvil_pid(self) -> int | None:
        return self._anvil.pid

    @property
    def anvil_running(self) -> bool:
        return self._anvil.running

    def stop(self) -> None:
        """Stop serving, take a final snapshot, stop anvil."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            if self._anvil.running and self._journal is not None:
                try:
                    self._snapshot()
                except ChainError as e:
                    _log.error("final snapshot failed (the journal is kept): %s", e)
            if self._journal is not None:
                self._journal.close()
            self._anvil.stop()

    # -- answering ------------------------------------------------------------------

    def answer(self, request: Any) -> Any:
        """The JSON-RPC answer to ``request`` (one call or a batch)."""
        if isinstance(request, list):
            return [self._answer_one(call) for call in request]
        return self._answer_one(request)

    def _answer_one(self, call: Any) -> dict[str, Any]:
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return _error(None, -32600, "invalid request")
        ident = call.get("id")
        method = call["method"]
        params = call.get("params", [])
        if (
            method not in _READ_ONLY
            and method not in _CLOCK
            and method
            not in (
                _SEND,
                _MINE,
            )
        ):
            return _error(
                ident,
                -32601,
                f"{method} is not offered by the county chain node: it serves reads, "
                "signed transactions and the development clock, whose effects it "
                "journals",
            )
        with self._lock:
            if method not in (_SEND, _MINE):
                return {**self._forward(method, params), "id": ident}
            return {**self._journalled(method, params), "id": ident}

    def _journalled(self, method: str, params: Any) -> dict[str, Any]:
        before = self._block_number()
        answer = self._forward(method, params)
        if "error" in answer:
            return answer
        if method == _SEND:
            self._mine_ready()
        after = self._block_number()
        blocks = tuple(
            (number, self._timestamp(number)) for number in range(before + 1, after + 1)
        )
        tx_hash = str(answer.get("result", "")) if method == _SEND else ""
        assert self._journal is not None
        self._journal.append(
            JournalEntry(
                method=method,
                params=list(params) if isinstance(params, list) else [],
                blocks=blocks,
                wall_ms=int(time.time() * 1000),
                tx_hash=tx_hash,
            )
        )
        self._since_snapshot += 1
        if self._since_snapshot >= self.snapshot_every:
            self._snapshot()
        return answer

    # -- anvil ----------------------------------------------------------------------

    def _forward(self, method: str, params: Any) -> dict[str, Any]:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        ).encode()
        for attempt in range(2):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(
                    "127.0.0.1", self._anvil.port, timeout=300
                )
            try:
                self._upstream.request(
                    "POST", "/", body=body, headers={"Content-Type": "application/json"}
                )
                response = self._upstream.getresponse()
                data = response.read()
                answer = json.loads(data)
                if not isinstance(answer, dict):
                    raise ValueError("not a JSON object")
                answer.pop("id", None)
                return answer
            except (OSError, http.client.HTTPException, ValueError) as e:
                self._upstream.close()
                self._upstream = None
                if attempt or not self._anvil.running:
                    raise ChainUnavailableError(
                        f"anvil behind the county chain node ({method})", str(e)
                    ) from e
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(self, method: str, params: list[Any]) -> Any:
        answer = self._forward(method, params)
        if "error" in answer:
            raise ChainError(method, str(answer["error"]))
        return answer.get("result")

    def _block_number(self) -> int:
        return int(str(self._call("eth_blockNumber", [])), 16)

    def _timestamp(self, number: int) -> int:
        block = self._call("eth_getBlockByNumber", [hex(number), False])
        return int(str(block["timestamp"]), 16)

    def _mine_ready(self) -> None:
        """Mine, now, what anvil's pool can execute.

        anvil's automine answers a transaction once it is in the pool and
        mines it a moment later in another task: on a busy machine the blocks
        a call made were not there yet when it was journalled, and whether a
        transaction behind a nonce gap shared a block with the one that filled
        it depended on timing a replay cannot repeat. So anvil runs without
        automine and the front mines: ``evm_mine`` takes every executable
        transaction (the pool's ``pending``; ``queued`` ones wait for a
        missing nonce) before it returns, and a replay that repeats the same
        calls groups the transactions into the same blocks.
        """
        pending = self._pending()
        while pending:
            self._call(_MINE, [])
            left = self._pending()
            if left >= pending:
                return  # what is left cannot go in a block now
            pending = left

    def _pending(self) -> int:
        return int(str(self._call("txpool_status", [])["pending"]), 16)

    def _snapshot(self) -> None:
        dumped = str(self._call("anvil_dumpState", []))
        state = gzip.decompress(bytes.fromhex(dumped.removeprefix("0x")))
        number = self._block_number()
        write_snapshot(
            self.folder,
            state,
            SnapshotMeta(number, self._timestamp(number), int(time.time() * 1000)),
        )
        assert self._journal is not None
        # A transaction still in the pool (a nonce gap) is in no block the
        # snapshot holds; keep it, so that a replay puts it back.
        pending = [
            entry
            for entry in self._journal.entries()
            if entry.method == _SEND
            and not entry.blocks
            and self._call("eth_getTransactionReceipt", [entry.tx_hash]) is None
        ]
        self._journal.reset(pending)
        self._since_snapshot = len(pending)
        _log.info("chain snapshot at block %d", number)

    def _recover(self) -> int:
        """Replay the journal past the loaded snapshot; the number of calls replayed."""
        head = self._block_number()
        replayed = 0
        last_block_ts: int | None = None
        last_wall_ms: int | None = None
        meta = read_snapshot_meta(self.folder)
        if meta is not None:
            last_block_ts, last_wall_ms = meta.block_timestamp, meta.wall_ms
        for entry in read_journal(self.folder / JOURNAL_FILE):
            if entry.blocks and entry.blocks[-1][0] <= head:
                continue
            self._replay(entry)
            replayed += 1
            if entry.blocks:
                last_block_ts, last_wall_ms = entry.blocks[-1][1], entry.wall_ms
        if last_block_ts is not None and last_wall_ms is not None:
            # Block time keeps its offset from the wall clock across the outage.
            offset = last_block_ts - last_wall_ms // 1000
            self._call("evm_setTime", [int(time.time()) + max(offset, 0)])
        return replayed

    def _replay(self, entry: JournalEntry) -> None:
        if entry.method == _SEND and not entry.blocks:
            if self._call("eth_getTransactionReceipt", [entry.tx_hash]) is None:
                self._forward(_SEND, entry.params)
                self._mine_ready()
            return
        for index, (number, timestamp) in enumerate(entry.blocks):
            # evm_setNextBlockTimestamp alone refuses a time before anvil's
            # clock (a restart's wall clock, or the stamp of the block before,
            # which anvil gives every block mined in one second); evm_setTime
            # alone stamps the block with whatever second the clock ticked to.
            self._call("evm_setTime", [timestamp])
            self._call("evm_setNextBlockTimestamp", [timestamp])
            if entry.method == _SEND and index == 0:
                self._call(_SEND, entry.params)
            self._call(_MINE, [])
            # Several blocks share a stamp (the genesis among them), so the
            # number is checked as well.
            head = self._block_number()
            stamp = self._timestamp(head)
            if (head, stamp) != (number, timestamp):
                raise ChainError(
                    "recover the county chain",
                    f"replaying {entry.method} {entry.tx_hash} mined block {head} "
                    f"stamped {stamp}, the journal says block {number} stamped "
                    f"{timestamp}: the snapshot and the journal disagree",
                )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        node: DurableNode,
    ) -> None:
        self.node = node
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A kept-alive connection with Nagle on holds the body, written after the
    # headers, until the client's delayed ACK: about 40 ms on every call.
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= _MAX_BODY:
            self._send(413 if length else 400, _error(None, -32600, "bad body size"))
            return
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            self._send(400, _error(None, -32700, "parse error"))
            return
        try:
            answer = self.server.node.answer(request)
        except ChainError as e:
            # anvil is gone or misbehaves: unavailable, never a made-up answer.
            _log.error("county chain node: %s", e)
            self._send(503, _error(None, -32000, str(e)))
            return
        self._send(200, answer)

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)


def _error(ident: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}
