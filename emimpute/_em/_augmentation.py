"""Data augmentation of one Gaussian: the I-step's draws summed as they are made.

A posterior chain (``_chain.posterior_chain``) alternates an I-step,
every hole drawn given the parameters, and a P-step, the parameters drawn
given the completed data. Under one Gaussian on numeric columns (the default
imputation model) the P-step reads the completed data only through its
count, mean and scatter matrix, so most I-steps need not write a completed
table at all: this module draws each row's missing part and adds it into
those sums in one compiled pass over the rows with holes, where
``complete`` makes per block of rows a pass of numpy operations and writes
a table for :func:`~emimpute._em._gaussian.component_moments` to read
again (at 1e4 x 10 with 20% missing, most of a step's time).

The observed entries' share of the sums never changes along a chain: it is
summed once, when the chain starts. Each step then adds, for every row with
holes, its drawn missing part ``m`` (a vector over the missing coordinates):
``sum w m``, ``sum w m x0^T`` and ``sum w m m^T``, ``x0`` the row's
observed part (zero where missing) and ``w`` its weight, all centred on a
fixed point (the fit's mean) so that the scatter matrix does not cancel.

With ``sum_runs=False`` (``complete``'s own draws) the draw of a row is
that of ``complete``: for each run of rows that share a pattern, by the
precision route, ``C = inv(P_MM)`` and its lower Cholesky factor ``L``; per
row, the conditional mean ``mu_M - C P_MO (x_O - mu_O)`` plus ``L z``, ``z``
standard normal. The rows are visited in ``complete``'s order and ``z``
taken from the stream in that order, so that a step that writes a table
draws what ``complete`` would (to rounding).

A step that writes no table (all but the chain's recorded I-steps) needs
the sums only, and a run's sums depend on its rows' normals ``Z`` (``n x
r``) only through ``Z^T [1, X_O]`` and ``Z^T Z``. With ``[1, X_O] = Q R``
(``k = q + 1`` orthonormal columns), ``Z^T Q`` is ``r x k`` standard normal
and ``Z^T Z - (Z^T Q)(Z^T Q)^T`` is ``Wishart(n - k, I)``, independent of
it: a run of more than ``k`` rows of one weight is summed from those draws
(Bartlett's decomposition of the Wishart), ``r k + r (r - 1) / 2`` normals
and ``r`` chi-squares instead of ``n r`` normals, ``O(r d^2)`` arithmetic
instead of ``O(n r d)``. Exactly the same distribution of the sums, so of
the chain; other numbers from the stream, so a chain with summed runs is
not, draw for draw, the chain of ``complete`` (``sum_runs=False`` is);
such a chain takes its I-steps' normals from a faster generator of its own
(``_chain._holes_stream``). Nor need its steps draw with
``complete``'s square root of the conditional covariance, those that write
a table row by row (the recorded I-steps) included: they take the cheaper
``inv(R^T)`` (``_augment``; a run's set-up 0.18 instead of 0.33 us at d =
10, 1.8 ms of a chain of 20 draws at 1e4 x 10).
At 1e4 x 10 with 20% missing, 186 of 597 runs hold 7,800 of the 8,900
rows with holes: a step 0.41 ms instead of 0.78 row by row (min of 500,
one thread; 9,500 normals instead of 19,900).

Cost per step, for ``n_h`` rows with holes, ``r`` missing and ``q``
observed entries of ``d``, ``u`` runs of a pattern: ``O(n_h r d)`` for the
conditional means and the sums (``O(r d^2)`` per summed run instead of its
rows'), ``O(u r^3)`` for the factorisations, in one compiled call; then
the P-step, ``O(d^3)``. Planning the summed runs, once per chain: a QR
factorisation of each, ``O(n_h d^2)``. No Python work per row, per pattern
or per block of rows.
"""

import functools

import numpy as np

from emimpute._em._dense import _MAX_PRECISION_CONDITION
from emimpute._em._fused import cholesky, inverse_from_cholesky, jit, use_fused
from emimpute._em._patterns import rows_in_order


class OneGaussianAugmentation:
    """The data augmentation steps of one Gaussian on numeric data.

    Made once per chain (it sums the observed entries); :meth:`step` then
    draws the holes under given parameters and returns the completed
    data's moments.

    Parameters
    ----------
    data : EMData
        Numeric columns only.
    centre : ndarray of shape (n_features,)
        The point the sums are centred on (a chain's: the fit's mean, so
        that the scatter matrix does not cancel); the draws themselves do
        not depend on it (``complete`` passes 0).
    sum_runs : bool, default=True
        Whether a step without a table sums the runs of a pattern in
        distribution, and every step draws with the cheaper square root of
        each conditional covariance (see the module notes); False: row by
        row, the draws of ``complete``, numbers and arithmetic.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._augmentation import OneGaussianAugmentation
    >>> from emimpute._em._data import EMData
    >>> from emimpute._em._params import MixtureParams
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 3))
    >>> X[rng.uniform(size=X.shape) < 0.2] = np.nan
    >>> data = EMData.build(X)
    >>> params = MixtureParams.from_covariances(
    ...     np.ones(1), np.zeros((1, 3)), np.eye(3)[None], "full")
    >>> augmentation = OneGaussianAugmentation(data, np.zeros(3))
    >>> counts, means, scatter = augmentation.step(params, rng)
    >>> counts, means.shape, scatter.shape
    (array([200.]), (1, 3), (1, 3, 3))
    >>> table = np.array(data.numeric, order="C")
    >>> bool(augmentation.fill(params, rng, table)), bool(np.isnan(table).any())
    (True, False)
    """

    def __init__(self, data, centre, *, sum_runs=True):
        groups = [group for group in data.patterns.groups if group.n_missing > 0]
        self.n_features = d = data.n_numeric
        self.centre = np.asarray(centre, dtype=float)
        # complete()'s order: the groups in turn, each group's rows sorted
        # by pattern; a run of a pattern starts at each change.
        self.rows, row_pattern, ordered = rows_in_order(
            groups, data.numeric, data.mask, self.centre
        )
        starts = np.diff(row_pattern, prepend=-1) != 0
        self.run_begin = np.append(np.flatnonzero(starts), len(self.rows))
        self.n_draws = sum(len(group.rows) * group.n_missing for group in groups)
        weights = data.sample_weight
        weights = np.ones(data.n_samples) if weights is None else weights.astype(float)
        self.total_weight = float(weights.sum())
        self._data = (data.numeric, data.mask, weights)
        # The rows with holes in the order they are visited, so that every
        # step reads them sequentially (a copy of those rows, once).
        self.centred = ordered
        self.mask = np.ascontiguousarray(data.mask[self.rows])
        self.weights = np.ascontiguousarray(weights[self.rows])
        self.sum_runs = sum_runs
        self._identity_units = (np.ones(d), np.zeros(d))
        n_runs = len(self.run_begin) - 1
        # Row by row (complete()'s draws): no run summed.
        self._row_by_row = np.full(n_runs, -1, dtype=np.intp)
        self.run_summed = self._row_by_row
        self.n_summed_draws = self.n_draws
        self.root_dfs = np.empty(0)
        self.run_factors = np.empty(0)
        if sum_runs and n_runs:
            self._plan_sums(d)

    def _plan_sums(self, d):
        """Which runs a step without a table sums in distribution, and its draws.

        A run of ``n`` rows with one weight and ``r`` missing of ``d``
        entries is summed when ``n > q + 1``: then its ``r (q + 1) + r (r -
        1) / 2`` standard normals and ``r`` chi-squares (or ``r (q + 1) + r
        (n - q - 1)`` normals when ``n - q - 1 < r``) replace ``n r``, and
        its ``O(r d^2)`` arithmetic the rows' ``O(n r d)``. The factors of
        the runs' ``[1, X_O]`` are made here, once per chain: ``O(n d^2)``.
        """
        begin, end = self.run_begin[:-1], self.run_begin[1:]
        size = end - begin
        r = self.mask[begin].sum(axis=1)
        k = d - r + 1
        df = size - k
        one_weight = np.maximum.reduceat(self.weights, begin) == np.minimum.reduceat(
            self.weights, begin
        )
        summed = one_weight & (df > 0)
        bartlett = summed & (df >= r)
        self.run_summed = np.where(
            summed, np.cumsum(np.where(summed, k * k, 0)) - k * k, -1
        ).astype(np.intp)
        self.run_factors = np.zeros(int(np.sum(k * k, where=summed)))
        _run_factors(
            self.centred, self.mask, self.run_begin, self.run_summed, self.run_factors
        )
        draws = np.where(
            summed, r * k + np.where(bartlett, r * (r - 1) // 2, r * df), size * r
        )
        self.n_summed_draws = int(draws.sum())
        # Run after run, each Bartlett factor's diagonal: chi2(df - a).
        repeats = np.where(bartlett, r, 0)
        within = np.arange(repeats.sum()) - np.repeat(
            np.cumsum(repeats) - repeats, repeats
        )
        self.root_dfs = (np.repeat(df, repeats) - within).astype(float)

    @functools.cached_property
    def observed_moments(self):
        """The observed entries' share of the sums, fixed along a chain.

        ``(sum w x0, sum w x0 x0^T)`` over all rows, centred; made when a
        step first returns moments (a completion alone does not need them).
        """
        numeric, mask, weights = self._data
        centred = np.subtract(numeric, self.centre, dtype=float)
        centred[mask] = 0.0
        root = centred * np.sqrt(weights)[:, np.newaxis]
        return weights @ centred, root.T @ root

    @staticmethod
    def applies(data, params):
        """Whether the chain of ``params`` on ``data`` can take these steps.

        One component, numeric columns only, and the compiled kernels.
        """
        return (
            params.n_components == 1
            and data.n_categorical == 0
            and data.n_numeric > 0
            and use_fused()
        )

    def step(self, params, random_state, table=None, units=None):
        """Draw every hole under ``params``; the completed data's moments.

        Parameters
        ----------
        params : MixtureParams
            One Gaussian.
        random_state : numpy.random.RandomState or Generator
            With a table and ``sum_runs=False``, the standard normal draws
            are taken, and made into draws of the holes, as ``complete``
            takes and makes them; with ``sum_runs``, the same distribution
            by a cheaper square root of each conditional covariance.
        table : ndarray of shape (n_samples, n_features), default=None
            C-ordered, the data in the model's units: when given, each
            drawn missing entry is written into it (in ``units``, see
            :meth:`fill`); when not, runs are summed in distribution
            (``sum_runs``).
        units : tuple of ndarray, default=None
            ``(scale, shift)``: the table's units (see :meth:`fill`).

        Returns
        -------
        moments : tuple or None
            ``(counts, means, scatter)`` of shapes ``(1,)``, ``(1, d)`` and
            ``(1, d, d)``, as :func:`~emimpute._em._gaussian.
            component_moments` of the completed rows; None, with no number
            taken from the stream, if the covariance is too ill-conditioned
            for the precision route (as ``_dense`` decides), or, after the
            draws, if a conditional covariance is singular to rounding:
            then ``complete`` must make the draws (it has a fallback).
        """
        sums = self._draw(params, random_state, table, units)
        if sums is None:
            return None
        d = self.n_features
        means, scatter = np.empty((1, d)), np.empty((1, d, d))
        _completed_moments(
            *self.observed_moments,
            *sums,
            max(self.total_weight, np.finfo(float).tiny),
            self.centre,
            means[0],
            scatter[0],
        )
        return np.array([self.total_weight]), means, scatter

    def fill(self, params, random_state, table, units=None):
        """Draw every hole under ``params`` into ``table``; False if it cannot.

        :meth:`step` without the moments (``complete``'s draws where
        ``sum_runs`` is False, as ``complete`` makes it). ``units``,
        ``(scale, shift)`` of shape (n_features,) each, maps a drawn entry
        ``x`` to ``x scale + shift`` as it is written (a standardisation
        undone: ``table`` then holds the data in its own units, and no pass
        of its own maps the draws back); None writes ``x``. False in the
        cases where :meth:`step` returns None (before any number is taken
        from the stream for an ill-conditioned covariance, after the draws
        for a conditional covariance singular to rounding).
        """
        return self._draw(params, random_state, table, units, sums=False) is not None

    def _draw(self, params, random_state, table, units=None, sums=True):
        """The compiled pass: the sums of the drawn missing parts, or None.

        Without a table, runs are summed in distribution (``run_summed``).
        """
        precision = self._precision(params.gaussian)
        if precision is None:
            return None
        if table is None:
            normals = random_state.standard_normal(self.n_summed_draws)
            roots = np.sqrt(random_state.chisquare(self.root_dfs))
        else:
            normals = random_state.standard_normal(self.n_draws)
            roots = self.root_dfs
        return self._pass(params, precision, normals, roots, table, units, sums)

    def _pass(
        self, params, precision, normals, roots, table, units=None, sums=True, runs=None
    ):
        """:meth:`_draw` given its standard normals and Bartlett diagonals.

        Row by row into ``table`` when given (in ``units``, see
        :meth:`fill`), ``complete``'s draws where ``sum_runs`` is False;
        else with the runs summed (the runs with ``runs >= 0``,
        ``run_summed`` by default). ``sums=False``: no sums (zeros; a
        fill).
        """
        d = self.n_features
        write = table is not None
        if runs is None:
            runs = self._row_by_row if write else self.run_summed
        scale, shift = (
            self._identity_units
            if units is None
            else (np.asarray(units[0], dtype=float), np.asarray(units[1], dtype=float))
        )
        # The sums, made anew (a step's moments are new arrays), in one block.
        block = np.zeros((2 * d + 1, d))
        missing_sum, cross, missing_scatter = block[0], block[1 : d + 1], block[d + 1 :]
        ok = _augment(
            self.centred,
            self.mask,
            self.rows,
            self.run_begin,
            runs,
            self.run_factors,
            self.weights,
            np.ascontiguousarray(params.gaussian.means[0] - self.centre, dtype=float),
            precision,
            normals,
            roots,
            missing_sum,
            cross,
            missing_scatter,
            table if write else np.empty((0, d)),
            self.centre,
            scale,
            shift,
            write,
            sums,
            not self.sum_runs,
        )
        return (missing_sum, cross, missing_scatter) if ok else None

    def _precision(self, family):
        """The dense precision matrix, or None where too ill-conditioned.

        The bound is ``_dense``'s for its precision route: beyond it the
        compiled kernels take the covariance route, which this pass does not.
        """
        form = family.form
        if not form.dense:
            variances = form.variances(family.covariances, self.n_features)[0]
            return np.ascontiguousarray(np.diag(1.0 / variances))
        precision = np.empty((self.n_features, self.n_features))
        # One component: its matrix is the stack's first (tied or full).
        condition = _dense_precision(
            form.stack(family.precisions_cholesky)[0],
            form.stack(family.covariances)[0],
            precision,
        )
        return None if condition > _MAX_PRECISION_CONDITION else precision


@jit
def _completed_moments(
    observed_sum,
    observed_scatter,
    missing_sum,
    cross,
    missing_scatter,
    total,
    centre,
    mean,
    scatter,
):  # pragma: no cover - compiled
    # The completed rows' mean and scatter from the observed entries' sums
    # and the drawn ones' (all centred on ``centre``): the scatter about
    # the centre, sum (x0 + m)(x0 + m)^T, less total c c^T for the centred
    # mean c. One call instead of ten numpy ones (15 us a step at d = 10).
    d = len(centre)
    centred = np.empty(d)
    for a in range(d):
        centred[a] = (observed_sum[a] + missing_sum[a]) / total
        mean[a] = centre[a] + centred[a]
    for a in range(d):
        for b in range(d):
            value = observed_scatter[a, b] + cross[a, b] + cross[b, a]
            value += missing_scatter[a, b]
            scatter[a, b] = value - total * (centred[a] * centred[b])


@jit
def _dense_precision(factor, covariance, precision):
    """``precision = U U^T`` from its factor ``U``; the condition number.

    The number is :func:`~emimpute._em._blockops.condition_numbers`' (the
    1-norm condition of the correlation matrix, which ``_dense`` compares
    with ``_MAX_PRECISION_CONDITION``), in one compiled call: the dozen
    numpy calls on ``d x d`` arrays it replaces took 21 us of a data
    augmentation step (d = 10), 2 ms of a chain of 20 draws.
    """
    d = len(covariance)
    for i in range(d):
        for j in range(i + 1):
            total = 0.0
            for k in range(d):
                total += factor[i, k] * factor[j, k]
            precision[i, j] = total
            precision[j, i] = total
    scale = np.empty(d)
    for i in range(d):
        scale[i] = np.sqrt(covariance[i, i])
    correlation_norm = 0.0
    inverse_norm = 0.0
    for j in range(d):
        column = 0.0
        inverse_column = 0.0
        for i in range(d):
            outer = scale[i] * scale[j]
            column += abs(covariance[i, j] / outer)
            inverse_column += abs(precision[i, j] * outer)
        correlation_norm = max(correlation_norm, column)
        inverse_norm = max(inverse_norm, inverse_column)
    return correlation_norm * inverse_norm


@jit
def _augment(
    centred,
    mask,
    rows,
    run_begin,
    run_summed,
    run_factors,
    weights,
    mean,
    precision,
    normals,
    roots,
    missing_sum,
    cross,
    missing_scatter,
    table,
    centre,
    scale,
    shift,
    write,
    summing,
    streamed,
):
    """The compiled pass of :meth:`OneGaussianAugmentation.step`; False on failure.

    ``centred``, ``mask``, ``weights`` are of the rows with holes in the
    order they are visited, ``rows`` their rows in ``table``, ``run_begin``
    where each run of a pattern starts (and, last, the number of rows);
    ``mean`` and the sums are centred on ``centre``; a drawn entry ``x`` is
    written into ``table`` as ``x scale + shift`` (a standardisation
    undone); the sums are made only when ``summing`` (a fill needs none).

    Per run of a pattern, ``P_MM = R R^T``. ``streamed``: ``complete``'s
    draws, ``C = inv(P_MM)``, its factor ``L`` and the regression ``B = C
    P_MO``, contiguous, and per row ``mu_M - B (x_O - mu_O) + L z``. Else
    any draws of the same distribution, with the square root ``inv(R^T)``
    of ``C``, which needs no inverse and no second factorisation (at d = 10
    they were two thirds of a run's set-up): ``G = inv(R) P_MO`` and per row
    ``mu_M + inv(R^T) (z - G (x_O - mu_O))``; a run with ``run_summed >=
    0`` is then summed in distribution (:func:`_summed_run`, its factor of
    ``[1, X_O]`` at ``run_factors[run_summed:]``). Rows' draws are added
    into the run's own sums, which are added into the totals when the run
    ends (one scattered addition per run, not per row). ``normals`` are
    taken in order, ``roots`` (the Bartlett factors' diagonals) too.
    """
    d = centred.shape[1]
    missing = np.empty(d, dtype=np.intp)
    observed = np.empty(d, dtype=np.intp)
    # Slot 0: the factor of P_MM (its strict upper triangle then holds
    # inv(L), see inverse_from_cholesky); slot 1: the factor of C.
    factors = np.empty((2, d, d))
    reciprocals = np.empty((2, d))
    conditional = np.empty((1, d, d))
    regression = np.empty((d, d))
    values = np.empty(d)
    residual = np.empty(d)
    draw = np.empty(d)
    run_sum = np.zeros(d)
    run_cross = np.zeros((d, d))
    run_scatter = np.zeros((d, d))
    # A summed run's scratch: the rows' deterministic parts H [1, x_O], the
    # products with the factors, and L A.
    fitted = np.empty((d, d + 1))
    products = np.empty((d, d + 1))
    spread = np.empty((d, d))
    position = 0
    root_position = 0
    for u in range(len(run_begin) - 1):
        first, stop = run_begin[u], run_begin[u + 1]
        r = 0
        q = 0
        for c in range(d):
            if mask[first, c]:
                missing[r] = c
                r += 1
            else:
                observed[q] = c
                q += 1
        for a in range(r):
            for b in range(a + 1):
                factors[0, a, b] = precision[missing[a], missing[b]]
        if not cholesky(factors, reciprocals, 0, r):
            return False
        if streamed:
            inverse_from_cholesky(factors, reciprocals, 0, conditional, r)
            for a in range(r):
                for b in range(a + 1):
                    factors[1, a, b] = conditional[0, a, b]
                    conditional[0, b, a] = conditional[0, a, b]
            if not cholesky(factors, reciprocals, 1, r):
                return False
            for a in range(r):
                for b in range(q):
                    total = 0.0
                    for c in range(r):
                        total += (
                            conditional[0, a, c] * precision[missing[c], observed[b]]
                        )
                    regression[a, b] = total
        else:
            # G = inv(R) P_MO, by forward substitution down its rows.
            for a in range(r):
                for b in range(q):
                    total = precision[missing[a], observed[b]]
                    for e in range(a):
                        total -= factors[0, a, e] * regression[e, b]
                    regression[a, b] = total * reciprocals[0, a]
        if run_summed[u] >= 0:
            position, root_position = _summed_run(
                run_factors[run_summed[u] :],
                stop - first,
                r,
                q,
                weights[first],
                missing,
                observed,
                mean,
                regression,
                factors,
                reciprocals,
                normals,
                position,
                roots,
                root_position,
                fitted,
                products,
                spread,
                run_sum,
                run_cross,
                run_scatter,
            )
        else:
            for t in range(first, stop):
                for b in range(q):
                    values[b] = centred[t, observed[b]]
                    residual[b] = values[b] - mean[observed[b]]
                if streamed:
                    for a in range(r):
                        total = mean[missing[a]]
                        for b in range(q):
                            total -= regression[a, b] * residual[b]
                        for b in range(a + 1):
                            total += factors[1, a, b] * normals[position + b]
                        draw[a] = total
                else:
                    # mu_M + inv(R^T) (z - G (x_O - mu_O)).
                    for a in range(r):
                        total = normals[position + a]
                        for b in range(q):
                            total -= regression[a, b] * residual[b]
                        draw[a] = total
                    _back_substitute(factors, reciprocals, draw, r)
                    for a in range(r):
                        draw[a] += mean[missing[a]]
                position += r
                w = weights[t]
                for a in range(r):
                    if summing:
                        value = w * draw[a]
                        run_sum[a] += value
                        for b in range(q):
                            run_cross[a, b] += value * values[b]
                        for b in range(r):
                            run_scatter[a, b] += value * draw[b]
                    if write:
                        c = missing[a]
                        table[rows[t], c] = (draw[a] + centre[c]) * scale[c] + shift[c]
        # The run's sums into the totals.
        for a in range(r):
            missing_sum[missing[a]] += run_sum[a]
            run_sum[a] = 0.0
            for b in range(q):
                cross[missing[a], observed[b]] += run_cross[a, b]
                run_cross[a, b] = 0.0
            for b in range(r):
                missing_scatter[missing[a], missing[b]] += run_scatter[a, b]
                run_scatter[a, b] = 0.0
    return True


@jit
def _back_substitute(factors, reciprocals, b, n):
    """``b[:n] = inv(R^T) b[:n]``, ``R`` the lower factor in slot 0."""
    for a in range(n - 1, -1, -1):
        total = b[a]
        for e in range(a + 1, n):
            total -= factors[0, e, a] * b[e]
        b[a] = total * reciprocals[0, a]


@jit
def _summed_run(
    factor,
    n,
    r,
    q,
    w,
    missing,
    observed,
    mean,
    regression,
    factors,
    reciprocals,
    normals,
    position,
    roots,
    root_position,
    fitted,
    products,
    spread,
    run_sum,
    run_cross,
    run_scatter,
):
    """A run's sums of draws, drawn in distribution; the streams' new positions.

    With ``Y = [1, X_O]`` the run's ``n`` rows (``k = q + 1`` columns,
    ``n > k``), ``Y = Q R_Y`` (``factor``: ``R_Y``, ``k x k`` upper
    triangular, row-major) and the draws ``m_i = H y_i + S z_i`` (``S =
    inv(R^T)``, ``P_MM = R R^T``; ``H = S H'``, ``H' = [R^T mu_M + G mu_O,
    -G]``, ``G = inv(R) P_MO`` in ``regression``): ``sum m y^T = V R_Y``
    and ``sum m m^T = V V^T + (S A)(S A)^T`` with ``V = S (H' R_Y^T + W)``,
    where ``W = Z^T Q`` (``r x k``) is standard normal and ``A A^T = Z^T (I
    - Q Q^T) Z`` is ``Wishart(n - k, I)`` independent of it: ``A`` lower
    triangular with ``sqrt(chi2(n - k - a))`` on its diagonal (``roots``)
    and standard normals below (Bartlett) when ``n - k >= r``, else ``r x
    (n - k)`` standard normals. Weighted by the run's one weight ``w``.
    """
    k = q + 1
    df = n - k
    # H' R_Y^T + W, then S times it, column by column: V (r x k).
    for a in range(r):
        offset = 0.0
        for e in range(a, r):
            offset += factors[0, e, a] * mean[missing[e]]
        for b in range(q):
            offset += regression[a, b] * mean[observed[b]]
        for j in range(k):
            # (H' R_Y^T)[a, j] = sum_{c >= j} H'[a, c] R_Y[j, c].
            total = normals[position + a * k + j]
            if j == 0:
                total += offset * factor[0]
            for c in range(max(j, 1), k):
                total -= regression[a, c - 1] * factor[j * k + c]
            products[a, j] = total
    position += r * k
    for j in range(k):
        for a in range(r):
            fitted[a, 0] = products[a, j]
        _back_substitute(factors, reciprocals, fitted[:, 0], r)
        for a in range(r):
            products[a, j] = fitted[a, 0]
    # V R_Y: the sums of m and of m x_O^T.
    for a in range(r):
        for c in range(k):
            total = 0.0
            for j in range(c + 1):
                total += products[a, j] * factor[j * k + c]
            if c == 0:
                run_sum[a] += w * total
            else:
                run_cross[a, c - 1] += w * total
    # S A, A from the Bartlett draws (or all normals when df < r).
    bartlett = df >= r
    width = r if bartlett else df
    for c in range(width):
        for a in range(r):
            if bartlett:
                if a < c:
                    entry = 0.0
                elif a == c:
                    entry = roots[root_position + c]
                else:
                    entry = normals[position + a * (a - 1) // 2 + c]
            else:
                entry = normals[position + a * width + c]
            fitted[a, 0] = entry
        _back_substitute(factors, reciprocals, fitted[:, 0], r)
        for a in range(r):
            spread[a, c] = fitted[a, 0]
    if bartlett:
        position += r * (r - 1) // 2
        root_position += r
    else:
        position += r * width
    for a in range(r):
        for b in range(r):
            total = 0.0
            for j in range(k):
                total += products[a, j] * products[b, j]
            for c in range(width):
                total += spread[a, c] * spread[b, c]
            run_scatter[a, b] += w * total
    return position, root_position


@jit
def _run_factors(centred, mask, run_begin, run_summed, run_factors):
    """Each summed run's ``R`` (``Y = Q R``, ``Y = [1, X_O]``) into ``run_factors``.

    Householder reflections on a copy of ``Y``: ``Q`` has orthonormal
    columns whatever ``Y``'s rank (repeated rows, a column constant over the
    run), which the draws of ``_summed_run`` need; ``R`` is ``k x k`` upper
    triangular, row-major at ``run_summed[u]``. ``O(n k^2)`` per run.
    """
    d = centred.shape[1]
    observed = np.empty(d, dtype=np.intp)
    for u in range(len(run_begin) - 1):
        offset = run_summed[u]
        if offset < 0:
            continue
        first, stop = run_begin[u], run_begin[u + 1]
        q = 0
        for c in range(d):
            if not mask[first, c]:
                observed[q] = c
                q += 1
        k = q + 1
        n = stop - first
        # Column-major, so that each reflection runs down contiguous columns.
        y = np.empty((k, n))
        for i in range(n):
            y[0, i] = 1.0
            for b in range(q):
                y[b + 1, i] = centred[first + i, observed[b]]
        for j in range(k):
            norm = 0.0
            for i in range(j, n):
                norm += y[j, i] * y[j, i]
            norm = np.sqrt(norm)
            if norm == 0.0:
                continue
            alpha = -norm if y[j, j] >= 0.0 else norm
            # v = y[j, j:] - alpha e_1, |v|^2 = 2 norm (norm + |y_jj|).
            y[j, j] -= alpha
            scale = 1.0 / (norm * (norm + abs(y[j, j] + alpha)))
            for c in range(j + 1, k):
                total = 0.0
                for i in range(j, n):
                    total += y[j, i] * y[c, i]
                total *= scale
                for i in range(j, n):
                    y[c, i] -= total * y[j, i]
            y[j, j] = alpha
        for j in range(k):
            for c in range(k):
                run_factors[offset + j * k + c] = y[c, j] if c >= j else 0.0
