"""E-steps of one Gaussian from per-pattern sums of the rows, for refits.

With a single Gaussian component (no categorical column, no labels), the
conditional mean of a row's missing part is linear in its observed part:
``xhat - mu = A_p (x - mu)``, with ``A_p`` the identity on the observed
coordinates of the row's pattern ``p`` and ``-inv(L_MM) L_M.`` on its
missing ones (``L`` the precision matrix), and its conditional covariance
``C_p = inv(L_MM)`` is the same for every row of the pattern. The E-step's
statistics and the observed-data log-likelihood summed over a pattern's
rows therefore depend on those rows only through their weighted count
``n_p``, sum ``U1_p`` and sum of outer products ``U2_p`` (centred on a
fixed point ``c``, with the missing entries set to 0):

- with ``z = x - mu`` and ``Z2_p = sum w z z^T`` (from ``U1_p``, ``U2_p``,
  ``n_p`` and ``mu - c``): ``s1 = sum_p A_p Z1_p``, ``s2 = sum_p (A_p Z2_p
  A_p^T + n_p C_p)``;
- ``sum_i w_i log N(x_O; mu_O, S_OO) = -1/2 sum_p (<L, A_p Z2_p A_p^T> +
  n_p (log det S_OO + |O| log 2 pi))``: the completed deviation's quadratic
  form in ``L`` is the observed part's in ``inv(S_OO)``, and ``log det S_OO
  = log det S + log det L_MM``.

These are the same numbers as :func:`~emimpute._em._estep.e_step`'s on the
weighted rows (to rounding), computed in ``O(P d^3)`` per E-step (``P``
the distinct patterns) instead of ``O(n d^2)`` plus a fixed cost per row
block. A bootstrap refit (``_uncertainty.bootstrap_params``) reweights the
same rows at every draw: its sums cost one pass over the rows, ``O(n
d^2)``, and then every E-step of the refit is a handful of batched
products over the patterns. Measured at n = 10000, d = 10, 20% MCAR (436
patterns): an E-step 0.3 ms instead of 2.3 ms on the drawn rows.
"""

import functools
import math

import numpy as np

from emimpute._em._forms import DenseForm
from emimpute._em._gaussian import GaussianFamily
from emimpute._em._stats import MixtureStats, SufficientStats

_LOG_2PI = math.log(2.0 * math.pi)


def supports(data, params, prior):
    """Whether the per-pattern E-step applies: one Gaussian, numeric rows only.

    And no conjugate prior (its hyperparameters are fit to a data set, which
    this summary is not).
    """
    return (
        params.n_components == 1
        and len(params.families) == 1
        and isinstance(params.families[0], GaussianFamily)
        and data.n_categorical == 0
        and data.labels is None
        and prior.conjugate is None
    )


class PatternRows:
    """The informative rows of a data set, sorted by pattern and centred.

    Made once per data set (``EMData.pattern_rows``); :meth:`weighted` sums
    them for one set of row weights.

    Parameters
    ----------
    data : EMData
    centre : ndarray of shape (n_features,)
        Subtracted from every row (the full-data fit's mean: the refits'
        means stay near it, so the sums of outer products lose nothing to
        cancellation).
    """

    def __init__(self, data, centre):
        groups = data.patterns.informative_groups
        self.n_features = data.n_numeric
        self.centre = np.asarray(centre, dtype=float)
        self.missing = [group.missing for group in groups]
        self.rows = np.concatenate(
            [group.rows for group in groups] or [np.empty(0, np.intp)]
        )
        # Global pattern index of every sorted row; patterns numbered group
        # after group, each group's in its own order.
        offsets = np.cumsum([0] + [len(group.missing) for group in groups])
        row_pattern = np.concatenate(
            [
                group.row_pattern + offset
                for group, offset in zip(groups, offsets[:-1], strict=True)
            ]
            or [np.empty(0, np.intp)]
        )
        self.n_patterns = int(offsets[-1])
        # Every pattern has a row: the first row of each is where its sum
        # starts (row_pattern is non-decreasing).
        self.starts = np.flatnonzero(np.diff(row_pattern, prepend=-1))
        values = np.asarray(data.numeric[self.rows], dtype=float) - self.centre
        values[data.mask[self.rows]] = 0.0
        self.values = values
        # Each row's outer product's upper triangle, kept: gathering the
        # columns at every draw took 3 ms of a refit at n = 10000, d = 10.
        upper = np.triu_indices(self.n_features)
        self.upper = upper
        self.products = values[:, upper[0]] * values[:, upper[1]]

    def weighted(self, weights):
        """The per-pattern sums under row ``weights`` (a data source).

        ``weights`` of shape (n_samples,), the rows' weights in the data's
        order (0 drops a row). Cost ``O(n d^2)``.
        """
        row_weights = np.asarray(weights, dtype=float)[self.rows]
        weighted = self.values * row_weights[:, np.newaxis]
        products = self.products * row_weights[:, np.newaxis]
        upper = self.upper
        sums = np.add.reduceat(products, self.starts) if len(self.rows) else products
        second = np.zeros((self.n_patterns, self.n_features, self.n_features))
        second[:, upper[0], upper[1]] = sums
        second[:, upper[1], upper[0]] = sums
        reduce = functools.partial(np.add.reduceat, indices=self.starts)
        return PatternSums(
            rows=self,
            counts=reduce(row_weights) if len(self.rows) else row_weights,
            first=reduce(weighted) if len(self.rows) else weighted,
            second=second,
            total_weight=float(np.sum(weights)),
        )


class PatternSums:
    """One weighting of :class:`PatternRows`: a data source for EM.

    Has what :func:`~emimpute._em._accelerate.anderson_em` reads of a data
    set: :meth:`expectation` and ``total_weight``.
    """

    def __init__(self, rows, counts, first, second, total_weight):
        self.pattern_rows = rows
        self.counts = counts
        self.first = first
        self.second = second
        self.total_weight = total_weight

    def expectation(self, params, chunk_size=None):
        """Per-row log-likelihood (weighted mean) and the E-step's statistics.

        The statistics are centred on the mean (the Gaussian kernel's shift
        with one component). Cost ``O(P d^3)``.
        """
        family = params.families[0]
        rows = self.pattern_rows
        d = rows.n_features
        mean = family.means[0]
        covariance = _dense_covariance(family)
        precision = np.linalg.inv(covariance)
        precision = 0.5 * (precision + precision.T)
        log_det = np.linalg.slogdet(covariance)[1]
        transforms = np.broadcast_to(np.eye(d), (rows.n_patterns, d, d)).copy()
        conditional = np.zeros((d, d))
        log_dets = np.full(rows.n_patterns, log_det)
        n_observed = np.full(rows.n_patterns, d)
        start = 0
        # A loop over the groups (at most d + 1), each batched over its
        # patterns.
        for missing in rows.missing:
            n_patterns, r = missing.shape
            stop = start + n_patterns
            if r:
                block = precision[missing[:, :, None], missing[:, None, :]]
                inverse = np.linalg.inv(block)
                patterns = np.arange(start, stop)[:, None]
                transforms[patterns, missing, :] += -inverse @ precision[missing]
                log_dets[start:stop] += np.linalg.slogdet(block)[1]
                n_observed[start:stop] = d - r
                # sum_p n_p C_p, each C_p added at its missing coordinates.
                flat = (missing[:, :, None] * d + missing[:, None, :]).ravel()
                conditional += np.bincount(
                    flat,
                    weights=(self.counts[start:stop, None, None] * inverse).ravel(),
                    minlength=d * d,
                ).reshape(d, d)
            start = stop
        shift = mean - rows.centre
        first = self.first - self.counts[:, None] * shift
        outer = first[:, :, None] * shift[None, None, :]
        # Z2 = U2 - U1 s^T - s U1^T + n s s^T, written with Z1 = U1 - n s:
        # Z2 = U2 - Z1 s^T - s Z1^T - n s s^T.
        second = (
            self.second
            - outer
            - np.swapaxes(outer, 1, 2)
            - self.counts[:, None, None] * np.outer(shift, shift)
        )
        # sum_p A_p Z2_p A_p^T as one product over (pattern, column) pairs:
        # the batched product with a transposed stack took 7x longer.
        scatter = np.tensordot(transforms @ second, transforms, axes=([0, 2], [0, 2]))
        s2 = scatter + conditional
        s1 = np.einsum("pij,pj->i", transforms, first)
        log_likelihood = -0.5 * (
            np.sum(precision * scatter)
            + self.counts @ log_dets
            + _LOG_2PI * (self.counts @ n_observed)
        )
        nk = np.array([self.counts.sum()])
        form = family.form
        if not form.dense:
            s2 = np.diagonal(s2)
        stats = SufficientStats(nk=nk, s1=s1[None], s2=s2[None], shift=mean[None])
        value = log_likelihood / self.total_weight if self.total_weight else 0.0
        return value, MixtureStats(nk=nk, families=(stats,))


def _dense_covariance(family):
    """The single component's covariance as a (d, d) matrix, any form."""
    covariances = family.covariances
    if isinstance(family.form, DenseForm):
        return covariances if covariances.ndim == 2 else covariances[0]
    if covariances.ndim == 1:
        return covariances[0] * np.eye(family.n_features)
    return np.diag(covariances[0])
