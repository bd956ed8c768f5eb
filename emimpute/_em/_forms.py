"""Covariance forms: one small object per ``covariance_type``.

In the spirit of ``scipy.stats.Covariance``: each form knows the shape of its
covariances, how to factor them, its share of the M-step and its number of
free parameters, so that no other module dispatches on the
``covariance_type`` string. :func:`covariance_form` is the one place that
maps a string to a form.

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
