"""fedgov's data layer: a catalog of real datasets, loaded department by department.

Each department opens only its own partition of a dataset
(:func:`load_department`), validated against a declared schema, cleaned by
declared rules (every change counted in a :class:`CleaningReport`), split
into local train / held-out sides and encoded from the schema alone. See
``docs/datasets.md`` for the datasets themselves.
"""

from __future__ import annotations

from fedgov.data.catalog import (
    BUILT_IN_DECLARATIONS,
    department_ids,
    get_dataset,
    list_datasets,
)
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
    NoPublicTestSplitError,
    NonFiniteValueError,
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
from fedgov.data.spec import (
    DatasetSpec,
    DepartmentGroup,
    NaturalPartition,
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
    "DEFAULT_HELD_OUT_FRACTION",
    "Category",
    "Classification",
    "CleaningAction",
    "CleaningReport",
    "ColumnKind",
    "ColumnRole",
    "ColumnSpec",
    "DataError",
    "DataSourceUnavailableError",
    "DataValidationError",
    "DatasetSchema",
    "DatasetSpec",
    "DepartmentData",
    "DepartmentGroup",
    "DirichletPartition",
    "EmptyPartitionError",
    "EncodedSplit",
    "LabelRule",
    "LoadedData",
    "MissingPolicy",
    "NaturalPartition",
    "NoPublicTestSplitError",
    "PartitionSpec",
    "PooledData",
    "PublicTestData",
    "RowLabel",
    "Split",
    "Transform",
    "UnknownDatasetError",
    "UnknownDepartmentError",
    "clean",
    "department_ids",
    "encode_features",
    "encode_labels",
    "get_dataset",
    "held_out_mask",
    "list_datasets",
    "load_department",
    "load_pooled",
    "load_public_test",
    "validate",
    "validate_column",
]
