"""What a job means in terms of the dataset catalog, for every party alike.

Which dataset declaration a job names (a built-in one, or the file the
coordinator's operator declared it in), which departments take part (in
Flower partition-id order), how the records are partitioned, how many
encoded features a record has, the task, the public test split (where the
dataset has one) and the model every party builds. These are schema facts:
none of them opens a department's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fedgov.data import (
    DatasetSpec,
    DirichletPartition,
    MulticlassLabel,
    PartitionSpec,
    TaskKind,
    decode_targets,
    department_ids,
    get_dataset,
    list_datasets,
    load_public_test,
)
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from fedgov.metrics import Decode
from fedgov.models import ModelSpec, hidden_from_config

__all__ = [
    "Task",
    "dataset_fields",
    "dataset_reference",
    "dataset_spec",
    "departments_for",
    "model_spec",
    "num_features",
    "partition_of",
    "public_test_split",
    "task_of",
    "training_columns",
]


def dataset_reference(job: TrainJob) -> str:
    """What the catalog reads ``job``'s dataset from: its declaration file, or
    the built-in id."""
    return job.declaration or job.dataset


def dataset_fields(reference: str) -> tuple[str, str]:
    """A job's ``dataset`` and ``declaration`` for the dataset ``reference`` names.

    A built-in id gives ``(id, "")``; a declaration file gives its declared
    name and the file's absolute path (the coordinator's own copy: it may
    run in another working directory).
    """
    spec = get_dataset(reference)
    if reference in list_datasets():
        return spec.id, ""
    return spec.id, str(Path(reference).resolve())


def dataset_spec(job: TrainJob) -> DatasetSpec:
    """The declaration ``job`` names, checked to declare the dataset the job names."""
    spec = get_dataset(dataset_reference(job))
    if spec.id != job.dataset:
        raise ConfigurationError(
            "declaration",
            f"{job.declaration} declares dataset {spec.id!r}, the job names "
            f"{job.dataset!r}",
        )
    return spec


def partition_of(job: TrainJob) -> PartitionSpec:
    """The catalog partition ``job`` asks for."""
    if job.partition == "natural":
        return "natural"
    return DirichletPartition(
        num_departments=job.num_departments, alpha=job.dirichlet_alpha, seed=job.seed
    )


def departments_for(job: TrainJob, spec: DatasetSpec | None = None) -> list[str]:
    """The departments taking part, in Flower partition-id order.

    The job's own list when it names one (sorted: department ``k`` is
    partition id ``k``), each of which must be a department of the dataset's
    natural partition where it declares one; else the partition's. ``spec``
    is the party's own copy of the declaration (default: the job's).
    """
    spec = spec or dataset_spec(job)
    if job.department_ids:
        listed = sorted(job.department_ids)
        natural = spec.departments
        unknown = [d for d in listed if natural and d not in natural]
        if unknown:
            raise ConfigurationError(
                "departments",
                f"{unknown} are not departments of {spec.id}'s natural partition "
                f"({', '.join(natural)})",
            )
        return listed
    if spec.natural_partition is None and job.partition == "natural":
        raise ConfigurationError(
            "departments",
            f"dataset {spec.id!r} declares no natural partition: name the "
            "departments taking part (each reads its own source)",
        )
    reference = spec.id if spec.reader is not None else str(spec.declaration)
    return [str(d) for d in department_ids(reference, partition_of(job))]


def num_features(spec: DatasetSpec) -> int:
    """The encoded feature count, from the schema alone."""
    return len(spec.schema.feature_names)


@dataclass(frozen=True)
class Task:
    """What the model of a dataset predicts, as training and evaluation need it."""

    kind: TaskKind
    num_classes: int
    """Classes of a classification (2 for binary); 0 for a regression."""
    decode: Decode | None
    """Scaled regression targets back to the target's unit (regression only)."""


def task_of(spec: DatasetSpec) -> Task:
    """The task ``spec`` declares."""
    label = spec.schema.label
    if spec.task_kind is TaskKind.REGRESSION:
        return Task(TaskKind.REGRESSION, 0, partial(decode_targets, spec.schema))
    classes = len(label.classes) if isinstance(label, MulticlassLabel) else 2
    return Task(spec.task_kind, classes, None)


def public_test_split(
    spec: DatasetSpec,
) -> tuple[NDArray[np.float32], NDArray[Any]] | None:
    """The public benchmark test split (Adult's official file), if the dataset has one."""
    if not spec.has_public_test:
        return None
    test = load_public_test(spec.id).test
    return test.X, test.y


def training_columns(spec: DatasetSpec) -> tuple[str, ...]:
    """The columns a training job on ``spec`` reads: its features and label."""
    schema = spec.schema
    return tuple(sorted({*(c.name for c in schema.features), schema.label.column}))


def model_spec(job: TrainJob, spec: DatasetSpec | None = None) -> ModelSpec:
    """The model every party builds for ``job`` (``spec``: the party's own copy
    of the declaration; default the job's)."""
    spec = spec or dataset_spec(job)
    task = task_of(spec)
    return ModelSpec(
        kind=job.model,
        num_features=num_features(spec),
        num_classes=max(task.num_classes, 2),
        hidden=hidden_from_config(job.hidden),
        task=task.kind,
    )
