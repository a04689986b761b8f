"""A managed anvil node: a real JSON-RPC chain for tests, benchmarks and demos.

anvil (Foundry's dev node) comes from the npm package ``@foundry-rs/anvil``
that ``make anvil`` installs under ``.tools/``; :func:`find_anvil` looks at
``$FEDGOV_ANVIL`` first, then there, then on ``$PATH``.

Every node runs with ``--prune-history`` and its ``--cache-path`` inside the
node's own working folder: without them anvil persists historical states to
``~/.foundry`` and wrote 9 GB there in about 4,500 blocks.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account import Account

from fedgov.errors import ConfigurationError
from ledger.errors import ChainUnavailableError

if TYPE_CHECKING:
    from types import TracebackType

    from eth_account.signers.local import LocalAccount

__all__ = ["ANVIL_ENV", "AnvilProcess", "find_anvil"]

_log = logging.getLogger(__name__)

ANVIL_ENV = "FEDGOV_ANVIL"
_REPO_ROOT = Path(__file__).resolve().parents[1]
_TOOLS_ANVIL = (
    _REPO_ROOT / ".tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
)
_PR_SET_PDEATHSIG = 1
_LISTENING = re.compile(r"Listening on ([0-9.]+):(\d+)")


def _die_with_parent() -> None:
    # Linux: the node gets SIGKILL when the process that started it dies, so a
    # supervisor killed with SIGKILL takes its node along instead of leaving
    # an orphan that keeps the port.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def find_anvil() -> Path | None:
    """The anvil binary to use, or ``None`` when none is installed."""
    configured = os.environ.get(ANVIL_ENV)
    if configured:
        return Path(configured)
    if _TOOLS_ANVIL.is_file():
        return _TOOLS_ANVIL
    found = shutil.which("anvil")
    return Path(found) if found else None


class AnvilProcess:
    """Start, stop and restart one anvil node on 127.0.0.1.

    Use it as a context manager; the node is stopped and reaped on exit, also
    when the body raises. ``port=0`` lets the OS pick a free port; a restart
    (:meth:`stop` then :meth:`start`) keeps the port, so clients reconnect to
    the same URL. With ``persist_state=True`` the chain survives a restart
    (anvil dumps its state when stopped and loads it when started), which is
    how tests simulate a chain outage.
    """

    def __init__(
        self,
        binary: Path | None = None,
        *,
        workdir: Path | None = None,
        port: int = 0,
        persist_state: bool = False,
        accounts: int = 10,
        startup_timeout_s: float = 15.0,
        chain_id: int | None = None,
        genesis: Path | None = None,
        load_state: Path | None = None,
        die_with_parent: bool = False,
    ) -> None:
        resolved = binary or find_anvil()
        if resolved is None or not resolved.is_file():
            raise ConfigurationError(
                "binary",
                f"no anvil binary at {resolved}; run `make anvil` or set ${ANVIL_ENV}",
            )
        if not 0 <= port <= 65535:
            raise ConfigurationError("port", f"must be in 0..65535, got {port}")
        if accounts < (0 if genesis is not None else 1):
            raise ConfigurationError(
                "accounts",
                f"must be at least 1 (0 with a genesis that funds some), got {accounts}",
            )
        if persist_state and load_state is not None:
            raise ConfigurationError(
                "load_state", "give persist_state or load_state, not both"
            )
        if chain_id is not None and chain_id < 1:
            raise ConfigurationError("chain_id", f"must be positive, got {chain_id}")
        if startup_timeout_s <= 0:
            raise ConfigurationError(
                "startup_timeout_s", f"must be positive, got {startup_timeout_s}"
            )
        self._binary = resolved
        self._owns_workdir = workdir is None
        self._workdir = workdir
        self._port = port
        self._persist_state = persist_state
        self._accounts_count = accounts
        self._startup_timeout_s = startup_timeout_s
        self._chain_id = chain_id
        self._genesis = genesis
        self._load_state = load_state
        self._die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None
        self._accounts: tuple[LocalAccount, ...] = ()

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL (valid once started)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        if self._port == 0:
            raise ChainUnavailableError("anvil", "the node has not been started")
        return self._port

    @property
    def workdir(self) -> Path:
        """The folder holding the node's log, config, cache and state."""
        if self._workdir is None:
            raise ChainUnavailableError("anvil", "the node has not been started")
        return self._workdir

    @property
    def accounts(self) -> tuple[LocalAccount, ...]:
        """The node's funded dev accounts (anvil's default mnemonic)."""
        return self._accounts

    @property
    def pid(self) -> int | None:
        """The node's process id while it runs."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the node and wait until it accepts connections."""
        if self.running:
            raise ConfigurationError("AnvilProcess", f"already running at {self.url}")
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="fedgov-anvil-"))
        log_path = self._workdir / "anvil.log"
        config_path = self._workdir / "anvil-config.json"
        config_path.unlink(missing_ok=True)
        command = [
            str(self._binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(self._port),
            "--accounts",
            str(self._accounts_count),
            "--prune-history",
            "--cache-path",
            str(self._workdir / "cache"),
            "--config-out",
            str(config_path),
        ]
        if self._persist_state:
            command += ["--state", str(self._workdir / "state.json")]
        if self._chain_id is not None:
            command += ["--chain-id", str(self._chain_id)]
        if self._load_state is not None:
            command += ["--load-state", str(self._load_state)]
        elif self._genesis is not None:
            command += ["--init", str(self._genesis)]
        start = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if self._die_with_parent else None,
            )
        self._process = process
        try:
            self._port, keys = self._wait_until_listening(
                process, log_path, config_path, start
            )
        except BaseException:
            self._terminate()
            raise
        self._accounts = tuple(Account.from_key(key) for key in keys)
        _log.info("anvil (pid %d) listening at %s", process.pid, self.url)

    def stop(self) -> None:
        """Stop the node (dumping its state if persistent); idempotent."""
        if self._process is not None:
            self._terminate()
            _log.info("anvil stopped at %s", self.url)

    def close(self) -> None:
        """Stop the node and delete its working folder if this object made it."""
        self.stop()
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> AnvilProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _wait_until_listening(
        self,
        process: subprocess.Popen[bytes],
        log_path: Path,
        config_path: Path,
        start: int,
    ) -> tuple[int, list[str]]:
        """The port anvil bound and its dev accounts' keys, once it listens.

        ``start`` is where this start's output begins in the (appended) log.
        """
        deadline = time.monotonic() + self._startup_timeout_s

        def output() -> str:
            with log_path.open("rb") as handle:
                handle.seek(start)
                return handle.read().decode("utf-8", errors="replace")

        while time.monotonic() < deadline:
            exited = process.poll() is not None
            text = output()  # after the exit check: all an exited node wrote
            match = _LISTENING.search(text)
            if match:
                try:
                    config = json.loads(config_path.read_text(encoding="utf-8"))
                    return int(match.group(2)), list(config["private_keys"])
                except (OSError, ValueError, KeyError):
                    pass  # the config file is not fully written yet
            if exited:
                raise ChainUnavailableError(
                    f"anvil on port {self._port}",
                    f"exited with code {process.returncode}: {text[-500:]}",
                )
            time.sleep(0.01)
        raise ChainUnavailableError(
            f"anvil on port {self._port}",
            f"not listening after {self._startup_timeout_s} s (log: {log_path})",
        )

    def kill(self) -> None:
        """SIGKILL the node, as a crash would: no state is dumped."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # SIGTERM lets anvil dump its state; SIGKILL only if it hangs.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
