"""A model file's signed provenance manifest.

When the coordinator exports a model it writes, next to the file, a manifest
``<model>.provenance.json`` saying which job produced it, which departments
took part and what epsilon each spent on the job, and which head of the
coordinator's audit log covers the ``model_export`` record of that file. The
coordinator's audit key signs it as EIP-712 typed data in the domain of its
tree heads (``fedgov-audit-log`` / ``1`` / chain id / AnchorRegistry), so the
manifest is bound to the county whose chain anchors that head::

    ModelProvenance(bytes32 model,string job,bytes32 jobDigest,
        string[] departments,string[] epsilons,bytes32 logId,uint64 treeSize,
        bytes32 rootHash)

``epsilons[i]`` is ``departments[i]``'s epsilon for the job, as decimal text.
:func:`verify_manifest` checks the signature and the model file's SHA-256;
the auditor (``fedgov audit verify --checkpoint MODEL``) then checks the
manifest against the coordinator's log: its head, the export record, the
departments and their epsilon.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from eth_account import Account
from eth_utils.address import to_checksum_address

from fedgov.access import decimal_text, parse_decimal
from fedgov.errors import ConfigurationError
from fedgov.files import write_atomic
from ledger._eip712 import signable
from ledger.errors import LedgerError
from ledger.record_fields import file_sha256
from ledger.tree_head import DOMAIN_NAME, DOMAIN_VERSION, SigningDomain

if TYPE_CHECKING:
    from eth_account.messages import SignableMessage
    from eth_account.signers.local import LocalAccount

__all__ = [
    "FORMAT",
    "ModelProvenance",
    "ProvenanceError",
    "SignedProvenance",
    "manifest_path",
    "read_manifest",
    "verify_manifest",
    "write_manifest",
]

FORMAT: Final = "fedgov-model-provenance"
_VERSION: Final = 1
_FIELDS = [
    ("model", "bytes32"),
    ("job", "string"),
    ("jobDigest", "bytes32"),
    ("departments", "string[]"),
    ("epsilons", "string[]"),
    ("logId", "bytes32"),
    ("treeSize", "uint64"),
    ("rootHash", "bytes32"),
]


class ProvenanceError(LedgerError):
    """A provenance manifest is missing, malformed, or does not verify.

    ``path`` is the manifest; the message says what is wrong.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"provenance manifest {path}: {reason}")


@dataclass(frozen=True)
class ModelProvenance:
    """What a manifest states about one model file."""

    model_sha256: bytes
    job: str
    job_digest: bytes
    """:meth:`fedgov.job.TrainJob.digest` of the job (all zeros when unknown)."""
    epsilons: tuple[tuple[str, float], ...]
    """(department, epsilon spent on the job), in the order listed."""
    log_id: bytes
    tree_size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        for name in ("model_sha256", "job_digest", "log_id", "root_hash"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 32:
                raise ConfigurationError(name, "must be 32 bytes")
        if not self.job:
            raise ConfigurationError("job", "must name the job")
        if self.tree_size < 1:
            raise ConfigurationError("tree_size", "must cover at least one record")

    def _message(self) -> dict[str, Any]:
        return {
            "model": self.model_sha256,
            "job": self.job,
            "jobDigest": self.job_digest,
            "departments": [name for name, _ in self.epsilons],
            "epsilons": [decimal_text(epsilon) for _, epsilon in self.epsilons],
            "logId": self.log_id,
            "treeSize": self.tree_size,
            "rootHash": self.root_hash,
        }


def _signable(statement: ModelProvenance, domain: SigningDomain) -> SignableMessage:
    return signable(
        domain=(
            DOMAIN_NAME,
            DOMAIN_VERSION,
            domain.chain_id,
            domain.verifying_contract,
        ),
        primary_type="ModelProvenance",
        fields=_FIELDS,
        message=statement._message(),
    )


@dataclass(frozen=True)
class SignedProvenance:
    """A manifest: the statement, who signed it, for which domain, the signature."""

    statement: ModelProvenance
    signer: str
    domain: SigningDomain
    signature: bytes

    @classmethod
    def sign(
        cls, statement: ModelProvenance, account: LocalAccount, domain: SigningDomain
    ) -> SignedProvenance:
        signature = account.sign_message(_signable(statement, domain)).signature
        return cls(statement, account.address, domain, bytes(signature))

    def recover(self) -> str:
        """The address whose key produced the signature over the statement."""
        return str(
            Account.recover_message(
                _signable(self.statement, self.domain), signature=self.signature
            )
        )

    def to_json(self, model_name: str) -> dict[str, Any]:
        s = self.statement
        return {
            "format": FORMAT,
            "version": _VERSION,
            "model": {"file": model_name, "sha256": s.model_sha256.hex()},
            "job": s.job,
            "job_digest": "0x" + s.job_digest.hex(),
            "departments": [
                {"department": name, "epsilon": decimal_text(epsilon)}
                for name, epsilon in s.epsilons
            ],
            "audit_head": {
                "log_id": "0x" + s.log_id.hex(),
                "tree_size": s.tree_size,
                "root_hash": "0x" + s.root_hash.hex(),
            },
            "coordinator": self.signer,
            "domain": {
                "chain_id": self.domain.chain_id,
                "verifying_contract": self.domain.verifying_contract,
            },
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: Any, *, origin: str) -> SignedProvenance:
        try:
            if (
                not isinstance(data, dict)
                or data.get("format") != FORMAT
                or data.get("version") != _VERSION
            ):
                raise ProvenanceError(
                    origin, f"is not a {FORMAT} version {_VERSION} document"
                )
            head = data["audit_head"]
            statement = ModelProvenance(
                model_sha256=bytes.fromhex(data["model"]["sha256"]),
                job=str(data["job"]),
                job_digest=_hex32(data["job_digest"]),
                epsilons=tuple(
                    (
                        str(entry["department"]),
                        parse_decimal("manifest", "epsilon", entry["epsilon"]),
                    )
                    for entry in data["departments"]
                ),
                log_id=_hex32(head["log_id"]),
                tree_size=int(head["tree_size"]),
                root_hash=_hex32(head["root_hash"]),
            )
            domain = SigningDomain(
                int(data["domain"]["chain_id"]),
                str(data["domain"]["verifying_contract"]),
            )
            signer = to_checksum_address(str(data["coordinator"]))
            signature = _hex(data["signature"])
        except ProvenanceError:
            raise
        except (KeyError, TypeError, ValueError, ConfigurationError) as e:
            raise ProvenanceError(origin, f"malformed: {e!r}") from e
        return cls(statement, signer, domain, signature)


def _hex(text: object) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError(f"{text!r} is not 0x-prefixed hex")
    return bytes.fromhex(text[2:])


def _hex32(text: object) -> bytes:
    value = _hex(text)
    if len(value) != 32:
        raise ValueError(f"{text!r} is not 32 bytes")
    return value


def manifest_path(model: str | Path) -> Path:
    """Where the manifest of the model file ``model`` lives."""
    path = Path(model)
    return path.with_name(path.name + ".provenance.json")


def write_manifest(model: str | Path, manifest: SignedProvenance) -> Path:
    """Write ``manifest`` next to ``model`` (atomically); return its path."""
    path = manifest_path(model)
    text = json.dumps(manifest.to_json(Path(model).name), indent=2, sort_keys=True)
    write_atomic(path, (text + "\n").encode("utf-8"))
    return path


def read_manifest(model: str | Path) -> SignedProvenance:
    """The manifest written next to ``model``."""
    path = manifest_path(model)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ProvenanceError(
            str(path), "is missing: the model has no provenance"
        ) from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProvenanceError(str(path), f"cannot be read: {e}") from e
    return SignedProvenance.from_json(data, origin=str(path))


def verify_manifest(
    model: str | Path, *, domain: SigningDomain | None = None
) -> SignedProvenance:
    """The manifest of ``model``, checked against the file and its signature.

    Raises :class:`ProvenanceError` when the manifest is missing or
    malformed, signed by anyone but the coordinator it names, signed for
    another domain than ``domain`` (when given), or when the file's SHA-256
    is not the one it states (an altered or swapped model).
    """
    path = manifest_path(model)
    manifest = read_manifest(model)
    if domain is not None and manifest.domain != domain:
        raise ProvenanceError(
            str(path),
            f"is signed for chain {manifest.domain.chain_id}, registry "
            f"{manifest.domain.verifying_contract}, not for chain {domain.chain_id}, "
            f"registry {domain.verifying_contract}",
        )
    try:
        signer = manifest.recover()
    except (ValueError, TypeError) as e:
        raise ProvenanceError(str(path), f"malformed signature: {e}") from e
    if signer != manifest.signer:
        raise ProvenanceError(
            str(path),
            f"is signed by {signer}, not by the coordinator {manifest.signer} it "
            "names: the manifest was altered",
        )
    try:
        actual = file_sha256(Path(model))
    except OSError as e:
        raise ProvenanceError(str(path), f"cannot hash the model {model}: {e}") from e
    if actual != manifest.statement.model_sha256:
        raise ProvenanceError(
            str(path),
            f"states model SHA-256 {manifest.statement.model_sha256.hex()}, but "
            f"{model} hashes to {actual.hex()}: the model was altered or swapped",
        )
    return manifest
