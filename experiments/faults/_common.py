"""What the fault cases share: the ``fedgov`` command as a user runs it in a
county, free ports, a department's record."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from fedgov.county import CountyConfig, load_county
from fedgov.types import ActorId, DatasetId, JobId
from ledger.records import Action, AuditRecord, Role, now_ms

__all__ = [
    "FEDGOV",
    "county_env",
    "fedgov",
    "free_port",
    "init_county",
    "read_record",
]

FEDGOV = Path(sys.executable).with_name("fedgov")
"""This environment's ``fedgov`` command."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def county_env(home: Path) -> dict[str, str]:
    """This process's environment for the county at ``home`` (demo-mode keys)."""
    env = {k: v for k, v in os.environ.items() if k != "FEDGOV_KEY_PASSWORD"}
    env["FEDGOV_HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def fedgov(words: list[str], home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``fedgov WORDS...`` run in ``cwd`` for the county at ``home``."""
    return subprocess.run(
        [str(FEDGOV), *words],
        cwd=cwd,
        env=county_env(home),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def init_county(work: Path) -> tuple[Path, CountyConfig]:
    """``fedgov init`` a county under ``work/home``, as a user does; its home
    and configuration."""
    home = work / "home"
    init = fedgov(
        ["init", "--county", "lakeview", "--port", str(free_port())], home, work
    )
    if init.returncode != 0:
        raise RuntimeError(f"fedgov init failed: {init.stderr[-3000:]}")
    return home, load_county(home / "county.toml")


def read_record(actor: str, job: str, index: int) -> AuditRecord:
    """A department's ``data_read`` of round ``index`` of ``job``."""
    return AuditRecord(
        actor=ActorId(actor),
        role=Role.DEPARTMENT,
        action=Action.DATA_READ,
        timestamp_ms=now_ms(),
        dataset=DatasetId("randhie"),
        purpose="fault injection",
        job=JobId(job),
        round=index,
        record_count=100,
        details={"department": "dept-0", "phase": "train"},
    )
