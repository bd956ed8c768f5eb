"""M-step: sufficient statistics to mixture parameters."""

import numpy as np

from emimpute._em._params import MixtureParams

# Keeps an empty component from dividing by zero (as scikit-learn does).
_NK_FLOOR = 10 * np.finfo(float).eps


def m_step(stats, covariance_type, reg_covar):
    """Maximise the expected complete-data log-likelihood.

    Parameters
    ----------
    stats : SufficientStats
        Expected statistics from the E-step.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
        Non-negative value added to the diagonal of every covariance, as in
        scikit-learn's ``GaussianMixture``.

    Returns
    -------
    params : MixtureParams

    Notes
    -----
    With ``nk`` the expected counts and ``m_k = s1_k / nk`` (means relative
    to the shifts): ``weights = nk / sum(nk)``, ``means = shift_k + m_k`` and

    - full: ``S_k = s2_k / nk - m_k m_k^T + reg_covar I``
    - tied: ``S = sum_k (s2_k - nk m_k m_k^T) / sum(nk) + reg_covar I``
    - diag: ``diag(S_k) = s2_k / nk - m_k**2 + reg_covar``
    - spherical: the mean of the diag variances over features.
    """
    nk = stats.nk + _NK_FLOOR
    centred_means = stats.s1 / nk[:, np.newaxis]
    means = stats.shift + centred_means
    n_features = means.shape[1]
    if covariance_type == "full":
        covariances = stats.s2 / nk[:, np.newaxis, np.newaxis] - (
            centred_means[:, :, np.newaxis] * centred_means[:, np.newaxis, :]
        )
        covariances = _symmetrise(covariances)
        covariances[:, np.arange(n_features), np.arange(n_features)] += reg_covar
    elif covariance_type == "tied":
        covariances = stats.s2[0] - (nk * centred_means.T) @ centred_means
        covariances = _symmetrise(covariances / nk.sum())
        covariances.flat[:: n_features + 1] += reg_covar
    else:
        covariances = stats.s2 / nk[:, np.newaxis] - centred_means**2 + reg_covar
        if covariance_type == "spherical":
            covariances = covariances.mean(axis=1)
    return MixtureParams.from_covariances(
        weights=nk / nk.sum(),
        means=means,
        covariances=covariances,
        covariance_type=covariance_type,
    )


def _symmetrise(matrices):
    return 0.5 * (matrices + np.swapaxes(matrices, -1, -2))
