"""The Gaussian family's kernel for diagonal and spherical covariances.

No solves: the missing coordinates drop out of the density, the conditional
mean of a missing coordinate is the component's mean and its conditional
variance the component's variance. Imputation reads these as ``(K, rows,
r)`` arrays of means and variances (:class:`DiagonalConditionals`): no
``r x r`` conditional covariance is made, and a draw is ``mean + sqrt(var)
* z``. Cost per E-step, and of imputation (means, standard deviations,
draws): ``O(n K d)`` time, whatever the missingness patterns; memory
``O(rows K d)`` per block (the order ``floats_per_row`` counts).
"""

from dataclasses import dataclass

import numpy as np

from emimpute._em._conditional_draws import diagonal_noise
from emimpute._em._gaussian_block import LOG_2PI as _LOG_2PI
from emimpute._em._stats import SufficientStats

_EPS = np.finfo(float).eps


@dataclass(frozen=True)
class DiagonalConditionals:
    """What diagonal or spherical components tell about one block.

    Under such a component the missing part of a row is independent of its
    observed part: its conditional distribution is the marginal, the
    component's means and variances on the missing coordinates. They are
    kept as vectors, the interface of
    :class:`~emimpute._em._gaussian_block.Conditionals` without its ``(K,
    n_patterns, r, r)`` stack of diagonal matrices.

    Attributes
    ----------
    log_density : ndarray of shape (n_rows, n_components)
    means : ndarray of shape (n_components, n_rows, r) or None
        Conditional means of the missing part, relative to the shift (the
        components' means there); None when the kernel was asked for
        densities only.
    pattern_variances : ndarray of shape (n_components, n_patterns, r) or None
        Conditional variances of the missing part per pattern (the
        components' variances there).
    deviations : ndarray of shape (n_components, n_rows, n_features) or None
        As in ``Conditionals``: ``x - mu_k`` on the observed entries and 0
        on the missing ones, when the kernel computed it; scratch space.
    """

    log_density: np.ndarray
    means: np.ndarray = None
    pattern_variances: np.ndarray = None
    deviations: np.ndarray = None

    def variances(self, row_pattern):
        """Conditional variances per component and row, ``(K, n_rows, r)``."""
        return self.pattern_variances[:, row_pattern]

    def noise(self, component, row_pattern, z):
        """``L z`` per row, ``L = diag(sqrt(var))`` under its component."""
        return diagonal_noise(self.pattern_variances, component, row_pattern, z)

    def row_covariances(self, row_pattern):
        """Conditional covariances per component and row, ``(K, n_rows, r, r)``.

        Dense diagonal matrices, ``O(K n_rows r^2)`` memory: for tests and
        inspection only; imputation reads :meth:`variances` and
        :meth:`noise`.
        """
        variances = self.variances(row_pattern)
        return variances[..., np.newaxis] * np.eye(variances.shape[-1])


class DiagonalKernel:
    """Conditionals and statistics under diagonal or spherical covariances.

    No solves: the missing coordinates drop out of the density, the
    conditional mean of a missing coordinate is the component's mean and its
    conditional variance the component's variance.
    """

    # statistics reads the parameters, not the conditional moments.
    moments_for_stats = False

    def __init__(self, family, shift):
        self.form = family.form
        n_features = family.means.shape[1]
        self.shift = shift
        self.means = family.means - shift
        self.centres = self.means
        # Where the statistics are accumulated, one array for all blocks.
        self.statistics_shift = (shift + self.centres).astype(float)
        self.variances = family.form.variances(family.covariances, n_features)
        self.precisions = 1.0 / self.variances
        self.log_variances = np.log(self.variances)
        # Contiguous (d, K) operands of the expanded square: products with
        # transposed views of small matrices hit a slow path in some BLAS
        # builds.
        self._quadratic = np.ascontiguousarray(self.precisions.T)
        self._linear = np.ascontiguousarray((-2.0 * self.means * self.precisions).T)
        self._constant = np.ascontiguousarray((self.means**2 * self.precisions).T)
        self._log_variances = np.ascontiguousarray(self.log_variances.T)
        self._mean_scale = (self.means**2 * self.precisions).sum(axis=1)

    def floats_per_row(self, n_features, n_missing):
        """Scratch floats per row: a few ``d``-vectors per component.

        Imputation adds a few ``r``-vectors per component (``r <= d``: the
        conditional means, variances, spreads around the mixed mean of
        ``DiagonalConditionals``), of the same order, not counted: the
        chunk size, hence the blocks and the order of the draws, is that of
        the E-step.
        """
        return 6 * n_features + len(self.means) * (3 * n_features + 2)

    def _expansion_is_accurate(self, x):
        """Whether expanding ``(x - mu)^2 / var`` into products is accurate.

        Expanded, each term of the square carries a rounding error of about
        ``eps (x^2 + mu^2) / var`` (x and mu measured from the shift): tiny
        for ordinary data, but not for a tight component far from the shift.
        The expansion (scikit-learn's way, three matrix products for all
        components) is used when that bound is below 1e-11 in every
        component, and the direct difference (K times the memory traffic)
        otherwise.
        """
        spread = (x * x).max(axis=0)
        bound = _EPS * (self.precisions @ spread + self._mean_scale)
        return bool(np.all(bound < 1e-11))

    def _deviations(self, block):
        """``x - mu_k`` on observed entries, 0 on missing ones."""
        deviations = block.centred - self.means[:, np.newaxis, :]
        if block.n_missing:
            deviations *= block.observed
        return deviations

    def evaluate(self, block, moments=True):
        """The :class:`DiagonalConditionals` of a block (moments only when asked).

        The moments are the components' means and variances at the missing
        coordinates: ``O(rows K r)``, gathers only.
        """
        x, observed = block.centred, block.observed
        r = block.n_missing
        n_features = x.shape[1]
        if r == 0:
            log_det = self.log_variances.sum(axis=1)
        else:
            log_det = observed @ self._log_variances
        deviations = None
        if self._expansion_is_accurate(x):
            maha = (x * x) @ self._quadratic + x @ self._linear
            maha += self._constant.sum(axis=0) if r == 0 else observed @ self._constant
            np.maximum(maha, 0.0, out=maha)
        else:
            deviations = self._deviations(block)
            whitened = deviations * np.sqrt(self.precisions)[:, np.newaxis, :]
            maha = np.einsum("knd,knd->nk", whitened, whitened)
        log_density = -0.5 * ((n_features - r) * _LOG_2PI + log_det + maha)
        if not moments:
            return DiagonalConditionals(log_density, deviations=deviations)
        return DiagonalConditionals(
            log_density,
            np.take(self.means, block.missing, axis=1),
            np.take(self.variances, block.pattern_missing, axis=1),
            deviations,
        )

    def statistics(self, block, resp, conditionals):
        """A block's expected statistics, as a new :class:`SufficientStats`.

        Around each component's mean, a missing coordinate's completion
        ``mu_kj`` deviates by 0 and adds its variance ``var_kj`` to ``s2``.
        """
        n_components, n_features = self.means.shape
        stats = SufficientStats.zeros(
            n_components, n_features, self.form, shift=self.statistics_shift
        )
        nk, s1, s2 = stats.arrays
        block_nk = resp.sum(axis=0)
        nk += block_nk
        x = block.centred
        missing_mass = resp.T @ (1.0 - block.observed) if block.n_missing else 0.0
        deviations = conditionals.deviations
        if deviations is None and self._expansion_is_accurate(x):
            # Sums around the shift by products, then moved to each
            # component's mean; exact algebra, and accurate under the same
            # bound as the expanded density.
            observed_mass = block_nk[:, np.newaxis] - missing_mass
            linear = resp.T @ x
            s1 += linear - self.means * observed_mass
            s2 += (
                resp.T @ (x * x)
                - 2.0 * self.means * linear
                + self.means**2 * observed_mass
            )
        else:
            if deviations is None:
                deviations = self._deviations(block)
            weighted = resp.T[:, :, np.newaxis] * deviations
            s1 += weighted.sum(axis=1)
            s2 += np.einsum("knd,knd->kd", weighted, deviations)
        s2 += missing_mass * self.variances
        return stats
