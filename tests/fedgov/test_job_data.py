"""A job's dataset: its declared name, the coordinator's declaration file and
the departments taking part."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedgov.data import get_dataset
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob
from fedgov.job_data import (
    dataset_fields,
    dataset_spec,
    departments_for,
    model_spec,
    task_of,
)
from tests.own_data import DECLARATIONS, OFFICES


def test_a_built_in_dataset_has_no_declaration_file() -> None:
    assert dataset_fields("randhie") == ("randhie", "")


def test_a_declaration_file_gives_its_name_and_absolute_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(DECLARATIONS["binary"].parent)
    name, declaration = dataset_fields("nmes1988.yaml")
    assert name == "nmes1988"
    assert declaration == str(DECLARATIONS["binary"])
    assert Path(declaration).is_absolute()


def test_a_job_names_its_dataset_never_a_path() -> None:
    with pytest.raises(ConfigurationError) as info:
        TrainJob(dataset="/srv/county/clinics.yaml")
    assert info.value.argument == "dataset"


@pytest.mark.parametrize(
    ("departments", "rule"),
    [
        ("a,a", "names a department twice"),
        ("a,b c", "not a department id"),
    ],
)
def test_a_job_lists_its_departments_once_each(departments: str, rule: str) -> None:
    with pytest.raises(ConfigurationError, match=rule):
        TrainJob(departments=departments)


def test_the_departments_of_a_declared_dataset_are_the_jobs_sorted_list() -> None:
    job = TrainJob(
        dataset="nmes1988",
        declaration=str(DECLARATIONS["binary"]),
        departments="office-west,office-midwest",
    )
    assert departments_for(job) == ["office-midwest", "office-west"]
    with pytest.raises(ConfigurationError, match="declares no natural partition"):
        departments_for(TrainJob(dataset="nmes1988", declaration=job.declaration))


def test_listed_departments_must_belong_to_a_natural_partition() -> None:
    assert departments_for(TrainJob(departments="health-site-2,health-site-1")) == [
        "health-site-1",
        "health-site-2",
    ]
    with pytest.raises(ConfigurationError, match="natural partition"):
        departments_for(TrainJob(departments="health-site-9"))


def test_a_declaration_of_another_dataset_is_refused() -> None:
    job = TrainJob(dataset="clinics", declaration=str(DECLARATIONS["binary"]))
    with pytest.raises(ConfigurationError, match="declares dataset 'nmes1988'"):
        dataset_spec(job)


@pytest.mark.parametrize(
    ("task", "outputs", "classes"),
    [("binary", 2, 2), ("multiclass", 3, 3), ("regression", 1, 0)],
)
def test_the_model_has_the_tasks_outputs(task: str, outputs: int, classes: int) -> None:
    job = TrainJob(
        dataset="nmes1988", declaration=str(DECLARATIONS[task]), departments="a,b"
    )
    spec = get_dataset(str(DECLARATIONS[task]))
    assert model_spec(job).num_outputs == outputs
    assert task_of(spec).num_classes == classes
    assert (task_of(spec).decode is None) == (task != "regression")
    assert len(OFFICES) == 4
