"""Hydra's structured-config schemas: typos fail when the config is composed.

Each config group (``dataset``, ``partition``, ``model``, ``strategy``,
``privacy``, ``engine``) has a schema here and YAML options under
``configs/<group>/``. Every option carries a ``_target_``: instantiating it
gives a typed object (a settings part, or an engine), and :func:`build_job`
folds the parts into the product's :class:`~fedgov.job.TrainJob`. Library
code never sees a ``DictConfig``.

A dataset of the county's own is a declaration file named in place of a
built-in id (``dataset.name=/srv/county/clinics.yaml``; ``fedgov train``
also reads ``dataset=/srv/county/clinics.yaml``), and its departments'
records are ``data.sources``: a folder of ``<department>.csv`` /
``<department>.parquet`` files, or a mapping of departments to sources
(:func:`build_sources`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hydra.core.config_store import ConfigStore
from hydra.utils import instantiate
from omegaconf import MISSING, DictConfig, OmegaConf

from fedgov.data import DepartmentSources, Source, SourceKind
from fedgov.engines.base import Engine
from fedgov.engines.deployment import DeploymentEngine
from fedgov.engines.inprocess import InProcessEngine
from fedgov.engines.simulation import SimulationEngine
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob, parse_accountant
from fedgov.job_data import dataset_fields

__all__ = [
    "CONFIGS",
    "DataConf",
    "DatasetConf",
    "DeploymentEngineConf",
    "InProcessEngineConf",
    "ModelConf",
    "PartitionConf",
    "PrivacyConf",
    "SimulationEngineConf",
    "StrategyConf",
    "TrainConf",
    "build_job",
    "build_sources",
    "dataset_label",
    "register_schemas",
    "sources_from",
]

CONFIGS: Final = Path(__file__).resolve().parents[2] / "configs"
"""The Hydra configs of ``fedgov train`` and the experiments (``configs/``)."""


@dataclass(kw_only=True)
class DatasetConf:
    """``name``: a built-in dataset, or the path of a declaration file."""

    _target_: str = "fedgov.commands.config.DatasetConf"
    name: str = MISSING


@dataclass(kw_only=True)
class DataConf:
    """Where the departments' records are (simulation and in-process engines;
    the deployment engine hands each department its own ``data-source``).

    ``sources``: empty (a built-in dataset's installed files), a folder of
    ``<department>.csv`` / ``<department>.parquet`` files, or a mapping of
    departments to sources (``csv:PATH``, ``parquet:PATH``, ``sqlite:PATH#T``,
    ``postgresql://...``).
    """

    sources: Any = ""


@dataclass(kw_only=True)
class PartitionConf:
    _target_: str = "fedgov.commands.config.PartitionConf"
    kind: str = "natural"
    num_departments: int = 6
    dirichlet_alpha: float = 1.0


@dataclass(kw_only=True)
class ModelConf:
    _target_: str = "fedgov.commands.config.ModelConf"
    kind: str = MISSING
    hidden: str = "32"


@dataclass(kw_only=True)
class StrategyConf:
    _target_: str = "fedgov.commands.config.StrategyConf"
    name: str = MISSING
    proximal_mu: float = 0.01
    trimmed_beta: float = 0.2
    krum_num_malicious: int = 1
    server_learning_rate: float = 1.0
    server_momentum: float = 0.5
    server_tau: float = 1e-3


@dataclass(kw_only=True)
class PrivacyConf:
    """``epsilon: null`` is the non-private baseline (departments must allow it)."""

    _target_: str = "fedgov.commands.config.PrivacyConf"
    epsilon: float | None = 1.0
    delta: float = 1e-5
    accountant: str = "pld"
    max_grad_norm: float = 1.0
    budget_epsilon: float = 8.0
    secure_rng: bool = True


def _target(engine: type[Engine]) -> str:
    # Typed as the Engine protocol: an engine that stops following it fails mypy.
    return f"{engine.__module__}.{engine.__qualname__}"


@dataclass(kw_only=True)
class SimulationEngineConf:
    _target_: str = _target(SimulationEngine)
    num_cpus: int | None = None
    allow_non_private: bool = False


@dataclass(kw_only=True)
class InProcessEngineConf:
    """The product's apps in this process, no Ray (``fedgov.engines.inprocess``)."""

    _target_: str = _target(InProcessEngine)
    allow_non_private: bool = False


@dataclass(kw_only=True)
class DeploymentEngineConf:
    _target_: str = _target(DeploymentEngine)
    startup_timeout: float = 120.0
    run_timeout: float = 3600.0


@dataclass(kw_only=True)
class TrainConf:
    defaults: list[Any] = field(
        default_factory=lambda: [
            {"dataset": "randhie"},
            {"partition": "natural"},
            {"model": "mlp"},
            {"strategy": "fedavg"},
            {"privacy": "dp"},
            {"engine": "simulation"},
            "_self_",
        ]
    )
    dataset: Any = MISSING
    data: DataConf = field(default_factory=DataConf)
    partition: Any = MISSING
    model: Any = MISSING
    strategy: Any = MISSING
    privacy: Any = MISSING
    engine: Any = MISSING
    job_id: str = "train"
    num_rounds: int = 10
    local_epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 0.5
    momentum: float = 0.0
    fraction_evaluate: float = 1.0
    min_departments: int = 2
    max_update_norm: float = 100.0
    # The most num-examples a department may report (its update's weight).
    max_examples: int = 1048576
    # Flower's SecAgg+ (fedavg/fedprox): docs/secure-aggregation.md
    secure_aggregation: bool = False
    # Each department fine-tunes the final layer at the end, on part of its
    # epsilon: docs/personalisation.md
    personalise: bool = False
    personalise_share: float = 0.3
    personalise_epochs: int = 2
    personalise_learning_rate: float = 0.5
    seed: int = 42
    run_dir: str = ""
    state_dir: str = ""
    round_timeout: float = 600.0


_GROUP_SCHEMAS: dict[str, list[type]] = {
    "dataset": [DatasetConf],
    "partition": [PartitionConf],
    "model": [ModelConf],
    "strategy": [StrategyConf],
    "privacy": [PrivacyConf],
    "engine": [SimulationEngineConf, DeploymentEngineConf, InProcessEngineConf],
}


def dataset_label(reference: str) -> str:
    """A short name for a dataset reference: a declaration file's stem, or the id."""
    if reference.endswith((".yaml", ".yml")):
        return Path(reference).stem
    return reference


def register_schemas() -> None:
    """Put the schemas in Hydra's ConfigStore (``<group>/_<schema>``) and ``train_schema``."""
    OmegaConf.register_new_resolver("dataset_label", dataset_label, replace=True)
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConf)
    for group, schemas in _GROUP_SCHEMAS.items():
        for schema in schemas:
            store.store(group=group, name=f"_{schema.__name__}", node=schema)


def build_job(cfg: DictConfig) -> tuple[TrainJob, Engine]:
    """Instantiate every group and fold them into a job and its engine."""
    dataset: DatasetConf = instantiate(cfg.dataset)
    partition: PartitionConf = instantiate(cfg.partition)
    model: ModelConf = instantiate(cfg.model)
    strategy: StrategyConf = instantiate(cfg.strategy)
    privacy: PrivacyConf = instantiate(cfg.privacy)
    engine: Engine = instantiate(cfg.engine)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    top = {
        str(k): v
        for k, v in resolved.items()
        if k not in _GROUP_SCHEMAS and k not in _NOT_JOB
    }
    name, declaration = dataset_fields(dataset.name)
    job = TrainJob(
        dataset=name,
        declaration=declaration,
        partition=partition.kind,
        num_departments=partition.num_departments,
        dirichlet_alpha=partition.dirichlet_alpha,
        model=model.kind,
        hidden=model.hidden,
        strategy=strategy.name,
        proximal_mu=strategy.proximal_mu,
        trimmed_beta=strategy.trimmed_beta,
        krum_num_malicious=strategy.krum_num_malicious,
        server_learning_rate=strategy.server_learning_rate,
        server_momentum=strategy.server_momentum,
        server_tau=strategy.server_tau,
        epsilon=privacy.epsilon,
        delta=privacy.delta,
        accountant=parse_accountant(privacy.accountant),
        max_grad_norm=privacy.max_grad_norm,
        budget_epsilon=privacy.budget_epsilon,
        secure_rng=privacy.secure_rng,
        **top,
    )
    return job, engine


# Keys of the config that are not the job's: where the records are.
_NOT_JOB: Final = ("data",)


def sources_from(value: object) -> DepartmentSources | None:
    """The departments' sources ``value`` names: a folder or a mapping (``None``: none).

    File paths are made absolute: a department may run in another working
    directory (a SuperNode of the deployment engine runs in its run folder).
    """
    if value in (None, ""):
        return None
    if isinstance(value, str | Path):
        return DepartmentSources.from_folder(Path(value).expanduser().resolve())
    if isinstance(value, Mapping):
        return DepartmentSources.from_mapping(
            {str(d): _absolute(Source.parse(str(s))) for d, s in value.items()}
        )
    raise ConfigurationError(
        "data.sources",
        f"must be a folder or a mapping of departments to sources, got {value!r}",
    )


def build_sources(cfg: DictConfig) -> DepartmentSources | None:
    """The departments' sources of a composed ``train`` config (``data.sources``)."""
    data = OmegaConf.to_container(cfg.data, resolve=True) if "data" in cfg else {}
    assert isinstance(data, dict)
    return sources_from(data.get("sources"))


def _absolute(source: Source) -> Source:
    if source.kind in (SourceKind.CSV, SourceKind.PARQUET, SourceKind.SQLITE):
        return Source(
            source.kind,
            str(Path(source.location).resolve()),
            table=source.table,
            query=source.query,
        )
    return source
