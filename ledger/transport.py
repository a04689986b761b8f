"""TLS settings of the audit log service, and the insecure mode's warning."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import grpc

from fedgov.errors import ConfigurationError
from fedgov.notices import warn_once

__all__ = ["ClientTLS", "InsecureTransportWarning", "ServerTLS", "warn_insecure"]

_log = logging.getLogger("ledger.transport")


class InsecureTransportWarning(UserWarning):
    """An audit log connection runs without TLS: anyone on the path can read
    records and forge appends."""


def warn_insecure(side: str, address: str) -> None:
    """Warn (once per command and address) about plaintext gRPC."""
    message = (
        f"audit log {side} at {address} runs WITHOUT TLS (insecure=True): records "
        "travel in clear and appends are unauthenticated; use TLS outside tests"
    )
    warn_once(
        f"insecure-transport:{side}:{address}",
        message,
        InsecureTransportWarning,
        stacklevel=3,
    )


def _read(argument: str, path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigurationError(argument, f"cannot read {path}: {e}") from e


@dataclass(frozen=True)
class ServerTLS:
    """The server's certificate chain and key (PEM); with ``client_ca``,
    clients must present a certificate it signed (mutual TLS)."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None

    def __post_init__(self) -> None:
        if not self.certificate_chain or not self.private_key:
            raise ConfigurationError(
                "certificate_chain", "a TLS server needs a certificate chain and key"
            )

    @classmethod
    def from_files(
        cls,
        certificate_chain: str | Path,
        private_key: str | Path,
        client_ca: str | Path | None = None,
    ) -> ServerTLS:
        """Read the PEM files."""
        return cls(
            certificate_chain=_read("certificate_chain", certificate_chain),
            private_key=_read("private_key", private_key),
            client_ca=None if client_ca is None else _read("client_ca", client_ca),
        )

    def credentials(self) -> grpc.ServerCredentials:
        """gRPC server credentials; client certificates required with a CA."""
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


@dataclass(frozen=True)
class ClientTLS:
    """The CA that signed the server's certificate (PEM); for mutual TLS also
    the client's own chain and key. ``server_name`` overrides the name the
    server's certificate is checked against (default: the target's host)."""

    root_ca: bytes
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if not self.root_ca:
            raise ConfigurationError("root_ca", "a TLS client needs the server's CA")
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ConfigurationError(
                "certificate_chain", "give both the client chain and key, or neither"
            )

    @classmethod
    def from_files(
        cls,
        root_ca: str | Path,
        certificate_chain: str | Path | None = None,
        private_key: str | Path | None = None,
        server_name: str | None = None,
    ) -> ClientTLS:
        """Read the PEM files."""
        return cls(
            root_ca=_read("root_ca", root_ca),
            certificate_chain=None
            if certificate_chain is None
            else _read("certificate_chain", certificate_chain),
            private_key=None
            if private_key is None
            else _read("private_key", private_key),
            server_name=server_name,
        )

    def credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_ca,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )

    def channel_options(self) -> list[tuple[str, str]]:
        """Channel options: the server name override, if any."""
        if self.server_name is None:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]
