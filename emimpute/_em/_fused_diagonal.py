"""The fused E-step for diagonal and spherical covariances, rows with holes.

The arithmetic of ``_diagonal`` (missing coordinates drop out of the
density; their completion is the component's mean, with its variance), in
compiled code (numba, see ``_fused``), parallel over row tasks. The kernels
read each row from the data (``X``, its mask and the shift) themselves: no
gathered, centred or masked copy of the block is made, and no ``(K, rows,
d)`` temporary. Deviations are the direct differences ``x - mu_k``
(accurate however far a tight component is from the shift, so no accuracy
check is needed).

Both loops are laid out so that the compiler vectorises them without
reassociating a sum (it may fuse a multiply and an add, but not reorder:
see ``_fused``): the log-density runs over tiles of ``_TILE`` rows,
transposed into scratch so that the innermost loop runs along the rows,
each with its own accumulator; the statistics run row by row with the
innermost loop along the features, each with its own accumulator. Every sum
is therefore taken in a fixed order (features for the log-density, rows of
a task for the statistics), whatever the tiling.

Cost per E-step: ``O(n K d)`` multiply-adds, whatever the missingness
patterns, one read of each row per pass; memory: ``O(_TILE d + K d)`` per
task beyond the outputs. Imputation (the conditional moments) takes the
numpy kernel's path: ``O(n K d)`` time too, and ``O(rows K d)`` memory per
block (``_diagonal``).
"""

import numpy as np

from emimpute._em._diagonal import DiagonalKernel
from emimpute._em._fused import ParallelKernel, n_tasks, prange
from emimpute._em._gaussian_block import LOG_2PI, FusedConditionals
from emimpute._em._stats import SufficientStats

# Rows per tile of the log-density loop: a (d, _TILE) scratch of centred
# entries stays in the first-level cache up to d of a few hundred, and the
# inner loop is long enough for the vector units.
_TILE = 64


class FusedDiagonalKernel(DiagonalKernel):
    """:class:`~emimpute._em._diagonal.DiagonalKernel` compiled on rows with holes.

    Complete rows and the moments asked by imputation take the numpy
    kernel's paths (its :class:`~emimpute._em._diagonal.DiagonalConditionals`:
    means and variances as ``(K, rows, r)`` vectors, no ``r x r`` matrix).
    """

    def evaluate(self, block, moments=True):
        if moments or block.n_missing == 0:
            return super().evaluate(block, moments)
        n_components, n_features = self.means.shape
        log_density = np.empty((len(block.rows), n_components))
        _evaluate(
            block.X,
            block.mask,
            block.rows,
            block.shift,
            self.means,
            self.precisions,
            self.log_variances,
            log_density,
            n_tasks(len(block.rows), n_components * n_features),
        )
        return FusedConditionals(log_density)

    def statistics(self, block, resp, conditionals):
        if not isinstance(conditionals, FusedConditionals):
            return super().statistics(block, resp, conditionals)
        n_components, n_features = self.means.shape
        stats = SufficientStats.zeros(
            n_components, n_features, self.form, shift=self.statistics_shift
        )
        nk, s1, s2 = stats.arrays
        nk += np.ones(len(resp)) @ resp
        tasks = n_tasks(len(resp), n_components * n_features)
        if tasks == 1:
            # One task's parts are the block's sums: added into the fresh
            # arrays themselves (the same bits as adding them to zeros).
            parts = (s1[np.newaxis], s2[np.newaxis])
        else:
            parts = np.zeros((2, tasks, n_components, n_features))
        _statistics(
            block.X,
            block.mask,
            block.rows,
            block.shift,
            np.ascontiguousarray(resp),
            self.means,
            self.variances,
            parts[0],
            parts[1],
            tasks,
        )
        if tasks > 1:
            s1 += parts[0].sum(axis=0)
            s2 += parts[1].sum(axis=0)
        return stats


@ParallelKernel
def _evaluate(
    X, mask, rows, shift, means, precisions, log_variances, log_density, tasks
):
    """``log N(x_O; mu_O, diag(var_O))`` per row and component.

    With ``o`` the 0/1 observed indicator and ``x`` zero where missing, the
    observed coordinates' terms are ``(x - o mu)^2 / var + o log var``, and
    the missing ones' vanish: no branch in the inner loop.
    """
    n_rows = rows.shape[0]
    n_components, n_features = means.shape
    for task in prange(tasks):
        centred = np.empty((n_features, _TILE))
        observed = np.empty((n_features, _TILE))
        totals = np.empty((n_components, _TILE))
        counts = np.empty(_TILE)
        stop = (task + 1) * n_rows // tasks
        for first in range(task * n_rows // tasks, stop, _TILE):
            size = min(_TILE, stop - first)
            for t in range(size):
                i = rows[first + t]
                count = 0.0
                for c in range(n_features):
                    # Selects, not branches: a mispredicted branch per
                    # entry (missing at random) costs more than the rest.
                    value = X[i, c] - shift[c]
                    missing = mask[i, c]
                    centred[c, t] = 0.0 if missing else value
                    observed[c, t] = 0.0 if missing else 1.0
                    count += observed[c, t]
                counts[t] = count
            for k in range(n_components):
                for t in range(size):
                    totals[k, t] = 0.0
            for c in range(n_features):
                for k in range(n_components):
                    mean = means[k, c]
                    precision = precisions[k, c]
                    log_variance = log_variances[k, c]
                    for t in range(size):
                        deviation = centred[c, t] - observed[c, t] * mean
                        totals[k, t] += (
                            deviation * deviation * precision
                            + observed[c, t] * log_variance
                        )
            for t in range(size):
                for k in range(n_components):
                    log_density[first + t, k] = -0.5 * (
                        counts[t] * LOG_2PI + totals[k, t]
                    )


@ParallelKernel
def _statistics(
    X, mask, rows, shift, resp, means, variances, s1_parts, s2_parts, tasks
):
    """``s1`` and the diagonal of ``s2`` around each component's mean, per task.

    An observed coordinate adds ``r_k (x - mu_k)`` and its square; a missing
    one, completed by ``mu_k``, adds 0 and ``r_k var_k``: with ``o`` the 0/1
    observed indicator and ``x`` zero where missing, ``r_k (x - o mu_k)``
    and ``r_k ((x - o mu_k)^2 + (1 - o) var_k)``, with no branch. A tile's
    rows are gathered first, in a loop short enough that the processor
    overlaps their cache misses (rows of a block are scattered in ``X``).
    """
    n_rows = rows.shape[0]
    n_components, n_features = means.shape
    for task in prange(tasks):
        centred = np.empty((_TILE, n_features))
        missing = np.empty((_TILE, n_features))
        s1 = np.zeros((n_components, n_features))
        s2 = np.zeros((n_components, n_features))
        stop = (task + 1) * n_rows // tasks
        for first in range(task * n_rows // tasks, stop, _TILE):
            size = min(_TILE, stop - first)
            for t in range(size):
                i = rows[first + t]
                for c in range(n_features):
                    value = X[i, c] - shift[c]
                    is_missing = mask[i, c]
                    centred[t, c] = 0.0 if is_missing else value
                    missing[t, c] = 1.0 if is_missing else 0.0
            for t in range(size):
                for k in range(n_components):
                    rk = resp[first + t, k]
                    for c in range(n_features):
                        deviation = centred[t, c] - (1.0 - missing[t, c]) * means[k, c]
                        weighted = rk * deviation
                        s1[k, c] += weighted
                        s2[k, c] += (
                            weighted * deviation + rk * missing[t, c] * variances[k, c]
                        )
        s1_parts[task] = s1
        s2_parts[task] = s2
