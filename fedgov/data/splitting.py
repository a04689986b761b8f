"""The local train / held-out split, decided record key by record key.

A record is held out when a keyed hash of its split key, read as a number in
[0, 1), falls below the held-out fraction. The decision depends only on the
seed and the key, never on which other records a department holds, so:

* a department computes its split alone, with nothing shared;
* all records with the same key land on the same side. RandHIE's split key is
  the person id ``zper``, so one person's several study years are never split
  between train and held-out, neither inside a department nor in the pooled
  data (years of one person in a row-level Dirichlet partition may sit in two
  departments, but still all on one side);
* the union of the departments' splits is exactly the pooled split.

The held-out share of a department is therefore close to, not exactly, the
fraction (binomial around it; for RandHIE, around it in persons). BLAKE2b is
used rather than Python's ``hash`` so that splits are the same on every
platform, Python and library version.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt
import pandas as pd

from fedgov.errors import ConfigurationError

__all__ = ["held_out_mask"]

_SCALE = float(2**64)


def held_out_mask(
    keys: pd.Index | pd.Series, *, seed: int, fraction: float
) -> npt.NDArray[np.bool_]:
    """``True`` for each record whose key is held out under ``seed``.

    ``fraction`` is the expected held-out share, in (0, 1).
    """
    if not 0 < fraction < 1:
        raise ConfigurationError(
            "held_out_fraction", f"must lie in (0, 1), got {fraction}"
        )
    if not 0 <= seed < 2**128:
        raise ConfigurationError("seed", f"must lie in [0, 2**128), got {seed}")
    codes, uniques = pd.factorize(keys)
    secret = seed.to_bytes(16, "big")
    draws = np.fromiter(
        (
            int.from_bytes(
                hashlib.blake2b(str(key).encode(), digest_size=8, key=secret).digest(),
                "big",
            )
            / _SCALE
            for key in uniques
        ),
        dtype=np.float64,
        count=len(uniques),
    )
    return np.asarray(draws[codes] < fraction, dtype=np.bool_)
