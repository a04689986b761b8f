"""The county installation: one configuration file every command reads.

``fedgov init`` creates a county under ``$FEDGOV_HOME`` (default
``~/.fedgov``) and writes ``county.toml`` there::

    format = "fedgov-county"
    version = 1
    county = "lakeview"               # a DNS label; C2SP checkpoint origins use it

    [chain]
    chain_id = 31337
    rpc_url = "http://127.0.0.1:8545"
    node_dir = "chain"                # the managed chain node's state (optional)

    [contracts]
    roles = "0x..."
    anchor_registry = "0x..."
    consultation = "0x..."            # optional

    [accounts]                        # key files; sealed when keys.sealed
    admin = "keys/admin.json"         # grants and revokes roles (optional)
    relayer = "keys/relayer.json"     # pays for anchors
    registrar = "keys/registrar.json" # opens consultations (optional)

    [keys]
    sealed = true                     # false: the demo's plaintext keys

    [paths]
    state_dir = "state"               # departments' and coordinator's keys, logs, budgets
    runs_dir = "runs"
    auditor_dir = "auditor"           # the auditor's own state (``--since``)

    [witness]                         # optional
    policy = "witness-policy.txt"     # a C2SP tlog-policy

Relative paths are relative to the file's folder. :func:`load_county`
reads and checks it; every error names the file, the key and the rule
(:class:`CountyConfigError`). The module depends on nothing of fedgov's but
its errors and its file writer, so any package (the portal included) may
read the county.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fedgov.errors import ConfigurationError
from fedgov.files import write_atomic

__all__ = [
    "COUNTY_FILE",
    "FORMAT",
    "HOME_ENV",
    "VERSION",
    "AccountFiles",
    "ChainSettings",
    "ContractAddresses",
    "CountyConfig",
    "CountyConfigError",
    "CountyPaths",
    "county_home",
    "default_state_dir",
    "find_county",
    "load_county",
]

HOME_ENV: Final = "FEDGOV_HOME"
"""The environment variable naming the county's home folder."""
COUNTY_FILE: Final = "county.toml"
"""The configuration file's name inside the home folder."""
FORMAT: Final = "fedgov-county"
VERSION: Final = 1

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class CountyConfigError(ConfigurationError):
    """The county file is missing, unreadable or breaks a rule.

    ``file`` is the file, ``key`` the dotted key at fault (``""`` for the
    file as a whole), ``rule`` what it breaks.
    """

    def __init__(self, file: Path, key: str, rule: str) -> None:
        self.file = file
        self.key = key
        super().__init__(f"{file}" + (f" [{key}]" if key else ""), rule)


def county_home(home: str | Path | None = None) -> Path:
    """The county's home folder: ``home``, else ``$FEDGOV_HOME``, else ``~/.fedgov``."""
    if home is not None:
        return Path(home).expanduser()
    configured = os.environ.get(HOME_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".fedgov"


@dataclass(frozen=True)
class ChainSettings:
    """The county's chain: where it answers, and the managed node's folder."""

    chain_id: int
    rpc_url: str
    node_dir: Path | None = None
    """State of the node ``fedgov ledger node`` runs; ``None``: an outside node."""


@dataclass(frozen=True)
class ContractAddresses:
    """The contracts ``fedgov init`` deployed (EIP-55 or lower-case hex)."""

    roles: str
    anchor_registry: str
    consultation: str | None = None


@dataclass(frozen=True)
class AccountFiles:
    """Key files of the county's operational accounts (not the actors')."""

    relayer: Path
    admin: Path | None = None
    registrar: Path | None = None


@dataclass(frozen=True)
class CountyPaths:
    """Where the county keeps its durable state."""

    state_dir: Path
    runs_dir: Path
    auditor_dir: Path


@dataclass(frozen=True)
class CountyConfig:
    """One county installation, as ``county.toml`` describes it."""

    file: Path
    county: str
    chain: ChainSettings
    contracts: ContractAddresses
    accounts: AccountFiles
    paths: CountyPaths
    keys_sealed: bool
    witness_policy: Path | None = None

    @property
    def home(self) -> Path:
        """The folder holding the file (relative paths start here)."""
        return self.file.parent

    def to_toml(self) -> str:
        """The file's text (paths inside the home folder written relative to it)."""
        lines = [
            "# fedgov county installation (written by `fedgov init`; see fedgov.county)",
            f"format = {_text(FORMAT)}",
            f"version = {VERSION}",
            f"county = {_text(self.county)}",
            "",
            "[chain]",
            f"chain_id = {self.chain.chain_id}",
            f"rpc_url = {_text(self.chain.rpc_url)}",
        ]
        if self.chain.node_dir is not None:
            lines.append(f"node_dir = {self._path_text(self.chain.node_dir)}")
        lines += [
            "",
            "[contracts]",
            f"roles = {_text(self.contracts.roles)}",
            f"anchor_registry = {_text(self.contracts.anchor_registry)}",
        ]
        if self.contracts.consultation is not None:
            lines.append(f"consultation = {_text(self.contracts.consultation)}")
        lines += ["", "[accounts]"]
        for name in ("admin", "relayer", "registrar"):
            path = getattr(self.accounts, name)
            if path is not None:
                lines.append(f"{name} = {self._path_text(path)}")
        lines += [
            "",
            "[keys]",
            f"sealed = {'true' if self.keys_sealed else 'false'}",
            "",
            "[paths]",
            f"state_dir = {self._path_text(self.paths.state_dir)}",
            f"runs_dir = {self._path_text(self.paths.runs_dir)}",
            f"auditor_dir = {self._path_text(self.paths.auditor_dir)}",
        ]
        if self.witness_policy is not None:
            lines += [
                "",
                "[witness]",
                f"policy = {self._path_text(self.witness_policy)}",
            ]
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        """Write :meth:`to_toml` to :attr:`file`, atomically (mode 0644: no secret)."""
        write_atomic(self.file, self.to_toml().encode("utf-8"), mode=0o644)

    def _path_text(self, path: Path) -> str:
        try:
            return _text(path.relative_to(self.home).as_posix())
        except ValueError:
            return _text(str(path))


def _text(value: str) -> str:
    # A JSON string is a TOML basic string, but for DEL.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


class _Reader:
    """Typed access to the parsed file, each error naming the key."""

    def __init__(self, file: Path, data: dict[str, Any]) -> None:
        self.file = file
        self.data = data

    def error(self, key: str, rule: str) -> CountyConfigError:
        return CountyConfigError(self.file, key, rule)

    def table(self, name: str, *, required: bool, known: set[str]) -> dict[str, Any]:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.error(name, "missing table")
            return {}
        if not isinstance(value, dict):
            raise self.error(name, "must be a table")
        for key in value:
            if key not in known:
                raise self.error(
                    f"{name}.{key}", f"unknown key; known: {', '.join(sorted(known))}"
                )
        return value

    def string(self, table: dict[str, Any], prefix: str, key: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(f"{prefix}{key}", "must be a non-empty string")
        return value

    def required(self, table: dict[str, Any], prefix: str, key: str) -> str:
        value = self.string(table, prefix, key)
        if value is None:
            raise self.error(f"{prefix}{key}", "missing")
        return value

    def path(self, table: dict[str, Any], prefix: str, key: str) -> Path | None:
        value = self.string(table, prefix, key)
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.file.parent / path

    def address(self, table: dict[str, Any], prefix: str, key: str) -> str | None:
        value = self.string(table, prefix, key)
        if value is not None and not _ADDRESS.fullmatch(value):
            raise self.error(f"{prefix}{key}", f"{value!r} is not a 0x address")
        return value


_TOP = {"format", "version", "county", "chain", "contracts", "accounts", "keys"}
_TOP |= {"paths", "witness"}


def _parse(file: Path, data: dict[str, Any]) -> CountyConfig:
    read = _Reader(file, data)
    for key in data:
        if key not in _TOP:
            raise read.error(key, f"unknown key; known: {', '.join(sorted(_TOP))}")
    if data.get("format") != FORMAT:
        raise read.error("format", f"must be {FORMAT!r}: this is no county file")
    if data.get("version") != VERSION:
        raise read.error(
            "version",
            f"is {data.get('version')!r}; this fedgov reads version {VERSION}",
        )
    county = read.required(data, "", "county")
    if not _LABEL.fullmatch(county):
        raise read.error(
            "county", f"{county!r} must be a DNS label: a-z, 0-9, '-', at most 63"
        )

    chain = read.table(
        "chain", required=True, known={"chain_id", "rpc_url", "node_dir"}
    )
    chain_id = chain.get("chain_id")
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id < 1:
        raise read.error("chain.chain_id", "must be a positive integer")
    rpc_url = read.required(chain, "chain.", "rpc_url")
    if not rpc_url.startswith(("http://", "https://")):
        raise read.error("chain.rpc_url", f"{rpc_url!r} must be an http(s) URL")

    contracts = read.table(
        "contracts",
        required=True,
        known={"roles", "anchor_registry", "consultation"},
    )
    roles = read.address(contracts, "contracts.", "roles")
    registry = read.address(contracts, "contracts.", "anchor_registry")
    if roles is None or registry is None:
        missing = "roles" if roles is None else "anchor_registry"
        raise read.error(f"contracts.{missing}", "missing")

    accounts = read.table(
        "accounts", required=True, known={"admin", "relayer", "registrar"}
    )
    relayer = read.path(accounts, "accounts.", "relayer")
    if relayer is None:
        raise read.error("accounts.relayer", "missing: someone must pay for anchors")

    keys = read.table("keys", required=True, known={"sealed"})
    sealed = keys.get("sealed")
    if not isinstance(sealed, bool):
        raise read.error("keys.sealed", "must be true or false")

    paths = read.table(
        "paths", required=True, known={"state_dir", "runs_dir", "auditor_dir"}
    )
    folders = {
        key: read.path(paths, "paths.", key)
        for key in ("state_dir", "runs_dir", "auditor_dir")
    }
    for key, value in folders.items():
        if value is None:
            raise read.error(f"paths.{key}", "missing")
    witness = read.table("witness", required=False, known={"policy"})
    return CountyConfig(
        file=file,
        county=county,
        chain=ChainSettings(
            chain_id=chain_id,
            rpc_url=rpc_url,
            node_dir=read.path(chain, "chain.", "node_dir"),
        ),
        contracts=ContractAddresses(
            roles=roles,
            anchor_registry=registry,
            consultation=read.address(contracts, "contracts.", "consultation"),
        ),
        accounts=AccountFiles(
            relayer=relayer,
            admin=read.path(accounts, "accounts.", "admin"),
            registrar=read.path(accounts, "accounts.", "registrar"),
        ),
        paths=CountyPaths(
            state_dir=folders["state_dir"],  # type: ignore[arg-type]
            runs_dir=folders["runs_dir"],  # type: ignore[arg-type]
            auditor_dir=folders["auditor_dir"],  # type: ignore[arg-type]
        ),
        keys_sealed=sealed,
        witness_policy=read.path(witness, "witness.", "policy"),
    )


def load_county(file: str | Path) -> CountyConfig:
    """Read and check the county file ``file``."""
    path = Path(file).expanduser().absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise CountyConfigError(
            path, "", "no such file: create the county with `fedgov init`"
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise CountyConfigError(path, "", f"cannot read: {e}") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CountyConfigError(path, "", f"not TOML: {e}") from e
    return _parse(path, data)


def find_county(home: str | Path | None = None) -> CountyConfig | None:
    """The county installed at :func:`county_home` (``None`` when there is none).

    A file that exists but breaks a rule raises :class:`CountyConfigError`.
    """
    file = county_home(home) / COUNTY_FILE
    return load_county(file) if file.exists() else None


def default_state_dir() -> Path:
    """Where actors keep durable state when nothing else is configured.

    The county's state folder when a county is installed at
    :func:`county_home`, else that home folder itself.
    """
    county = find_county()
    return county.paths.state_dir if county is not None else county_home()
