"""A real local federation (SuperLink + SuperNodes) starts, fails and stops cleanly.

These start real Flower processes but run no job (seconds, not minutes);
``test_launcher_e2e.py`` runs a whole training job.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fedgov.engines._deployment_federation import start_federation
from fedgov.engines._deployment_flower import TlsFiles, health_ok
from fedgov.engines._deployment_processes import DeploymentError, tagged_processes

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/environ").exists(), reason="the sweep reads /proc (Linux)"
)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_tls_files(folder: Path, ips: tuple[str, ...] = ("127.0.0.1",)) -> TlsFiles:
    """A throw-away CA and a server certificate for ``ips`` signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("fedgov test CA"))
        .issuer_name(_name("fedgov test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(_pem_key(key))
    return TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")


def test_tls_federation_registers_its_node_and_refuses_plain_http(
    tmp_path: Path,
) -> None:
    # Prepare
    tls = make_tls_files(tmp_path / "pki")
    nodes = {"parks": {"department": "parks", "state-dir": str(tmp_path / "state")}}

    # Execute
    with start_federation(
        tmp_path / "run", nodes, tls=tls, startup_timeout=120
    ) as federation:
        token = federation.supervisor.token
        port = int(federation.address.rsplit(":", 1)[1])
        over_tls = health_ok(port, tls=tls)
        over_plain_http = health_ok(port, tls=None)

    # Assert: start_federation returned only once the SuperNode had registered.
    assert federation.departments == ("parks",)
    assert over_tls
    assert not over_plain_http
    assert tagged_processes(token) == []


def test_a_superlink_that_cannot_start_is_reported_and_nothing_survives(
    tmp_path: Path,
) -> None:
    # Prepare: a key file that is no key makes flower-superlink exit at once.
    tls = make_tls_files(tmp_path / "pki")
    tls.keyfile.write_text("not a key\n")
    run_dir = tmp_path / "run"

    # Execute
    with (
        pytest.raises(DeploymentError) as caught,
        start_federation(
            run_dir, {"parks": {"department": "parks"}}, tls=tls, startup_timeout=60
        ),
    ):
        pass

    # Assert
    assert caught.value.process == "superlink"
    assert "superlink" in str(caught.value)
    assert caught.value.log_tail  # the SuperLink's own words on what went wrong
    assert (run_dir / "logs" / "superlink.log").is_file()
    assert processes_mentioning(run_dir) == []


def test_startup_timeout_stops_what_was_started(tmp_path: Path) -> None:
    # Prepare: no SuperNode can register within a tenth of a second.
    run_dir = tmp_path / "run"

    # Execute
    with (
        pytest.raises(DeploymentError, match="in time"),
        start_federation(
            run_dir, {"a": {"department": "a"}}, tls=None, startup_timeout=0.1
        ),
    ):
        pass

    # Assert
    assert processes_mentioning(run_dir) == []


def processes_mentioning(path: Path) -> list[int]:
    """Live processes whose environment or command line mentions ``path``."""
    needle = str(path).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if needle in text and stat[stat.rfind(")") + 2] not in "ZX":
            found.append(int(entry.name))
    return found
