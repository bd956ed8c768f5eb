"""Covariance forms: one small object per ``covariance_type``.

In the spirit of ``scipy.stats.Covariance``: each form knows the shape of its
covariances, how to factor them and lay them out as full matrices, its share
of the M-step, of the conjugate prior (``_conjugate``: the MAP update, the
log-density, the scale) and of data augmentation's posterior draws
(``_uncertainty``), and its number of free parameters, so that no other
module dispatches on the ``covariance_type`` string or on the form's type.
:func:`covariance_form` is the one place that maps a string to a form. The
forms' flags (``dense``; ``shared``, tied; ``spherical``) remain for the
E-step's kernels: which one runs (``_gaussian``), and the layout of its
statistics (``_dense``, ``_stats``).

Shapes, for ``K`` components and ``d`` features:

=============  ===============  =========================================
type           covariances      meaning
=============  ===============  =========================================
``full``       ``(K, d, d)``    each component its own matrix
``tied``       ``(d, d)``       one matrix shared by all components
``diag``       ``(K, d)``       each component a diagonal matrix
``spherical``  ``(K,)``         each component a multiple of the identity
=============  ===============  =========================================

The precision Cholesky factor ``U`` (stored as ``precisions_cholesky_``, as in
scikit-learn) satisfies ``U @ U.T == inv(covariance)``; for ``full`` and
``tied`` it is upper triangular, so ``(x - mu) @ U`` whitens a row.
"""

import numpy as np
from scipy.special import gammaln, multigammaln

ILL_DEFINED_COVARIANCE = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples, constant or collinear columns). Try to decrease "
    "the number of components, increase reg_covar, or scale the input data."
)


# A pivot at or below this share of its feature's variance, times the
# number of features, is singular (see _cholesky_lower; the compiled
# factorisations, _fused.factor_covariance, apply the same bound).
SINGULAR_PIVOT = 16 * np.finfo(float).eps

# The smallest variance whose precision float64 holds.
_SMALLEST_VARIANCE = 1.0 / np.finfo(float).max


def _cholesky_lower(matrices):
    """Lower Cholesky factors of a stack; a clear error if not PD.

    Not PD includes singular to working precision: a pivot (squared
    diagonal of the factor, the variance of a feature left unexplained by
    the features before it) below ``16 d eps`` times that feature's variance
    (a ratio that rescaling the features does not change). Whether the
    factorisation of an exactly singular matrix (a collinear column,
    ``reg_covar=0``) fails or returns a pivot of rounding size is a coin
    toss of the last bits of the statistics; this makes the error
    independent of it.
    """
    if not np.all(np.isfinite(matrices)):
        raise ValueError(ILL_DEFINED_COVARIANCE)
    try:
        lower = np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError as exc:
        raise ValueError(ILL_DEFINED_COVARIANCE) from exc
    n_features = matrices.shape[-1]
    pivots = np.diagonal(lower, axis1=-2, axis2=-1) ** 2
    variances = np.diagonal(matrices, axis1=-2, axis2=-1)
    if np.any(pivots <= SINGULAR_PIVOT * n_features * variances):
        raise ValueError(ILL_DEFINED_COVARIANCE)
    return lower


def _symmetrise(matrices):
    return 0.5 * (matrices + np.swapaxes(matrices, -1, -2))


def _bartlett_draws(df, n_features, random_state):
    """The numbers of Bartlett factors, one per entry of ``df``, in stream order.

    Standard normals of shape ``(K, d, d)`` (only their strict lower
    triangles are used), then the chi-squares ``chi2(df_k - i)``, ``(K, d)``.
    """
    dfs = np.asarray(df, dtype=float)[:, np.newaxis] - np.arange(n_features)
    normals = random_state.standard_normal(size=(len(dfs), n_features, n_features))
    return normals, random_state.chisquare(dfs)


def _inverse_wishart(scale, normals, chi2):
    """Inverse-Wishart draws, one per matrix of ``scale`` ``(K, d, d)``.

    From the numbers of :func:`_bartlett_draws`. With ``scale = L L^T``
    (Cholesky) and ``A`` the Bartlett factor (lower triangular, ``A_ii^2 ~
    chi2(df_k - i)``, standard normal entries below the diagonal), ``L^{-T}
    A A^T L^{-1}`` is ``Wishart(df, inv(scale))`` (a Wishart matrix
    transformed by ``M`` is Wishart with ``M M^T``), so its inverse, the
    draw, is ``C C^T`` with ``C^T = A^{-1} L^T``: one factorisation and one
    solve, no inverse of a matrix. Returns the draws and their factors
    ``C`` (a square root of each: the means' draws use it).
    """
    n_features = scale.shape[-1]
    lower = np.linalg.cholesky(scale)
    bartlett = np.tril(normals, -1)
    bartlett[:, np.arange(n_features), np.arange(n_features)] = np.sqrt(chi2)
    factor_t = np.linalg.solve(bartlett, np.swapaxes(lower, -1, -2))
    draws = np.swapaxes(factor_t, -1, -2) @ factor_t
    return 0.5 * (draws + np.swapaxes(draws, -1, -2)), np.swapaxes(factor_t, -1, -2)


def _drawn_means(means, offsets, counts, previous):
    """The means' posterior draw: ``means + offsets / sqrt(n_k)``; an empty
    component keeps ``previous.means`` (it has no rows to inform it)."""
    safe_counts = np.maximum(counts, 1.0)[:, np.newaxis]
    drawn_means = means + offsets / np.sqrt(safe_counts)
    empty = counts == 0
    if empty.any():
        drawn_means[empty] = previous.means[empty]
    return drawn_means, empty


class DenseForm:
    """Full (one matrix per component) or tied (one shared) covariances.

    Internally both are handled as a stack of matrices, ``(K, d, d)`` or
    ``(1, d, d)``; :meth:`stack` and :meth:`unstack` convert.
    """

    dense = True

    def __init__(self, name, shared):
        self.name = name
        self.shared = shared

    def __repr__(self):
        return f"covariance_form({self.name!r})"

    def __reduce__(self):
        # Pickles as the singleton, so that forms compare by identity.
        return covariance_form, (self.name,)

    def shape(self, n_components, n_features):
        if self.shared:
            return (n_features, n_features)
        return (n_components, n_features, n_features)

    def stack(self, matrices):
        """View the covariances (or factors) as a stack ``(n, d, d)``."""
        return matrices[np.newaxis] if self.shared else matrices

    def unstack(self, stack):
        return stack[0] if self.shared else stack

    def mixture_covariance(self, weights, offsets, covariances):
        """The covariance of a mixture: ``sum_k w_k (S_k + o_k o_k^T)``,
        ``o_k`` the components' offsets from the mixture's mean. An M-step
        on complete data without a conjugate prior keeps it (it is the
        data's, plus ``reg_covar``); a prior's pull on the means and its
        pseudo-counts move it a little (up to 8e-3 an iteration measured).
        """
        within = (
            covariances if self.shared else np.tensordot(weights, covariances, axes=1)
        )
        return within + (offsets.T * weights) @ offsets

    def dense_stack(self, covariances, n_components):
        """Full ``(K, d, d)`` matrices, broadcast over components if tied."""
        stack = self.stack(covariances)
        return np.broadcast_to(stack, (n_components,) + stack.shape[1:])

    def full_matrices(self, values, n_components, n_features):
        """The ``(K, d, d)`` matrices of ``values`` stored in this form's
        shape (covariances, precisions or their factors).

        A view, no copy: ``values`` itself as a stack when it holds ``K``
        matrices, else (tied, ``K > 1``) a read-only broadcast of its one.
        Cost ``O(1)``.
        """
        stack = self.stack(values)
        if len(stack) == n_components:
            return stack
        return self.dense_stack(values, n_components)

    def component_variances(self, covariances, n_components, n_features):
        """Each component's variance of each feature, ``(K, d)``: the
        diagonals (a read-only view). Cost ``O(1)``."""
        stack = self.dense_stack(covariances, n_components)
        return np.diagonal(stack, axis1=1, axis2=2)

    def second_moments(self, matrices):
        """Second-moment statistics in this form's layout
        (:meth:`statistics_shape`) from dense ones ``(..., d, d)``: these
        themselves. Cost ``O(1)``."""
        return matrices

    def precision_cholesky(self, covariances):
        """Precision Cholesky factors; a clear ValueError if not PD."""
        # numpy's batched routines rather than scipy's per-matrix ones: on a
        # busy machine a multithreaded BLAS call on a tiny matrix can cost
        # milliseconds, and this runs at every M-step.
        lower = _cholesky_lower(self.stack(covariances))
        # Contiguous, so that a pickled model scores bit for bit alike.
        return self.unstack(
            np.ascontiguousarray(np.swapaxes(np.linalg.inv(lower), -1, -2))
        )

    def precision_cholesky_from_precisions(self, precisions):
        # U with U @ U.T == P: the lower Cholesky factor of P with both axes
        # reversed, reversed back.
        flipped = _cholesky_lower(self.stack(precisions)[..., ::-1, ::-1])
        return self.unstack(flipped[..., ::-1, ::-1].copy())

    def precisions(self, factors):
        stack = self.stack(factors)
        return self.unstack(stack @ np.swapaxes(stack, -1, -2))

    def covariances(self, factors):
        inverse = np.linalg.inv(self.stack(factors))
        return self.unstack(np.swapaxes(inverse, -1, -2) @ inverse)

    def log_det_cholesky(self, factors, n_features):
        """``log det U`` per matrix (a scalar when tied)."""
        stack = self.stack(factors)
        log_det = np.log(np.diagonal(stack, axis1=-2, axis2=-1)).sum(axis=-1)
        return self.unstack(log_det)

    def n_parameters(self, n_components, n_features):
        n_matrices = 1 if self.shared else n_components
        return n_matrices * n_features * (n_features + 1) / 2.0

    def rows_needed(self, n_components, n_features):
        """Rows each component, and all of them, need to estimate a covariance.

        ``(per_component, in_all)``: a scatter matrix of ``n`` rows around
        ``m`` means has rank at most ``n - m``, so a full covariance needs
        ``n_features + 1`` rows per component, and a tied one a mean per
        component plus ``n_features`` rows in all (fewer give a singular
        estimate that only ``reg_covar`` keeps invertible).
        """
        if self.shared:
            return 1, n_components + n_features
        return n_features + 1, n_components * (n_features + 1)

    def observations_needed(self):
        """Observed values of a feature each component needs (see below)."""
        return 1 if self.shared else 2

    def statistics_shape(self, n_components, n_features):
        """Shape of ``s2``: tied needs only the sum over components."""
        return (1 if self.shared else n_components, n_features, n_features)

    def covariances_from_statistics(
        self, s2, nk, centred_means, reg_covar, divisor=None
    ):
        """The covariance part of the M-step (see ``_gaussian``).

        ``divisor``, when given, replaces the count the scatter is divided
        by (a prior's MAP update, ``_conjugate``).
        """
        n_features = centred_means.shape[1]
        if self.shared:
            covariances = s2[0] - (nk * centred_means.T) @ centred_means
            covariances = _symmetrise(
                covariances / (nk.sum() if divisor is None else divisor)
            )
            covariances.flat[:: n_features + 1] += reg_covar
            return covariances
        covariances = s2 / nk[:, np.newaxis, np.newaxis] - (
            centred_means[:, :, np.newaxis] * centred_means[:, np.newaxis, :]
        )
        if divisor is not None:
            covariances *= (nk / divisor)[:, np.newaxis, np.newaxis]
        covariances = _symmetrise(covariances)
        covariances[:, np.arange(n_features), np.arange(n_features)] += reg_covar
        return covariances

    def scaled(self, covariances, scale):
        """Covariances of the features multiplied by ``scale``."""
        return covariances * np.outer(scale, scale)

    def precision_cholesky_of_factored(self, covariances, inverse_lower):
        """The precision Cholesky factors of one matrix already factored:
        ``inverse_lower`` is ``inv(L)`` for ``S = L L^T``, so ``U =
        inv(L)^T`` (no second factorisation). Cost ``O(d^2)``."""
        return self.unstack(np.ascontiguousarray(inverse_lower.T)[None])

    def colour(self, noise, labels, covariances, n_components):
        """Draws of each component's zero-mean Gaussian from standard
        ``noise`` ``(n, d)``, ``labels`` sorted by component: each
        component's rows times the SVD factor of numpy's
        ``multivariate_normal`` (which ``GaussianMixture.sample`` calls: the
        same seed, the same rows), one product per component. Cost ``O(K
        d^3 + n d^2)``."""
        X = np.empty_like(noise)
        covariances = self.dense_stack(covariances, n_components)
        bounds = np.searchsorted(labels, np.arange(n_components + 1))
        _, spectrum, rotations = np.linalg.svd(covariances)
        factors = np.sqrt(spectrum)[:, :, np.newaxis] * rotations
        for k, factor in enumerate(factors):
            rows = slice(bounds[k], bounds[k + 1])
            X[rows] = noise[rows] @ factor
        return X

    # The conjugate prior (``_conjugate``): normal-inverse-Wishart.

    def min_prior_dof(self, n_features):
        """The degrees of freedom a proper inverse-Wishart prior must
        exceed: ``d - 1``. Cost ``O(1)``."""
        return n_features - 1.0

    def default_prior_scale(self, covariance, factor):
        """The default prior scale ``Psi`` from the data's covariance ``(d,
        d)``: ``factor`` times it. Cost ``O(d^2)``."""
        return factor * covariance

    def prior_scale(self, matrix, variance=None):
        """The prior scale ``Psi`` of a given scale ``matrix`` ``(d, d)``:
        the matrix itself. ``variance`` (one variance for every feature,
        given as a number; for 'spherical') is not used. Cost ``O(1)``."""
        return matrix

    def prior_update(self, prior, s2, nk, offset):
        """The prior's share of the MAP M-step (``GaussianPrior.augment``):
        ``s2`` plus ``kappa`` pseudo-rows at ``offset = mu_P - shift``
        (``(K, d)``) and the scatter ``Psi``, and the count the scatter is
        then divided by: ``nk + nu + d + 2`` per component (full), ``n + nu
        + d + K + 1`` (tied, whose statistics are summed over components
        and share one shift). Cost ``O(K d^2)``.

        Returns
        -------
        s2 : ndarray, in the layout of ``s2``
        divisor : ndarray of shape (K,) or float
        """
        kappa, nu = prior.shrinkage, prior.dof
        n_features = offset.shape[1]
        if self.shared:
            # Tied: the shifts of all components are equal.
            s2 = s2 + (len(nk) * kappa * np.outer(offset[0], offset[0]) + prior.scale)
            return s2, nk.sum() + nu + n_features + len(nk) + 1.0
        s2 = s2 + (
            kappa * offset[:, :, np.newaxis] * offset[:, np.newaxis, :] + prior.scale
        )
        return s2, nk + nu + n_features + 2.0

    def log_prior_terms(self, prior, deviations, covariances, factors):
        """The form's terms of ``log p(means, covariances)`` under the prior
        (``GaussianPrior.log_density``).

        ``deviations`` are the means less ``mu_P``, ``(K, d)``; cost ``O(K
        d^3)`` (the precisions from their factors).

        Returns
        -------
        quadratic : ndarray of shape (K,)
            ``(mu_k - mu_P)^T inv(S_k) (mu_k - mu_P)``.
        log_covariance_prior : float
            The inverse-Wishart log-density of the covariances.
        log_det : ndarray of shape (K,)
            ``log det S_k``.
        """
        nu = prior.dof
        n_components, n_features = deviations.shape
        log_det_factor = self.log_det_cholesky(factors, n_features)
        stack = self.dense_stack(factors, n_components)
        whitened = np.einsum("ki,kij->kj", deviations, stack)
        quadratic = (whitened**2).sum(axis=1)
        precisions = self.stack(self.precisions(factors))
        n_matrices = len(precisions)
        log_det_cov = -2.0 * np.broadcast_to(log_det_factor, (n_matrices,))
        scale_log_det = np.linalg.slogdet(prior.scale)[1]
        inverse_wishart = (
            0.5 * nu * scale_log_det
            - 0.5 * nu * n_features * np.log(2.0)
            - multigammaln(0.5 * nu, n_features)
            - 0.5 * (nu + n_features + 1.0) * log_det_cov
            - 0.5 * np.einsum("ij,kij->k", prior.scale, precisions)
        ).sum()
        log_det = -2.0 * np.broadcast_to(log_det_factor, (n_components,))
        return quadratic, inverse_wishart, log_det

    # Posterior draws given complete data (``_uncertainty``'s P-step).

    def draw_posterior(
        self, counts, means, scatter, ridge, previous, random_state, compiled=None
    ):
        """Means and covariances drawn given complete rows and components.

        Under the non-informative prior of ``_uncertainty``'s module notes:
        each covariance (tied: the one, on the scatter pooled over
        components) ``inverse-Wishart(max(n_k - 1, d), scatter_k + ridge_k
        I)`` (tied: ``max(n - K, d)`` degrees of freedom), each mean
        ``N(mean_k, S_k / n_k)``. The numbers are taken from
        ``random_state`` in this order: the Bartlett factors', then the
        means' standard normals. An empty component keeps ``previous``'s
        mean and (full) covariance.

        Parameters
        ----------
        counts : ndarray of shape (K,)
        means : ndarray of shape (K, d)
        scatter : ndarray of shape (K, d, d)
            The rows' ``component_moments``.
        ridge : ndarray of shape (K,)
            Added to each scatter's diagonal.
        previous : GaussianFamily
        random_state : numpy.random.RandomState
        compiled : callable, default=None
            The compiled twin of this arithmetic for one component with
            rows (``_gaussian._one_dense_draw``), tried first when given;
            where it returns None the numpy arithmetic runs on the same
            numbers.

        Returns
        -------
        means : ndarray of shape (K, d)
        covariances : ndarray, in this form's shape
        factors : ndarray or None
            The precision Cholesky factors when ``compiled`` made them.

        Cost ``O(K d^3)``.
        """
        n_components, n_features = means.shape
        if self.shared:
            df = [max(counts.sum() - n_components, n_features)]
        else:
            df = np.maximum(counts - 1.0, n_features)
        normals, chi2 = _bartlett_draws(df, n_features, random_state)
        noise = random_state.standard_normal(size=(n_components, n_features))
        if compiled is not None and n_components == 1 and counts[0] > 0:
            drawn = compiled(
                self, means, scatter, ridge[0], normals, chi2, noise, counts[0]
            )
            if drawn is not None:
                return drawn
        scatter = scatter + ridge[:, None, None] * np.eye(n_features)
        if self.shared:
            scatter = scatter.sum(axis=0)[None]
        covariances, factors = _inverse_wishart(scatter, normals, chi2)
        factors = np.broadcast_to(factors, (n_components, n_features, n_features))
        covariances = self.unstack(covariances)
        offsets = np.einsum("kij,kj->ki", factors, noise)
        drawn_means, empty = _drawn_means(means, offsets, counts, previous)
        if empty.any() and not self.shared:
            covariances = covariances.copy()
            covariances[empty] = previous.covariances[empty]
        return drawn_means, covariances, None

    def check_precisions(self, precisions):
        for matrix in self.stack(precisions):
            if not np.allclose(matrix, matrix.T) or np.any(
                np.linalg.eigvalsh(matrix) <= 0.0
            ):
                raise ValueError(
                    f"'{self.name} precision' in precisions_init should "
                    "be symmetric, positive-definite"
                )


class DiagonalForm:
    """Diagonal (per-feature variances) or spherical (one variance) components."""

    dense = False
    shared = False

    def __init__(self, name, spherical):
        self.name = name
        self.spherical = spherical

    def __repr__(self):
        return f"covariance_form({self.name!r})"

    def __reduce__(self):
        return covariance_form, (self.name,)

    def shape(self, n_components, n_features):
        return (n_components,) if self.spherical else (n_components, n_features)

    def mixture_covariance(self, weights, offsets, covariances):
        """The part of a mixture's covariance that an M-step on complete
        data (without a conjugate prior) keeps: for 'diag' its diagonal,
        ``sum_k w_k (v_kj + o_kj^2)`` (``o_k`` the components' offsets from
        the mixture's mean); for 'spherical' the mean of that diagonal,
        shape ``(1,)``."""
        variances = self.variances(covariances, offsets.shape[1])
        diagonal = weights @ (variances + offsets**2)
        return diagonal.mean(keepdims=True) if self.spherical else diagonal

    def variances(self, covariances, n_features):
        """Per-component variances ``(K, d)``."""
        if self.spherical:
            return np.repeat(covariances[:, np.newaxis], n_features, axis=1)
        return covariances

    def full_matrices(self, values, n_components, n_features):
        """The ``(K, d, d)`` diagonal matrices of ``values`` stored in this
        form's shape (variances, precisions or their factors). A new array;
        cost ``O(K d^2)``."""
        diagonals = self.variances(values, n_features)
        return diagonals[:, :, np.newaxis] * np.eye(n_features)

    def component_variances(self, covariances, n_components, n_features):
        """Each component's variance of each feature, ``(K, d)`` (a new
        array for 'spherical', ``covariances`` itself for 'diag'). Cost ``O(K
        d)``."""
        return self.variances(covariances, n_features)

    def second_moments(self, matrices):
        """Second-moment statistics in this form's layout
        (:meth:`statistics_shape`) from dense ones ``(..., d, d)``: their
        diagonals, a new array. Cost ``O(d)`` per matrix."""
        return np.diagonal(matrices, axis1=-2, axis2=-1).copy()

    def precision_cholesky(self, covariances):
        # A variance whose precision overflows is singular to working
        # precision (a constant feature with holes, reg_covar=0, shrinks
        # geometrically to subnormals): the error, not an inf precision.
        if np.any(~np.isfinite(covariances)) or np.any(
            covariances < _SMALLEST_VARIANCE
        ):
            raise ValueError(ILL_DEFINED_COVARIANCE)
        return 1.0 / np.sqrt(covariances)

    def precision_cholesky_from_precisions(self, precisions):
        return np.sqrt(precisions)

    def precisions(self, factors):
        return factors**2

    def covariances(self, factors):
        return 1.0 / factors**2

    def log_det_cholesky(self, factors, n_features):
        if self.spherical:
            return n_features * np.log(factors)
        return np.log(factors).sum(axis=1)

    def n_parameters(self, n_components, n_features):
        return n_components if self.spherical else n_components * n_features

    def rows_needed(self, n_components, n_features):
        """Two rows per component: a variance from one row is 0."""
        return 2, 2 * n_components

    def observations_needed(self):
        """Observed values of a feature each component needs.

        Two where the component has its own variance of the feature (a
        variance from one value is 0), one where that variance is shared
        (spherical: with the other features; tied: with the other
        components) and only the mean is the feature's own.
        """
        return 1 if self.spherical else 2

    def statistics_shape(self, n_components, n_features):
        return (n_components, n_features)

    def covariances_from_statistics(
        self, s2, nk, centred_means, reg_covar, divisor=None
    ):
        covariances = s2 / nk[:, np.newaxis] - centred_means**2
        if divisor is not None:
            covariances *= (nk / divisor)[:, np.newaxis]
        covariances += reg_covar
        return covariances.mean(axis=1) if self.spherical else covariances

    def scaled(self, covariances, scale):
        """Per-feature variances of the features multiplied by ``scale``.

        A spherical covariance stops being spherical under unequal scales:
        it comes back as per-feature variances, shape ``(K, d)``, like diag.
        """
        if self.spherical:
            return covariances[:, np.newaxis] * scale**2
        return covariances * scale**2

    def precision_cholesky_of_factored(self, covariances, inverse_lower):
        """The precision Cholesky factors of one matrix already factored,
        in this form's shape: from its variances, as
        :meth:`precision_cholesky` makes them (``inverse_lower`` is not
        used). Cost ``O(d)``."""
        return self.precision_cholesky(covariances)

    def colour(self, noise, labels, covariances, n_components):
        """Draws of each component's zero-mean Gaussian from standard
        ``noise`` ``(n, d)``: each row times its component's standard
        deviations. Cost ``O(n d)``."""
        scales = np.sqrt(self.variances(covariances, noise.shape[1]))
        return noise * scales[labels]

    # The conjugate prior (``_conjugate``): inverse-gamma variances.

    def min_prior_dof(self, n_features):
        """The degrees of freedom a proper inverse-gamma prior must exceed:
        0. Cost ``O(1)``."""
        return 0.0

    def default_prior_scale(self, covariance, factor):
        """The default prior scales ``psi`` ``(d,)`` from the data's
        covariance ``(d, d)``: ``factor`` times the mean of its diagonal,
        for every feature. Cost ``O(d)``."""
        n_features = len(covariance)
        return factor * np.full(n_features, np.trace(covariance) / n_features)

    def prior_scale(self, matrix, variance=None):
        """The prior scales ``psi`` ``(d,)`` of a given scale ``matrix``
        ``(d, d)``: its diagonal ('diag'), or the mean of it for every
        feature ('spherical'; ``variance``, when given, instead: a number
        given in the data's units, converted to one variance for every
        feature). Cost ``O(d)``."""
        n_features = len(matrix)
        variances = np.diagonal(matrix).copy()
        if self.spherical:
            if variance is not None:
                return np.full(n_features, variance)
            return np.full(n_features, variances.mean())
        return variances

    def prior_update(self, prior, s2, nk, offset):
        """The prior's share of the MAP M-step (``GaussianPrior.augment``):
        ``s2`` plus ``kappa`` pseudo-rows at ``offset = mu_P - shift``
        (``(K, d)``) and the scales ``psi``, and the count the scatter is
        then divided by: ``nk + nu + 3`` ('diag'); for 'spherical', which
        averages the per-feature variances, ``psi / d`` per feature (they
        sum to ``psi``) and ``nk + 1 + (nu + 2) / d`` (times ``d``, ``nu +
        (nk + 1) d + 2``). Cost ``O(K d)``.

        Returns
        -------
        s2 : ndarray of shape (K, d)
        divisor : ndarray of shape (K,)
        """
        kappa, nu = prior.shrinkage, prior.dof
        n_features = offset.shape[1]
        if self.spherical:
            s2 = s2 + kappa * offset**2 + prior.scale / n_features
            return s2, nk + 1.0 + (nu + 2.0) / n_features
        s2 = s2 + kappa * offset**2 + prior.scale
        return s2, nk + nu + 3.0

    def log_prior_terms(self, prior, deviations, covariances, factors):
        """The form's terms of ``log p(means, covariances)`` under the prior
        (``GaussianPrior.log_density``): see :meth:`DenseForm.log_prior_terms`;
        the covariances' log-density is the inverse-gamma one of each
        variance (one per component for 'spherical'). Cost ``O(K d)``.
        """
        nu = prior.dof
        n_features = deviations.shape[1]
        variances = self.variances(covariances, n_features)
        quadratic = (deviations**2 / variances).sum(axis=1)
        shape_ = 0.5 * nu
        if self.spherical:
            # One variance per component, under the features' mean scale.
            rate, var = 0.5 * prior.scale.mean(), variances[:, 0]
        else:
            rate, var = 0.5 * prior.scale, variances
        inverse_gamma = (
            shape_ * np.log(rate)
            - gammaln(shape_)
            - (shape_ + 1.0) * np.log(var)
            - rate / var
        ).sum()
        return quadratic, inverse_gamma, np.log(variances).sum(axis=1)

    # Posterior draws given complete data (``_uncertainty``'s P-step).

    def draw_posterior(
        self, counts, means, scatter, ridge, previous, random_state, compiled=None
    ):
        """Means and covariances drawn given complete rows and components.

        See :meth:`DenseForm.draw_posterior`; here each variance is a scaled
        inverse chi-square draw: ``(scatter_k,jj + ridge_k) / chi2(max(n_k -
        1, 1))`` per feature ('diag'), or their sum over features over
        ``chi2(max(d (n_k - 1), 1))`` ('spherical'), and each mean ``N(mean_k,
        diag(S_k) / n_k)``. The numbers are taken from ``random_state`` in
        this order: the chi-squares, then the means' standard normals.
        ``compiled`` is not used (no compiled twin: ``O(K d)`` arithmetic).
        ``factors`` is None.

        Cost ``O(K d)``.
        """
        n_components, n_features = means.shape
        diagonal = np.diagonal(scatter, axis1=1, axis2=2) + ridge[:, np.newaxis]
        if self.spherical:
            df = np.maximum(n_features * (counts - 1.0), 1.0)
            chi2 = random_state.chisquare(df)
            covariances = diagonal.sum(axis=1) / chi2
            variances_of_means = np.repeat(covariances[:, None], n_features, axis=1)
        else:
            df = np.maximum(counts - 1.0, 1.0)[:, np.newaxis]
            covariances = diagonal / random_state.chisquare(
                np.broadcast_to(df, diagonal.shape)
            )
            variances_of_means = covariances
        noise = random_state.standard_normal(size=(n_components, n_features))
        offsets = np.sqrt(variances_of_means) * noise
        drawn_means, empty = _drawn_means(means, offsets, counts, previous)
        if empty.any():
            covariances = covariances.copy()
            covariances[empty] = previous.covariances[empty]
        return drawn_means, covariances, None

    def check_precisions(self, precisions):
        if np.any(precisions <= 0.0):
            raise ValueError(
                f"'{self.name} precision' in precisions_init should be positive"
            )
        # A subnormal precision's variance, 1 / precision, overflows float64.
        if np.any(precisions < 1.0 / np.finfo(float).max):
            raise ValueError(
                f"'{self.name} precision' in precisions_init holds values "
                f"below 1 / {np.finfo(float).max:.3g} (min {precisions.min():.3g}):"
                " their variances overflow float64. Give larger precisions, "
                "or leave precisions_init=None."
            )


FULL = DenseForm("full", shared=False)
TIED = DenseForm("tied", shared=True)
DIAG = DiagonalForm("diag", spherical=False)
SPHERICAL = DiagonalForm("spherical", spherical=True)

_FORMS = {form.name: form for form in (FULL, TIED, DIAG, SPHERICAL)}

COVARIANCE_TYPES = tuple(_FORMS)


def covariance_form(covariance_type):
    """The form object of a ``covariance_type`` string.

    Examples
    --------
    >>> from emimpute._em._forms import covariance_form
    >>> covariance_form("tied").shape(3, 2)
    (2, 2)
    """
    try:
        return _FORMS[covariance_type]
    except KeyError:
        raise ValueError(
            f"Unknown covariance_type {covariance_type!r}; expected one of "
            f"{COVARIANCE_TYPES}."
        ) from None
