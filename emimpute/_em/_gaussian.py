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

The family's posterior draw given complete rows (the P-step,
``_uncertainty``, of ``_chain``'s data augmentation) is here too: the rows'
:func:`component_moments`, then the form's ``draw_posterior``; one dense
Gaussian's in one compiled call (``_one_dense_draw``).
"""

import math
from dataclasses import dataclass

import numpy as np

from emimpute._em._dense import DenseKernel
from emimpute._em._diagonal import DiagonalKernel
from emimpute._em._forms import DenseForm, DiagonalForm
from emimpute._em._fused import cholesky, factor_covariance, jit, use_fused
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

    def from_estimates(self, arrays):
        """The family of ``arrays`` laid out as :meth:`estimates` (the inverse
        of it), in this family's form; its covariances factored, ``O(K
        d^3)``.

        Raises
        ------
        ValueError
            If a covariance is not positive definite.
        """
        means, covariances = arrays
        return GaussianFamily.from_covariances(self.form, means, covariances)

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
        noise = random_state.standard_normal(size=(len(labels), self.n_features))
        X = self.form.colour(noise, labels, self.covariances, self.n_components)
        return X + self.means[labels]

    def draw_given_complete(
        self, numeric, codes, labels, prior, random_state, *, weights=None
    ):
        """The P-step's draw of this family given complete rows and their
        components (``_uncertainty.draw_params``): means and covariances
        from their posterior under the non-informative prior of
        ``_uncertainty``'s module notes, rows weighted by ``weights``
        (copies); ``codes`` are not read. Cost ``O(n d^2 + K d^3)``.
        """
        moments = component_moments(numeric, labels, self.n_components, weights)
        return self.draw_from_moments(*moments, prior.reg_covar, random_state)

    def draw_from_moments(self, counts, means, scatter, reg_covar, random_state):
        """:meth:`draw_given_complete` given the rows' :func:`component_moments`.

        ``n_k * reg_covar`` is added to each scatter's diagonal (the
        counterpart of the fit's ``reg_covar``); one dense Gaussian (the
        default imputation model) is drawn by a compiled kernel when numba
        is in use, from the same numbers (``_one_dense_draw``). Cost ``O(K
        d^3)``.
        """
        form = self.form
        ridge = np.maximum(counts, 1.0) * reg_covar
        means, covariances, factors = form.draw_posterior(
            counts,
            means,
            scatter,
            ridge,
            self,
            random_state,
            compiled=_one_dense_draw if use_fused() else None,
        )
        if factors is not None:
            return type(self)(form, means, covariances, factors)
        return type(self).from_covariances(form, means, covariances)

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


def component_moments(values, labels, n_components, weights=None):
    """Per-component counts, means and scatter matrices of complete rows.

    Rows weighted by ``weights`` (copies), when given.

    Returns
    -------
    counts : ndarray of shape (K,)
    means : ndarray of shape (K, d)
        0 for an empty component.
    scatter : ndarray of shape (K, d, d)
        ``sum_i (x_i - mean_k)(x_i - mean_k)^T`` over the component's rows.
    """
    counts = np.bincount(labels, weights=weights, minlength=n_components)
    counts = counts.astype(float, copy=False)
    scatter = np.empty((n_components, values.shape[1], values.shape[1]))
    means = np.empty((n_components, values.shape[1]))
    # One component at a time (a loop over K, not over rows): each product
    # is a plain 2-D one; the batched matmul of (K, d, n) strided views it
    # replaces took 3x longer at n = 10000, d = 10, K = 1 (0.8 ms), and
    # this runs at every data augmentation step.
    # Column sums as products with the weights (or ones): a tall array's
    # column sum is several times slower.
    row_weights = np.ones(len(values)) if weights is None else weights
    for k in range(n_components):
        rows = slice(None) if n_components == 1 else labels == k
        mine, mine_weights = values[rows], row_weights[rows]
        means[k] = (mine_weights @ mine) / max(counts[k], 1.0)
        deviations = mine - means[k]
        if weights is not None:
            # D^T W D as (W^1/2 D)^T (W^1/2 D): numpy takes the product of
            # an array with itself's transpose as one symmetric BLAS call,
            # 3x faster than that of two arrays (weights are >= 0).
            deviations *= np.sqrt(mine_weights)[:, np.newaxis]
        scatter[k] = deviations.T @ deviations
    return counts, means, scatter


def _one_dense_draw(form, means, scatter, ridge, normals, chi2, noise, count):
    """The dense arithmetic of ``DenseForm.draw_posterior``, compiled.

    One Gaussian with rows (``means`` and ``scatter`` of shapes ``(1, d)``
    and ``(1, d, d)`` of ``count`` rows, ``ridge`` added to the scatter's
    diagonal), from the
    same numbers: the inverse-Wishart draw and its factor, the mean, then
    the precision's Cholesky factor, in one call instead of some thirty
    numpy calls on ``d x d`` arrays (at d = 10, 0.19 ms of a data
    augmentation step's 0.6). ``(means, covariances, precisions_cholesky)``
    in the form's shapes; None where a factorisation fails or a pivot is
    below ``_forms``' bound: the numpy arithmetic on the same numbers then
    raises ``_forms``' error.
    """
    n_features = means.shape[1]
    covariance = np.empty((n_features, n_features))
    factor = np.empty((n_features, n_features))
    drawn_mean = np.empty(n_features)
    ok = _dense_draw(
        scatter[0],
        ridge,
        normals[0],
        np.sqrt(chi2[0]),
        noise[0],
        means[0],
        1.0 / math.sqrt(max(count, 1.0)),
        covariance,
        factor,
        drawn_mean,
    )
    if not ok:
        return None
    return (
        drawn_mean[np.newaxis],
        form.unstack(covariance[np.newaxis]),
        form.unstack(factor[np.newaxis]),
    )


@jit
def _dense_draw(
    scatter, ridge, normals, roots, noise, mean, shrink, covariance, factor, drawn
):  # pragma: no cover - compiled; numpy twin: DenseForm.draw_posterior
    # scale = scatter + ridge I = L L^T; A the Bartlett factor; C^T = A^{-1}
    # L^T; the draw C C^T, the mean + C noise shrink (shrink = 1 / sqrt(n));
    # then the precision factor inv(chol(S))^T.
    d = len(mean)
    lower = np.empty((1, d, d))
    reciprocals = np.empty((1, d))
    lower[0] = scatter
    for i in range(d):
        lower[0, i, i] += ridge
    if not cholesky(lower, reciprocals, 0, d):
        return False
    # Forward substitution, A X = L^T, column by column (X = C^T).
    solved = np.zeros((d, d))
    for c in range(d):
        for i in range(d):
            total = lower[0, c, i] if c >= i else 0.0
            for p in range(i):
                total -= normals[i, p] * solved[p, c]
            solved[i, c] = total / roots[i]
    for i in range(d):
        for j in range(i + 1):
            total = 0.0
            for p in range(d):
                total += solved[p, i] * solved[p, j]
            covariance[i, j] = total
            covariance[j, i] = total
        total = 0.0
        for p in range(d):
            total += solved[p, i] * noise[p]
        drawn[i] = mean[i] + total * shrink
    # The precision's factor, with _forms' rule: U = inv(L_S)^T.
    inverse = np.empty((d, d))
    if np.isnan(factor_covariance(covariance, np.empty((d, d)), inverse)):
        return False
    for c in range(d):
        for i in range(d):
            factor[c, i] = inverse[i, c]
    return True


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
