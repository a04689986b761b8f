"""Keyed pseudonymization of identifiers, per department and key epoch.

Two schemes, each with its own key (least privilege: the node that computes
one-way pseudonyms holds nothing that reverses anything):

* :class:`KeyedHashPseudonymizer`, HMAC-SHA256 truncated to 128 bits: one-way
  and deterministic, so the same resident maps to the same pseudonym across a
  department's tables for as long as the key epoch lasts.
* :class:`ReversiblePseudonymizer`, AES-SIV (RFC 5297, AES-256, no nonce):
  deterministic *authenticated encryption*; an authorised key holder can
  :meth:`~ReversiblePseudonymizer.reveal` the identifier. A pseudonym reveals
  its identifier's length (identifiers of fixed format, as most are, lose
  nothing by it).

A pseudonym reads ``<scheme><epoch>.<payload>``, e.g. ``h3.mzxw6ytb...``: the
scheme letter (``h`` for HMAC, ``s`` for SIV), the key epoch, and the base32
payload. Rotation starts a new epoch with a fresh key (see
``docs/data-protection.md``): SIV pseudonyms are re-encrypted with
:meth:`~ReversiblePseudonymizer.repseudonymize`; HMAC pseudonyms cannot be
recomputed from themselves, so :meth:`~KeyedHashPseudonymizer.rotation_map`
builds the old -> new table from the identifiers in the system of record,
after which the retired HMAC key is destroyed. Retired SIV keys are kept only
by the authorised holder, for reversal.

Identifiers are pseudonymized exactly as given (their UTF-8 bytes, integers in
decimal): normalise them (case, spaces, dashes) before, not here. Floats and
empty strings are refused: ``1234.0`` or ``""`` are nearly always a broken
load, not an identifier.
"""

from __future__ import annotations

import base64
import binascii
import json
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import numpy as np
import pandas as pd
from Crypto.Cipher import AES
from Crypto.Hash import HMAC, SHA256

from fedgov.errors import ConfigurationError
from fedgov.types import DepartmentId
from privacy._keys import fingerprint, random_secret, require_length
from privacy.errors import KeyMaterialError, PseudonymError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "Identifier",
    "KeyedHashPseudonymizer",
    "PseudonymKey",
    "PseudonymMode",
    "ReversiblePseudonymizer",
    "dump_keys",
    "load_keys",
]

Identifier: TypeAlias = str | int | np.integer[Any]
"""What can be pseudonymized: text, or an integer (taken in decimal)."""

_HMAC_MIN_KEY_BYTES = 32
_HMAC_PSEUDONYM_BYTES = 16
_SIV_KEY_BYTES = 64
_SIV_TAG_BYTES = 16
_KEYS_FORMAT = "fedgov-pseudonym-keys"
_KEYS_VERSION = 1


class PseudonymMode(StrEnum):
    """The pseudonymization scheme a key belongs to."""

    KEYED_HASH = "hmac-sha256"
    SIV = "aes-siv"


_TAGS = {PseudonymMode.KEYED_HASH: "h", PseudonymMode.SIV: "s"}


@dataclass(frozen=True)
class PseudonymKey:
    """One department's key for one scheme and one epoch.

    HMAC keys are 32 bytes or more; SIV keys exactly 64 bytes (AES-256-SIV).
    """

    department: DepartmentId
    epoch: int
    mode: PseudonymMode
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if (
            not self.department
            or not self.department.isprintable()
            or "/" in self.department
        ):
            raise ConfigurationError(
                "department", "must be a non-empty printable name without '/'"
            )
        if (
            isinstance(self.epoch, bool)
            or not isinstance(self.epoch, int)
            or self.epoch < 0
        ):
            raise ConfigurationError(
                "epoch", f"must be a non-negative integer, got {self.epoch!r}"
            )
        object.__setattr__(self, "mode", PseudonymMode(self.mode))
        if self.mode is PseudonymMode.KEYED_HASH:
            require_length(self.secret, source=self.key_id, minimum=_HMAC_MIN_KEY_BYTES)
        else:
            require_length(self.secret, source=self.key_id, exact=_SIV_KEY_BYTES)

    @classmethod
    def generate(
        cls, department: DepartmentId, *, epoch: int, mode: PseudonymMode
    ) -> PseudonymKey:
        """A fresh random key (32 bytes for HMAC, 64 for SIV)."""
        length = (
            _HMAC_MIN_KEY_BYTES if mode is PseudonymMode.KEYED_HASH else _SIV_KEY_BYTES
        )
        return cls(department, epoch, mode, random_secret(length))

    @property
    def key_id(self) -> str:
        """``department/mode/epoch``: names the key in logs and files."""
        return f"{self.department}/{self.mode.value}/{self.epoch}"

    @property
    def fingerprint(self) -> str:
        """16 hex digits identifying the secret, to check a restored key."""
        return fingerprint(self.secret)


def dump_keys(keys: Iterable[PseudonymKey]) -> bytes:
    """A key ring as JSON bytes; seal them (``privacy.at_rest``) before storing."""
    entries = [
        {
            "department": k.department,
            "epoch": k.epoch,
            "mode": k.mode.value,
            "secret": k.secret.hex(),
        }
        for k in keys
    ]
    return json.dumps(
        {"format": _KEYS_FORMAT, "version": _KEYS_VERSION, "keys": entries}
    ).encode()


def load_keys(
    data: bytes, *, origin: str = "pseudonym key ring"
) -> tuple[PseudonymKey, ...]:
    """Parse what :func:`dump_keys` wrote."""
    try:
        document = json.loads(data)
        if (
            document.get("format") != _KEYS_FORMAT
            or document.get("version") != _KEYS_VERSION
        ):
            raise KeyMaterialError(
                origin, f"not a {_KEYS_FORMAT} v{_KEYS_VERSION} document"
            )
        return tuple(
            PseudonymKey(
                DepartmentId(str(entry["department"])),
                int(entry["epoch"]),
                PseudonymMode(entry["mode"]),
                bytes.fromhex(entry["secret"]),
            )
            for entry in document["keys"]
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise KeyMaterialError(
            origin, f"malformed key ring ({e.__class__.__name__})"
        ) from e


class _Pseudonymizer(ABC):
    """Key ring handling, identifier checks and the pseudonym format."""

    _mode: ClassVar[PseudonymMode]

    def __init__(
        self, key: PseudonymKey, *, retired: Iterable[PseudonymKey] = ()
    ) -> None:
        self._key = key
        self._ring: dict[int, PseudonymKey] = {}
        for candidate in (key, *retired):
            if candidate.mode is not self._mode:
                raise ConfigurationError(
                    "key",
                    f"{type(self).__name__} needs {self._mode.value} keys, "
                    f"got {candidate.key_id}",
                )
            if candidate.department != key.department:
                raise ConfigurationError(
                    "retired",
                    f"{candidate.key_id} belongs to another department "
                    f"than {key.key_id}",
                )
            if candidate.epoch in self._ring:
                raise ConfigurationError(
                    "retired", f"two keys for epoch {candidate.epoch}"
                )
            if candidate is not key and candidate.epoch > key.epoch:
                raise ConfigurationError(
                    "retired",
                    f"{candidate.key_id} is newer than the current key {key.key_id}",
                )
            self._ring[candidate.epoch] = candidate

    @property
    def key_id(self) -> str:
        """The current key's id."""
        return self._key.key_id

    @property
    def epoch(self) -> int:
        """The current key epoch: new pseudonyms carry it."""
        return self._key.epoch

    def pseudonymize(self, identifier: Identifier) -> str:
        """The pseudonym of ``identifier`` under the current key."""
        return self._encode(self._key, _identifier_text(identifier, where="identifier"))

    def pseudonymize_many(self, identifiers: Iterable[Identifier]) -> list[str]:
        """:meth:`pseudonymize` for each identifier."""
        return [
            self._encode(self._key, _identifier_text(value, where=f"identifier {i}"))
            for i, value in enumerate(identifiers)
        ]

    def pseudonymize_column(self, frame: pd.DataFrame, column: str) -> pd.DataFrame:
        """A copy of ``frame`` with ``column`` pseudonymized; missing stays missing."""
        if column not in frame.columns:
            raise ConfigurationError(
                "column", f"{column!r} is not a column of the frame"
            )
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        mapped: list[str] = []
        for i, value in enumerate(uniques):
            try:
                text = _identifier_text(value, where=f"column {column!r}")
            except PseudonymError as e:
                # Located only on failure: a scan per unique value is quadratic.
                position = int(np.flatnonzero(codes == i)[0])
                raise PseudonymError(
                    f"column {column!r}, row {position}", e.rule
                ) from None
            mapped.append(self._encode(self._key, text))
        lookup = np.asarray([*mapped, None], dtype=object)
        result = frame.copy()
        # The sentinel -1 indexes the trailing None: missing stays missing.
        result[column] = pd.Series(lookup[codes], index=frame.index, dtype=object)
        return result

    def epoch_of(self, pseudonym: str) -> int:
        """The key epoch a pseudonym was made under."""
        return self._parse(pseudonym)[0]

    @abstractmethod
    def _encode(self, key: PseudonymKey, identifier: str) -> str:
        """The pseudonym of ``identifier`` under ``key``."""

    def _format(self, key: PseudonymKey, payload: bytes) -> str:
        return f"{_TAGS[self._mode]}{key.epoch}.{_b32(payload)}"

    def _parse(self, pseudonym: str) -> tuple[int, bytes]:
        tag = _TAGS[self._mode]
        prefix, dot, text = pseudonym.partition(".")
        if not (
            dot and prefix[:1] == tag and prefix[1:].isdigit() and prefix[1:].isascii()
        ):
            raise PseudonymError(
                "pseudonym",
                f"not a {self._mode.value} pseudonym "
                f"(expected '{tag}<epoch>.<payload>')",
            )
        try:
            payload = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
        except (binascii.Error, ValueError) as e:
            raise PseudonymError("pseudonym", "payload is not base32") from e
        # One identifier, one spelling: refuse variants differing in unused bits.
        if _b32(payload) != text:
            raise PseudonymError(
                "pseudonym", "payload is not canonical lowercase base32"
            )
        return int(prefix[1:]), payload

    def _key_for(self, epoch: int) -> PseudonymKey:
        key = self._ring.get(epoch)
        if key is None:
            raise PseudonymError(
                f"pseudonym of epoch {epoch}",
                f"no key of {self._key.department}'s epoch {epoch} is held "
                f"(held: {sorted(self._ring)})",
            )
        return key


class KeyedHashPseudonymizer(_Pseudonymizer):
    """One-way pseudonyms: HMAC-SHA256(key, identifier), first 128 bits.

    ``retired`` keys are needed only to build a :meth:`rotation_map`.
    """

    _mode = PseudonymMode.KEYED_HASH

    def rotation_map(
        self, identifiers: Iterable[Identifier], *, from_epoch: int
    ) -> dict[str, str]:
        """Old pseudonym -> current pseudonym for each identifier.

        Applied to every stored table, this moves a department to the current
        epoch; the retired key is then destroyed.
        """
        old_key = self._key_for(from_epoch)
        mapping: dict[str, str] = {}
        for i, value in enumerate(identifiers):
            text = _identifier_text(value, where=f"identifier {i}")
            mapping[self._encode(old_key, text)] = self._encode(self._key, text)
        return mapping

    def _encode(self, key: PseudonymKey, identifier: str) -> str:
        mac = HMAC.new(
            key.secret, identifier.encode("utf-8"), digestmod=SHA256
        ).digest()
        return self._format(key, mac[:_HMAC_PSEUDONYM_BYTES])


class ReversiblePseudonymizer(_Pseudonymizer):
    """Reversible pseudonyms: AES-256-SIV, associated data = the key id.

    Binding the key id means a pseudonym cannot be relabelled to another
    epoch or department and still open.
    """

    _mode = PseudonymMode.SIV

    def reveal(self, pseudonym: str) -> str:
        """The identifier behind ``pseudonym`` (any epoch whose key is held)."""
        epoch, payload = self._parse(pseudonym)
        key = self._key_for(epoch)
        if len(payload) <= _SIV_TAG_BYTES:
            raise PseudonymError(f"pseudonym of epoch {epoch}", "payload too short")
        cipher = AES.new(key.secret, AES.MODE_SIV)
        cipher.update(key.key_id.encode("utf-8"))
        tag, ciphertext = payload[:_SIV_TAG_BYTES], payload[_SIV_TAG_BYTES:]
        try:
            plaintext = cipher.decrypt_and_verify(ciphertext, tag)
        except ValueError as e:
            raise PseudonymError(
                f"pseudonym of epoch {epoch}",
                f"authentication failed: not issued under {key.key_id}, or altered",
            ) from e
        return plaintext.decode("utf-8")

    def repseudonymize(self, pseudonym: str) -> str:
        """``pseudonym`` re-encrypted under the current key (rotation)."""
        return self._encode(self._key, self.reveal(pseudonym))

    def _encode(self, key: PseudonymKey, identifier: str) -> str:
        cipher = AES.new(key.secret, AES.MODE_SIV)
        cipher.update(key.key_id.encode("utf-8"))
        ciphertext, tag = cipher.encrypt_and_digest(identifier.encode("utf-8"))
        return self._format(key, tag + ciphertext)


def _b32(payload: bytes) -> str:
    return base64.b32encode(payload).decode("ascii").rstrip("=").lower()


def _identifier_text(value: object, *, where: str) -> str:
    if isinstance(value, str):
        if not value:
            raise PseudonymError(
                where, "empty identifier (missing data should be null)"
            )
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_):
        return str(int(value))
    raise PseudonymError(
        where,
        f"identifiers must be str or int, got {type(value).__name__}; "
        "convert them first",
    )
