"""Initial parameters: k-means, k-means++, random, random rows, or given."""

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from emimpute._em._covariance import (
    DENSE_TYPES,
    covariances_from_cholesky,
    precision_cholesky_from_precisions,
)
from emimpute._em._estep import complete_data_stats
from emimpute._em._mstep import m_step
from emimpute._em._params import MixtureParams

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


def mean_filled(X, mask):
    """``X`` with each missing entry replaced by its column's observed mean.

    A copy when anything is missing; ``X`` itself otherwise.
    """
    if not mask.any():
        return X
    filled = np.array(X, dtype=float, copy=True)
    # Zeros first, so that the sums need no second array of X's size.
    filled[mask] = 0.0
    counts = len(mask) - mask.sum(axis=0)
    sums = filled.sum(axis=0)
    column_means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    filled[mask] = np.broadcast_to(column_means, filled.shape)[mask]
    return filled


def initial_responsibilities(
    X, n_components, init_params, random_state, *, private=False
):
    """Responsibilities to start EM from, as scikit-learn's GaussianMixture.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Complete data (missing entries already filled).
    n_components : int
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    random_state : numpy.random.RandomState
    private : bool, default=False
        Whether ``X`` is a scratch copy that k-means may centre in place
        (and restore, to rounding) instead of copying it once more: the
        largest allocation of a fit on data with missing entries.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    """
    n_samples = X.shape[0]
    if init_params == "kmeans":
        labels = (
            KMeans(
                n_clusters=n_components,
                n_init=1,
                random_state=random_state,
                copy_x=not private,
            )
            .fit(X)
            .labels_
        )
        resp = np.zeros((n_samples, n_components))
        resp[np.arange(n_samples), labels] = 1.0
    elif init_params == "random":
        resp = random_state.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    elif init_params == "random_from_data":
        resp = np.zeros((n_samples, n_components))
        indices = random_state.choice(n_samples, size=n_components, replace=False)
        resp[indices, np.arange(n_components)] = 1.0
    elif init_params == "k-means++":
        resp = np.zeros((n_samples, n_components))
        _, indices = kmeans_plusplus(X, n_components, random_state=random_state)
        resp[indices, np.arange(n_components)] = 1.0
    else:
        raise ValueError(
            f"Unimplemented initialization method {init_params!r}; "
            f"expected one of {INIT_METHODS}."
        )
    return resp


def initial_params(
    X,
    patterns,
    *,
    n_components,
    covariance_type,
    reg_covar,
    init_params,
    random_state,
    weights_init=None,
    means_init=None,
    precisions_init=None,
):
    """Initial mixture parameters for EM on data with missing entries.

    Responsibilities come from ``init_params`` run on the rows with at least
    one observed entry, each missing entry filled with its column's observed
    mean; one M-step turns them into parameters. ``weights_init``,
    ``means_init`` and ``precisions_init``, when given, replace the
    corresponding result. On complete data this is exactly what
    scikit-learn's ``GaussianMixture`` does with the same random state.

    Returns
    -------
    params : MixtureParams
    """
    if len(patterns.empty_rows):
        rows = patterns.observed_rows
        filled = mean_filled(X[rows], patterns.mask[rows])
    else:
        # No copy of complete data: nothing below writes to it.
        filled = mean_filled(X, patterns.mask)
    resp = initial_responsibilities(
        filled, n_components, init_params, random_state, private=filled is not X
    )
    stats = complete_data_stats(filled, resp, covariance_type=covariance_type)
    params = m_step(stats, covariance_type, reg_covar)
    weights = params.weights if weights_init is None else weights_init
    means = params.means if means_init is None else means_init
    if precisions_init is None:
        return MixtureParams(
            weights=weights,
            means=means,
            covariances=params.covariances,
            precisions_cholesky=params.precisions_cholesky,
            covariance_type=covariance_type,
        )
    factors = precision_cholesky_from_precisions(precisions_init, covariance_type)
    return MixtureParams(
        weights=weights,
        means=means,
        covariances=covariances_from_cholesky(factors, covariance_type),
        precisions_cholesky=factors,
        covariance_type=covariance_type,
    )


def check_initial_params(
    weights_init,
    means_init,
    precisions_init,
    *,
    n_components,
    n_features,
    covariance_type,
):
    """Validate user-given initial parameters; return float64 copies.

    Raises
    ------
    ValueError
        Naming the parameter and what is wrong with it.
    """
    weights = means = precisions = None
    if weights_init is not None:
        weights = _as_float_array(weights_init, "weights_init", (n_components,))
        if np.any(weights < 0.0) or np.any(weights > 1.0):
            raise ValueError(
                "The parameter 'weights_init' should be in the range [0, 1], but "
                f"got max value {weights.max():.5f}, min value {weights.min():.5f}"
            )
        if not np.isclose(weights.sum(), 1.0, rtol=0.0, atol=1e-8):
            raise ValueError(
                "The parameter 'weights_init' should be normalized, but got "
                f"sum(weights_init) = {weights.sum():.5f}"
            )
    if means_init is not None:
        means = _as_float_array(means_init, "means_init", (n_components, n_features))
    if precisions_init is not None:
        shape = {
            "full": (n_components, n_features, n_features),
            "tied": (n_features, n_features),
            "diag": (n_components, n_features),
            "spherical": (n_components,),
        }[covariance_type]
        precisions = _as_float_array(precisions_init, "precisions_init", shape)
        if covariance_type in DENSE_TYPES:
            stack = precisions[np.newaxis] if covariance_type == "tied" else precisions
            for matrix in stack:
                if not np.allclose(matrix, matrix.T) or np.any(
                    np.linalg.eigvalsh(matrix) <= 0.0
                ):
                    raise ValueError(
                        f"'{covariance_type} precision' in precisions_init should "
                        "be symmetric, positive-definite"
                    )
        elif np.any(precisions <= 0.0):
            raise ValueError(
                f"'{covariance_type} precision' in precisions_init should be positive"
            )
    return weights, means, precisions


def _as_float_array(value, name, shape):
    array = np.array(value, dtype=float, copy=True)
    if array.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, "
            f"but got {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"The parameter '{name}' contains NaN or infinity.")
    return array
