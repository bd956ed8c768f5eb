"""Additive sufficient statistics: the values an E-step returns.

Statistics are additive over rows: those of a data set are the sum of those
of any split of its rows. That is what lets the E-step run in chunks, and on
dask's workers (``_dask``), and be summed; every statistics value here is
frozen and has ``__add__``, and no E-step mutates one. Adding two costs
their size: ``O(K d^2)`` for dense Gaussian statistics, ``O(K d)`` for
diagonal ones, ``O(K C)`` for ``C`` categories in all.
"""

from dataclasses import dataclass

import numpy as np

# Added to expected counts before dividing by them, so that an empty
# component does not divide by zero (as scikit-learn does).
NK_FLOOR = 10 * np.finfo(float).eps

# Below this fraction (eps) of its matrix's mean weight over the block's
# rows, a responsibility's terms are not added to the statistics (a complete
# row's or a completed row's first and second moments, and the conditional
# covariance of its missing part): the terms left out of matrix j's sums
# weigh at most eps times the block's total weight of j, so they change each
# sum by at most eps (times the spread of ||C|| or |xhat|^2 over the rows)
# relative to the sum itself: the size of the rounding of the sum. Rows
# below eps^2 of their own weight are left out too: where a component is
# nearly absent from a block, its floor is tiny, and its few rows of weight
# 1e-40 would each cost a batch of lanes in the fused kernel (measured 10%
# slower at d = 100 without it). A well-separated mixture gives most rows one
# responsibility this large (measured at 1e5 x 20, 50% MCAR, K=5: 1.3 of 5
# per row; 1e5 x 50, 20% MCAR: 1.0), so the scatters' products take n_w d^2
# flops in all instead of n K d^2, and the fused kernel's inverses are made
# for those rows only (at 1e5 x 50, 20% MCAR, K = 5: the statistics from 77
# to 28 ms per E-step). It also keeps subnormal responsibilities (below
# 2.2e-308, common where components are far apart: 6% of them at 1e5 x 50,
# K = 5) out of the products, where each costs the processor a hundred
# cycles: complete rows' statistics at 1e5 x 50 took 600 ms per E-step with
# them, against 25 ms for GaussianMixture's whole M-step arithmetic.
NEGLIGIBLE_WEIGHT = 2.0**-52


def negligible_floors(nk, n_matrices, n_rows):
    """Weights up to which a row's terms are left out of a matrix's statistics.

    ``NEGLIGIBLE_WEIGHT`` times each matrix's mean weight over the block's
    ``n_rows`` rows: ``nk`` are the block's summed responsibilities, and the
    tied matrix (``n_matrices == 1`` with several components) weighs them
    all. The same for every task, so the rows kept do not depend on how the
    block is split.
    """
    totals = nk if n_matrices == len(nk) else np.array([nk.sum()])
    return NEGLIGIBLE_WEIGHT * totals / max(n_rows, 1)


def weighing_rows(resp, floors):
    """Where a row's responsibility enters its component's statistics.

    ``resp[i, k]`` above ``floors[k]`` (:func:`negligible_floors`) and above
    ``NEGLIGIBLE_WEIGHT^2`` times the row's own weight ``sum_k resp[i, k]``
    (the rule of the fused kernels' ``_weighs``). Boolean, ``resp``'s shape.
    """
    mass = resp.sum(axis=1, keepdims=True)
    return (resp > floors) & (resp > NEGLIGIBLE_WEIGHT**2 * mass)


@dataclass(frozen=True)
class MixtureStats:
    """The statistics of one E-step: component counts and each family's.

    Attributes
    ----------
    nk : ndarray of shape (n_components,)
        ``sum_i resp[i, k]``, the expected number of rows per component.
    families : tuple
        One statistics value per family of the model, in its order.
    """

    nk: np.ndarray
    families: tuple

    def __add__(self, other):
        if not isinstance(other, MixtureStats):
            return NotImplemented
        return MixtureStats(
            nk=self.nk + other.nk,
            families=tuple(
                a + b for a, b in zip(self.families, other.families, strict=True)
            ),
        )


@dataclass(frozen=True)
class SufficientStats:
    """Expected complete-data sufficient statistics of a Gaussian family.

    With ``resp`` the responsibilities, ``xhat`` a row with its missing part
    replaced by its conditional mean under a component, ``C`` that
    component's conditional covariance of the missing part (zero elsewhere)
    and ``shift[k]`` a fixed centre per component:

    - ``nk[k] = sum_i resp[i, k]``
    - ``s1[k] = sum_i resp[i, k] (xhat_ik - shift[k])``
    - ``s2[k] = sum_i resp[i, k] ((xhat_ik - shift[k])(...)^T + C_ik)``

    ``s2`` holds full matrices ``(K, d, d)`` for the full model, their sum
    over components ``(1, d, d)`` for the tied model (all its M-step needs;
    its centres are then all equal) and only their diagonals ``(K, d)`` for
    the diagonal and spherical ones. Centring on each component's current
    mean keeps the one-pass covariance ``s2 / nk - m m^T`` free of
    cancellation, even for a tight component far from the others.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._forms import covariance_form
    >>> from emimpute._em._stats import SufficientStats
    >>> a = SufficientStats.zeros(2, 3, covariance_form("full"), shift=np.zeros((2, 3)))
    >>> (a + a).nk.tolist()
    [0.0, 0.0]
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    shift: np.ndarray

    @classmethod
    def zeros(cls, n_components, n_features, form, *, shift):
        """Statistics of no rows, laid out for the covariance ``form``.

        The arrays are fresh: a kernel may add a block's terms into them in
        place before returning the value.
        """
        shape = (n_components, n_features)
        if not (isinstance(shift, np.ndarray) and shift.shape == shape):
            shift = np.broadcast_to(shift, shape).astype(float)
        return cls(
            nk=np.zeros(n_components),
            s1=np.zeros(shape),
            s2=np.zeros(form.statistics_shape(n_components, n_features)),
            shift=shift,
        )

    @property
    def arrays(self):
        return self.nk, self.s1, self.s2

    def __add__(self, other):
        if not isinstance(other, SufficientStats):
            return NotImplemented
        # The blocks of one E-step share their kernel's shift array: the
        # identity test spares a comparison per block.
        if self.shift is not other.shift and not np.array_equal(
            self.shift, other.shift
        ):
            raise ValueError(
                "cannot add statistics accumulated around different shifts"
            )
        return SufficientStats(
            nk=self.nk + other.nk,
            s1=self.s1 + other.s1,
            s2=self.s2 + other.s2,
            shift=self.shift,
        )


def add_complete_rows(arrays, x, resp, centres, *, shared):
    """Add the statistics of complete rows to fresh ``(nk, s1, s2)`` arrays.

    ``x`` is centred on the statistics' shift; ``centres`` are the
    per-component centres relative to it. ``shared`` (tied: one scatter
    around the common shift, whose centres are all zero) is said, not read
    from ``s2``'s shape, which one full component shares with it; else
    ``s2``'s shape tells the layout: ``(K, d)`` diagonal, ``(K, d, d)``
    full. Only ever called on arrays a kernel has just allocated for the
    value it returns.

    Per component, only the rows whose responsibility is not negligible
    (:func:`weighing_rows`) enter ``s1`` and ``s2``: ``O(n K)`` to choose
    them, then ``O(n_k d)`` to gather and ``O(n_k d^2)`` for the scatter
    (``n_k d`` diagonal) on component ``k``'s ``n_k`` rows, one product
    (syrk) of its square-root-weighted deviations with themselves.
    """
    nk, s1, s2 = arrays
    nk += resp.sum(axis=0)
    if shared:
        # Tied: sum_k r_ik = w_i, the row's weight (1 without sample weights).
        s1 += resp.T @ x
        s2[0] += (x * resp.sum(axis=1)[:, np.newaxis]).T @ x
        return
    weighs = weighing_rows(resp, negligible_floors(nk, len(nk), len(x)))
    for k in range(len(nk)):
        rows = np.flatnonzero(weighs[:, k])
        if len(rows) == len(x):
            deviations, weights = x - centres[k], resp[:, k]
        else:
            deviations = np.take(x, rows, axis=0)
            deviations -= centres[k]
            weights = resp[rows, k]
        s1[k] += weights @ deviations
        if s2.ndim == 2:
            s2[k] += weights @ np.square(deviations)
        else:
            # A product of an array with its own transpose: numpy calls syrk
            # (half the flops of a general product) and mirrors it.
            deviations *= np.sqrt(weights)[:, np.newaxis]
            s2[k] += deviations.T @ deviations
