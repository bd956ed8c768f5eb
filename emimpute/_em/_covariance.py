"""One small representation per ``covariance_type``.

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

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
DENSE_TYPES = ("full", "tied")

ILL_DEFINED_COVARIANCE = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples, constant or collinear columns). Try to decrease "
    "the number of components, increase reg_covar, or scale the input data."
)


def _cholesky_lower(matrices):
    """Lower Cholesky factors of a stack; a clear error if not PD."""
    if not np.all(np.isfinite(matrices)):
        raise ValueError(ILL_DEFINED_COVARIANCE)
    try:
        return np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError as exc:
        raise ValueError(ILL_DEFINED_COVARIANCE) from exc


def _stack(matrices, covariance_type):
    """View ``full``/``tied`` matrices as a stack ``(n, d, d)``."""
    return matrices[np.newaxis] if covariance_type == "tied" else matrices


def _unstack(stack, covariance_type):
    return stack[0] if covariance_type == "tied" else stack


def precision_cholesky_from_covariances(covariances, covariance_type):
    """Precision Cholesky factors of covariance matrices.

    Parameters
    ----------
    covariances : ndarray
        Shape as in the module docstring.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    precisions_cholesky : ndarray
        Same shape as ``covariances``.

    Raises
    ------
    ValueError
        If a covariance is not positive definite; the message says what to
        change.
    """
    if covariance_type in DENSE_TYPES:
        # numpy's batched routines rather than scipy's per-matrix ones: on a
        # busy machine a multithreaded BLAS call on a tiny matrix can cost
        # milliseconds, and this runs at every M-step.
        lower = _cholesky_lower(_stack(covariances, covariance_type))
        # Contiguous, so that a pickled model scores bit for bit alike.
        factors = np.ascontiguousarray(np.swapaxes(np.linalg.inv(lower), -1, -2))
        return _unstack(factors, covariance_type)
    if np.any(~np.isfinite(covariances)) or np.any(covariances <= 0.0):
        raise ValueError(ILL_DEFINED_COVARIANCE)
    return 1.0 / np.sqrt(covariances)


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Precision Cholesky factors of precision matrices (upper triangular)."""
    if covariance_type in DENSE_TYPES:
        # U with U @ U.T == P: the lower Cholesky factor of P with both axes
        # reversed, reversed back.
        flipped = _cholesky_lower(_stack(precisions, covariance_type)[..., ::-1, ::-1])
        return _unstack(flipped[..., ::-1, ::-1].copy(), covariance_type)
    return np.sqrt(precisions)


def precisions_from_cholesky(precisions_cholesky, covariance_type):
    """Precision matrices ``U @ U.T`` from their Cholesky factors."""
    if covariance_type in DENSE_TYPES:
        stack = _stack(precisions_cholesky, covariance_type)
        return _unstack(stack @ np.swapaxes(stack, -1, -2), covariance_type)
    return precisions_cholesky**2


def covariances_from_cholesky(precisions_cholesky, covariance_type):
    """Covariance matrices ``inv(U @ U.T)`` from precision Cholesky factors."""
    if covariance_type in DENSE_TYPES:
        inverse = np.linalg.inv(_stack(precisions_cholesky, covariance_type))
        return _unstack(np.swapaxes(inverse, -1, -2) @ inverse, covariance_type)
    return 1.0 / precisions_cholesky**2


def log_det_precision_cholesky(precisions_cholesky, covariance_type, n_features):
    """``log det U`` per component, that is ``-0.5 log det covariance``.

    Returns
    -------
    log_det : ndarray of shape (n_components,) or scalar for ``tied``
    """
    if covariance_type in DENSE_TYPES:
        stack = _stack(precisions_cholesky, covariance_type)
        log_det = np.log(np.diagonal(stack, axis1=-2, axis2=-1)).sum(axis=-1)
        return _unstack(log_det, covariance_type)
    if covariance_type == "diag":
        return np.log(precisions_cholesky).sum(axis=1)
    return n_features * np.log(precisions_cholesky)


def diagonal_variances(covariances, covariance_type, n_features):
    """Per-component variances ``(K, d)`` of a ``diag`` or ``spherical`` model."""
    if covariance_type == "diag":
        return covariances
    return np.repeat(covariances[:, np.newaxis], n_features, axis=1)


def n_covariance_parameters(covariance_type, n_components, n_features):
    """Number of free parameters in the covariances (for BIC and AIC)."""
    if covariance_type == "full":
        return n_components * n_features * (n_features + 1) / 2.0
    if covariance_type == "tied":
        return n_features * (n_features + 1) / 2.0
    if covariance_type == "diag":
        return n_components * n_features
    return n_components
