"""The fused E-step for diagonal and spherical covariances, rows with holes.

The arithmetic of ``_diagonal`` (missing coordinates drop out of the
density; their completion is the component's mean, with its variance), row
by row in compiled code (numba, see ``_fused``), parallel over row tasks:
the log-density and the statistics each in one pass over the block, from
the direct differences ``x - mu_k`` (accurate however far a tight component
is from the shift, so no accuracy check is needed), with no ``(K, rows,
d)`` temporary. Cost per E-step: ``O(n K d)``; memory: ``O(K d)`` per
thread beyond the chunk.
"""

import numpy as np

from emimpute._em._diagonal import DiagonalKernel
from emimpute._em._fused import ParallelKernel, n_tasks, prange
from emimpute._em._gaussian_block import LOG_2PI, FusedConditionals
from emimpute._em._stats import SufficientStats


class FusedDiagonalKernel(DiagonalKernel):
    """:class:`~emimpute._em._diagonal.DiagonalKernel` compiled on rows with holes.

    Complete rows and the moments asked by imputation take the numpy
    kernel's paths.
    """

    def evaluate(self, block, moments=True):
        if moments or block.n_missing == 0:
            return super().evaluate(block, moments)
        log_density = np.empty((len(block.rows), len(self.means)))
        _evaluate(
            np.ascontiguousarray(block.centred),
            block.missing,
            self.means,
            self.precisions,
            self.log_variances,
            log_density,
            n_tasks(len(block.rows), log_density.shape[1] * block.centred.shape[1]),
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
        parts = np.zeros((2, tasks, n_components, n_features))
        _statistics(
            np.ascontiguousarray(block.centred),
            block.missing,
            np.ascontiguousarray(resp),
            self.means,
            self.variances,
            parts[0],
            parts[1],
            tasks,
        )
        s1 += parts[0].sum(axis=0)
        s2 += parts[1].sum(axis=0)
        return stats


@ParallelKernel
def _evaluate(x, missing, means, precisions, log_variances, log_density, tasks):
    """``log N(x_O; mu_O, diag(var_O))`` per row and component."""
    n_rows, n_features = x.shape
    n_components = means.shape[0]
    n_observed = n_features - missing.shape[1]
    for task in prange(tasks):
        is_missing = np.zeros(n_features, np.bool_)
        for i in range(task * n_rows // tasks, (task + 1) * n_rows // tasks):
            for c in range(n_features):
                is_missing[c] = False
            for a in range(missing.shape[1]):
                is_missing[missing[i, a]] = True
            for k in range(n_components):
                total = n_observed * LOG_2PI
                for c in range(n_features):
                    if not is_missing[c]:
                        deviation = x[i, c] - means[k, c]
                        total += deviation * deviation * precisions[k, c]
                        total += log_variances[k, c]
                log_density[i, k] = -0.5 * total


@ParallelKernel
def _statistics(x, missing, resp, means, variances, s1_parts, s2_parts, tasks):
    """``s1`` and the diagonal of ``s2`` around each component's mean, per task.

    An observed coordinate adds ``r_k (x - mu_k)`` and its square; a missing
    one, completed by ``mu_k``, adds 0 and ``r_k var_k``.
    """
    n_rows, n_features = x.shape
    n_components = means.shape[0]
    for task in prange(tasks):
        is_missing = np.zeros(n_features, np.bool_)
        for i in range(task * n_rows // tasks, (task + 1) * n_rows // tasks):
            for c in range(n_features):
                is_missing[c] = False
            for a in range(missing.shape[1]):
                is_missing[missing[i, a]] = True
            for k in range(n_components):
                rk = resp[i, k]
                for c in range(n_features):
                    if is_missing[c]:
                        s2_parts[task, k, c] += rk * variances[k, c]
                    else:
                        deviation = x[i, c] - means[k, c]
                        weighted = rk * deviation
                        s1_parts[task, k, c] += weighted
                        s2_parts[task, k, c] += weighted * deviation
