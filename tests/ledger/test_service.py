"""The audit log gRPC service and its client, in-process on 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
from typing import TYPE_CHECKING

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fedgov.errors import ConfigurationError
from ledger._proto import audit_log_pb2 as pb
from ledger._proto import audit_log_pb2_grpc as pb_grpc
from ledger.client import LogClient
from ledger.errors import LogServiceError
from ledger.export import verify_exported_log
from ledger.merkle import verify_consistency
from ledger.service import MAX_PAGE, HostedLog, LogServer
from ledger.store import LogStore
from ledger.transport import ClientTLS, InsecureTransportWarning, ServerTLS
from ledger.tree_head import recover_signer
from tests.ledger._log_fixtures import ACTOR, DOMAIN, OTHER, make_record

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[LogStore, LogStore]]:
    with (
        LogStore(tmp_path / "a.db", actor=ACTOR.address) as first,
        LogStore(tmp_path / "b.db", actor=OTHER.address) as second,
    ):
        yield first, second


@pytest.fixture
def server(stores: tuple[LogStore, LogStore]) -> Iterator[LogServer]:
    """Plaintext server hosting two logs; it holds the key of the first only."""
    with pytest.warns(InsecureTransportWarning, match="WITHOUT TLS"):
        server = LogServer(
            [HostedLog(stores[0], ACTOR, DOMAIN), HostedLog(stores[1])], insecure=True
        )
    with server:
        yield server


@pytest.fixture
def client(server: LogServer) -> Iterator[LogClient]:
    with (
        pytest.warns(InsecureTransportWarning),
        LogClient(server.target, insecure=True, timeout_s=5) as client,
    ):
        yield client


def test_append_read_and_prove(
    client: LogClient, stores: tuple[LogStore, LogStore]
) -> None:
    # Prepare
    store = stores[0]
    records = [make_record(i) for i in range(30)]

    # Execute
    first = client.append(store.log_id, records[:10])
    second = client.append(store.log_id, records[10:])
    info = client.log_info(store.log_id)

    # Assert: durable in the store, readable and provable remotely.
    assert (first, second) == (0, 10)
    assert (info.size, info.root, info.actor, info.log_name) == (
        30,
        store.root(),
        ACTOR.address,
        "audit",
    )
    assert store.records(0) == records
    assert client.records(store.log_id, 5, 8) == records[5:8]
    client.inclusion_proof(store.log_id, 17).verify(info.root)
    client.inclusion_proof(store.log_id, 3, 12).verify(store.root(12))
    proof = client.consistency_proof(store.log_id, 12)
    verify_consistency(12, 30, store.root(12), info.root, proof.hashes)
    assert client.consistency_proof(store.log_id, 12, 20).size2 == 20


def test_server_signs_heads_with_the_actors_key(
    client: LogClient, stores: tuple[LogStore, LogStore]
) -> None:
    # Prepare
    log_id = stores[0].log_id
    client.append(log_id, [make_record(i) for i in range(4)])
    assert client.latest_tree_head(log_id) is None

    # Execute
    signed = client.sign_tree_head(log_id)

    # Assert
    assert signed.head.tree_size == 4
    assert recover_signer(signed, DOMAIN) == ACTOR.address
    assert client.latest_tree_head(log_id) == signed
    assert client.signed_heads(log_id) == [signed] == stores[0].signed_heads()
    assert client.signed_head_entries(log_id) == [(signed, DOMAIN)]


def test_fetched_log_verifies_like_an_export(
    client: LogClient, stores: tuple[LogStore, LogStore]
) -> None:
    # Prepare: more records than one page.
    log_id = stores[0].log_id
    client.append(log_id, (make_record(i) for i in range(MAX_PAGE + 250)))
    client.sign_tree_head(log_id)

    # Execute
    result = verify_exported_log(client.fetch_log(log_id), domain=DOMAIN)

    # Assert
    assert result.size == MAX_PAGE + 250
    assert result.root == stores[0].root()
    assert result.latest_head == stores[0].latest_tree_head()


@pytest.mark.parametrize(
    ("call", "code", "detail"),
    [
        (lambda c, s: c.log_info(b"\7" * 32), "NOT_FOUND", "no log 0x0707"),
        (
            lambda c, s: c.append(s[0].log_id, [make_record(0, OTHER)]),
            "INVALID_ARGUMENT",
            "0x",
        ),
        (lambda c, s: c.inclusion_proof(s[0].log_id, 0), "OUT_OF_RANGE", "index=0"),
        (lambda c, s: c.records(s[0].log_id, 0, 3), "OUT_OF_RANGE", "start=0"),
        (lambda c, s: c.consistency_proof(s[0].log_id, 0), "INVALID_ARGUMENT", "size1"),
        (
            lambda c, s: c.sign_tree_head(s[1].log_id),
            "FAILED_PRECONDITION",
            "no signing key",
        ),
    ],
)
def test_refusals_map_to_status_codes(
    client: LogClient,
    stores: tuple[LogStore, LogStore],
    call: object,
    code: str,
    detail: str,
) -> None:
    with pytest.raises(LogServiceError, match=detail) as caught:
        call(client, stores)  # type: ignore[operator]

    assert caught.value.code == code


def test_server_refuses_non_canonical_bytes(
    server: LogServer, stores: tuple[LogStore, LogStore]
) -> None:
    # Prepare: a raw stub, bypassing the client's encoding.
    good = make_record(0).encode()
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.AuditLogStub(channel)  # type: ignore[no-untyped-call]
        request = pb.AppendRecordsRequest(
            log_id=stores[0].log_id, records=[good, good.replace(b",", b", ")]
        )

        # Execute / Assert: the whole batch is refused, the index named.
        with pytest.raises(grpc.RpcError) as caught:
            stub.AppendRecords(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "records[1]" in caught.value.details()
    assert stores[0].size == 0


def test_the_client_appends_durably(
    client: LogClient, stores: tuple[LogStore, LogStore]
) -> None:
    client.append(stores[0].log_id, [make_record(0)])
    client.append(stores[0].log_id, [make_record(1), make_record(2)])

    assert stores[0].records(0) == [make_record(i) for i in range(3)]


def test_transport_must_be_chosen(stores: tuple[LogStore, LogStore]) -> None:
    with pytest.raises(ConfigurationError, match="insecure=True"):
        LogServer([HostedLog(stores[0])])
    with pytest.raises(ConfigurationError, match="insecure=True"):
        LogClient("127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="listed twice"):
        LogServer([HostedLog(stores[0]), HostedLog(stores[0])], insecure=True)
    with pytest.raises(ConfigurationError, match="the log's actor"):
        HostedLog(stores[0], OTHER, DOMAIN)
    with pytest.raises(ConfigurationError, match="both signer and domain"):
        HostedLog(stores[0], ACTOR)


def test_unreachable_server_is_unavailable_within_the_timeout() -> None:
    with pytest.warns(InsecureTransportWarning):
        client = LogClient("127.0.0.1:1", insecure=True, timeout_s=0.5)

    with pytest.raises(LogServiceError) as caught:
        client.log_info(b"\0" * 32)
    client.close()

    assert caught.value.code in {"UNAVAILABLE", "DEADLINE_EXCEEDED"}


# -- TLS --


class _Pki:
    """A throwaway CA, a server certificate for localhost/127.0.0.1, a client one."""

    def __init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedgov test CA")])
        self.ca = self._certificate(
            name, self.ca_key.public_key(), ca=True, san=None, subject=name
        )
        self.server_key = ec.generate_private_key(ec.SECP256R1())
        self.server = self._certificate(
            name,
            self.server_key.public_key(),
            ca=False,
            san=[
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ],
            subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
        )
        self.client_key = ec.generate_private_key(ec.SECP256R1())
        self.client = self._certificate(
            name,
            self.client_key.public_key(),
            ca=False,
            san=[x509.DNSName("department-a")],
            subject=x509.Name(
                [x509.NameAttribute(NameOID.COMMON_NAME, "department-a")]
            ),
        )

    def _certificate(
        self,
        issuer: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        *,
        ca: bool,
        san: list[x509.GeneralName] | None,
        subject: x509.Name,
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.BasicConstraints(ca=ca, path_length=None), critical=True
            )
        )
        if san is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(san), critical=False
            )
        return builder.sign(self.ca_key, hashes.SHA256())

    @staticmethod
    def pem(item: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
        if isinstance(item, x509.Certificate):
            return item.public_bytes(serialization.Encoding.PEM)
        return item.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@pytest.fixture(scope="module")
def pki() -> _Pki:
    return _Pki()


def _server_tls(pki: _Pki, *, mutual: bool) -> ServerTLS:
    return ServerTLS(
        certificate_chain=pki.pem(pki.server),
        private_key=pki.pem(pki.server_key),
        client_ca=pki.pem(pki.ca) if mutual else None,
    )


def test_tls_round_trip(pki: _Pki, stores: tuple[LogStore, LogStore]) -> None:
    # Prepare
    store = stores[0]
    with LogServer([HostedLog(store)], tls=_server_tls(pki, mutual=False)) as server:
        tls = ClientTLS(root_ca=pki.pem(pki.ca))
        with LogClient(server.target, tls=tls, timeout_s=5) as client:
            # Execute
            client.append(store.log_id, [make_record(1)])
            info = client.log_info(store.log_id)

    # Assert
    assert info.size == 1


def test_tls_client_refuses_a_server_from_another_ca(
    pki: _Pki, stores: tuple[LogStore, LogStore]
) -> None:
    stranger = _Pki()
    with LogServer(
        [HostedLog(stores[0])], tls=_server_tls(pki, mutual=False)
    ) as server:
        tls = ClientTLS(root_ca=stranger.pem(stranger.ca))
        with (
            LogClient(server.target, tls=tls, timeout_s=3) as client,
            pytest.raises(LogServiceError) as caught,
        ):
            client.log_info(stores[0].log_id)

    assert caught.value.code == "UNAVAILABLE"


def test_mutual_tls_requires_a_client_certificate(
    pki: _Pki, stores: tuple[LogStore, LogStore]
) -> None:
    # Prepare
    store = stores[0]
    anonymous = ClientTLS(root_ca=pki.pem(pki.ca))
    known = ClientTLS(
        root_ca=pki.pem(pki.ca),
        certificate_chain=pki.pem(pki.client),
        private_key=pki.pem(pki.client_key),
    )

    with LogServer([HostedLog(store)], tls=_server_tls(pki, mutual=True)) as server:
        # Execute / Assert
        with (
            LogClient(server.target, tls=anonymous, timeout_s=3) as client,
            pytest.raises(LogServiceError) as caught,
        ):
            client.append(store.log_id, [make_record(0)])
        with LogClient(server.target, tls=known, timeout_s=5) as client:
            assert client.append(store.log_id, [make_record(0)]) == 0

    assert caught.value.code == "UNAVAILABLE"
    assert store.size == 1


def test_tls_settings_are_validated(pki: _Pki, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="both the client chain and key"):
        ClientTLS(root_ca=pki.pem(pki.ca), certificate_chain=pki.pem(pki.client))
    with pytest.raises(ConfigurationError, match="certificate chain and key"):
        ServerTLS(certificate_chain=b"", private_key=b"key")
    with pytest.raises(ConfigurationError, match="cannot read"):
        ServerTLS.from_files(tmp_path / "absent.pem", tmp_path / "absent.key")
    (tmp_path / "ca.pem").write_bytes(pki.pem(pki.ca))
    assert ClientTLS.from_files(tmp_path / "ca.pem").root_ca == pki.pem(pki.ca)
