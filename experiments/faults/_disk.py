"""A full disk while a department writes its budget book and its audit log.

The department's state folder lives on a small tmpfs of its own (as root;
elsewhere a child process with ``RLIMIT_FSIZE`` 0, where every write that
grows a file fails as it does on a full disk). Spends and records are
committed, the disk is filled, one more spend and one more commit are
tried, the disk is freed, and the department goes on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from eth_account import Account

from experiments.faults._common import read_record
from experiments.faults._outcome import FaultOutcome, records_lost
from fedgov.errors import FedgovError
from fedgov.job import Accountant
from ledger.actor_log import ActorLog
from ledger.layout import find_logs
from ledger.log_files import stored_size
from ledger.tree_head import SigningDomain
from privacy.accounting import GaussianSpend
from privacy.budget import Budget, BudgetBook, open_budget_book

__all__ = ["full_disk"]

MUST_HOLD = (
    "a spend and a commit that find the disk full each fail with a clear error "
    "naming the file; the budget book and the log still open (integrity checked) "
    "with every spend and record they held, no temporary file is left, and once "
    "space is free the department spends and commits again"
)
_DEPARTMENT = "dept-0"
_DATASET = "randhie"
_DOMAIN = SigningDomain(31337, "0x" + "ab" * 20)
_SPEND = GaussianSpend(noise_multiplier=1.1, sample_rate=0.01, steps=50)
_DISK_BYTES = 4 * 1024 * 1024
# How the kernel (ENOSPC; EFBIG under RLIMIT_FSIZE) and SQLite (SQLITE_FULL;
# SQLITE_IOERR for EFBIG) say it.
_CAUSES = ("No space left on device", "File too large", "disk is full", "disk I/O")

Attempt = Callable[[Callable[[], object]], tuple[bool, bool, str]]
"""Runs a write on the full disk: (completed, failed clearly, message)."""


def _try(write: Callable[[], object]) -> tuple[bool, bool, str]:
    try:
        write()
    except FedgovError as e:
        return False, True, str(e)
    except Exception as e:  # any other error is the finding
        return False, False, f"{type(e).__name__}: {e}"
    return True, False, ""


def _in_child(write: Callable[[], object]) -> tuple[bool, bool, str]:
    def child(send: multiprocessing.connection.Connection) -> None:
        # The kernel's SIGXFSZ would kill the process; ignored, the write
        # fails with EFBIG, as a full disk fails it with ENOSPC.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        send.send(_try(write))

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=child, args=(send,))
    process.start()
    result: tuple[bool, bool, str] = receive.recv()
    process.join()
    return result


@contextlib.contextmanager
def _small_disk(folder: Path) -> Iterator[bool]:
    """``folder`` on a tmpfs of its own when this process may mount one."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={_DISK_BYTES},mode=0700",
                "tmpfs",
                str(folder),
            ],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            # Lazily: the audit log's store stays open in this process's cache.
            subprocess.run(["umount", "--lazy", str(folder)], check=True)


@contextlib.contextmanager
def _disk_full(folder: Path, mounted: bool) -> Iterator[Attempt]:
    if not mounted:
        yield _in_child
        return
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        # Big blocks, then the last pages, until the kernel says ENOSPC.
        for size in (1 << 16, 512):
            with contextlib.suppress(OSError):
                while os.write(descriptor, b"\0" * size):
                    pass
    finally:
        os.close(descriptor)
    try:
        yield _try
    finally:
        filler.unlink(missing_ok=True)


def _charge(book: BudgetBook, index: int) -> None:
    book.charge(
        _DATASET,
        _SPEND,
        accountant=Accountant.RDP,
        kind="train",
        job_id="full-disk",
        round=index,
    )


def full_disk(work: Path) -> FaultOutcome:
    """A full disk under a department's budget book and audit log."""
    disk = work / "disk"
    with _small_disk(disk) as mounted:
        state = disk / "state"
        book = open_budget_book(state, _DEPARTMENT)
        book.ensure_limit(_DATASET, Budget(epsilon=50.0, delta=1e-5))
        account = Account.create()
        folder = state / "departments" / _DEPARTMENT
        log = ActorLog(folder, account, _DOMAIN)
        for index in range(3):
            _charge(book, index)
            log.commit([read_record(account.address, "full-disk", index)])
        spends = [s.spend_id for s in book.status(_DATASET).history]
        sizes = {path: stored_size(path) for path in find_logs(state)}
        book_bytes = book.path.read_bytes()

        with _disk_full(disk, mounted) as attempt:
            spend = attempt(lambda: _charge(book, 3))
            unchanged = book.path.read_bytes() == book_bytes
            commit = attempt(
                lambda: log.commit([read_record(account.address, "full-disk", 3)])
            )

        kept = [s.spend_id for s in book.status(_DATASET).history]
        leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".")]
        lost = records_lost(sizes)
        after = _try(lambda: _charge(book, 4))
        committed = _try(
            lambda: log.commit([read_record(account.address, "full-disk", 4)])
        )
        final = {path: stored_size(path) for path in find_logs(state)}
    notes = []
    if leftovers:
        notes.append(f"temporary files left: {leftovers}")
    if not unchanged:
        notes.append("the book file changed on the full disk")
    for name, (ok, _, message) in {
        "the next spend": after,
        "the next commit": committed,
    }.items():
        if not ok:
            notes.append(f"{name} after freeing space failed: {message}")
    if list(final.values()) != [size + 1 for size in sizes.values()]:
        notes.append(
            f"the log holds {list(final.values())} records after one more commit"
        )
    for (_, clear, message), file in ((spend, book.path), (commit, log.path)):
        if clear and file.name not in message:
            notes.append(f"the error does not name {file.name}: {message}")
        if clear and not any(cause in message for cause in _CAUSES):
            notes.append(f"the error does not say the disk is full: {message}")
    return FaultOutcome(
        case="full disk (budget book, audit log)",
        must_hold=MUST_HOLD,
        faults=2,
        completed=sum(ok for ok, _, _ in (spend, commit)),
        failed_clearly=sum(clear for _, clear, _ in (spend, commit)),
        failed_unclearly=sum(not ok and not clear for ok, clear, _ in (spend, commit)),
        records_lost=lost,
        spends_lost=len(set(spends) - set(kept)),
        errors=tuple(message for _, clear, message in (spend, commit) if clear),
        notes=tuple(notes)
        + tuple(
            f"{name} on a full disk: {message}"
            for name, (ok, clear, message) in {"spend": spend, "commit": commit}.items()
            if ok or not clear
        ),
    )
