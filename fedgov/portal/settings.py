"""What the portal serves and how: one typed, validated settings object.

``fedgov portal serve`` builds :class:`PortalSettings` from its flags; the
county installation's configuration file (issue 11) will build the same
object. Everything the portal reads is named here — the chain, the contract
addresses, the state folders, the runs folder — and so is everything it may
do on someone's behalf: relay residents' ballots (``relayer``), issue
credentials at the registrar's desk (``registrar_desk``), re-run the audit
for holders of an auditor token (``auditor_tokens``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils.address import is_address, to_checksum_address

from fedgov.errors import ConfigurationError

__all__ = ["KeyFile", "PortalSettings", "RegistrarDesk"]


@dataclass(frozen=True)
class KeyFile:
    """An encrypted keystore and the environment variable holding its password."""

    path: Path
    password_env: str = "FEDGOV_KEY_PASSWORD"


@dataclass(frozen=True)
class RegistrarDesk:
    """The registrar's online desk: records what residents who ask are owed.

    A resident's request is signed by the roll key on their roll entry, which
    the registrar tied to their identity when drawing up the roll; the desk
    looks the entry up by that key and records it on chain: with ring
    credentials the resident's ballot key, and nothing is signed
    (:meth:`ledger.voting.Registrar.record`); with blind RSA credentials the
    issuance, then it blind-signs (:meth:`ledger.voting.Registrar.issue`),
    which needs ``credential_key``. It never sees a voting key.
    """

    roll: Path
    account: KeyFile
    """The registrar's chain account (holds the REGISTRAR role)."""
    credential_key: Path | None = None
    """Blind RSA consultations only: their RSA credential key (encrypted PEM)."""
    passphrase_env: str = "FEDGOV_VOTE_KEY_PASSPHRASE"


@dataclass(frozen=True)
class PortalSettings:
    """A county portal's configuration."""

    rpc_url: str
    """The county chain's JSON-RPC endpoint."""
    state_dirs: tuple[Path, ...] = ()
    """fedgov state folders (``departments/``, ``coordinator/``): logs, budgets."""
    runs_dir: Path | None = None
    """Where jobs write their run folders (``run_record.json``...)."""
    registry: str | None = None
    """The AnchorRegistry the actors' tree heads are anchored in."""
    consultation: str | None = None
    """The Consultation contract residents vote in."""
    data_dir: Path = Path("portal-data")
    """The portal's own files: the latest audit report."""
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: Path | None = None
    tls_key: Path | None = None
    auditor_tokens: Path | None = None
    """File of auditor token digests (``fedgov portal token``); none: nobody may
    re-run the audit from the portal."""
    budget_key: str = "auto"
    """Key source of the departments' sealed budget ledgers (``fedgov budget``)."""
    relayer: KeyFile | None = None
    """The account that pays for residents' commits and reveals; none: the
    portal relays no ballot (residents use `fedgov vote commit`)."""
    registrar_desk: RegistrarDesk | None = None
    roles: str | None = None
    """Checked against the registry's Roles contract when given."""
    extra_origins: tuple[str, ...] = field(default=())
    """Origins besides the portal's own accepted on state-changing requests
    (e.g. the public name behind a reverse proxy)."""

    def __post_init__(self) -> None:
        if not self.rpc_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                "rpc_url", f"must be an http(s) URL, got {self.rpc_url!r}"
            )
        for name in ("registry", "consultation", "roles"):
            value = getattr(self, name)
            if value is None:
                continue
            if not is_address(value):
                raise ConfigurationError(name, f"{value!r} is not a 20-byte address")
            object.__setattr__(self, name, to_checksum_address(value))
        if not 0 < self.port < 65536:
            raise ConfigurationError("port", f"must be in 1..65535, got {self.port}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError(
                "tls_cert", "give both the certificate and its key, or neither"
            )
        if self.registrar_desk is not None and self.consultation is None:
            raise ConfigurationError(
                "registrar_desk", "needs the Consultation contract (consultation)"
            )
        for origin in self.extra_origins:
            if not origin.startswith(("http://", "https://")) or origin.count("/") > 2:
                raise ConfigurationError(
                    "extra_origins",
                    f"{origin!r} is not an origin (scheme://host[:port], no path)",
                )

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def loopback(self) -> bool:
        """Whether the portal listens on this machine only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False
