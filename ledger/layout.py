"""Where actors keep their audit keys and logs inside a fedgov state folder.

    <state>/departments/<department>/audit-key.json     the department's key
    <state>/departments/<department>/audit-<address>.db its log (one per key)
    <state>/departments/<department>/audit-<address>.note-key.pem
                                                        its log's checkpoint key
    <state>/coordinator/audit-key.json                  the coordinator's key
    <state>/coordinator/audit-<address>.db              its log

A log belongs to one key (its id derives from the address), so a rotated key
starts a new file next to the old one; the budget ledger shares the
department's folder (``department_nodes.node``).
"""

from __future__ import annotations

from pathlib import Path

from eth_utils.address import to_checksum_address

from fedgov.types import check_name
from ledger.keys import key_address

__all__ = [
    "KEY_FILE",
    "LOCK_FILE",
    "LOG_NAME",
    "coordinator_dir",
    "department_address",
    "department_dir",
    "find_logs",
    "log_path",
    "note_key_path",
    "replica_logs",
]

LOG_NAME = "audit"
"""Every actor's log name: with the address it derives the log id."""
KEY_FILE = "audit-key.json"
LOCK_FILE = "audit.lock"


def department_dir(state_dir: str | Path, department: str) -> Path:
    """The folder of ``department``'s durable state (a checked name)."""
    return Path(state_dir) / "departments" / check_name("department", department)


def coordinator_dir(state_dir: str | Path) -> Path:
    """The folder of the coordinator's durable state."""
    return Path(state_dir) / "coordinator"


def log_path(actor_dir: Path, address: str) -> Path:
    """The log file of the key ``address`` in ``actor_dir``."""
    return actor_dir / f"audit-{to_checksum_address(address)}.db"


def note_key_path(log: Path) -> Path:
    """The Ed25519 key that signs the checkpoints of the log file ``log``."""
    return log.with_name(f"{log.stem}.note-key.pem")


def find_logs(state_dir: str | Path) -> list[Path]:
    """Every actor log under ``state_dir``: the coordinator's, then departments'."""
    root = Path(state_dir)
    return sorted(coordinator_dir(root).glob("audit-0x*.db")) + sorted(
        (root / "departments").glob("*/audit-0x*.db")
    )


def department_address(state_dir: str | Path, department: str) -> str | None:
    """The audit address ``department`` writes under in ``state_dir``, if known.

    Its key file's address where the department runs on this machine; where
    it runs elsewhere, the actor of the newest log replica kept here (made
    when the county enrolled it). ``None`` when neither exists.
    """
    folder = department_dir(state_dir, department)
    address = key_address(folder / KEY_FILE)
    if address is not None:
        return address
    replicas = sorted(folder.glob("audit-0x*.db"), key=lambda p: p.stat().st_mtime)
    if not replicas:
        return None
    return str(to_checksum_address(replicas[-1].stem.removeprefix("audit-")))


def replica_logs(state_dir: str | Path) -> list[Path]:
    """The logs of departments that run elsewhere: folders with a log, no key.

    The county keeps a replica of each (created when it enrolled the
    department, filled by the department's pushes).
    """
    root = Path(state_dir) / "departments"
    return sorted(
        path
        for path in root.glob("*/audit-0x*.db")
        if not (path.parent / KEY_FILE).exists()
    )
