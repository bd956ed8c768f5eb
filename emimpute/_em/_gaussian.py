"""The Gaussian family: one multivariate normal block over the numeric columns.

Each component has a mean and a covariance in the family's covariance form
(``_forms``). Missing numeric coordinates are marginalised in the density
and completed by their conditional distribution in the statistics; the
arithmetic lives in the two kernels, ``_dense`` (full, tied) and
``_diagonal`` (diag, spherical), which this module binds to the data; their
compiled versions ``_fused_dense`` and ``_fused_diagonal`` take the E-step's
rows with missing entries when numba is installed (``_fused``).

Cost per E-step, for ``n`` rows, ``d`` numeric features and ``K``
components: ``O(n K d^2)`` for full and tied (plus the per-pattern
factorisations described in ``_dense``), ``O(n K d)`` for diag and
spherical; the M-step is ``O(K d^3)`` (one Cholesky per component).
"""

from dataclasses import dataclass

import numpy as np

from emimpute._em._dense import DenseKernel
from emimpute._em._diagonal import DiagonalKernel
from emimpute._em._forms import DenseForm, DiagonalForm
from emimpute._em._fused import use_fused
from emimpute._em._fused_dense import FusedDenseKernel
from emimpute._em._fused_diagonal import FusedDiagonalKernel
from emimpute._em._gaussian_block import GaussianBlock
from emimpute._em._stats import NK_FLOOR, SufficientStats, add_complete_rows


@dataclass(frozen=True)
class GaussianFamily:
    """Means and covariances of the numeric columns, per component.

    Attributes
    ----------
    form : DenseForm or DiagonalForm
        The covariance form (``covariance_type``).
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        In the shape of ``form``.
    precisions_cholesky : ndarray
        Same shape; ``U @ U.T == inv(covariance)``.
    """

    form: DenseForm | DiagonalForm
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @classmethod
    def from_covariances(cls, form, means, covariances):
        """Build the family and factor its covariances.

        Raises
        ------
        ValueError
            If a covariance is not positive definite; the message says what
            to change.
        """
        return cls(form, means, covariances, form.precision_cholesky(covariances))

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]

    def estimates(self):
        """The arrays EM estimates: the means and the covariances (in the
        form's shape)."""
        return (self.means, self.covariances)

    def marginal_moments(self, weights):
        """The mixture's mean of the features and their covariance (see
        ``form.mixture_covariance``)."""
        mean = weights @ self.means
        return (
            mean,
            self.form.mixture_covariance(weights, self.means - mean, self.covariances),
        )

    def kernel(self, data, weights, *, shift=None, route="auto", engine="auto"):
        """This family's :class:`GaussianKernel` on ``data``."""
        return GaussianKernel(
            self, data, weights, shift=shift, route=route, engine=engine
        )

    def m_step(self, stats, prior):
        """Maximise the expected complete-data log-likelihood.

        With ``nk`` the expected counts and ``m_k = s1_k / nk`` (means
        relative to the shifts): ``means = shift_k + m_k`` and

        - full: ``S_k = s2_k / nk - m_k m_k^T + reg_covar I``
        - tied: ``S = sum_k (s2_k - nk m_k m_k^T) / sum(nk) + reg_covar I``
        - diag: ``diag(S_k) = s2_k / nk - m_k**2 + reg_covar``
        - spherical: the mean of the diag variances over features.

        ``reg_covar`` is ``prior.reg_covar``, added after the M-step as
        scikit-learn's ``GaussianMixture`` does. With a conjugate prior
        (``prior.gaussian``) the update is the MAP one: the same formulas on
        the statistics augmented by the prior, the scatter divided by a
        larger count (``_conjugate``).
        """
        nk, s1, s2, divisor = stats.nk, stats.s1, stats.s2, None
        if prior.gaussian is not None:
            nk, s1, s2, divisor = prior.gaussian.augment(stats, self.form)
        nk = nk + NK_FLOOR
        centred_means = s1 / nk[:, np.newaxis]
        covariances = self.form.covariances_from_statistics(
            s2, nk, centred_means, prior.reg_covar, divisor
        )
        return GaussianFamily.from_covariances(
            self.form, stats.shift + centred_means, covariances
        )

    def log_prior(self, prior):
        """The log-density of the means and covariances under the prior."""
        if prior.gaussian is None:
            return 0.0
        return prior.gaussian.log_density(self)

    def n_parameters(self):
        """Free parameters: the means and the covariances."""
        n_components, n_features = self.means.shape
        return n_components * n_features + self.form.n_parameters(
            n_components, n_features
        )

    def sample(self, labels, random_state):
        """One draw per label from that component's Gaussian.

        ``labels`` are sorted by component (as ``sample_mixture`` makes
        them), so that the dense forms colour each component's rows with one
        product.
        """
        n_features = self.n_features
        noise = random_state.standard_normal(size=(len(labels), n_features))
        if self.form.dense:
            X = np.empty_like(noise)
            covariances = self.form.dense_stack(self.covariances, self.n_components)
            bounds = np.searchsorted(labels, np.arange(self.n_components + 1))
            # The SVD factor of numpy's multivariate_normal, which
            # GaussianMixture.sample calls: the same seed, the same rows.
            _, spectrum, rotations = np.linalg.svd(covariances)
            factors = np.sqrt(spectrum)[:, :, np.newaxis] * rotations
            for k, factor in enumerate(factors):
                rows = slice(bounds[k], bounds[k + 1])
                X[rows] = noise[rows] @ factor
        else:
            scales = np.sqrt(self.form.variances(self.covariances, n_features))
            X = noise * scales[labels]
        return X + self.means[labels]

    def scaled(self, centre, scale):
        """Means and covariances of the features mapped to ``x * scale + centre``.

        The Gaussian family is closed under per-feature affine maps, so the
        model in the data's units has means ``mu * scale + centre`` and
        covariances ``S * outer(scale, scale)`` (per-feature variances for
        diag and spherical forms).

        Returns
        -------
        means : ndarray of shape (n_components, n_features)
        covariances : ndarray
        """
        return self.means * scale + centre, self.form.scaled(self.covariances, scale)


def complete_data_statistics(X, resp, form, *, chunk_size=8192):
    """Statistics of complete data ``X`` under responsibilities ``resp``.

    Accumulated around each component's weighted mean (two passes, as
    scikit-learn does), or around the overall mean for 'tied', in row chunks
    so that no temporary of the size of ``X`` is made.
    """
    n_samples, n_features = X.shape
    n_components = resp.shape[1]
    shift = X.mean(axis=0)
    chunks = [slice(i, i + chunk_size) for i in range(0, n_samples, chunk_size)]
    centres = np.zeros((n_components, n_features))
    if not form.shared:
        for rows in chunks:
            centres += resp[rows].T @ (X[rows] - shift)
        centres /= resp.sum(axis=0)[:, np.newaxis] + NK_FLOOR
    stats = SufficientStats.zeros(n_components, n_features, form, shift=shift + centres)
    for rows in chunks:
        add_complete_rows(
            stats.arrays, X[rows] - shift, resp[rows], centres, shared=form.shared
        )
    return stats


@dataclass(frozen=True)
class GaussianEvaluation:
    """A block's numeric rows and what the components say about them."""

    block: GaussianBlock
    conditionals: object

    @property
    def log_density(self):
        return self.conditionals.log_density


class GaussianKernel:
    """The Gaussian family bound to a data set, for one E-step.

    Rows are centred on the mixture's mean (``shift``), which keeps the
    one-pass statistics free of cancellation for offset data.

    Parameters
    ----------
    family : GaussianFamily
    data : EMData
    weights : ndarray of shape (n_components,)
        The mixture weights, for the shift.
    shift : ndarray of shape (n_features,), default=None
        Centre the rows on this instead of the mixture's mean (results agree
        to rounding whatever the shift; tests vary it).
    route : {'auto', 'precision', 'covariance'}, default='auto'
        Forces the route of the dense kernel, for tests.
    engine : {'auto', 'numba', 'numpy'}, default='auto'
        The compiled kernels of ``_fused_dense`` and ``_fused_diagonal`` for
        the E-step on rows with missing entries, or the numpy ones of
        ``_dense`` and ``_diagonal``; 'auto' takes the compiled ones when
        numba is installed, unless the ``EMIMPUTE_KERNEL`` environment
        variable says ``numpy`` (see ``_fused``).
    """

    def __init__(
        self, family, data, weights, *, shift=None, route="auto", engine="auto"
    ):
        self.shift = weights @ family.means if shift is None else shift
        self.X = data.numeric
        self.mask = data.patterns.mask
        self.n_features = family.n_features
        fused = use_fused(engine)
        if family.form.dense:
            dense = FusedDenseKernel if fused else DenseKernel
            self.inner = dense(family, self.shift, route)
        else:
            diagonal = FusedDiagonalKernel if fused else DiagonalKernel
            self.inner = diagonal(family, self.shift)

    def floats_per_row(self, n_missing):
        return self.inner.floats_per_row(self.n_features, n_missing)

    def evaluate(self, block, *, moments=False):
        """Log-densities of the block's observed numeric parts.

        ``moments=True`` also computes the conditional means and covariances
        of the missing parts (statistics never need them requested: the
        dense kernel computes them anyway, the diagonal one reads the
        parameters).
        """
        numeric = GaussianBlock.gather(block, self.X, self.mask, self.shift)
        return GaussianEvaluation(numeric, self.inner.evaluate(numeric, moments))

    def statistics(self, block, resp, evaluation):
        return self.inner.statistics(evaluation.block, resp, evaluation.conditionals)

    def impute(self, block, resp, evaluation, filled, *, draw=None):
        """Write the block's completed numeric entries into ``filled.numeric``.

        The conditional mean ``sum_k r_k m_k`` of each missing entry, or,
        when ``draw = (component, random_state)`` gives each row's drawn
        component, a draw from that component's conditional Gaussian.
        ``filled.std``, when not None, receives, by the law of total variance,
        ``sqrt(sum_k r_k (diag(C_k) + (m_k - mean)**2))``: the spread around
        the mean, not the second moment minus the squared mean, which
        cancels every digit when the mean is large against the spread.
        """
        if block.n_missing == 0:
            return
        out, std = filled.numeric, filled.std
        conditionals = evaluation.conditionals
        shift = self.shift[block.missing]
        rows = block.rows[:, np.newaxis]
        mean = None
        if draw is None or std is not None:
            mean = np.einsum("nk,kni->ni", resp, conditionals.means)
        if draw is None:
            out[rows, block.missing] = mean + shift
        else:
            component, random_state = draw
            n_rows = len(block.rows)
            noise = random_state.standard_normal(size=(n_rows, block.n_missing))
            noise = conditionals.noise(component, block.row_pattern, noise)
            if len(conditionals.means) == 1:
                # One component: no gather of each row's (the same sum).
                drawn = conditionals.means[0] + noise
            else:
                drawn = conditionals.means[component, np.arange(n_rows)]
                drawn += noise
            drawn += shift
            if out.flags.c_contiguous:
                # By flat indices (kept with a kept block): a third of the
                # time of the (rows, missing) scatter, at every draw.
                out.ravel()[_flat_missing(block, out.shape[1])] = drawn.ravel()
            else:
                out[rows, block.missing] = drawn
        if std is not None:
            variance = conditionals.variances(block.row_pattern)
            if len(conditionals.means) > 1:
                variance = variance + (conditionals.means - mean) ** 2
            std[rows, block.missing] = np.sqrt(np.einsum("nk,kni->ni", resp, variance))


def _flat_missing(block, n_features):
    """Flat indices of a block's missing entries in a C-ordered (n, d) array."""
    return block.kept(
        "flat_missing_entries",
        lambda: (block.rows[:, np.newaxis] * n_features + block.missing).ravel(),
    )
