"""Privacy at the department node: DP accounting and budgets, pseudonymization,
encryption at rest, release checks and the message boundary guard."""

from __future__ import annotations

from privacy.at_rest import (
    AtRestKey,
    EnvKeySource,
    InsecurePlaintext,
    InsecurePlaintextWarning,
    KeyFileSource,
    KeySource,
    PassphraseKeySource,
    SealingCodec,
    open_sealed,
    read_encrypted,
    rotate_file,
    seal,
    write_encrypted,
)
from privacy.errors import (
    BoundaryViolationError,
    IntegrityError,
    KeyMaterialError,
    PrivacyError,
    PseudonymError,
    ReleaseRefusedError,
    UnknownKeyError,
)
from privacy.pseudonymize import (
    KeyedHashPseudonymizer,
    PseudonymKey,
    PseudonymMode,
    ReversiblePseudonymizer,
    dump_keys,
    load_keys,
)

__all__ = [
    "AtRestKey",
    "BoundaryViolationError",
    "EnvKeySource",
    "InsecurePlaintext",
    "InsecurePlaintextWarning",
    "IntegrityError",
    "KeyFileSource",
    "KeyMaterialError",
    "KeySource",
    "KeyedHashPseudonymizer",
    "PassphraseKeySource",
    "PrivacyError",
    "PseudonymError",
    "PseudonymKey",
    "PseudonymMode",
    "ReleaseRefusedError",
    "ReversiblePseudonymizer",
    "SealingCodec",
    "UnknownKeyError",
    "dump_keys",
    "load_keys",
    "open_sealed",
    "read_encrypted",
    "rotate_file",
    "seal",
    "write_encrypted",
]
