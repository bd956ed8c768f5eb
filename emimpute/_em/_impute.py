"""Missing entries filled from their conditional distribution under a mixture."""

import numpy as np

from emimpute._em._estep import (
    check_finite_scores,
    iter_blocks,
    log_mixture_weights,
    make_kernel,
    mixture_mean,
    responsibilities,
)


def conditional_fill(
    X, patterns, params, *, return_std=False, random_state=None, chunk_size=None
):
    """Fill each row's missing part from its distribution given the observed part.

    Given the observed part ``x_O`` of a row, the missing part follows the
    mixture ``sum_k r_k N(m_k, C_k)``, with ``r_k`` the responsibilities of
    the components given ``x_O`` and ``N(m_k, C_k)`` each component's
    conditional Gaussian (see ``_estep``). Its mean is ``sum_k r_k m_k`` and,
    by the law of total variance, its per-coordinate variance is
    ``sum_k r_k (diag(C_k) + m_k**2) - (sum_k r_k m_k)**2``. A row with
    nothing observed gets the mixture's marginal mean and variance.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Float64 data; the entries flagged in ``patterns.mask`` are replaced.
    patterns : MissingPatterns
    params : MixtureParams
    return_std : bool, default=False
        Also return the conditional standard deviation of every entry (0
        where observed).
    random_state : numpy.random.RandomState, default=None
        When given, draw each row's missing part jointly from its
        conditional distribution (a component by responsibility, then that
        component's conditional Gaussian) instead of taking the mean.
    chunk_size : int, default=None
        Rows per chunk.

    Returns
    -------
    filled : ndarray of shape (n_samples, n_features)
        A copy of ``X``; its observed entries are those of ``X``, bit for
        bit.
    std : ndarray of shape (n_samples, n_features) or None
        Conditional standard deviations, when ``return_std``.

    Notes
    -----
    Cost: that of one E-step over the rows with a missing entry; a row's
    result depends on that row only (draws aside, which share one stream).
    """
    n_samples, n_features = X.shape
    shift = mixture_mean(params)
    filled = np.array(X, dtype=float, copy=True)
    std = np.zeros((n_samples, n_features)) if return_std else None
    kernel = make_kernel(params, shift)
    log_weights = log_mixture_weights(params)
    incomplete = [group for group in patterns.groups if group.n_missing > 0]
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        for block in iter_blocks(
            X,
            patterns,
            kernel,
            chunk_size=chunk_size,
            groups=incomplete,
        ):
            conditionals = kernel(block, moments=True)
            _, resp = responsibilities(conditionals.log_density, log_weights)
            mean = np.einsum("nk,kni->ni", resp, conditionals.means)
            rows = block.rows[:, np.newaxis]
            if random_state is None:
                filled[rows, block.missing] = mean + shift[block.missing]
            else:
                draws = _draw(block, conditionals, resp, random_state)
                filled[rows, block.missing] = draws + shift[block.missing]
            if return_std:
                variances = np.diagonal(conditionals.covariances, axis1=2, axis2=3)
                second_moment = np.einsum(
                    "nk,kni->ni",
                    resp,
                    variances[:, block.row_pattern] + conditionals.means**2,
                )
                std[rows, block.missing] = np.sqrt(
                    np.maximum(second_moment - mean**2, 0.0)
                )
    check_finite_scores(filled[patterns.mask])
    return filled, std


def _draw(block, conditionals, resp, random_state):
    """One joint draw of each row's missing part."""
    n_rows, r = block.missing.shape
    cumulative = np.cumsum(resp, axis=1)
    u = random_state.uniform(size=(n_rows, 1)) * cumulative[:, -1:]
    component = np.minimum((cumulative < u).sum(axis=1), resp.shape[1] - 1)
    mean = conditionals.means[component, np.arange(n_rows)]
    covariance = conditionals.covariances[component, block.row_pattern]
    # A symmetric square root rather than Cholesky: the conditional
    # covariance may be singular to rounding (collinear features), and a
    # clipped eigen-decomposition still gives a valid draw.
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    scale = np.sqrt(np.maximum(eigenvalues, 0.0))
    noise = random_state.standard_normal(size=(n_rows, r))
    return mean + np.einsum("nij,nj->ni", eigenvectors, scale * noise)
