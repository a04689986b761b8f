"""Privacy at the department node: DP accounting and budgets, pseudonymization,
encryption at rest, release checks and the message boundary guard.

Names are imported on first use (PEP 562), so importing one submodule,
as each Flower ClientApp process does, does not load every dependency.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privacy.accounting import (
        RDP_ORDERS,
        GaussianSpend,
        calibrate_noise_multiplier,
        epsilon_spent,
        gaussian_query_spend,
    )
    from privacy.at_rest import (
        AtRestKey,
        EnvKeySource,
        InsecurePlaintext,
        InsecurePlaintextWarning,
        KeyFileSource,
        KeySource,
        PassphraseKeySource,
        SealingCodec,
        key_source_from_spec,
        open_sealed,
        read_encrypted,
        rotate_file,
        seal,
        write_encrypted,
    )
    from privacy.boundary import (
        DEFAULT_AGGREGATE_OPS,
        BoundaryGuard,
        BoundaryPolicy,
        ParameterSpec,
        PolicyFactory,
        Violation,
        aggregate_key,
        check_outgoing,
        declared_parameters,
    )
    from privacy.budget import (
        Budget,
        BudgetLedger,
        BudgetStatus,
        LedgerCodec,
        SpendRecord,
        department_ledger,
    )
    from privacy.errors import (
        BoundaryViolationError,
        BudgetExceeded,
        BudgetLedgerError,
        IntegrityError,
        KeyMaterialError,
        PrivacyError,
        PseudonymError,
        ReleaseRefusedError,
        UnknownKeyError,
    )
    from privacy.mechanisms import (
        Predicate,
        Query,
        QueryError,
    )
    from privacy.pseudonymize import (
        Identifier,
        KeyedHashPseudonymizer,
        PseudonymKey,
        PseudonymMode,
        ReversiblePseudonymizer,
        dump_keys,
        load_keys,
    )
    from privacy.release import (
        ReleasePolicy,
        ReleaseReport,
        ReleaseViolation,
        assess_release,
        check_release,
    )

__all__ = [
    "DEFAULT_AGGREGATE_OPS",
    "RDP_ORDERS",
    "AtRestKey",
    "BoundaryGuard",
    "BoundaryPolicy",
    "BoundaryViolationError",
    "Budget",
    "BudgetExceeded",
    "BudgetLedger",
    "BudgetLedgerError",
    "BudgetStatus",
    "EnvKeySource",
    "GaussianSpend",
    "Identifier",
    "InsecurePlaintext",
    "InsecurePlaintextWarning",
    "IntegrityError",
    "KeyFileSource",
    "KeyMaterialError",
    "KeySource",
    "KeyedHashPseudonymizer",
    "LedgerCodec",
    "ParameterSpec",
    "PassphraseKeySource",
    "PolicyFactory",
    "Predicate",
    "PrivacyError",
    "PseudonymError",
    "PseudonymKey",
    "PseudonymMode",
    "Query",
    "QueryError",
    "ReleasePolicy",
    "ReleaseRefusedError",
    "ReleaseReport",
    "ReleaseViolation",
    "ReversiblePseudonymizer",
    "SealingCodec",
    "SpendRecord",
    "UnknownKeyError",
    "Violation",
    "aggregate_key",
    "assess_release",
    "calibrate_noise_multiplier",
    "check_outgoing",
    "check_release",
    "declared_parameters",
    "department_ledger",
    "dump_keys",
    "epsilon_spent",
    "gaussian_query_spend",
    "key_source_from_spec",
    "load_keys",
    "open_sealed",
    "read_encrypted",
    "rotate_file",
    "seal",
    "write_encrypted",
]

_EXPORTS: dict[str, str] = {
    "DEFAULT_AGGREGATE_OPS": "privacy.boundary",
    "RDP_ORDERS": "privacy.accounting",
    "AtRestKey": "privacy.at_rest",
    "BoundaryGuard": "privacy.boundary",
    "BoundaryPolicy": "privacy.boundary",
    "BoundaryViolationError": "privacy.errors",
    "Budget": "privacy.budget",
    "BudgetExceeded": "privacy.errors",
    "BudgetLedger": "privacy.budget",
    "BudgetLedgerError": "privacy.errors",
    "BudgetStatus": "privacy.budget",
    "EnvKeySource": "privacy.at_rest",
    "GaussianSpend": "privacy.accounting",
    "Identifier": "privacy.pseudonymize",
    "InsecurePlaintext": "privacy.at_rest",
    "InsecurePlaintextWarning": "privacy.at_rest",
    "IntegrityError": "privacy.errors",
    "KeyFileSource": "privacy.at_rest",
    "KeyMaterialError": "privacy.errors",
    "KeySource": "privacy.at_rest",
    "KeyedHashPseudonymizer": "privacy.pseudonymize",
    "LedgerCodec": "privacy.budget",
    "ParameterSpec": "privacy.boundary",
    "PassphraseKeySource": "privacy.at_rest",
    "PolicyFactory": "privacy.boundary",
    "Predicate": "privacy.mechanisms",
    "PrivacyError": "privacy.errors",
    "PseudonymError": "privacy.errors",
    "PseudonymKey": "privacy.pseudonymize",
    "PseudonymMode": "privacy.pseudonymize",
    "Query": "privacy.mechanisms",
    "QueryError": "privacy.mechanisms",
    "ReleasePolicy": "privacy.release",
    "ReleaseRefusedError": "privacy.errors",
    "ReleaseReport": "privacy.release",
    "ReleaseViolation": "privacy.release",
    "ReversiblePseudonymizer": "privacy.pseudonymize",
    "SealingCodec": "privacy.at_rest",
    "SpendRecord": "privacy.budget",
    "UnknownKeyError": "privacy.errors",
    "Violation": "privacy.boundary",
    "aggregate_key": "privacy.boundary",
    "assess_release": "privacy.release",
    "calibrate_noise_multiplier": "privacy.accounting",
    "check_outgoing": "privacy.boundary",
    "check_release": "privacy.release",
    "declared_parameters": "privacy.boundary",
    "department_ledger": "privacy.budget",
    "dump_keys": "privacy.pseudonymize",
    "epsilon_spent": "privacy.accounting",
    "gaussian_query_spend": "privacy.accounting",
    "key_source_from_spec": "privacy.at_rest",
    "load_keys": "privacy.pseudonymize",
    "open_sealed": "privacy.at_rest",
    "read_encrypted": "privacy.at_rest",
    "rotate_file": "privacy.at_rest",
    "seal": "privacy.at_rest",
    "write_encrypted": "privacy.at_rest",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
