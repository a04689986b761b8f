"""fedgov's data layer: declared datasets, loaded department by department.

A dataset is a declaration file (:mod:`fedgov.data.declaration`; two
built-in ones, ``randhie`` and ``adult``). Each department opens only its own
records (:func:`load_department`): its own source (:class:`Source`: CSV,
Parquet, SQLite, PostgreSQL), checked in the database (:func:`check_source`),
or its partition of a built-in dataset; validated against the declared
schema, cleaned by declared rules (every change counted in a
:class:`CleaningReport`), split into local train / held-out sides and encoded
from the schema alone. See ``docs/datasets.md``.
"""

from __future__ import annotations

from fedgov.data.aggregates import grouped_counts
from fedgov.data.catalog import (
    BUILT_IN_DECLARATIONS,
    department_ids,
    get_dataset,
    list_datasets,
)
from fedgov.data.checking import Problem, SourceCheck, check_source
from fedgov.data.cleaning import CleaningAction, CleaningReport, clean
from fedgov.data.declaration import load_declaration, parse_declaration
from fedgov.data.encoding import (
    Labels,
    decode_targets,
    encode_features,
    encode_labels,
)
from fedgov.data.errors import (
    DataError,
    DataErrorReason,
    DataSourceUnavailableError,
    DataValidationError,
    DeclarationError,
    EmptyPartitionError,
    EmptyTableError,
    MissingColumnError,
    MissingValueError,
    NonFiniteValueError,
    NoPublicTestSplitError,
    OutOfRangeError,
    RowLabel,
    SourceConnectionError,
    SourceSpecError,
    SourceUnreadableError,
    UndeclaredColumnError,
    UnknownCategoryError,
    UnknownDatasetError,
    UnknownDepartmentError,
    WrongTypeError,
)
from fedgov.data.loading import (
    DEFAULT_HELD_OUT_FRACTION,
    DepartmentData,
    EncodedSplit,
    LoadedData,
    PooledData,
    PublicTestData,
    load_department,
    load_pooled,
    load_public_test,
    preload_records,
)
from fedgov.data.partition import DirichletPartition, PartitionSpec
from fedgov.data.schema import (
    Category,
    Classification,
    ColumnKind,
    ColumnRole,
    ColumnSpec,
    DatasetSchema,
    MissingPolicy,
    Transform,
)
from fedgov.data.sources import DepartmentSources, Source, SourceKind
from fedgov.data.spec import (
    DatasetSpec,
    DepartmentGroup,
    NaturalPartition,
    Retention,
    Split,
    UnitOfPrivacy,
)
from fedgov.data.splitting import held_out_mask
from fedgov.data.task import (
    Label,
    LabelRule,
    MulticlassLabel,
    RegressionTarget,
    TaskKind,
)
from fedgov.data.validation import validate, validate_column

__all__ = [
    "BUILT_IN_DECLARATIONS",
    "DEFAULT_HELD_OUT_FRACTION",
    "Category",
    "Classification",
    "CleaningAction",
    "CleaningReport",
    "ColumnKind",
    "ColumnRole",
    "ColumnSpec",
    "DataError",
    "DataErrorReason",
    "DataSourceUnavailableError",
    "DataValidationError",
    "DatasetSchema",
    "DatasetSpec",
    "DeclarationError",
    "DepartmentData",
    "DepartmentGroup",
    "DepartmentSources",
    "DirichletPartition",
    "EmptyPartitionError",
    "EmptyTableError",
    "EncodedSplit",
    "Label",
    "LabelRule",
    "Labels",
    "LoadedData",
    "MissingColumnError",
    "MissingPolicy",
    "MissingValueError",
    "MulticlassLabel",
    "NaturalPartition",
    "NoPublicTestSplitError",
    "NonFiniteValueError",
    "OutOfRangeError",
    "PartitionSpec",
    "PooledData",
    "Problem",
    "PublicTestData",
    "RegressionTarget",
    "Retention",
    "RowLabel",
    "Source",
    "SourceCheck",
    "SourceConnectionError",
    "SourceKind",
    "SourceSpecError",
    "SourceUnreadableError",
    "Split",
    "TaskKind",
    "Transform",
    "UndeclaredColumnError",
    "UnitOfPrivacy",
    "UnknownCategoryError",
    "UnknownDatasetError",
    "UnknownDepartmentError",
    "WrongTypeError",
    "check_source",
    "clean",
    "decode_targets",
    "department_ids",
    "encode_features",
    "encode_labels",
    "get_dataset",
    "grouped_counts",
    "held_out_mask",
    "list_datasets",
    "load_declaration",
    "load_department",
    "load_pooled",
    "load_public_test",
    "parse_declaration",
    "preload_records",
    "validate",
    "validate_column",
]
