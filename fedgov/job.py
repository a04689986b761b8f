"""A federated training job's parameters, as both sides of a run read them.

A deployed Flower App receives only flat ``run_config`` keys (strings,
numbers, booleans); :meth:`TrainJob.from_run_config` turns them into a typed,
validated object and :meth:`TrainJob.to_run_config` goes back, so Hydra stays
at the edges and the apps never see a ``DictConfig``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from fedgov.errors import ConfigurationError
from fedgov.notices import warn_once
from fedgov.types import NAME_PATTERN

__all__ = [
    "DEFAULT_ACCOUNTANT",
    "PARTITIONS",
    "QUESTION_KEYS",
    "SECURE_STRATEGIES",
    "STRATEGIES",
    "Accountant",
    "TrainJob",
    "parse_accountant",
    "question_settings",
]

STRATEGIES = (
    "fedavg",
    "fedavgm",
    "fedadam",
    "fedyogi",
    "fedprox",
    "fedmedian",
    "fedtrimmedavg",
    "krum",
)
# Under SecAgg+ the coordinator sees only the weighted sum of the updates;
# median, trimmed mean and Krum need the individual updates.
SECURE_STRATEGIES = ("fedavg", "fedprox")
PARTITIONS = ("natural", "dirichlet")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
# Where a job runs and keeps its files, how the coordinator's ledger is wired,
# how long it waits, and the request itself: none changes what is computed
# from the departments' records or what they spend, and the coordinator sets
# them, so an analyst's signed request does not cover them.
_NOT_DIGESTED = frozenset(
    {
        "run-dir",
        "state-dir",
        "round-timeout",
        "ledger-chain-id",
        "ledger-registry",
        "ledger-county",
        "access-request",
    }
)
# A dataset or department name: also a file name, never a path.
_COUNTY = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class Accountant(StrEnum):
    """How a spend's (epsilon, delta) is computed: named in jobs, queries,
    budget histories and audit records (``docs/analytics.md``)."""

    PLD = "pld"
    """Privacy-loss distributions (Google's ``dp-accounting``): tight."""
    RDP = "rdp"
    """Rényi DP (Opacus' analysis): what fedgov used before, and reads for
    records that name no accountant."""


DEFAULT_ACCOUNTANT = Accountant.PLD


def parse_accountant(value: str, *, argument: str = "accountant") -> Accountant:
    """``value`` as an :class:`Accountant`; ``ConfigurationError`` naming ``argument``."""
    try:
        return Accountant(value)
    except ValueError as e:
        raise ConfigurationError(
            argument,
            f"must be one of {[a.value for a in Accountant]}, got {value!r}",
        ) from e


@dataclass(frozen=True, kw_only=True)
class TrainJob:
    """Everything a coordinator and its departments agree on for one job.

    ``dataset`` is the dataset's declared name; ``declaration`` the file the
    coordinator's operator declared it in (empty for a built-in dataset,
    which ships with fedgov). Each department checks the declaration against
    its own copy before reading a record (``docs/datasets.md``).
    ``departments`` lists the departments taking part, comma-separated;
    empty: the dataset's natural partition (or the Dirichlet split's).

    ``epsilon=None`` is a non-private job: departments refuse it unless their
    own node configuration allows it (baselines in experiments only).
    ``audit`` has both sides keep audit records for ``purpose``; tree heads
    are signed for the AnchorRegistry ``ledger_registry`` on chain
    ``ledger_chain_id`` (both unset: records are kept, heads are not signed)
    and published as C2SP checkpoints of the county ``ledger_county``
    (unset: no checkpoints, unless a department's node names its county).
    ``access_request`` is the requesting analyst's signed request
    (:mod:`ledger.access`, JSON), covering :meth:`digest`; departments with an
    access policy refuse a job without one.
    """

    job_id: str = "job"
    dataset: str = "randhie"
    declaration: str = ""
    departments: str = ""
    partition: str = "natural"
    num_departments: int = 6
    dirichlet_alpha: float = 1.0
    num_rounds: int = 10
    strategy: str = "fedavg"
    proximal_mu: float = 0.01
    trimmed_beta: float = 0.2
    krum_num_malicious: int = 1
    server_learning_rate: float = 1.0
    server_momentum: float = 0.5
    server_tau: float = 1e-3
    """FedAdam/FedYogi's adaptivity (Flower's ``tau``); their server step is
    ``server_learning_rate`` (Flower's ``eta``)."""
    model: str = "mlp"
    hidden: str = "32"
    local_epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 0.5
    momentum: float = 0.0
    epsilon: float | None = 1.0
    delta: float = 1e-5
    accountant: Accountant = DEFAULT_ACCOUNTANT
    personalise: bool = False
    """After the last round each department fine-tunes the final layer of the
    federated model on its own records with DP-SGD and keeps the result
    (``docs/personalisation.md``)."""
    personalise_share: float = 0.3
    """The part of ``epsilon`` kept for fine-tuning: the rounds are calibrated
    to ``(1 - share) * epsilon``, the fine-tuning to what the job's epsilon
    leaves once the rounds are composed with it."""
    personalise_epochs: int = 2
    personalise_learning_rate: float = 0.5
    max_grad_norm: float = 1.0
    budget_epsilon: float = 8.0
    secure_rng: bool = True
    fraction_evaluate: float = 1.0
    min_departments: int = 2
    max_update_norm: float = 100.0
    max_examples: int = 2**20
    """The most ``num-examples`` a department's reply may report (the
    weight of its update): a policy cap, SecAgg+'s ``max_weight``."""
    secure_aggregation: bool = False
    seed: int = 42
    run_dir: str = ""
    state_dir: str = ""
    round_timeout: float = 600.0
    audit: bool = True
    purpose: str = "federated-training"
    ledger_chain_id: int = 0
    ledger_registry: str = ""
    ledger_county: str = ""
    access_request: str = ""

    def __post_init__(self) -> None:
        def rule(ok: bool, argument: str, text: str) -> None:
            if not ok:
                raise ConfigurationError(argument, text)

        rule(
            NAME_PATTERN.fullmatch(self.job_id) is not None,
            "job_id",
            f"{self.job_id!r} is not a valid id (it names the run folder): 1-100 "
            "letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
        rule(
            NAME_PATTERN.fullmatch(self.dataset) is not None,
            "dataset",
            f"must be a dataset's declared name, got {self.dataset!r} (a declaration "
            "file goes into declaration, its name into dataset)",
        )
        for department in self.department_ids:
            rule(
                NAME_PATTERN.fullmatch(department) is not None,
                "departments",
                f"{department!r} is not a department id: letters, digits, '.', '_' "
                "and '-', starting with a letter or digit",
            )
        rule(
            len(set(self.department_ids)) == len(self.department_ids),
            "departments",
            f"names a department twice: {self.departments!r}",
        )
        rule(
            not self.departments or self.partition == "natural",
            "departments",
            "lists the departments of a natural partition (each reads its own "
            "records); a Dirichlet split names its own departments",
        )
        rule(self.partition in PARTITIONS, "partition", f"must be one of {PARTITIONS}")
        rule(self.strategy in STRATEGIES, "strategy", f"must be one of {STRATEGIES}")
        rule(self.num_rounds >= 1, "num_rounds", f"must be >= 1, got {self.num_rounds}")
        rule(self.num_departments >= 1, "num_departments", "must be >= 1")
        rule(self.dirichlet_alpha > 0, "dirichlet_alpha", "must be positive")
        rule(self.local_epochs >= 1, "local_epochs", "must be >= 1")
        rule(self.batch_size >= 1, "batch_size", "must be >= 1")
        rule(self.learning_rate > 0, "learning_rate", "must be positive")
        rule(0 <= self.momentum < 1, "momentum", "must lie in [0, 1)")
        rule(self.proximal_mu >= 0, "proximal_mu", "must be >= 0")
        rule(0 <= self.trimmed_beta < 0.5, "trimmed_beta", "must lie in [0, 0.5)")
        rule(self.krum_num_malicious >= 0, "krum_num_malicious", "must be >= 0")
        rule(self.server_learning_rate > 0, "server_learning_rate", "must be > 0")
        rule(0 <= self.server_momentum < 1, "server_momentum", "must lie in [0, 1)")
        rule(self.server_tau > 0, "server_tau", "must be positive")
        rule(
            0 < self.personalise_share < 1,
            "personalise_share",
            f"must lie strictly between 0 and 1, got {self.personalise_share}",
        )
        rule(self.personalise_epochs >= 1, "personalise_epochs", "must be >= 1")
        rule(
            self.personalise_learning_rate > 0,
            "personalise_learning_rate",
            "must be positive",
        )
        if self.epsilon is not None:
            rule(
                math.isfinite(self.epsilon) and self.epsilon > 0,
                "epsilon",
                f"must be positive (or None for a non-private baseline), got {self.epsilon}",
            )
        rule(
            0 < self.delta < 1,
            "delta",
            f"must lie strictly between 0 and 1, got {self.delta}",
        )
        object.__setattr__(self, "accountant", parse_accountant(self.accountant))
        rule(self.max_grad_norm > 0, "max_grad_norm", "must be positive")
        rule(self.budget_epsilon > 0, "budget_epsilon", "must be positive")
        rule(
            0 <= self.fraction_evaluate <= 1, "fraction_evaluate", "must lie in [0, 1]"
        )
        rule(self.min_departments >= 1, "min_departments", "must be >= 1")
        rule(self.max_update_norm > 0, "max_update_norm", "must be positive")
        rule(self.max_examples >= 1, "max_examples", "must be >= 1")
        rule(self.round_timeout > 0, "round_timeout", "must be positive")
        rule(
            not self.secure_aggregation or self.strategy in SECURE_STRATEGIES,
            "strategy",
            f"secure aggregation needs one of {SECURE_STRATEGIES}, got {self.strategy!r}",
        )
        rule(bool(self.purpose), "purpose", "must name the declared purpose of the job")
        rule(self.ledger_chain_id >= 0, "ledger_chain_id", "must be >= 0 (0: no chain)")
        registry = self.ledger_registry
        rule(
            registry == "" or _ADDRESS.fullmatch(registry) is not None,
            "ledger_registry",
            f"must be empty or a 0x-prefixed 20-byte address, got {registry!r}",
        )
        rule(
            (self.ledger_chain_id > 0) == bool(self.ledger_registry),
            "ledger_chain_id",
            "and ledger_registry go together: both set (sign tree heads) or neither",
        )
        rule(
            self.ledger_county == ""
            or _COUNTY.fullmatch(self.ledger_county) is not None,
            "ledger_county",
            f"must be empty or a DNS label (a-z, 0-9, '-'), got {self.ledger_county!r}",
        )
        if not self.audit:
            warn_once(
                "job-audit-off",
                "audit=False: departments and the coordinator keep NO audit records; "
                "nothing this job does can be verified by an auditor",
            )
        if not self.secure_rng:
            warn_once(
                f"job-seeded-rng:{self.job_id}",
                "secure_rng=False: DP noise and sampling come from a seeded generator. "
                "Reproducible, but an adversary who learns the seed can remove the noise: "
                "for experiments only, never for a real release.",
            )

    @property
    def private(self) -> bool:
        return self.epsilon is not None

    @property
    def rounds_epsilon(self) -> float | None:
        """The epsilon the job's rounds are calibrated to: all of ``epsilon``,
        or what personalisation leaves of it (``None``: a non-private job)."""
        if self.epsilon is None or not self.personalise:
            return self.epsilon
        return self.epsilon * (1.0 - self.personalise_share)

    @property
    def department_ids(self) -> tuple[str, ...]:
        """``departments`` as a tuple (empty: the partition decides)."""
        return tuple(d.strip() for d in self.departments.split(",") if d.strip())

    def digest(self) -> bytes:
        """SHA-256 of what the job computes and spends: its run_config keys as
        compact sorted JSON, without where it runs and keeps files, the
        coordinator's ledger wiring, its timeout and the request itself.

        An analyst's request covers this digest, so a coordinator that alters
        the dataset, epsilon, purpose, rounds or model is refused.
        """
        config = {
            key: value
            for key, value in self.to_run_config().items()
            if key not in _NOT_DIGESTED
        }
        text = json.dumps(config, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).digest()

    def to_run_config(self) -> dict[str, bool | int | float | str]:
        """Flat ``run_config`` keys (kebab-case), ``epsilon = 0`` meaning no DP."""
        out: dict[str, bool | int | float | str] = {}
        for key, value in asdict(self).items():
            if isinstance(value, StrEnum):
                value = value.value
            out[key.replace("_", "-")] = 0.0 if value is None else value
        return out

    @classmethod
    def from_run_config(cls, config: Mapping[str, Any]) -> TrainJob:
        """Parse flat run_config keys; unknown keys are ignored (other features)."""
        kwargs: dict[str, Any] = {}
        for field in fields(cls):
            key = field.name.replace("_", "-")
            if key not in config:
                continue
            value = config[key]
            if field.name == "epsilon":
                value = None if value in (None, 0, 0.0, "none", "") else float(value)
            elif field.type == "bool" and isinstance(value, str):
                value = value.lower() in ("1", "true", "yes", "on")
            elif field.type == "int":
                value = int(value)
            elif field.type == "float":
                value = float(value)
            elif field.type in ("str", "Accountant"):
                value = str(value)
            kwargs[field.name] = value
        return cls(**kwargs)


QUESTION_KEYS = ("job-id", "purpose", "budget-epsilon", "access-request")
"""The run_config keys one question of a standing query run sets for itself.

The rest of the job (state folder, departments, ledger, delta) is the run's:
a question changes what it is asked under, not where it is answered."""


def question_settings(record: Mapping[str, Any]) -> dict[str, str | float]:
    """A QUESTION record's settings (:data:`QUESTION_KEYS`), types checked.

    Raises ``ConfigurationError`` naming a key that is not one of them or
    whose value has the wrong type.
    """
    settings: dict[str, str | float] = {}
    for key, value in record.items():
        if key not in QUESTION_KEYS:
            raise ConfigurationError(
                "job", f"{key!r} is not a question's own setting ({QUESTION_KEYS})"
            )
        if key == "budget-epsilon":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError("budget-epsilon", "must be a number")
            settings[key] = float(value)
        elif not isinstance(value, str):
            raise ConfigurationError(key, "must be a string")
        else:
            settings[key] = value
    return settings
