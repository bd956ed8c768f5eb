"""The conjugate prior of a Gaussian mixture: MAP-EM (Fraley and Raftery 2007).

With a prior ``p(theta)`` EM climbs the log-posterior ``log p(X_O | theta) +
log p(theta)`` instead of the log-likelihood: the E-step is unchanged and the
M-step maximises the expected complete-data log-likelihood *plus* the
log-prior. For the conjugate prior of mclust's ``priorControl()`` that
maximum has a closed form. Per component, with ``nk`` the expected count,
``xbar_k`` the weighted mean and ``W_k`` the weighted scatter around it:

- means: ``mu_k | S_k ~ N(mu_P, S_k / kappa)``, so
  ``mu_k = (nk xbar_k + kappa mu_P) / (nk + kappa)``;
- full: ``S_k ~ inverse-Wishart(nu, Psi)``, so
  ``S_k = (Psi + W_k + B_k) / (nu + nk + d + 2)``, where
  ``B_k = kappa nk / (nk + kappa) (xbar_k - mu_P)(xbar_k - mu_P)^T``;
- tied: one inverse-Wishart, so
  ``S = (Psi + sum_k (W_k + B_k)) / (nu + n + d + K + 1)``;
- diag: ``S_k,jj ~ inverse-gamma(nu / 2, psi_j / 2)``, so
  ``S_k,jj = (psi_j + W_k,jj + B_k,jj) / (nu + nk + 3)``;
- spherical: ``s_k^2 ~ inverse-gamma(nu / 2, psi / 2)``, so
  ``s_k^2 = (psi + tr W_k + tr B_k) / (nu + (nk + 1) d + 2)``;
- weights, optionally: ``pi ~ Dirichlet(alpha)``, so
  ``pi_k = (nk + alpha - 1) / (n + K (alpha - 1))``.

(Fraley and Raftery 2007, section 3 and table 2; the textbook updates, not
the variants some of mclust's Fortran M-steps use.) In terms of the additive
statistics these are the maximum-likelihood formulas applied to the
statistics plus ``kappa`` pseudo-rows at ``mu_P`` and the scatter ``Psi``,
divided by a larger count (:meth:`GaussianPrior.augment`), so the prior costs
``O(K d^2)`` per M-step and nothing in the E-step. Each covariance form
(``_forms``) holds its share of the arithmetic: ``prior_update``,
``log_prior_terms``, ``min_prior_dof``, ``default_prior_scale`` and
``prior_scale``; this module holds what is common to them.

Missing entries change nothing here: the statistics are the E-step's
expected ones, and the data-dependent hyperparameters
(``emimpute._prior.ConjugatePrior.resolve``, the public prior's
validation, on the estimators' side) come from the observed entries
(:func:`observed_moments`).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln


def __getattr__(name):
    # ConjugatePrior, the public class, lives in emimpute._prior (the
    # estimators' side); pickles made when it lived here find it.
    if name == "ConjugatePrior":
        from emimpute._prior import ConjugatePrior

        return ConjugatePrior
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Rows per block of observed_moments' passes over the data.
MOMENT_BLOCK_ROWS = 8192


def observed_moments(data):
    """Each numeric feature's observed mean, and their covariance.

    The covariance of each pair of features is taken over the rows where
    both are observed (``n - 1`` denominator, as R's ``var``, or ``n`` when
    the rows' weights add up to at most 1); when that
    matrix is not positive definite (fewer rows than features, or holes that
    make the pairwise estimates inconsistent) its diagonal is returned
    instead. Sample weights count as repeated rows. Cost ``O(n d^2)`` in
    two passes over blocks of rows; memory ``O(d^2)`` beyond a block's.

    Returns
    -------
    mean : ndarray of shape (n_features,)
    covariance : ndarray of shape (n_features, n_features)
    """
    weights = data.row_weights(slice(None))
    n_features = data.n_numeric

    def blocks():
        # Row blocks bound the temporaries to MOMENT_BLOCK_ROWS x d each.
        for start in range(0, data.n_samples, MOMENT_BLOCK_ROWS):
            rows = slice(start, start + MOMENT_BLOCK_ROWS)
            mask = data.mask[rows]
            observed = (~mask).astype(float)
            values = np.where(mask, 0.0, data.numeric[rows])
            # Sample weights count a row as that many copies of it (the
            # moments of the repeated rows), so they weigh one side of
            # every product.
            row_weights = 1.0 if weights is None else weights[rows]
            yield mask, observed, values, row_weights

    counts, sums = np.zeros(n_features), np.zeros(n_features)
    for _, observed, values, row_weights in blocks():
        counts += (observed * row_weights).sum(axis=0)
        sums += (values * row_weights).sum(axis=0)
    # Divided where observed at all: weights of a fraction of a row each
    # (summing to 1, say) are no reason to divide by 1 instead.
    mean = np.divide(sums, counts, out=np.zeros(n_features), where=counts > 0.0)
    pair_counts = np.zeros((n_features, n_features))
    pair_sums = np.zeros((n_features, n_features))
    cross = np.zeros((n_features, n_features))
    for mask, observed, values, row_weights in blocks():
        centred = np.where(mask, 0.0, values - mean)
        weighted_centred = centred * row_weights
        pair_counts += (observed * row_weights).T @ observed
        pair_sums += weighted_centred.T @ observed
        cross += weighted_centred.T @ centred
    # R's n - 1 where the weights add up to more than one row; below that
    # (weights of a fraction of a row each), where it is not defined, the
    # weighted mean square (n), rather than no estimate at all.
    denominator = np.where(pair_counts > 1.0, pair_counts - 1.0, pair_counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        covariance = (cross - pair_sums * pair_sums.T / pair_counts) / denominator
    covariance[~(pair_counts > 0.0)] = 0.0
    covariance = 0.5 * (covariance + covariance.T)
    variances = np.diagonal(covariance).copy()
    # A feature observed once, or constant, still needs a positive scale.
    positive = variances[variances > 0.0]
    floor = positive.min() if len(positive) else 1.0
    variances[~(variances > 0.0)] = floor
    np.fill_diagonal(covariance, variances)
    eigenvalues = np.linalg.eigvalsh(covariance)
    if eigenvalues[0] <= 1e-10 * eigenvalues[-1]:
        covariance = np.diag(variances)
    return mean, covariance


@dataclass(frozen=True)
class GaussianPrior:
    """Resolved hyperparameters of the Gaussian family's conjugate prior.

    Attributes
    ----------
    shrinkage : float
        ``kappa``.
    mean : ndarray of shape (n_features,)
        ``mu_P``.
    dof : float
        ``nu``.
    scale : ndarray
        ``Psi``: a matrix ``(d, d)`` for 'full' and 'tied', per-feature
        inverse-gamma scales ``(d,)`` for 'diag' (all equal for 'spherical',
        whose prior scale is their mean).
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: np.ndarray

    def augment(self, stats, form):
        """The statistics plus the prior's pseudo-rows, and the divisor.

        ``kappa`` rows at ``mu_P`` and the scatter ``Psi`` added to the
        statistics (see the module docstring): the maximum-likelihood mean
        of the result is the MAP mean, and its scatter divided by the
        returned ``divisor`` (instead of the count) the MAP covariance.

        Returns
        -------
        nk, s1, s2 : ndarray
            Augmented statistics, in the layout of ``stats``.
        divisor : ndarray of shape (n_components,) or float
        """
        kappa = self.shrinkage
        offset = self.mean - stats.shift
        s1 = stats.s1 + kappa * offset
        s2, divisor = form.prior_update(self, stats.s2, stats.nk, offset)
        return stats.nk + kappa, s1, s2, divisor

    def log_density(self, family):
        """``log p(means, covariances)`` of a Gaussian family under the prior.

        With ``shrinkage = 0`` the prior on the means is the improper
        ``|S_k|^(-1/2)`` (its normalising constant left out).
        """
        kappa = self.shrinkage
        n_features = family.n_features
        deviations = family.means - self.mean
        # The form's terms: the quadratic forms of the deviations, the
        # covariances' log-density, the log-determinants.
        quadratic, log_covariance_prior, mean_log_det = family.form.log_prior_terms(
            self, deviations, family.covariances, family.precisions_cholesky
        )
        log_mean_prior = -0.5 * mean_log_det
        if kappa > 0.0:
            log_mean_prior = log_mean_prior + (
                0.5 * n_features * np.log(kappa / (2.0 * np.pi))
                - 0.5 * kappa * quadratic
            )
        return float(log_covariance_prior + log_mean_prior.sum())


def log_dirichlet(weights, alpha):
    """``log Dirichlet(weights; alpha, ..., alpha)``."""
    n_components = len(weights)
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    tail = 0.0 if alpha == 1.0 else (alpha - 1.0) * log_weights.sum()
    return float(gammaln(n_components * alpha) - n_components * gammaln(alpha) + tail)
