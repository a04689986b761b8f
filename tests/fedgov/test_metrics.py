"""Metrics with known values."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.metrics import roc_auc


def test_auc_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert roc_auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert roc_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5


def test_auc_undefined_for_one_class() -> None:
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=2, max_size=60))
def test_auc_matches_pairwise_definition(pairs: list[tuple[int, float]]) -> None:
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs])
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        assert math.isnan(roc_auc(y, s))
        return
    expected = np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg])
    assert (
        roc_auc(y, s) == float(np.float64(expected))
        or abs(roc_auc(y, s) - expected) < 1e-12
    )
