"""Witness policies (C2SP ``tlog-policy``) and judging a log's checkpoints by one.

A policy file lists the logs' note keys, the witnesses' cosigning keys and
a quorum, one item per line (``#`` comments, blank lines ignored)::

    log lakeview.fedgov/0x5B38…/audit+4f1c0a7e+AV3f…        (type 0x01 vkey)
    witness civic witness.lakeview-civic.example/w1+9a0b…+BH8…  http://…
    witness north witness.north-county.example/w1+12cd…+BKq…
    group both all civic north            (or: any, or a number k)
    quorum both                           (or: quorum none)

A group is satisfied when at least k of its members are (a witness is when
it cosigned); names are defined before use, each listed in one group at
most; duplicate keys are refused. fedgov reads Ed25519 keys: logs' of
type ``0x01``, witnesses' of type ``0x04`` (``cosignature/v1``). A witness
URL is where ``fedgov ledger checkpoint publish`` submits checkpoints.

:func:`judge_checkpoints` is the auditor's check of one log against a
policy: which of its stored checkpoints are validly signed by the log's
key, consistent with its records, and cosigned by a quorum, and so how far
the log is *witnessed*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.errors import ConfigurationError
from ledger.checkpoint import Checkpoint, parse_origin
from ledger.cosignature import CosignatureVerifier
from ledger.errors import MalformedNoteError, UnverifiedNoteError
from ledger.note import Note, NoteVerifier, SignatureType, VerifierKey, open_note

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ledger.merkle import CompactRange, MerkleTree

__all__ = [
    "NONE",
    "Group",
    "PolicyLog",
    "PolicyWitness",
    "WitnessPolicy",
    "WitnessProblem",
    "WitnessVerdict",
    "judge_checkpoints",
]

NONE = "none"
"""The predefined quorum that asks for no cosignature."""
_THRESHOLD = re.compile(r"[1-9][0-9]*")


@dataclass(frozen=True)
class PolicyLog:
    """A log the policy accepts: its note key (named after its origin)."""

    vkey: VerifierKey
    url: str | None = None

    @property
    def origin(self) -> str:
        return self.vkey.name


@dataclass(frozen=True)
class PolicyWitness:
    """A witness: its policy name, cosigning key and submission URL."""

    name: str
    vkey: VerifierKey
    url: str | None = None


@dataclass(frozen=True)
class Group:
    """Satisfied when at least ``threshold`` of ``members`` are."""

    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class WitnessPolicy:
    """A parsed policy: logs, witnesses, groups and the quorum's name."""

    logs: tuple[PolicyLog, ...]
    witnesses: tuple[PolicyWitness, ...]
    groups: tuple[Group, ...]
    quorum: str

    def satisfied(self, cosigned: Iterable[str]) -> bool:
        """Whether witnesses named ``cosigned`` (policy names) make the quorum."""
        if self.quorum == NONE:
            return True
        done = set(cosigned)
        for group in self.groups:  # defined before use: one pass suffices
            if sum(member in done for member in group.members) >= group.threshold:
                done.add(group.name)
        return self.quorum in done

    def log_for(self, origin: str) -> PolicyLog | None:
        """The log whose key is named ``origin``."""
        return next((log for log in self.logs if log.origin == origin), None)

    @classmethod
    def read(cls, path: str | Path) -> WitnessPolicy:
        """Read and parse the policy file ``path``."""
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ConfigurationError(
                "witness policy", f"cannot read {path}: {e.strerror}"
            ) from e
        return cls.parse(data, source=str(path))

    @classmethod
    def parse(cls, data: bytes, *, source: str = "policy") -> WitnessPolicy:
        """Parse a policy; errors name the file and line."""
        return _Parser(source).parse(data)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.line = 0
        self.logs: list[PolicyLog] = []
        self.witnesses: list[PolicyWitness] = []
        self.groups: list[Group] = []
        self.names: set[str] = set()
        self.members: set[str] = set()
        self.quorum: str | None = None

    def fail(self, rule: str) -> ConfigurationError:
        return ConfigurationError(
            "witness policy", f"{self.source}:{self.line}: {rule}"
        )

    def parse(self, data: bytes) -> WitnessPolicy:
        bad = next(
            (b for b in data if (b < 0x20 and b not in (0x09, 0x0A)) or b == 0x7F), None
        )
        if bad is not None:
            raise ConfigurationError(
                "witness policy",
                f"{self.source}: control character 0x{bad:02x} (only tab and newline)",
            )
        for self.line, raw in enumerate(data.split(b"\n"), start=1):
            words = (
                raw.decode("utf-8", errors="surrogateescape")
                .replace("\t", " ")
                .split(" ")
            )
            words = [w for w in words if w]
            if not words or words[0].startswith("#"):
                continue
            keyword, arguments = words[0], words[1:]
            handler = {
                "log": self._log,
                "witness": self._witness,
                "group": self._group,
                "quorum": self._quorum,
            }.get(keyword)
            if handler is None:
                raise self.fail(f"unknown keyword {keyword!r}")
            handler(arguments)
        if self.quorum is None:
            raise ConfigurationError(
                "witness policy", f"{self.source}: no quorum line (one is required)"
            )
        return WitnessPolicy(
            tuple(self.logs), tuple(self.witnesses), tuple(self.groups), self.quorum
        )

    def _vkey(self, text: str, kind: SignatureType, what: str) -> VerifierKey:
        try:
            vkey = VerifierKey.parse(text)
        except MalformedNoteError as e:
            raise self.fail(f"{what} key: {e.reason}") from e
        if vkey.signature_type is not kind:
            raise self.fail(
                f"{what} key {text[:60]!r} is of type 0x{vkey.signature_type:02x}, "
                f"a {what} key is 0x{kind:02x}"
            )
        return vkey

    def _log(self, arguments: list[str]) -> None:
        if len(arguments) not in (1, 2):
            raise self.fail("a log line is 'log <vkey> [<url>]'")
        vkey = self._vkey(arguments[0], SignatureType.ED25519, "log")
        if any(log.vkey.public_key == vkey.public_key for log in self.logs):
            raise self.fail(f"log {vkey.name!r}: its key is listed twice")
        self.logs.append(PolicyLog(vkey, arguments[1] if len(arguments) == 2 else None))

    def _name(self, name: str) -> str:
        if name == NONE or name in self.names:
            raise self.fail(f"the name {name!r} is taken")
        self.names.add(name)
        return name

    def _witness(self, arguments: list[str]) -> None:
        if len(arguments) not in (2, 3):
            raise self.fail("a witness line is 'witness <name> <vkey> [<url>]'")
        vkey = self._vkey(arguments[1], SignatureType.COSIGNATURE_V1, "witness")
        if any(w.vkey.public_key == vkey.public_key for w in self.witnesses):
            raise self.fail(f"witness {arguments[0]!r}: its key is listed twice")
        name = self._name(arguments[0])
        url = arguments[2] if len(arguments) == 3 else None
        self.witnesses.append(PolicyWitness(name, vkey, url))

    def _group(self, arguments: list[str]) -> None:
        if len(arguments) < 3:
            raise self.fail("a group line is 'group <name> all|any|<k> <member>...'")
        name, rule, members = arguments[0], arguments[1], arguments[2:]
        for member in members:
            if member not in self.names:
                raise self.fail(f"group {name!r}: {member!r} is not defined before it")
            if member in self.members:
                raise self.fail(f"{member!r} is already a member of a group")
            self.members.add(member)
        if rule == "all":
            threshold = len(members)
        elif rule == "any":
            threshold = 1
        elif _THRESHOLD.fullmatch(rule) and int(rule) <= len(members):
            threshold = int(rule)
        else:
            raise self.fail(
                f"group {name!r}: threshold {rule!r} is not all, any or 1..{len(members)}"
            )
        self.groups.append(Group(self._name(name), threshold, tuple(members)))

    def _quorum(self, arguments: list[str]) -> None:
        if len(arguments) != 1:
            raise self.fail("a quorum line is 'quorum <name>'")
        if self.quorum is not None:
            raise self.fail("a second quorum line")
        if arguments[0] != NONE and arguments[0] not in self.names:
            raise self.fail(f"quorum {arguments[0]!r} is not defined before it")
        self.quorum = arguments[0]


@dataclass(frozen=True)
class WitnessProblem:
    """Something wrong with a log's witnessing.

    ``unwitnessed`` marks the one problem that only says records are not
    witnessed yet (like unanchored records: the auditor may treat it as a
    warning); the others are failures.
    """

    message: str
    index: int | None = None
    unwitnessed: bool = False


@dataclass(frozen=True)
class WitnessVerdict:
    """How far a log is witnessed by the policy's quorum, and what is wrong."""

    witnessed_size: int
    problems: tuple[WitnessProblem, ...]


def judge_checkpoints(
    policy: WitnessPolicy,
    *,
    actor: str,
    log_name: str,
    checkpoints: Sequence[str],
    tree: MerkleTree | CompactRange,
    witnessed_before: int = 0,
    first_index: int = 0,
) -> WitnessVerdict:
    """Judge the stored ``checkpoints`` of the log (``actor``, ``log_name``).

    The log's key is the policy log whose origin names this actor and log
    (any county); each checkpoint must be that origin's, signed by it,
    carry only valid cosignatures by policy witnesses, and match ``tree``
    (the log rebuilt from its records) at its size. Records beyond the
    largest checkpoint cosigned by a quorum are unwitnessed. An auditor
    judging only the checkpoints stored since its last check passes the
    size witnessed then (``witnessed_before``), the number of checkpoints it
    judged then (``first_index``) and a :class:`~ledger.merkle.CompactRange`.
    """
    problems: list[WitnessProblem] = []
    logs = [
        log
        for log in policy.logs
        if (named := parse_origin(log.origin)) is not None
        and named.actor == actor
        and named.log_name == log_name
    ]
    if len(logs) != 1:
        rule = "names no key for" if not logs else "names more than one key for"
        origins = ", ".join(log.origin for log in logs)
        problems.append(
            WitnessProblem(
                f"the witness policy {rule} this log (origin <county>.fedgov/"
                f"{actor}/{log_name}){': ' + origins if origins else ''}",
                index=0 if tree.size else None,
            )
        )
        return WitnessVerdict(0, tuple(problems))
    log = logs[0]
    names = {w.vkey: w.name for w in policy.witnesses}
    verifiers: list[NoteVerifier | CosignatureVerifier] = [
        NoteVerifier(log.vkey),
        *(CosignatureVerifier(w.vkey) for w in policy.witnesses),
    ]
    witnessed = witnessed_before
    for k, text in enumerate(checkpoints, start=first_index):
        size = _judge_one(k, text, log, verifiers, names, policy, tree, problems)
        witnessed = max(witnessed, size)
    if policy.quorum != NONE and witnessed < tree.size:
        problems.append(
            WitnessProblem(
                f"records [{witnessed}, {tree.size}) are not witnessed: no checkpoint "
                f"covering them is cosigned by the policy's quorum {policy.quorum!r}",
                index=witnessed,
                unwitnessed=True,
            )
        )
    return WitnessVerdict(witnessed, tuple(problems))


def _judge_one(
    k: int,
    text: str,
    log: PolicyLog,
    verifiers: Sequence[NoteVerifier | CosignatureVerifier],
    names: Mapping[VerifierKey, str],
    policy: WitnessPolicy,
    tree: MerkleTree | CompactRange,
    problems: list[WitnessProblem],
) -> int:
    """Check checkpoint ``k``; return its size if a quorum witnessed it, else 0."""
    where = f"checkpoint {k}"
    try:
        note = Note.parse(text)
        checkpoint = Checkpoint.parse(note.text)
        if checkpoint.origin != log.origin:
            problems.append(
                WitnessProblem(
                    f"{where} names origin {checkpoint.origin!r}, not {log.origin!r}"
                )
            )
            return 0
        verified = open_note(note, verifiers)
    except (MalformedNoteError, UnverifiedNoteError) as e:
        problems.append(WitnessProblem(f"{where}: {e}"))
        return 0
    if not any(s.key_id == log.vkey.key_id and s.name == log.origin for s in verified):
        problems.append(
            WitnessProblem(f"{where} is not signed by the log's key {log.vkey}")
        )
        return 0
    size = checkpoint.tree_size
    if size > tree.size:
        problems.append(
            WitnessProblem(
                f"{where} commits to {size} records, but the log holds only "
                f"{tree.size}: records [{tree.size}, {size}) were removed",
                index=tree.size,
            )
        )
        return 0
    if tree.root(size) != checkpoint.root_hash:
        problems.append(
            WitnessProblem(
                f"{where} (size {size}) has another root than the log's records: "
                "the witnesses were shown a different history (a fork)",
                index=0,
            )
        )
        return 0
    cosigned = {
        names[v.vkey]
        for v in verifiers
        if isinstance(v, CosignatureVerifier)
        and any(s.name == v.name and s.key_id == v.key_id for s in verified)
    }
    return size if policy.satisfied(cosigned) else 0
