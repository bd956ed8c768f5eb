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
weighted rows (to rounding), in ``O(P d^3)`` per E-step (``P`` the distinct
patterns present), whatever the number of rows, instead of ``O(n d^2)``
plus a fixed cost per block of rows. A bootstrap refit
(``_bootstrap.bootstrap_params``) weights the same rows differently at
every draw: its sums cost one pass over the drawn rows (``O(n d^2)``), and
no rows are taken, regrouped or cut into blocks. Measured at n = 10000, d =
10, 20% MCAR (598 patterns), one thread: an E-step 0.21-0.25 ms (compiled;
1.0 ms in numpy) instead of 1.85-2.1 ms on the drawn rows, a draw's sums
0.23-0.27 ms; a refit (5.2 E-steps) 2.2 ms instead of 15.5 ms, and at n =
1e5 5.6 ms instead of 109 ms (the patterns, not the rows, set an E-step's
cost; the row-block figures are from before the refits took this path).
The refit's accelerated EM runs on :class:`OneGaussianMap`: flat vectors,
no parameter objects per iteration.
The pattern count bounds the gain: with a pattern per row (many features,
holes at random) an E-step costs ``O(n r q d)`` against the row blocks'
``O(n d^2)``, and the refits keep the row blocks (``supports``,
``ROW_BLOCK_WORK``).

The compiled kernels (numba, as the engine's fused ones: ``_fused``) take
one pattern at a time: its precision block's Cholesky factor, the solves for
``inv(L_MM) [L_MO | I]`` and its terms, while in cache. The numpy version
(``EMIMPUTE_KERNEL=numpy``, or without numba) batches the patterns of each
number of missing entries; the tests run both against the row-block E-step.
"""

import functools
import math

import numpy as np

from emimpute._em._accelerate import flatten
from emimpute._em._data import EMData
from emimpute._em._forms import FULL, ILL_DEFINED_COVARIANCE, _cholesky_lower
from emimpute._em._fused import factor_covariance, jit, use_fused
from emimpute._em._gaussian import GaussianFamily
from emimpute._em._params import MixtureParams
from emimpute._em._patterns import rows_in_order
from emimpute._em._stats import NK_FLOOR, MixtureStats, SufficientStats

_LOG_2PI = math.log(2.0 * math.pi)

# The fixed cost of a row-block E-step (the blocks, the kernels' set-up, a
# few numpy calls per block: about 2 ms at d = 10 on a 2-core machine), in
# the per-pattern E-step's multiply-adds (about 1 ns each, compiled). With
# the row-block E-step's per-row cost, about d^2 / 2 of them per row, it
# sets which E-step a refit runs (``supports``). Measured per refit (rows /
# pattern sums), n = 10000 at 20% MCAR: d = 10 (612 patterns) 21.6 / 6.3
# ms, d = 15 (3144) 28.6 / 27.5, d = 20 (6637) 33 / 89, d = 50 (10000) 72 /
# 965; n = 1e5, d = 20 (34613) 238 / 598; n = 200, d = 10 (109) 8.8 / 2.2.
# The rule picks the faster of the two in every one of these cases but d =
# 15, where they tie.
ROW_BLOCK_WORK = 2_000_000


def supports(data, params, prior):
    """Whether the per-pattern E-step applies, and is the cheaper one.

    It applies to one Gaussian on numeric rows only, without a conjugate
    prior (whose hyperparameters are fit to a data set, which this summary
    is not); it is chosen when :func:`pattern_work` is at most
    ``n d^2 / 2 + ROW_BLOCK_WORK`` (see ``ROW_BLOCK_WORK``).
    """
    if not (
        isinstance(data, EMData)
        and params.n_components == 1
        and len(params.families) == 1
        and isinstance(params.families[0], GaussianFamily)
        and data.n_categorical == 0
        and data.labels is None
        and prior.conjugate is None
    ):
        return False
    # The informative rows, counted (observed_rows would sort them).
    n_rows = sum(len(group.rows) for group in data.patterns.informative_groups)
    return pattern_work(data) <= n_rows * data.n_numeric**2 / 2 + ROW_BLOCK_WORK


def pattern_work(data):
    """Multiply-adds of a per-pattern E-step, about: ``sum_p r_p q_p d``.

    ``r_p`` and ``q_p`` the missing and observed coordinates of pattern
    ``p`` (its terms ``B U2_OO`` and ``B U2_OO B^T``, its solves).
    """
    d = data.n_numeric
    return sum(
        len(group.missing) * group.n_missing * (d - group.n_missing) * d
        for group in data.patterns.informative_groups
    )


class PatternRows:
    """The informative rows of a data set, sorted by pattern and centred.

    Made once per data set and fit (``_bootstrap._pattern_rows``);
    :meth:`weighted` sums them for one set of row weights. Cost ``O(n d)``;
    memory: the informative rows, centred, in float64 (plus their outer
    products' upper triangles, ``n d (d + 1) / 2`` floats, for the numpy
    sums only).

    Parameters
    ----------
    data : EMData
    centre : ndarray of shape (n_features,)
        Subtracted from every row (the full-data fit's mean: the refits'
        means stay near it, so the sums of outer products lose nothing to
        cancellation).
    engine : {'auto', 'numba', 'numpy'}, default='auto'
        Compiled or numpy sums and E-steps (``_fused.use_fused``).

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._data import EMData
    >>> from emimpute._em._pattern_sums import PatternRows
    >>> from emimpute._em._params import MixtureParams
    >>> from emimpute._em._gaussian import GaussianFamily
    >>> from emimpute._em._forms import covariance_form
    >>> X = np.array([[0.0, 1.0], [1.0, np.nan], [2.0, 3.0], [np.nan, 0.5]])
    >>> data = EMData.build(X)
    >>> family = GaussianFamily.from_covariances(
    ...     covariance_form("full"), np.array([[1.0, 1.5]]), np.eye(2)[None])
    >>> params = MixtureParams(np.ones(1), (family,))
    >>> rows = PatternRows(data, params.means[0])
    >>> value, stats = rows.weighted(np.array([2.0, 1.0, 0.0, 1.0])).expectation(
    ...     params)
    >>> bool(np.isclose(value, data.take(np.array([0, 0, 1, 3])).expectation(
    ...     params)[0]))
    True
    """

    def __init__(self, data, centre, *, engine="auto"):
        self.compiled = use_fused(engine)
        groups = data.patterns.informative_groups
        self.n_features = data.n_numeric
        self.centre = np.asarray(centre, dtype=float)
        self.missing = [group.missing for group in groups]
        # Global pattern index of every sorted row; patterns numbered group
        # after group, each group's in its own order.
        self.rows, row_pattern, self.values = rows_in_order(
            groups, data.numeric, data.mask, self.centre
        )
        offsets = np.cumsum([0] + [len(group.missing) for group in groups])
        self.n_patterns = int(offsets[-1])
        d = self.n_features
        # Each pattern's missing and observed coordinates, flat, with
        # [missing start, stop, observed start, stop] per pattern (for the
        # compiled terms), and its observed count.
        masks = np.ones((self.n_patterns, d), dtype=bool)
        for missing, start in zip(self.missing, offsets[:-1], strict=True):
            patterns = np.arange(start, start + len(missing))
            masks[patterns[:, None], missing] = False
        self.n_observed = masks.sum(axis=1)
        self.observed_flat = np.nonzero(masks)[1]
        self.missing_flat = np.nonzero(~masks)[1]
        ends = np.cumsum(self.n_observed)
        missing_ends = np.cumsum(d - self.n_observed)
        self.pointers = np.stack(
            [
                missing_ends - (d - self.n_observed),
                missing_ends,
                ends - self.n_observed,
                ends,
            ],
            axis=1,
        )
        if not self.compiled:
            self._numpy_layout(offsets)
        # Every pattern has a row: the first row of each is where its sum
        # starts (row_pattern is non-decreasing).
        self.starts = np.flatnonzero(np.diff(row_pattern, prepend=-1))
        self.row_pattern = row_pattern
        if not self.compiled:
            # Each row's outer product's upper triangle, kept: gathering the
            # columns at every draw took 3 ms of a refit at n = 10000, d =
            # 10 (the compiled sums make them on the fly).
            upper = np.triu_indices(self.n_features)
            self.upper = upper
            self.products = self.values[:, upper[0]] * self.values[:, upper[1]]

    def _numpy_layout(self, offsets):
        """The index arrays of the numpy terms (``_terms_numpy``).

        Per group with missing entries: its patterns' slice, the flat
        indices of their precision blocks L_MM in a (d, d) matrix, and of
        the missing rows of A_p in the stack of the A_p^T; and that stack's
        identity start (``P d^2`` floats).
        """
        d = self.n_features
        self.groups = []
        for missing, start in zip(self.missing, offsets[:-1], strict=True):
            n_patterns, r = missing.shape
            if not r:
                continue
            patterns = np.arange(start, start + n_patterns)
            self.groups.append(
                (
                    slice(start, start + n_patterns),
                    missing,
                    missing[:, :, None] * d + missing[:, None, :],
                    (patterns[:, None, None] * d + np.arange(d)) * d
                    + missing[:, :, None],
                )
            )
        self.identities = np.broadcast_to(np.eye(d), (self.n_patterns, d, d)).copy()

    def weighted(self, weights):
        """The per-pattern sums under row ``weights`` (a data source).

        ``weights`` of shape (n_samples,), the rows' weights in the data's
        order (0 drops a row). Cost ``O(n d^2)``.
        """
        row_weights = np.asarray(weights, dtype=float)[self.rows]
        d = self.n_features
        counts = np.zeros(self.n_patterns)
        first = np.zeros((self.n_patterns, d))
        second = np.zeros((self.n_patterns, d, d))
        if self.compiled:
            _weighted_sums(
                self.values, self.row_pattern, row_weights, counts, first, second
            )
        elif len(self.rows):
            reduce = functools.partial(np.add.reduceat, indices=self.starts)
            sums = reduce(self.products * row_weights[:, np.newaxis])
            second[:, self.upper[0], self.upper[1]] = sums
            second[:, self.upper[1], self.upper[0]] = sums
            counts = reduce(row_weights)
            first = reduce(self.values * row_weights[:, np.newaxis])
        return PatternSums(
            rows=self,
            counts=counts,
            first=first,
            second=second,
            total_weight=float(np.sum(weights)),
        )


@jit
def _weighted_sums(
    values, row_pattern, weights, counts, first, second
):  # pragma: no cover - compiled; its Python twin is in PatternRows.weighted
    # Rows in pattern order; a row of weight 0 (not drawn) is skipped. The
    # drawn rows of a pattern are added two at a time: each entry of the
    # pattern's sum is then loaded and stored once per pair, which bounds
    # the loop (measured at n = 1e4, d = 10: 260 us a row at a time, 183 in
    # pairs, 178 in fours).
    n_rows, n_features = values.shape
    i = 0
    while i < n_rows:
        if weights[i] == 0.0:
            i += 1
            continue
        p = row_pattern[i]
        # The next drawn row of the same pattern, if any.
        j = i + 1
        while j < n_rows and row_pattern[j] == p and weights[j] == 0.0:
            j += 1
        if j < n_rows and row_pattern[j] == p:
            w, v = weights[i], weights[j]
            counts[p] += w
            counts[p] += v
            for a in range(n_features):
                wa, va = w * values[i, a], v * values[j, a]
                first[p, a] += wa
                first[p, a] += va
                for b in range(a + 1):
                    second[p, a, b] += wa * values[i, b] + va * values[j, b]
            i = j + 1
        else:
            w = weights[i]
            counts[p] += w
            for a in range(n_features):
                wa = w * values[i, a]
                first[p, a] += wa
                for b in range(a + 1):
                    second[p, a, b] += wa * values[i, b]
            i = j
    for p in range(len(counts)):
        for a in range(n_features):
            for b in range(a):
                second[p, b, a] = second[p, a, b]


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
        if rows.compiled:
            # sum_p U2_p: the observed-by-observed part of sum_p A_p U2_p
            # A_p^T, the same at every E-step (U2_p is 0 on the missing rows
            # and columns); the compiled terms add only the rest.
            self.observed_scatter = second.sum(axis=0)

    def expectation(self, params, chunk_size=None):
        """Per-row log-likelihood (weighted mean) and the E-step's statistics.

        The statistics are centred on the mean (the Gaussian kernel's shift
        with one component). Cost ``O(P d^3)``.
        """
        family = params.families[0]
        mean = family.means[0]
        value, s1, s2 = self.moments(mean, *_precision(family))
        nk = np.array([self.counts.sum()])
        s2 = family.form.second_moments(s2)
        stats = SufficientStats(nk=nk, s1=s1[None], s2=s2[None], shift=mean[None])
        return value, MixtureStats(nk=nk, families=(stats,))

    def moments(self, mean, precision, log_det):
        """The E-step at ``mean`` and ``precision`` (``log_det = log det S``).

        Returns the per-row log-likelihood (weighted mean), ``s1`` of shape
        (d,) and ``s2`` of shape (d, d), centred on ``mean``.
        """
        rows = self.pattern_rows
        # With s = mu - c and the sums U1, U2 around c (z = u - s):
        # sum_p A_p Z2_p A_p^T = sum_p A U2 A^T - a^T b - b^T a + b^T n b,
        # a_p = A_p U1_p, b_p = A_p s.
        shift = mean - rows.centre
        if rows.compiled:
            log_likelihood, s1, s2 = _pattern_moments(
                precision,
                log_det,
                rows.missing_flat,
                rows.observed_flat,
                rows.pointers,
                rows.n_observed,
                self.counts,
                self.first,
                self.second,
                self.observed_scatter,
                shift,
            )
        else:
            moved, offsets, scatter, conditional, log_dets = _terms_numpy(
                rows, precision, self.counts, self.first, self.second, shift
            )
            cross = moved.T @ offsets
            scatter += (offsets * self.counts[:, None]).T @ offsets - cross - cross.T
            s2 = scatter + conditional
            s1 = moved.sum(axis=0) - self.counts @ offsets
            # log det S_OO = log det S + log det L_MM, summed with the counts.
            log_likelihood = -0.5 * (
                np.sum(precision * scatter)
                + self.counts.sum() * log_det
                + log_dets
                + _LOG_2PI * (self.counts @ rows.n_observed)
            )
        value = log_likelihood / self.total_weight if self.total_weight else 0.0
        return value, s1, s2

    def em_map(self, config):
        """EM's map on these sums, for ``anderson_em`` (:class:`OneGaussianMap`).

        None (``anderson_em`` then runs its own, on the parameters) with a
        prior whose log-density is part of the objective or fixed classes,
        which ``supports`` leaves out and that map does not know.
        """
        if config.prior.is_map or config.classes is not None:
            return None
        return OneGaussianMap(self, config.prior)


class OneGaussianMap:
    """EM's map of one Gaussian on :class:`PatternSums`, on flat vectors.

    A refit's EM steps and Anderson extrapolations as
    :func:`~emimpute._em._accelerate.anderson_em` asks of a map (see
    ``_accelerate.MixtureMap``), on the same coordinates
    (``_accelerate.flatten``: the weight, the mean, the covariance in its
    form's shape), with no :class:`MixtureParams` made but the last: a point
    is its vector, with the mean, the precision matrix and ``log det S``
    that the next E-step reads. The covariance is factored once per point
    (compiled, or numpy without numba) by the rule of the M-step's own
    factorisation (``_forms``: not positive definite, or a pivot below
    ``16 d eps`` times its variance, is invalid); the M-step's arithmetic is
    the form's own (``covariances_from_statistics``). Without a conjugate
    prior only (``supports``).

    Cost of a step: the E-step's ``O(P d^3)`` (:meth:`PatternSums.moments`),
    then ``O(d^3)`` for the M-step and the factorisation of its covariance.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._config import EMConfig
    >>> from emimpute._em._data import EMData
    >>> from emimpute._em._pattern_sums import PatternRows
    >>> from emimpute._em._params import MixtureParams
    >>> X = np.array([[0.0, 1.0], [1.0, np.nan], [2.0, 3.0], [np.nan, 0.5]])
    >>> data = EMData.build(X)
    >>> params = MixtureParams.from_covariances(
    ...     np.ones(1), np.array([[1.0, 1.5]]), np.eye(2)[None], "full")
    >>> em = PatternRows(data, params.means[0]).weighted(np.ones(4)).em_map(
    ...     EMConfig(n_components=1))
    >>> point = em.start(params)
    >>> value, stats = em.expectation(point)
    >>> bool(np.isclose(value, data.expectation(params)[0]))
    True
    >>> from emimpute._em._mstep import m_step
    >>> step = em.params(em.m_step(stats, point))
    >>> plain = m_step(data.expectation(params)[1], params, em.prior)
    >>> bool(np.allclose(step.covariances, plain.covariances))
    True
    """

    def __init__(self, sums, prior):
        self.sums, self.prior = sums, prior

    def start(self, params):
        self.form = params.gaussian.form
        self.n_features = params.gaussian.n_features
        return self.point(flatten(params), params)

    def expectation(self, point):
        _, mean, precision, log_det, _ = point
        value, s1, s2 = self.sums.moments(mean, precision, log_det)
        return value, (s1, s2)

    def m_step(self, stats, point):
        s1, s2 = stats
        d = self.n_features
        if self.sums.pattern_rows.compiled and self.form is FULL:
            # The full form's M-step and the factorisation of its covariance
            # in one compiled call (the same arithmetic as the numpy lines
            # below, which took 17-40 us a step in a dozen numpy calls).
            vector = np.empty(1 + d + d * d)
            precision, inverse = np.empty((d, d)), np.empty((d, d))
            log_det = _full_m_step(
                s1,
                s2,
                self.sums.counts.sum() + NK_FLOOR,
                point[1],
                self.prior.reg_covar,
                vector,
                precision,
                inverse,
            )
            if not np.isfinite(log_det):
                raise ValueError(ILL_DEFINED_COVARIANCE)
            return vector, vector[1 : 1 + d], precision, log_det, inverse
        nk = np.array([self.sums.counts.sum() + NK_FLOOR])
        centred = s1[None] / nk[:, None]
        s2 = self.form.second_moments(s2)
        covariances = self.form.covariances_from_statistics(
            s2[None], nk, centred, self.prior.reg_covar
        )
        vector = np.concatenate(([1.0], point[1] + centred[0], covariances.ravel()))
        g = self.point(vector, None)
        if g is None:
            raise ValueError(ILL_DEFINED_COVARIANCE)
        return g

    @staticmethod
    def vector(point):
        return point[0]

    def point(self, vector, like):
        """The point of ``vector``; None if its weight or covariance is invalid."""
        d = self.n_features
        if not vector[0] > 0:
            return None
        covariances = vector[1 + d :].reshape(self.form.shape(1, d))
        covariance = self.form.full_matrices(covariances, 1, d)[0]
        precision, inverse = np.empty((d, d)), np.empty((d, d))
        factor = factor_covariance if self.sums.pattern_rows.compiled else _factor_numpy
        log_det = factor(covariance, precision, inverse)
        if not np.isfinite(log_det):
            return None
        return vector, vector[1 : 1 + d], precision, log_det, inverse

    def params(self, point):
        """The parameters of ``point``, its covariance factored as it was.

        The precision's factor ``U = inv(R)^T`` (``S = R R^T``) of a dense
        form is the point's own (``_forms`` makes the same from LAPACK's
        ``R``); a diagonal form's is its own (``1 / sqrt(variances)``).
        """
        vector, d, form = point[0], self.n_features, self.form
        covariances = vector[1 + d :].reshape(form.shape(1, d))
        factors = form.precision_cholesky_of_factored(covariances, point[4])
        family = GaussianFamily(
            form, vector[1 : 1 + d].reshape(1, d), covariances, factors
        )
        return MixtureParams(weights=vector[:1], families=(family,))


@jit
def _full_m_step(
    s1, s2, nk, mean, reg_covar, vector, precision, inverse
):  # pragma: no cover - compiled; twin: the numpy lines of OneGaussianMap.m_step
    # The full form's M-step (FULL.covariances_from_statistics: S = s2 / nk
    # - m m^T, symmetrised, plus reg_covar on the diagonal; the mean mu + m)
    # into vector, laid out as _accelerate.flatten lays out one Gaussian
    # (weight 1, mean, covariance), and the factorisation of S
    # (_fused.factor_covariance, into precision and inverse): its log det S,
    # NaN if S is not positive definite.
    d = len(s1)
    centred = s1 / nk
    vector[0] = 1.0
    for a in range(d):
        vector[1 + a] = mean[a] + centred[a]
    covariance = vector[1 + d :].reshape((d, d))
    for a in range(d):
        for b in range(d):
            covariance[a, b] = s2[a, b] / nk - centred[a] * centred[b]
    for a in range(d):
        for b in range(a):
            value = 0.5 * (covariance[a, b] + covariance[b, a])
            covariance[a, b] = value
            covariance[b, a] = value
        covariance[a, a] += reg_covar
    return factor_covariance(covariance, precision, inverse)


def _factor_numpy(covariance, precision, inverse):
    """:func:`~emimpute._em._fused.factor_covariance` in numpy (``_forms``)."""
    try:
        lower = _cholesky_lower(covariance[None])[0]
    except ValueError:
        return np.nan
    inverse[:] = np.linalg.inv(lower)
    precision[:] = inverse.T @ inverse
    return 2.0 * float(np.log(np.diagonal(lower)).sum())


def _terms_numpy(rows, precision, counts, first, second, shift):
    """The per-pattern terms of :meth:`PatternSums.expectation`, in numpy.

    Returns ``a`` and ``b`` of shape (P, d), ``sum_p A_p U2_p A_p^T`` and
    ``sum_p n_p C_p`` of shape (d, d), and ``sum_p n_p log det L_MM``.
    Batched over the patterns of a group (same number of missing entries).
    """
    d = rows.n_features
    # The A_p^T stacked, so that the products below are plain batched or
    # 2-D ones (a batched product with a transposed stack is several times
    # slower): A_p is the identity but on the missing rows, where it is
    # I - inv(L_MM) L_M.
    transposed = rows.identities.copy()
    flat = transposed.reshape(-1)
    conditional = np.zeros(d * d)
    log_dets = 0.0
    # A loop over the groups (at most d), each batched over its patterns.
    for patterns, missing, block_index, row_index in rows.groups:
        block = precision.reshape(-1)[block_index]
        inverse = np.linalg.inv(block)
        flat[row_index] -= inverse @ precision[missing]
        log_dets += counts[patterns] @ np.linalg.slogdet(block)[1]
        # sum_p n_p C_p, each C_p = inv(L_MM) added at its missing entries.
        conditional += np.bincount(
            block_index.reshape(-1),
            weights=(counts[patterns, None, None] * inverse).reshape(-1),
            minlength=d * d,
        )
    moved = np.matmul(first[:, None, :], transposed)[:, 0, :]
    offsets = np.matmul(shift, transposed)
    # (A_p U2_p)^T = U2_p A_p^T stacked as (P d, d), times the A_p^T stacked
    # the same way: sum_p A_p U2_p A_p^T in one product.
    products = np.matmul(second, transposed).reshape(-1, d)
    scatter = products.T @ transposed.reshape(-1, d)
    return moved, offsets, scatter, conditional.reshape(d, d), log_dets


@jit
def _pattern_moments(
    precision,
    log_det,
    missing,
    observed,
    pointers,
    n_observed,
    counts,
    first,
    second,
    observed_scatter,
    shift,
):  # pragma: no cover - compiled; its Python twin is in PatternSums.moments
    # The terms of every pattern (_pattern_terms, which adds to scatter all
    # of sum_p A_p U2_p A_p^T but its observed part, observed_scatter), then
    # their sums as PatternSums.moments makes them from _terms_numpy's, in
    # one call: a dozen numpy calls on (P, d) arrays cost a third of the
    # terms (measured 75 of 255 us at d = 10, 598 patterns).
    n_patterns, n_features = first.shape
    moved = np.empty((n_patterns, n_features))
    offsets = np.empty((n_patterns, n_features))
    scatter = observed_scatter.copy()
    conditional = np.zeros((n_features, n_features))
    log_dets = _pattern_terms(
        precision,
        missing,
        observed,
        pointers,
        counts,
        first,
        second,
        shift,
        moved,
        offsets,
        scatter,
        conditional,
    )
    weighted = offsets * counts[:, np.newaxis]
    cross = np.dot(moved.T, offsets)
    scatter += np.dot(weighted.T, offsets) - cross - cross.T
    s1 = moved.sum(axis=0) - weighted.sum(axis=0)
    quadratic = 0.0
    total = 0.0
    observed_count = 0.0
    for a in range(n_features):
        for b in range(n_features):
            quadratic += precision[a, b] * scatter[a, b]
    for p in range(n_patterns):
        total += counts[p]
        observed_count += counts[p] * n_observed[p]
    log_likelihood = -0.5 * (
        quadratic + total * log_det + log_dets + _LOG_2PI * observed_count
    )
    return log_likelihood, s1, scatter + conditional


@jit
def _pattern_terms(
    precision,
    missing,
    observed,
    pointers,
    counts,
    first,
    second,
    shift,
    moved,
    offsets,
    scatter,
    conditional,
):  # pragma: no cover - compiled; twin: _terms_numpy (via _pattern_moments)
    # Pattern p's missing coordinates are missing[pointers[p, 0]:pointers[p,
    # 1]], its observed ones observed[pointers[p, 2]:pointers[p, 3]].
    log_dets = 0.0
    # Work arrays of the largest pattern, reused by every pattern.
    n_features = len(shift)
    chol = np.zeros((n_features, n_features))
    solution = np.zeros((n_features, 2 * n_features))
    block = np.zeros((n_features, n_features))
    product = np.zeros((n_features, n_features))
    reciprocal = np.zeros(n_features)
    for p in range(len(counts)):
        m = missing[pointers[p, 0] : pointers[p, 1]]
        o = observed[pointers[p, 2] : pointers[p, 3]]
        r, q, n = len(m), len(o), counts[p]
        if n == 0.0:
            # No row of this pattern drawn: no terms (U1 = U2 = 0 give a = 0,
            # and b counts n times).
            moved[p] = 0.0
            offsets[p] = 0.0
            continue
        # L_MM = R R^T (R lower triangular), dividing by reciprocals; det
        # L_MM the product of the pivots R_ii^2, its log taken once a
        # pattern rather than once a pivot, or sooner if the product leaves
        # [1e-200, 1e200] (no underflow or overflow whatever the data's
        # scale: tested at 1e-60 and 1e60).
        det = 1.0
        for i in range(r):
            for j in range(i):
                value = precision[m[i], m[j]]
                for k in range(j):
                    value -= chol[i, k] * chol[j, k]
                chol[i, j] = value * reciprocal[j]
            value = precision[m[i], m[i]]
            for k in range(i):
                value -= chol[i, k] * chol[i, k]
            chol[i, i] = np.sqrt(value)
            reciprocal[i] = 1.0 / chol[i, i]
            det *= value
            if not 1e-200 < det < 1e200:
                log_dets += n * np.log(det)
                det = 1.0
        log_dets += n * np.log(det)
        # [-B | C] = inv(L_MM) [L_MO | I]: B the regression of the missing
        # coordinates on the observed ones, C their conditional covariance.
        for i in range(r):
            for b in range(q):
                solution[i, b] = precision[m[i], o[b]]
            for j in range(r):
                solution[i, q + j] = 0.0
            solution[i, q + i] = 1.0
        # R Y = [L_MO | I], then R^T X = Y, a row at a time (the inner loops
        # run along contiguous rows). Y's identity part is inv(R), lower
        # triangular: row i of the forward pass stops at its column q + i
        # (the entries past it stay 0, as the full width would leave them).
        # Each row is scaled by its pivot's reciprocal: a division per entry
        # took 7-9 of the terms' 242 us (d = 10, 598 patterns).
        width = q + r
        for i in range(r):
            for k in range(i):
                factor = chol[i, k]
                for c in range(q + k + 1):
                    solution[i, c] -= factor * solution[k, c]
            scale = reciprocal[i]
            for c in range(q + i + 1):
                solution[i, c] *= scale
        for i in range(r - 1, -1, -1):
            for k in range(i + 1, r):
                factor = chol[k, i]
                for c in range(width):
                    solution[i, c] -= factor * solution[k, c]
            scale = reciprocal[i]
            for c in range(width):
                solution[i, c] *= scale
        for i in range(r):
            for j in range(r):
                conditional[m[i], m[j]] += n * solution[i, q + j]
        # a = A U1, b = A s: observed coordinates kept, missing ones B x_O.
        for b in range(q):
            moved[p, o[b]] = first[p, o[b]]
            offsets[p, o[b]] = shift[o[b]]
        for i in range(r):
            u = 0.0
            v = 0.0
            for b in range(q):
                u -= solution[i, b] * first[p, o[b]]
                v -= solution[i, b] * shift[o[b]]
            moved[p, m[i]] = u
            offsets[p, m[i]] = v
        # A U2 A^T but U2_OO (the caller's sum_p U2_p): B U2_OO and its
        # transpose, B U2_OO B^T (U2 is 0 on the missing rows and columns).
        # U2_OO gathered first, so that the products run along contiguous
        # rows.
        for a in range(q):
            for b in range(q):
                block[a, b] = second[p, o[a], o[b]]
        for i in range(r):
            # U2_OO is symmetric: entry b of -B_i U2_OO is the dot product
            # of two contiguous rows, summed in a register.
            for b in range(q):
                value = 0.0
                for a in range(q):
                    value -= solution[i, a] * block[b, a]
                product[i, b] = value
            for b in range(q):
                scatter[m[i], o[b]] += product[i, b]
                scatter[o[b], m[i]] += product[i, b]
        # B U2_OO B^T is symmetric: its lower triangle, mirrored (each entry
        # a chain of q dependent multiply-adds; about 7 of the terms' 234 us
        # saved at d = 10, 598 patterns).
        for i in range(r):
            for j in range(i + 1):
                value = 0.0
                for b in range(q):
                    value += product[i, b] * solution[j, b]
                scatter[m[i], m[j]] -= value
                if j < i:
                    scatter[m[j], m[i]] -= value
    return log_dets


def _precision(family):
    """The single component's precision matrix (d, d) and ``log det S``.

    From the family's precision Cholesky factors (``U U^T = inv(S)``), as
    the E-step kernels use them, whatever the form.
    """
    form, n_features = family.form, family.n_features
    factors = family.precisions_cholesky
    precisions = np.asarray(form.precisions(factors))
    matrix = form.full_matrices(precisions, 1, n_features)[0]
    log_det_factor = np.ravel(form.log_det_cholesky(factors, n_features))[0]
    return matrix, -2.0 * float(log_det_factor)
