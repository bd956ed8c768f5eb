"""Draws from a fitted Gaussian mixture."""

import numpy as np

from emimpute._em._covariance import DENSE_TYPES, diagonal_variances


def sample_mixture(params, n_samples, random_state):
    """Draw ``n_samples`` rows from the mixture.

    Component counts are one multinomial draw, so exactly ``n_samples`` rows
    come back, grouped by component as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
    """
    weights = params.weights / params.weights.sum()
    counts = random_state.multinomial(n_samples, weights)
    labels = np.repeat(np.arange(params.n_components), counts)
    noise = random_state.standard_normal(size=(n_samples, params.n_features))
    X = np.empty_like(noise)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    if params.covariance_type in DENSE_TYPES:
        covariances = params.covariances
        if params.covariance_type == "tied":
            covariances = np.broadcast_to(
                covariances, (params.n_components,) + covariances.shape
            )
        for k, lower in enumerate(np.linalg.cholesky(covariances)):
            rows = slice(bounds[k], bounds[k + 1])
            X[rows] = noise[rows] @ lower.T
    else:
        scales = np.sqrt(
            diagonal_variances(
                params.covariances, params.covariance_type, params.n_features
            )
        )
        X = noise * scales[labels]
    return X + params.means[labels], labels
