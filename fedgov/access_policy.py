"""A department's access policy, and the one function that applies it.

The department, not the coordinator, states who may use its records: which
purposes and which analysts may use which datasets and columns, the largest
epsilon one request may take, and which requests need a data officer's
explicit approval (a signed data-use agreement, :class:`~fedgov.access.Agreement`).
It is a YAML file named in the department's own node configuration::

    fedgov_access_policy: 1
    department: health-site-1
    data_officers: ["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"]
    max_epsilon: 1.0               # no single request may take more
    rules:
      - dataset: randhie
        purposes: [federated-training, health-cost-model]
        analysts: any              # anyone holding the analyst role; or a list
        kinds: [train, query]      # the default
        columns: any               # or the columns that may be read
        max_epsilon: 0.5           # optional: tighter for this rule
        approval: required         # or "none" (the default)

:func:`decide` is pure: a request whose signature and analyst role were
already checked, the policy, the agreements the department holds and the
time in; a :class:`Decision` out. The department applies it before reading
a record or spending anything; the auditor applies it again to the policy
and agreements the department recorded, and must reach the same answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from fedgov.access import RequestKind, decimal_text
from fedgov.errors import FedgovError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fedgov.access import AccessRequest, Agreement

__all__ = [
    "CLOCK_SKEW_S",
    "FORMAT_VERSION",
    "AccessPolicy",
    "AccessRule",
    "Decision",
    "PolicyError",
    "Refusal",
    "decide",
    "load_policy",
    "parse_policy",
    "refusal_text",
]

FORMAT_VERSION: Final = 1
CLOCK_SKEW_S: Final = 300
"""A request issued up to this far in the department's future is accepted."""

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_ANY = "any"


class PolicyError(FedgovError, ValueError):
    """A policy file breaks a rule; names the file, the key path and the rule."""

    def __init__(self, origin: str, key: str, rule: str) -> None:
        self.origin = origin
        self.key = key
        super().__init__(f"{origin}: {key or 'policy'}: {rule}")


class Refusal(StrEnum):
    """Why a department refused a request: the code its audit record names."""

    UNSIGNED = "unsigned"
    """The job or query carries no signed request."""
    SIGNATURE = "signature"
    """The request's signature is malformed, or made for another deployment."""
    ROLE = "role"
    """The signer does not hold the analyst role at the current block."""
    SUBJECT = "subject"
    """The request covers another job or query, or says otherwise than it."""
    REPLAY = "replay"
    """The request was already used for this round or query."""
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    DATASET = "dataset"
    """No rule of the policy covers the dataset."""
    PURPOSE = "purpose"
    ANALYST = "analyst"
    KIND = "kind"
    COLUMNS = "columns"
    EPSILON = "epsilon"
    APPROVAL = "approval"
    """A rule requires a data-use agreement and none valid matches."""
    DESTROYED = "destroyed"
    """The department destroyed its records of the dataset."""
    POLICY = "policy"
    """The department's policy cannot be read."""


def refusal_text(code: Refusal, explanation: str) -> str:
    """A refusal's reason as a department sends and records it."""
    return f"access refused ({code.value}): {explanation}"


@dataclass(frozen=True)
class Decision:
    """What :func:`decide` concluded."""

    allowed: bool
    reason: str
    """Why: the refusal (:func:`refusal_text`), or which rule allowed it."""
    refusal: Refusal | None = None
    rule: int | None = None
    """The index of the rule that allowed the request."""
    agreement: str | None = None
    """The id of the data-use agreement it was allowed under, if one was needed."""

    @classmethod
    def refuse(cls, code: Refusal, explanation: str) -> Decision:
        return cls(False, refusal_text(code, explanation), refusal=code)


@dataclass(frozen=True)
class AccessRule:
    """Who may use ``dataset``, for what, on which columns, how much."""

    dataset: str
    purposes: tuple[str, ...]
    analysts: tuple[str, ...] | None = None
    """Lower-case addresses; ``None``: anyone holding the analyst role."""
    kinds: tuple[RequestKind, ...] = (RequestKind.TRAIN, RequestKind.QUERY)
    columns: tuple[str, ...] | None = None
    """``None``: any column of the dataset."""
    max_epsilon: float | None = None
    approval: bool = False
    """Whether each request also needs a data-use agreement."""

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "purposes": list(self.purposes),
            "analysts": _ANY if self.analysts is None else list(self.analysts),
            "kinds": [k.value for k in self.kinds],
            "columns": _ANY if self.columns is None else list(self.columns),
            "max_epsilon": None
            if self.max_epsilon is None
            else decimal_text(self.max_epsilon),
            "approval": "required" if self.approval else "none",
        }


@dataclass(frozen=True)
class AccessPolicy:
    """A department's access policy (see the module docs for its file)."""

    department: str
    data_officers: tuple[str, ...]
    """Lower-case addresses of the keys that may sign data-use agreements."""
    max_epsilon: float
    rules: tuple[AccessRule, ...]

    def to_json(self) -> dict[str, Any]:
        """The policy as JSON values (what a department records and an auditor reads)."""
        return {
            "fedgov_access_policy": FORMAT_VERSION,
            "department": self.department,
            "data_officers": list(self.data_officers),
            "max_epsilon": decimal_text(self.max_epsilon),
            "rules": [rule.to_json() for rule in self.rules],
        }

    def canonical(self) -> str:
        """The policy as compact JSON with sorted keys: what its digest is of."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def digest(self) -> bytes:
        """SHA-256 of :meth:`canonical`."""
        return hashlib.sha256(self.canonical().encode("utf-8")).digest()

    @classmethod
    def from_json(cls, data: object, *, origin: str = "<policy>") -> AccessPolicy:
        """The policy whose JSON form (or parsed YAML) is ``data``."""
        return _Parser(origin).policy(data)

    def is_officer(self, address: str) -> bool:
        return address.lower() in self.data_officers


def parse_policy(text: str, *, origin: str = "<text>") -> AccessPolicy:
    """The policy in the YAML ``text``; ``origin`` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolicyError(origin, "", f"not valid YAML: {e}") from e
    return AccessPolicy.from_json(data, origin=origin)


def load_policy(path: str | Path) -> AccessPolicy:
    """The policy in the YAML file ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(str(file), "", f"cannot read the policy: {e}") from e
    return parse_policy(text, origin=str(file))


class _Parser:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, rule: str) -> PolicyError:
        return PolicyError(self.origin, key, rule)

    def mapping(
        self, value: object, key: str, required: set[str], optional: set[str]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a mapping")
        missing = sorted(required - set(value))
        if missing:
            raise self.fail(key, f"needs {missing}")
        unknown = sorted(set(value) - required - optional)
        if unknown:
            raise self.fail(key, f"unknown key(s) {unknown}")
        return value

    def identifier(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
            raise self.fail(key, f"must be a dataset or department id, got {value!r}")
        return value

    def epsilon(self, value: object, key: str) -> float:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            raise self.fail(key, f"must be positive and finite, got {value}")
        return number

    def addresses(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, "must be a list of 0x addresses")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not _ADDRESS.fullmatch(item):
                raise self.fail(f"{key}[{i}]", f"must be a 0x address, got {item!r}")
            out.append(item.lower())
        if len(set(out)) != len(out):
            raise self.fail(key, "lists an address twice")
        return tuple(out)

    def names(
        self, value: object, key: str, pattern: re.Pattern[str], *, allow_any: bool
    ) -> tuple[str, ...] | None:
        if allow_any and value == _ANY:
            return None
        if not isinstance(value, list) or not value:
            rule = f"must be {_ANY!r} or a list" if allow_any else "must be a list"
            raise self.fail(key, f"{rule} of at least one item")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not pattern.fullmatch(item):
                raise self.fail(f"{key}[{i}]", f"must match {pattern.pattern}")
            out.append(item)
        return tuple(sorted(set(out)))

    def policy(self, data: object) -> AccessPolicy:
        value = self.mapping(
            data,
            "",
            {"fedgov_access_policy", "department", "data_officers", "max_epsilon"},
            {"rules"},
        )
        if value["fedgov_access_policy"] != FORMAT_VERSION:
            raise self.fail(
                "fedgov_access_policy",
                f"this fedgov reads version {FORMAT_VERSION}, "
                f"got {value['fedgov_access_policy']!r}",
            )
        rules = value.get("rules") or []
        if not isinstance(rules, list):
            raise self.fail("rules", "must be a list")
        return AccessPolicy(
            department=self.identifier(value["department"], "department"),
            data_officers=self.addresses(value["data_officers"], "data_officers"),
            max_epsilon=self.epsilon(value["max_epsilon"], "max_epsilon"),
            rules=tuple(self.rule(r, f"rules[{i}]") for i, r in enumerate(rules)),
        )

    def rule(self, data: object, key: str) -> AccessRule:
        value = self.mapping(
            data,
            key,
            {"dataset", "purposes"},
            {"analysts", "kinds", "columns", "max_epsilon", "approval"},
        )
        purposes = value["purposes"]
        if (
            not isinstance(purposes, list)
            or not purposes
            or not all(isinstance(p, str) and p.strip() for p in purposes)
        ):
            raise self.fail(f"{key}.purposes", "must list at least one purpose")
        analysts = value.get("analysts", _ANY)
        kinds = value.get("kinds", [k.value for k in RequestKind])
        if not isinstance(kinds, list) or not kinds:
            raise self.fail(f"{key}.kinds", "must list train and/or query")
        try:
            parsed_kinds = tuple(sorted({RequestKind(k) for k in kinds}))
        except ValueError as e:
            raise self.fail(
                f"{key}.kinds", f"must be among {[k.value for k in RequestKind]}"
            ) from e
        approval = value.get("approval", "none")
        if approval not in ("required", "none"):
            raise self.fail(
                f"{key}.approval", f"must be 'required' or 'none', got {approval!r}"
            )
        epsilon = value.get("max_epsilon")
        return AccessRule(
            dataset=self.identifier(value["dataset"], f"{key}.dataset"),
            purposes=tuple(sorted(set(purposes))),
            analysts=None
            if analysts == _ANY
            else self.addresses(analysts, f"{key}.analysts"),
            kinds=parsed_kinds,
            columns=self.names(
                value.get("columns", _ANY), f"{key}.columns", _COLUMN, allow_any=True
            ),
            max_epsilon=None
            if epsilon is None
            else self.epsilon(epsilon, f"{key}.max_epsilon"),
            approval=approval == "required",
        )


def _figure(value: float) -> str:
    return decimal_text(value)


def decide(
    request: AccessRequest,
    policy: AccessPolicy,
    agreements: Mapping[str, Agreement],
    now: int,
) -> Decision:
    """Whether ``policy`` lets ``request`` run at Unix time ``now``.

    ``request`` is one whose signature and analyst role the caller checked;
    ``agreements`` are the data-use agreements the department holds, by id,
    their officers' signatures already checked. Rules are tried together:
    the request runs if one rule covers its dataset, purpose, analyst, kind,
    columns and epsilon, and either needs no approval or a valid agreement
    covers the request. A refusal names the first of those that no rule
    meets.
    """
    if now >= request.expires_at:
        return Decision.refuse(
            Refusal.EXPIRED, f"the request expired at {request.expires_at} (now {now})"
        )
    if request.issued_at > now + CLOCK_SKEW_S:
        return Decision.refuse(
            Refusal.NOT_YET_VALID,
            f"the request is issued at {request.issued_at}, after now ({now})",
        )
    department = policy.department
    if request.epsilon > policy.max_epsilon:
        return Decision.refuse(
            Refusal.EPSILON,
            f"epsilon {_figure(request.epsilon)} exceeds {department}'s limit of "
            f"{_figure(policy.max_epsilon)} per request",
        )
    analyst = request.analyst.lower()
    stages: list[tuple[Refusal, str, Any]] = [
        (
            Refusal.DATASET,
            f"{department}'s policy has no rule for dataset {request.dataset!r}",
            lambda r: r.dataset == request.dataset,
        ),
        (
            Refusal.PURPOSE,
            f"purpose {request.purpose!r} is not allowed on {request.dataset} "
            f"by {department}",
            lambda r: request.purpose in r.purposes,
        ),
        (
            Refusal.ANALYST,
            f"analyst {request.analyst} may not use {request.dataset} for "
            f"{request.purpose!r} at {department}",
            lambda r: r.analysts is None or analyst in r.analysts,
        ),
        (
            Refusal.KIND,
            f"{request.kind.value} requests are not allowed on {request.dataset} "
            f"for {request.purpose!r} at {department}",
            lambda r: request.kind in r.kinds,
        ),
        (
            Refusal.COLUMNS,
            f"columns {list(request.columns)} are not all allowed on "
            f"{request.dataset} for {request.purpose!r} at {department}",
            lambda r: r.columns is None or set(request.columns) <= set(r.columns),
        ),
        (
            Refusal.EPSILON,
            f"epsilon {_figure(request.epsilon)} exceeds what {department} allows "
            f"one request on {request.dataset} for {request.purpose!r}",
            lambda r: r.max_epsilon is None or request.epsilon <= r.max_epsilon,
        ),
    ]
    candidates = list(enumerate(policy.rules))
    for code, explanation, keep in stages:
        candidates = [(i, r) for i, r in candidates if keep(r)]
        if not candidates:
            return Decision.refuse(code, explanation)
    for index, rule in candidates:
        if not rule.approval:
            return Decision(
                True, f"allowed by rule {index} of {department}'s policy", rule=index
            )
    for agreement_id, agreement in sorted(agreements.items()):
        if _covers(agreement, request, policy, now):
            return Decision(
                True,
                f"allowed by rule {candidates[0][0]} of {department}'s policy under "
                f"data-use agreement {agreement_id}",
                rule=candidates[0][0],
                agreement=agreement_id,
            )
    return Decision.refuse(
        Refusal.APPROVAL,
        f"{department} requires a data-use agreement for {request.purpose!r} on "
        f"{request.dataset}, and no valid agreement of its data officers covers "
        "this request",
    )


def _covers(
    agreement: Agreement, request: AccessRequest, policy: AccessPolicy, now: int
) -> bool:
    return (
        agreement.department == policy.department
        and policy.is_officer(agreement.officer)
        and agreement.analyst.lower() == request.analyst.lower()
        and agreement.purpose == request.purpose
        and agreement.dataset == request.dataset
        and set(request.columns) <= set(agreement.columns)
        and request.epsilon <= agreement.max_epsilon
        and agreement.issued_at <= now < agreement.expires_at
    )
