"""DP analytics at the department: the query language and the Gaussian mechanism.

* :class:`Query` (``privacy._mechanisms_query``): what may be asked, checked
  against the dataset's declared schema before anything is spent.
* :func:`noise_blocks`, :func:`plan_answer`, :func:`exact_answer`
  (``privacy._mechanisms_answer``): the answer as a fixed-length vector whose
  sum over departments is what the coordinator needs, its L2 sensitivity
  under the person-level unit of privacy, and the exact local value.
* :func:`plan_gaussian`, :func:`release_gaussian`
  (``privacy._mechanisms_gaussian``): noise calibrated with fedgov's one RDP
  accountant and sampled by OpenDP's exact discrete Gaussian samplers.

See ``docs/analytics.md``.
"""

from __future__ import annotations

from privacy._mechanisms_answer import (
    answer_length,
    exact_answer,
    noise_blocks,
    plan_answer,
)
from privacy._mechanisms_gaussian import (
    GaussianPlan,
    NoiseBlock,
    confidence_half_width,
    gaussian_noise_multiplier,
    plan_gaussian,
    release_gaussian,
)
from privacy._mechanisms_query import (
    DEFAULT_QUANTILE_BINS,
    MAX_ANSWER_LENGTH,
    OPERATORS,
    QUERY_KINDS,
    Predicate,
    PrivacyUnit,
    Query,
    QueryError,
    QueryKind,
    bin_labels,
    privacy_unit,
)

__all__ = [
    "DEFAULT_QUANTILE_BINS",
    "MAX_ANSWER_LENGTH",
    "OPERATORS",
    "QUERY_KINDS",
    "GaussianPlan",
    "NoiseBlock",
    "Predicate",
    "PrivacyUnit",
    "Query",
    "QueryError",
    "QueryKind",
    "answer_length",
    "bin_labels",
    "confidence_half_width",
    "exact_answer",
    "gaussian_noise_multiplier",
    "noise_blocks",
    "plan_answer",
    "plan_gaussian",
    "privacy_unit",
    "release_gaussian",
]
