"""Data augmentation of one Gaussian: the I-step's draws summed as they are made.

A posterior chain (``_uncertainty.posterior_chain``) alternates an I-step,
every hole drawn given the parameters, and a P-step, the parameters drawn
given the completed data. Under one Gaussian on numeric columns (the default
imputation model) the P-step reads the completed data only through its
count, mean and scatter matrix, so most I-steps need not write a completed
table at all: this module draws each row's missing part and adds it into
those sums in one compiled pass over the rows with holes, where
``complete`` makes per block of rows a pass of numpy operations and writes
a table for :func:`~emimpute._em._uncertainty.component_moments` to read
again (at 1e4 x 10 with 20% missing, most of a step's time).

The observed entries' share of the sums never changes along a chain: it is
summed once, when the chain starts. Each step then adds, for every row with
holes, its drawn missing part ``m`` (a vector over the missing coordinates):
``sum w m``, ``sum w m x0^T`` and ``sum w m m^T``, ``x0`` the row's
observed part (zero where missing) and ``w`` its weight, all centred on a
fixed point (the fit's mean) so that the scatter matrix does not cancel.

The draw of a row is that of ``complete``: for each run of rows that share
a pattern, by the precision route, ``C = inv(P_MM)`` and its lower Cholesky
factor ``L``; per row, the conditional mean ``mu_M - C P_MO (x_O - mu_O)``
plus ``L z``, ``z`` standard normal. The rows are visited in ``complete``'s
order and ``z`` taken from the stream in that order, so that a step draws
what ``complete`` would (to rounding), and a chain run either way gives the
same parameters.

Cost per step, for ``n_h`` rows with holes, ``r`` missing and ``q``
observed entries of ``d``, ``u`` runs of a pattern: ``O(n_h r d)`` for the
conditional means and the sums, ``O(u r^3)`` for the factorisations, in one
compiled call; then the P-step, ``O(d^3)``. No Python work per row, per
pattern or per block of rows.
"""

import functools

import numpy as np

from emimpute._em._blockops import condition_numbers
from emimpute._em._dense import _MAX_PRECISION_CONDITION
from emimpute._em._forms import FULL
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
    """

    def __init__(self, data, centre):
        groups = [group for group in data.patterns.groups if group.n_missing > 0]
        self.n_features = data.n_numeric
        self.centre = np.asarray(centre, dtype=float)
        # complete()'s order: the groups in turn, each group's rows sorted
        # by pattern; a run of a pattern starts at each change.
        self.rows, row_pattern, ordered = rows_in_order(
            groups, data.numeric, data.mask, self.centre
        )
        self.run_starts = np.diff(row_pattern, prepend=-1) != 0
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

    def step(self, params, random_state, table=None):
        """Draw every hole under ``params``; the completed data's moments.

        Parameters
        ----------
        params : MixtureParams
            One Gaussian.
        random_state : numpy.random.RandomState
            The standard normal draws are taken as ``complete`` takes them.
        table : ndarray of shape (n_samples, n_features), default=None
            C-ordered, the data in the model's units: when given, each
            drawn missing entry is written into it.

        Returns
        -------
        moments : tuple or None
            ``(counts, means, scatter)`` of shapes ``(1,)``, ``(1, d)`` and
            ``(1, d, d)``, as :func:`~emimpute._em._uncertainty.
            component_moments` of the completed rows; None, with no number
            taken from the stream, if the covariance is too ill-conditioned
            for the precision route (as ``_dense`` decides), or, after the
            draws, if a conditional covariance is singular to rounding:
            then ``complete`` must make the draws (it has a fallback).
        """
        sums = self._draw(params, random_state, table)
        if sums is None:
            return None
        missing_sum, cross, missing_scatter = sums
        total = self.total_weight
        observed_sum, observed_scatter = self.observed_moments
        centred_sum = observed_sum + missing_sum
        scatter = observed_scatter + cross + cross.T + missing_scatter
        centred_mean = centred_sum / max(total, np.finfo(float).tiny)
        scatter -= total * np.outer(centred_mean, centred_mean)
        counts = np.array([total])
        return counts, (self.centre + centred_mean)[np.newaxis], scatter[np.newaxis]

    def fill(self, params, random_state, table):
        """Draw every hole under ``params`` into ``table``; False if it cannot.

        :meth:`step` without the moments: ``complete``'s draws. False in the
        cases where :meth:`step` returns None (before any number is taken
        from the stream for an ill-conditioned covariance, after the draws
        for a conditional covariance singular to rounding).
        """
        return self._draw(params, random_state, table) is not None

    def _draw(self, params, random_state, table):
        """The compiled pass: the sums of the drawn missing parts, or None."""
        precision = self._precision(params.gaussian)
        if precision is None:
            return None
        d = self.n_features
        normals = random_state.standard_normal(self.n_draws)
        missing_sum = np.zeros(d)
        cross = np.zeros((d, d))
        missing_scatter = np.zeros((d, d))
        write = table is not None
        ok = _augment(
            self.centred,
            self.mask,
            self.rows,
            self.run_starts,
            self.weights,
            np.ascontiguousarray(params.gaussian.means[0] - self.centre, dtype=float),
            precision,
            normals,
            missing_sum,
            cross,
            missing_scatter,
            table if write else np.empty((0, d)),
            self.centre,
            write,
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
        factors = np.ascontiguousarray(form.dense_stack(family.precisions_cholesky, 1))
        precision = FULL.precisions(factors)
        covariance = form.dense_stack(family.covariances, 1)
        if np.any(condition_numbers(covariance, precision) > _MAX_PRECISION_CONDITION):
            return None
        return np.ascontiguousarray(precision[0], dtype=float)


@jit
def _augment(
    centred,
    mask,
    rows,
    run_starts,
    weights,
    mean,
    precision,
    normals,
    missing_sum,
    cross,
    missing_scatter,
    table,
    centre,
    write,
):
    """The compiled pass of :meth:`OneGaussianAugmentation.step`; False on failure.

    ``centred``, ``mask``, ``weights`` and ``run_starts`` are of the rows with
    holes in the order they are visited, ``rows`` their rows in ``table``;
    ``mean`` and the sums are centred on ``centre``.

    Per run of a pattern: ``C = inv(P_MM)``, its factor ``L`` and the
    regression ``B = C P_MO``, contiguous; per row, ``mu_M - B (x_O - mu_O)
    + L z``, added into the run's own sums, which are added into the
    totals when the run ends (one scattered addition per run, not per row).
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
    r = 0
    q = 0
    position = 0
    for t in range(len(rows) + 1):
        if t == len(rows) or run_starts[t]:
            # The run that ends: its sums into the totals.
            for a in range(r):
                missing_sum[missing[a]] += run_sum[a]
                run_sum[a] = 0.0
                for b in range(q):
                    cross[missing[a], observed[b]] += run_cross[a, b]
                    run_cross[a, b] = 0.0
                for b in range(r):
                    missing_scatter[missing[a], missing[b]] += run_scatter[a, b]
                    run_scatter[a, b] = 0.0
            if t == len(rows):
                break
            r = 0
            q = 0
            for c in range(d):
                if mask[t, c]:
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
        for b in range(q):
            values[b] = centred[t, observed[b]]
            residual[b] = values[b] - mean[observed[b]]
        for a in range(r):
            total = mean[missing[a]]
            for b in range(q):
                total -= regression[a, b] * residual[b]
            for b in range(a + 1):
                total += factors[1, a, b] * normals[position + b]
            draw[a] = total
        position += r
        w = weights[t]
        for a in range(r):
            value = w * draw[a]
            run_sum[a] += value
            for b in range(q):
                run_cross[a, b] += value * values[b]
            for b in range(r):
                run_scatter[a, b] += value * draw[b]
            if write:
                table[rows[t], missing[a]] = draw[a] + centre[missing[a]]
    return True
