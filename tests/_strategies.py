"""Hypothesis strategies and profiles for the property tests.

Profiles (chosen by the environment variable ``EMIMPUTE_HYPOTHESIS_PROFILE``,
default ``"ci"``):

- ``ci``: derandomised (the same examples on every run), no deadline, few
  examples per property so that ``tests/test_properties.py`` runs in well
  under a minute on two cores;
- ``nightly``: random, many more examples, for a scheduled job::

      EMIMPUTE_HYPOTHESIS_PROFILE=nightly python -m pytest tests/test_properties.py

The data strategy follows RELIABILITY.md (c): a random linear map of
Gaussian noise (so features are correlated), scaled by a power of ten from
1e-6 to 1e6 and shifted by up to 1e3, with cells missing completely at random
at a drawn rate, and at least one observed value per feature. Variants add a
constant feature, duplicated rows, or a row with nothing observed.
"""

import os
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE_VARIABLE = "EMIMPUTE_HYPOTHESIS_PROFILE"

settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "nightly",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
PROFILE = os.environ.get(PROFILE_VARIABLE, "ci")
settings.load_profile(PROFILE)

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
SCALES = [1e-6, 1e-3, 1.0, 1e3, 1e6]

covariance_types = st.sampled_from(COVARIANCE_TYPES)
float_dtypes = st.sampled_from([np.float64, np.float32])
seeds = st.integers(0, 2**32 - 1)


@dataclass(frozen=True)
class MaskedData:
    """A generated data set.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data, NaN where missing, in ``dtype``.
    mask : ndarray of shape (n_samples, n_features)
        True where missing.
    complete : ndarray of shape (n_samples, n_features)
        The data before the cells were removed.
    scale, offset : float
        The power of ten the data were scaled by, and their shift.
    variant : str
        ``"plain"``, ``"constant"``, ``"duplicates"`` or ``"empty-row"``.
    """

    X: np.ndarray
    mask: np.ndarray
    complete: np.ndarray
    scale: float
    offset: float
    variant: str

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    def __repr__(self):
        # Full precision, so that a falsifying example can be pasted back.
        return (
            f"MaskedData(shape={self.X.shape}, dtype={self.X.dtype}, "
            f"scale={self.scale:g}, offset={self.offset!r}, "
            f"missing={self.mask.mean():.2f}, variant={self.variant!r},\n"
            f"X=np.array({self.X.tolist()!r}))"
        )

    def _repr_pretty_(self, printer, cycle):
        # Hypothesis prints falsifying examples with its pretty printer,
        # which would otherwise list the dataclass fields at numpy's
        # default (8-digit) precision.
        printer.text(repr(self))


@st.composite
def masked_data(
    draw,
    min_rows=2,
    max_rows=40,
    min_cols=1,
    max_cols=6,
    p_max=0.6,
    dtypes=None,
    variants=("plain",),
):
    """Correlated data with cells missing completely at random.

    Every feature keeps at least one observed value (features with none are
    tested on their own: they are dropped or rejected, by design).
    """
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(min_cols, max_cols))
    scale = draw(st.sampled_from(SCALES))
    offset = draw(st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))
    rng = np.random.default_rng(draw(seeds))
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * scale + offset
    mask = rng.random((n, d)) < draw(st.floats(0.0, p_max))
    variant = draw(st.sampled_from(variants))
    if variant == "constant":
        X[:, rng.integers(d)] = offset
    elif variant == "duplicates" and n >= 4:
        X[n // 2 :] = X[: n - n // 2]
        mask[n // 2 :] = mask[: n - n // 2]
    mask[rng.integers(n, size=d), np.arange(d)] = False
    if variant == "empty-row" and n >= 3:
        row = int(rng.integers(n))
        mask[row] = True
        # Keep one observed value per feature elsewhere.
        others = np.delete(np.arange(n), row)
        mask[rng.choice(others, size=d), np.arange(d)] = False
    dtype = np.float64 if dtypes is None else draw(dtypes)
    complete = X.astype(dtype)
    Xm = complete.copy()
    Xm[mask] = np.nan
    return MaskedData(Xm, mask, complete, scale, offset, variant)


@st.composite
def well_posed_data(draw, max_rows=40, max_cols=4, p_max=0.4):
    """Data on which an unregularised fit is well defined: at least 3 rows
    per feature, a well-conditioned linear map, and at least 3 observed
    values per feature."""
    d = draw(st.integers(1, max_cols))
    n = draw(st.integers(3 * d + 3, max(3 * d + 3, max_rows)))
    scale = draw(st.sampled_from(SCALES))
    offset = draw(st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))
    rng = np.random.default_rng(draw(seeds))
    factor = np.eye(d) + 0.5 * rng.normal(size=(d, d)) / np.sqrt(d)
    X = rng.normal(size=(n, d)) @ factor * scale + offset * scale
    mask = rng.random((n, d)) < draw(st.floats(0.0, p_max))
    for j in range(d):
        mask[rng.choice(n, size=3, replace=False), j] = False
    Xm = X.copy()
    Xm[mask] = np.nan
    return MaskedData(Xm, mask, X, scale, offset * scale, "well-posed")
