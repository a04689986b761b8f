"""The department's access gate: who asked, for what, and may they.

Every training round, evaluation and query passes the gate inside the
department's handlers, *before* the budget is charged or a record is read:

1. the department's records of the dataset still exist (not destroyed,
   :mod:`privacy.vault`);
2. the job or query carries a request signed by an analyst
   (:class:`ledger.access.SignedRequest`), for this county's chain and Roles
   contract, covering exactly this job or query (its digest, dataset,
   purpose, epsilon and the columns it reads): the coordinator carries the
   request but can neither forge nor alter it;
3. the signer holds the analyst role at the chain's current block;
4. this request was not used for this round (or query) before: a replayed
   request spends nothing;
5. the department's own policy allows it (:func:`fedgov.access_policy.decide`),
   with a data officer's signed agreement where the policy asks for one.

A refusal is a refusal reply (its reason says which step and why), so the
audit hook writes an ``access_denied`` record and nothing is spent or read;
an allowed request leaves its outcome in the node's ``Context.state`` for the
hook to write an ``access_granted`` record (and the policy, when it is new
to the log). Settings come from the department's node configuration
(:class:`AccessSettings`); a department without an access policy answers any
job, unsigned or not, and says so loudly once (development mode).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from flwr.app import ConfigRecord, RecordDict

from fedgov.access import RequestKind
from fedgov.access_policy import (
    AccessPolicy,
    Decision,
    PolicyError,
    Refusal,
    decide,
    load_policy,
)
from fedgov.county import find_county
from fedgov.errors import ConfigurationError
from fedgov.files import private_dir, private_file, write_atomic
from fedgov.job_data import dataset_spec, training_columns
from fedgov.notices import warn_once
from ledger.access import AccessDomain, SignedAgreement, SignedRequest
from ledger.access_records import (
    AGREEMENT,
    ANALYST,
    POLICY_SHA256,
    REFUSAL,
    REQUEST,
    REQUEST_ID,
    ROLE_BLOCK,
    RULE,
)
from ledger.chain import Chain
from ledger.chain_roles import Roles
from ledger.errors import AccessSignatureError, ChainError
from ledger.layout import department_dir
from ledger.record_fields import query_sha256
from ledger.records import Role
from privacy.vault import DatasetVault

if TYPE_CHECKING:
    from fedgov.access import AccessRequest
    from fedgov.data import DatasetSpec
    from fedgov.job import TrainJob
    from ledger.chain_roles import RoleCheck
    from privacy.mechanisms import Query

__all__ = [
    "ACCESS_STATE",
    "POLICY_FILE",
    "AccessGate",
    "AccessOutcome",
    "AccessSettings",
    "AgreementStore",
    "RoleSource",
    "RpcRoles",
    "Subject",
    "UsedRequests",
    "take_access",
    "warn_if_open",
]

_log = logging.getLogger(__name__)

ACCESS_STATE: Final = "fedgov.access"
"""The ``Context.state`` record through which the gate tells the audit hook."""
POLICY_FILE: Final = "access-policy.yaml"
"""A department's policy when its node config names none: in its own folder."""
_ACCESS_DIR = "access"
_AGREEMENTS = "agreements"
_USED = "used-requests.jsonl"


class RoleSource(Protocol):
    """Who holds which role now: the county's Roles contract, in practice
    (:class:`ledger.chain_roles.Roles`, or :class:`RpcRoles`)."""

    @property
    def access_domain(self) -> AccessDomain:
        """The domain requests are signed for: the chain and the Roles contract."""
        ...

    def check_now(self, account: str, role: Role) -> RoleCheck: ...


@dataclass(frozen=True)
class RpcRoles:
    """The Roles contract at ``roles`` on the chain at ``rpc_url``, reached on
    first use (so a department's settings can travel to simulated nodes)."""

    rpc_url: str
    roles: str
    chain_id: int

    @property
    def access_domain(self) -> AccessDomain:
        return AccessDomain(self.chain_id, self.roles)

    def check_now(self, account: str, role: Role) -> RoleCheck:
        return _chain_roles(self.rpc_url, self.roles).check_now(account, role)


@dataclass(frozen=True)
class AccessSettings:
    """A department's access control, from its own node configuration.

    ``access-policy`` (default: ``<state>/departments/<dept>/access-policy.yaml``
    when that file exists; none: development mode), ``access-chain-id`` and
    ``access-roles`` (the county's chain and Roles contract: the domain
    requests are signed for, and where roles are read) and ``access-rpc``
    (the chain's JSON-RPC URL); without them, those of the county installed
    on the machine (:func:`fedgov.county.find_county`), if any.
    """

    department: str
    folder: Path
    """The department's state folder (``<state>/departments/<dept>``)."""
    state_dir: Path
    policy: Path | None
    domain: AccessDomain | None = None
    rpc_url: str = ""

    @classmethod
    def resolve(
        cls, node_config: Mapping[str, object], *, state_dir: Path, department: str
    ) -> AccessSettings:
        folder = department_dir(state_dir, department)
        named = node_config.get("access-policy")
        if named:
            policy: Path | None = Path(str(named))
        else:
            policy = folder / POLICY_FILE if (folder / POLICY_FILE).is_file() else None
        domain = None
        if node_config.get("access-roles"):
            try:
                domain = AccessDomain(
                    int(str(node_config.get("access-chain-id", 0))),
                    str(node_config["access-roles"]),
                )
            except ValueError as e:
                raise ConfigurationError("access-chain-id", str(e)) from e
        rpc_url = str(node_config.get("access-rpc", ""))
        county = find_county() if domain is None else None
        if county is not None:
            # As for its audit heads (department_nodes.audit.LedgerSettings):
            # the node's own configuration first, then the county installed
            # on this machine.
            domain = AccessDomain(county.chain.chain_id, county.contracts.roles)
            rpc_url = rpc_url or county.chain.rpc_url
        return cls(
            department=department,
            folder=folder,
            state_dir=state_dir,
            policy=policy,
            domain=domain,
            rpc_url=rpc_url,
        )


@dataclass(frozen=True)
class Subject:
    """What a message would have the department do, as a request must name it."""

    kind: RequestKind
    digest: bytes
    job_id: str
    dataset: str
    purpose: str
    columns: tuple[str, ...]
    epsilon: float
    delta: float

    @classmethod
    def training(cls, job: TrainJob, spec: DatasetSpec | None = None) -> Subject:
        """A training job's rounds and evaluations (``spec``: the reader's own
        copy of the dataset's declaration; default the job's)."""
        return cls(
            kind=RequestKind.TRAIN,
            digest=job.digest(),
            job_id=job.job_id,
            dataset=job.dataset,
            purpose=job.purpose,
            columns=training_columns(spec or dataset_spec(job)),
            epsilon=job.epsilon or 0.0,
            delta=job.delta,
        )

    @classmethod
    def query(cls, query: Query, job: TrainJob) -> Subject:
        """A DP analytics query, asked under the run's purpose."""
        return cls(
            kind=RequestKind.QUERY,
            digest=query_sha256(query),
            job_id=query.query_id,
            dataset=query.dataset_id,
            purpose=job.purpose,
            columns=query.columns_read,
            epsilon=query.epsilon,
            delta=query.delta,
        )


@dataclass(frozen=True)
class AccessOutcome:
    """What the gate decided, and what the audit hook records of it."""

    decision: Decision
    request: str = ""
    """The signed request as it travelled (compact JSON), when one was parsed."""
    request_id: str = ""
    analyst: str = ""
    role_block: int = 0
    policy: AccessPolicy | None = None
    """The policy applied; ``None`` in development mode (no policy)."""

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    def grant_details(self) -> dict[str, str]:
        """``access_granted`` details (see :mod:`ledger.access_records`)."""
        assert self.policy is not None
        details = {
            REQUEST: self.request,
            REQUEST_ID: self.request_id,
            ANALYST: self.analyst,
            ROLE_BLOCK: str(self.role_block),
            POLICY_SHA256: self.policy.digest().hex(),
            RULE: str(self.decision.rule),
        }
        if self.decision.agreement is not None:
            details[AGREEMENT] = self.decision.agreement
        return details

    def denial_details(self) -> dict[str, str]:
        """What an ``access_denied`` record adds to the refusal's reason."""
        details: dict[str, str] = {}
        if self.decision.refusal is not None:
            details[REFUSAL] = self.decision.refusal.value
        if self.analyst:
            details[ANALYST] = self.analyst
            details[REQUEST_ID] = self.request_id
        return details

    def to_state(self) -> ConfigRecord:
        decision = self.decision
        return ConfigRecord(
            {
                "allowed": decision.allowed,
                "reason": decision.reason,
                "refusal": decision.refusal.value if decision.refusal else "",
                "rule": -1 if decision.rule is None else decision.rule,
                "agreement": decision.agreement or "",
                "request": self.request,
                "request-id": self.request_id,
                "analyst": self.analyst,
                "role-block": self.role_block,
                "policy": self.policy.canonical() if self.policy else "",
            }
        )

    @classmethod
    def from_state(cls, record: ConfigRecord) -> AccessOutcome:
        refusal = str(record["refusal"])
        rule = int(str(record["rule"]))
        policy = str(record["policy"])
        return cls(
            decision=Decision(
                allowed=bool(record["allowed"]),
                reason=str(record["reason"]),
                refusal=Refusal(refusal) if refusal else None,
                rule=None if rule < 0 else rule,
                agreement=str(record["agreement"]) or None,
            ),
            request=str(record["request"]),
            request_id=str(record["request-id"]),
            analyst=str(record["analyst"]),
            role_block=int(str(record["role-block"])),
            policy=AccessPolicy.from_json(json.loads(policy)) if policy else None,
        )


def remember_access(state: RecordDict, outcome: AccessOutcome) -> None:
    """Leave ``outcome`` in the node's state for the audit hook."""
    state[ACCESS_STATE] = outcome.to_state()


def take_access(state: RecordDict) -> AccessOutcome | None:
    """Remove and return what the gate decided for the message being handled."""
    records = state.config_records
    if ACCESS_STATE not in records:
        return None
    return AccessOutcome.from_state(records.pop(ACCESS_STATE))


class AgreementStore:
    """A department's data-use agreements: ``<dept>/access/agreements/<id>.json``."""

    def __init__(self, department_folder: Path) -> None:
        self.folder = department_folder / _ACCESS_DIR / _AGREEMENTS

    def add(self, signed: SignedAgreement, domain: AccessDomain) -> Path:
        """Store ``signed`` (its signature checked) under its id."""
        signed.verify(domain)
        path = private_dir(self.folder) / f"{signed.id(domain)}.json"
        write_atomic(path, (signed.to_text(domain) + "\n").encode("utf-8"))
        return path

    def load(self, domain: AccessDomain) -> dict[str, SignedAgreement]:
        """Every stored agreement whose signature holds in ``domain``, by id.

        One that does not verify (edited, or signed for another county) is
        skipped with a warning in the node's log: it allows nothing.
        """
        found: dict[str, SignedAgreement] = {}
        if not self.folder.is_dir():
            return found
        for path in sorted(self.folder.glob("0x*.json")):
            try:
                signed, _ = SignedAgreement.from_text(path.read_text(encoding="utf-8"))
                signed.verify(domain)
            except (OSError, AccessSignatureError) as e:
                _log.warning("data-use agreement %s ignored: %s", path, e)
                continue
            if signed.id(domain) != path.stem:
                _log.warning("data-use agreement %s ignored: not its id", path)
                continue
            found[path.stem] = signed
        return found


class UsedRequests:
    """The (request, round, phase) triples a department served: each once.

    One JSON line per use in ``<dept>/access/used-requests.jsonl``, checked
    and appended under an exclusive lock, so that two processes handling
    the same replayed message cannot both pass.
    """

    def __init__(self, department_folder: Path) -> None:
        self.path = department_folder / _ACCESS_DIR / _USED

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_file = private_file(self.path.with_suffix(".lock"))
        with lock_file.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def claim(self, request_id: str, server_round: int, phase: str) -> bool:
        """Record a use; ``False`` (and nothing recorded) if it was used before."""
        key = [request_id, server_round, phase]
        with self._locked():
            if self.path.exists():
                with self.path.open(encoding="utf-8") as lines:
                    for line in lines:
                        if json.loads(line)[:3] == key:
                            return False
            with private_file(self.path).open("a", encoding="utf-8") as out:
                out.write(json.dumps([*key, int(time.time())]) + "\n")
                out.flush()
        return True


_chains: dict[tuple[str, str], Roles] = {}


def warn_if_open(settings: AccessSettings) -> None:
    """Say, once per command, that ``settings``' department answers anyone.

    Its gate says so when the first message comes; engines also say it on the
    machine that starts the job, before Ray's workers or the SuperNodes are
    started, so that those processes inherit it as said (:mod:`fedgov.notices`)
    instead of each saying it again.
    """
    if settings.policy is None:
        warn_once(
            f"access-open:{settings.department}",
            f"department {settings.department} has NO access policy: it "
            "answers any job or query the coordinator sends, signed or not "
            "(set access-policy in its node config)",
            stacklevel=3,
        )


def _chain_roles(rpc_url: str, roles: str) -> Roles:
    # Flower builds a node per message: keep one connection per process.
    key = (rpc_url, roles)
    if key not in _chains:
        _chains[key] = Roles.at(Chain.connect(rpc_url, accounts=[]), roles)
    return _chains[key]


@dataclass
class AccessGate:
    """The gate of one department (see the module docs).

    ``roles`` answers role questions (default: the Roles contract at
    ``settings.domain`` through ``settings.rpc_url``); ``clock`` gives Unix
    seconds.
    """

    settings: AccessSettings
    roles: RoleSource | None = None
    clock: Callable[[], float] = time.time
    _policy: AccessPolicy | None = field(default=None, init=False)

    def _load_policy(self) -> AccessPolicy | None:
        if self.settings.policy is None:
            return None
        if self._policy is None:
            policy = load_policy(self.settings.policy)
            if policy.department != self.settings.department:
                raise PolicyError(
                    str(self.settings.policy),
                    "department",
                    f"is {policy.department}'s policy, not {self.settings.department}'s",
                )
            self._policy = policy
        return self._policy

    def _role_source(self) -> RoleSource:
        if self.roles is not None:
            return self.roles
        domain = self.settings.domain
        if domain is None or not self.settings.rpc_url:
            raise ConfigurationError(
                "access-rpc",
                "the department has an access policy but no chain to read analysts' "
                "roles from: set access-chain-id, access-roles and access-rpc",
            )
        return RpcRoles(self.settings.rpc_url, domain.roles, domain.chain_id)

    def _domain(self) -> AccessDomain | None:
        if self.settings.domain is not None:
            return self.settings.domain
        return self.roles.access_domain if self.roles is not None else None

    def check(
        self, subject: Subject, *, signed: str, server_round: int, phase: str
    ) -> AccessOutcome:
        """Decide whether the message ``subject`` describes may run."""
        vault = DatasetVault(
            self.settings.state_dir, self.settings.department, subject.dataset
        )
        tombstone = vault.tombstone()
        if tombstone is not None:
            return AccessOutcome(
                Decision.refuse(
                    Refusal.DESTROYED,
                    f"{self.settings.department} destroyed its records of "
                    f"{subject.dataset} at {tombstone.destroyed_at} "
                    f"({tombstone.reason})",
                )
            )
        try:
            policy = self._load_policy()
        except PolicyError as e:
            return AccessOutcome(Decision.refuse(Refusal.POLICY, str(e)))
        if policy is None:
            warn_if_open(self.settings)
            return AccessOutcome(Decision(True, "no access policy (development mode)"))
        return self._check(policy, subject, signed, server_round, phase)

    def _check(
        self,
        policy: AccessPolicy,
        subject: Subject,
        signed: str,
        server_round: int,
        phase: str,
    ) -> AccessOutcome:
        if not signed:
            return AccessOutcome(
                Decision.refuse(
                    Refusal.UNSIGNED,
                    f"{subject.kind.value} {subject.job_id!r} carries no signed "
                    "request from an analyst",
                ),
                policy=policy,
            )
        domain = self._domain()
        if domain is None:
            return AccessOutcome(
                Decision.refuse(
                    Refusal.POLICY,
                    f"{self.settings.department} cannot check signatures: its node "
                    "config names no access-chain-id and access-roles",
                ),
                policy=policy,
            )
        try:
            request, _ = SignedRequest.from_text(signed)
            analyst = request.verify(domain)
        except AccessSignatureError as e:
            return AccessOutcome(
                Decision.refuse(Refusal.SIGNATURE, str(e)), policy=policy
            )
        request_id = request.id(domain)

        def outcome(decision: Decision, role_block: int = 0) -> AccessOutcome:
            return AccessOutcome(
                decision,
                request=signed,
                request_id=request_id,
                analyst=analyst,
                role_block=role_block,
                policy=policy,
            )

        mismatch = _mismatch(request.statement, subject)
        if mismatch:
            return outcome(Decision.refuse(Refusal.SUBJECT, mismatch))
        try:
            role = self._role_source().check_now(analyst, Role.ANALYST)
        except (ChainError, ConfigurationError) as e:
            return outcome(
                Decision.refuse(Refusal.ROLE, f"cannot check {analyst}'s role: {e}")
            )
        if not role.held:
            return outcome(
                Decision.refuse(
                    Refusal.ROLE,
                    f"{analyst} does not hold the analyst role at block {role.block}",
                )
            )
        agreements = {
            agreement_id: agreement.statement
            for agreement_id, agreement in AgreementStore(self.settings.folder)
            .load(domain)
            .items()
        }
        decision = decide(request.statement, policy, agreements, int(self.clock()))
        if decision.allowed and not UsedRequests(self.settings.folder).claim(
            request_id, server_round, phase
        ):
            decision = Decision.refuse(
                Refusal.REPLAY,
                f"request {request_id} was already used for {phase} of round "
                f"{server_round}",
            )
        return outcome(decision, role.block)


def _mismatch(request: AccessRequest, subject: Subject) -> str:
    what = f"the request covers another {subject.kind.value}"
    checks = [
        (request.kind == subject.kind, f"it asks for a {request.kind.value}"),
        (
            request.subject == subject.digest,
            f"its digest 0x{request.subject.hex()} is not this "
            f"{subject.kind.value}'s 0x{subject.digest.hex()}",
        ),
        (request.dataset == subject.dataset, f"it names dataset {request.dataset!r}"),
        (request.purpose == subject.purpose, f"it names purpose {request.purpose!r}"),
        (
            request.epsilon == subject.epsilon and request.delta == subject.delta,
            f"it asks for epsilon {request.epsilon}, delta {request.delta}",
        ),
        (
            set(subject.columns) <= set(request.columns),
            f"it names columns {list(request.columns)}, the "
            f"{subject.kind.value} reads {list(subject.columns)}",
        ),
    ]
    for ok, text in checks:
        if not ok:
            return f"{what}: {text}"
    return ""
