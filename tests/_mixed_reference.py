"""Independent references for the engine's mixed model (Gaussian + categorical).

The model: component ``k`` has weight ``pi_k``; the numeric columns are
``N(mu_k, S_k)`` and each categorical column ``j`` is, independently given
``k``, ``Categorical(theta[j][k, :])``. Missing entries are marginalised.

Everything here is written for clarity, not speed, and shares no arithmetic
with the engine:

- the E-step (:func:`reference_mixed_e_step`) goes row by row and
  *enumerates* every completion of the row's missing categorical cells
  (``itertools.product``), computing ``p(x_O, completion | k)`` as scipy's
  Gaussian density of the observed numeric part (through
  :func:`_reference.reference_e_step`) times an explicit product of
  category probabilities; the marginal over the missing cells, the
  responsibilities and the expected category counts are sums over the
  completions, never the closed form ``resp * theta``;
- the Gaussian statistics and the M-step (:func:`reference_mixed_stats`,
  :func:`reference_mixed_m_step`) weight each row's conditional moments
  (explicit inverses of ``S_OO``) by the completions' posteriors, the
  M-step in two passes (means first, then the spread around them);
- :class:`UnconstrainedLatentClass` is the observed-data log-likelihood of a
  latent class model (no numeric columns) in a softmax parametrisation, with
  its analytic gradient, for a direct maximisation.

Only the engine's parameter containers (plain dataclasses of arrays) are
imported.
"""

import itertools
from dataclasses import dataclass

import numpy as np
from _reference import dense_covariances, random_params, reference_e_step
from scipy.special import logsumexp, softmax

from emimpute._em._categorical import CategoricalFamily
from emimpute._em._params import MixtureParams

# ---------------------------------------------------------------- parameters


def random_probabilities(rng, n_components, n_categories, *, concentration=2.0):
    """Category probabilities, one ``(K, L_j)`` array per column.

    Dirichlet(``concentration``) rows plus 0.05 before renormalising, so
    that no probability is tiny.
    """
    probabilities = []
    for n in n_categories:
        theta = rng.dirichlet(np.full(n, concentration), size=n_components) + 0.05
        probabilities.append(theta / theta.sum(axis=1, keepdims=True))
    return tuple(probabilities)


def random_mixed_params(
    rng,
    n_components,
    n_numeric,
    n_categories,
    covariance_type,
    *,
    spread=2.0,
    concentration=2.0,
    weights=None,
):
    """Random well-conditioned mixed parameters.

    The Gaussian part is :func:`_reference.random_params` (covariance
    eigenvalues in [0.5, 2], means with standard deviation ``spread``); the
    categorical part :func:`random_probabilities`. ``n_numeric == 0`` or
    ``n_categories == ()`` leaves the corresponding family out.

    Returns
    -------
    params : MixtureParams
    """
    families = []
    if n_numeric:
        gaussian = random_params(
            rng, n_components, n_numeric, covariance_type, spread=spread
        )
        families.append(gaussian.gaussian)
        if weights is None:
            weights = gaussian.weights
    if weights is None:
        weights = rng.dirichlet(np.full(n_components, 2.0)) + 0.05
        weights /= weights.sum()
    if n_categories:
        families.append(
            CategoricalFamily(
                random_probabilities(
                    rng, n_components, n_categories, concentration=concentration
                )
            )
        )
    return MixtureParams(weights=np.asarray(weights, float), families=tuple(families))


def sample_mixed(rng, n_samples, params, n_numeric):
    """Complete rows drawn from a mixed model.

    Returns
    -------
    numeric : ndarray of shape (n_samples, n_numeric)
    codes : ndarray of shape (n_samples, n_categorical) of intp
    labels : ndarray of shape (n_samples,)
    """
    weights = params.weights
    labels = rng.choice(len(weights), size=n_samples, p=weights)
    numeric = np.empty((n_samples, n_numeric))
    if n_numeric:
        covariances = dense_covariances(params)
        for k in range(len(weights)):
            rows = labels == k
            numeric[rows] = rng.multivariate_normal(
                params.means[k], covariances[k], size=rows.sum()
            )
    thetas = params.categorical.probabilities if params.categorical else ()
    codes = np.empty((n_samples, len(thetas)), dtype=np.intp)
    for j, theta in enumerate(thetas):
        for i, k in enumerate(labels):
            codes[i, j] = rng.choice(theta.shape[1], p=theta[k])
    return numeric, codes, labels


def punch_holes(rng, numeric, codes, rate):
    """Cell-wise MCAR holes: NaN in ``numeric``, -1 in ``codes`` (copies)."""
    numeric = numeric.copy()
    codes = codes.copy()
    numeric[rng.uniform(size=numeric.shape) < rate] = np.nan
    codes[rng.uniform(size=codes.shape) < rate] = -1
    return numeric, codes


# ---------------------------------------------------------------- the E-step


@dataclass
class MixedReference:
    """The mixed E-step computed row by row, completions enumerated.

    Attributes
    ----------
    log_density : ndarray of shape (n_samples, n_components)
        ``log p(x_O | k)``: the Gaussian density of the observed numeric
        part times the sum over the completions of the missing cells of the
        product of all category probabilities (so about 0 for a row with
        nothing observed: every sum of products adds up to 1).
    log_prob_norm : ndarray of shape (n_samples,)
        ``log p(x_O)``; 0 where nothing is observed.
    resp : ndarray of shape (n_samples, n_components)
        ``p(k | x_O)``, the sum of the completions' posteriors.
    informative : ndarray of bool, shape (n_samples,)
        Rows with at least one observed entry, numeric or categorical.
    posteriors : list of ndarray of shape (n_components, n_completions_i)
        ``p(k, completion | x_O)`` per row.
    completions : list of list of tuple
        Each row's completions of its missing categorical cells, in the
        order of ``missing_columns``.
    missing_columns : list of list of int
        Each row's missing categorical columns.
    counts : tuple of ndarray of shape (n_components, n_categories_j)
        Expected category counts over the informative rows: the posterior
        of every (component, completion) added to the category it gives
        each cell.
    gaussian : ReferenceEStep or None
        :func:`_reference.reference_e_step` of the numeric columns (its
        conditional means and covariances are used; its responsibilities,
        of the numeric columns alone, are not).
    """

    log_density: np.ndarray
    log_prob_norm: np.ndarray
    resp: np.ndarray
    informative: np.ndarray
    posteriors: list
    completions: list
    missing_columns: list
    counts: tuple
    gaussian: object


def reference_mixed_e_step(numeric, codes, params):
    """Per-row E-step of a mixed model, enumerating the missing categories.

    Parameters
    ----------
    numeric : ndarray of shape (n_samples, n_numeric)
        NaN where missing.
    codes : ndarray of shape (n_samples, n_categorical)
        -1 where missing.
    params : MixtureParams

    Returns
    -------
    reference : MixedReference
    """
    n_samples, n_numeric = numeric.shape
    n_components = params.n_components
    log_weights = np.log(params.weights)
    mask = np.isnan(numeric)
    gaussian = None
    gaussian_log_density = np.zeros((n_samples, n_components))
    if n_numeric:
        gaussian = reference_e_step(np.nan_to_num(numeric), mask, params)
        gaussian_log_density = gaussian.log_density
    thetas = params.categorical.probabilities if params.categorical else ()
    n_categories = [theta.shape[1] for theta in thetas]
    counts = tuple(np.zeros((n_components, n)) for n in n_categories)
    log_density = np.zeros((n_samples, n_components))
    log_prob_norm = np.zeros(n_samples)
    resp = np.zeros((n_samples, n_components))
    informative = (~mask).any(axis=1) | (codes >= 0).any(axis=1)
    posteriors, all_completions, all_missing = [], [], []
    for i in range(n_samples):
        observed = [j for j in range(len(thetas)) if codes[i, j] >= 0]
        missing = [j for j in range(len(thetas)) if codes[i, j] < 0]
        completions = list(
            itertools.product(*(range(n_categories[j]) for j in missing))
        )
        # log p(x_O numeric, observed cells, completion | k), explicitly.
        log_joint = np.empty((n_components, len(completions)))
        for t, completion in enumerate(completions):
            for k in range(n_components):
                product = 1.0
                for j in observed:
                    product *= thetas[j][k, codes[i, j]]
                for j, c in zip(missing, completion, strict=True):
                    product *= thetas[j][k, c]
                # A zero probability: a completion (or a component) that
                # cannot have produced the row, log 0 = -inf.
                with np.errstate(divide="ignore"):
                    log_joint[k, t] = gaussian_log_density[i, k] + np.log(product)
        log_density[i] = logsumexp(log_joint, axis=1)
        weighted = log_weights[:, np.newaxis] + log_joint
        norm = logsumexp(weighted)
        posterior = np.exp(weighted - norm)
        resp[i] = posterior.sum(axis=1)
        log_prob_norm[i] = norm if informative[i] else 0.0
        posteriors.append(posterior)
        all_completions.append(completions)
        all_missing.append(missing)
        if not informative[i]:
            continue
        for t, completion in enumerate(completions):
            cells = dict(zip(missing, completion, strict=True))
            cells.update({j: codes[i, j] for j in observed})
            for j, c in cells.items():
                counts[j][:, c] += posterior[:, t]
    return MixedReference(
        log_density=log_density,
        log_prob_norm=log_prob_norm,
        resp=resp,
        informative=informative,
        posteriors=posteriors,
        completions=all_completions,
        missing_columns=all_missing,
        counts=counts,
        gaussian=gaussian,
    )


def _completed_rows(numeric, reference, i):
    """Row ``i`` completed under each component, and the embedded
    conditional covariances: ``xhat (K, d)``, ``C (K, d, d)``."""
    n_numeric = numeric.shape[1]
    missing = np.flatnonzero(np.isnan(numeric[i]))
    cond_means = reference.gaussian.cond_means[i]
    cond_covs = reference.gaussian.cond_covs[i]
    n_components = len(cond_means)
    xhat = np.repeat(numeric[i][np.newaxis], n_components, axis=0)
    xhat[:, missing] = cond_means
    C = np.zeros((n_components, n_numeric, n_numeric))
    for k in range(n_components):
        C[k][np.ix_(missing, missing)] = cond_covs[k]
    return xhat, C


def reference_mixed_stats(numeric, reference, shift):
    """Gaussian statistics around ``shift``, weighted by the completions.

    Each completion of a row's missing categories contributes the row's
    completed numeric part under component ``k`` with weight
    ``p(k, completion | x_O)`` (the numeric conditional moments do not
    depend on the completion, given ``k``).

    Parameters
    ----------
    numeric : ndarray of shape (n_samples, n_numeric)
    reference : MixedReference
    shift : ndarray of shape (n_numeric,) or (n_components, n_numeric)

    Returns
    -------
    nk : ndarray of shape (n_components,)
    s1 : ndarray of shape (n_components, n_numeric)
    s2 : ndarray of shape (n_components, n_numeric, n_numeric)
    """
    n_samples, n_numeric = numeric.shape
    n_components = reference.resp.shape[1]
    shift = np.broadcast_to(shift, (n_components, n_numeric))
    nk = np.zeros(n_components)
    s1 = np.zeros((n_components, n_numeric))
    s2 = np.zeros((n_components, n_numeric, n_numeric))
    for i in np.flatnonzero(reference.informative):
        xhat, C = _completed_rows(numeric, reference, i)
        for weights in reference.posteriors[i].T:
            for k in range(n_components):
                centred = xhat[k] - shift[k]
                nk[k] += weights[k]
                s1[k] += weights[k] * centred
                s2[k] += weights[k] * (np.outer(centred, centred) + C[k])
    return nk, s1, s2


def reference_mixed_m_step(
    numeric, reference, covariance_type, *, reg_covar, smoothing
):
    """The M-step from the per-row posteriors, in two passes.

    ``weights = nk / sum(nk)``; ``mu_k = sum_i r_ik xhat_ik / nk``;
    ``S_k = sum_i r_ik ((xhat_ik - mu_k)(...)^T + C_ik) / nk``, then
    projected on the covariance type (tied: ``sum_k nk S_k / sum(nk)``;
    diag: the diagonal; spherical: the mean of the diagonal) with
    ``reg_covar`` on the diagonal; ``theta[j][k] = (counts[j][k] + alpha) /
    (sum_c counts[j][k, c] + L_j alpha)``.

    Returns
    -------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_numeric)
    covariances : ndarray
        In the shape of ``covariance_type``.
    thetas : tuple of ndarray
    """
    n_samples, n_numeric = numeric.shape
    resp = reference.resp
    n_components = resp.shape[1]
    rows = np.flatnonzero(reference.informative)
    nk = resp[rows].sum(axis=0)
    weights = nk / nk.sum()
    thetas = tuple(
        (counts + smoothing)
        / (counts.sum(axis=1, keepdims=True) + counts.shape[1] * smoothing)
        for counts in reference.counts
    )
    if not n_numeric:
        return weights, None, None, thetas
    completed = {i: _completed_rows(numeric, reference, i) for i in rows}
    means = np.zeros((n_components, n_numeric))
    for i in rows:
        means += resp[i][:, np.newaxis] * completed[i][0]
    means /= nk[:, np.newaxis]
    spread = np.zeros((n_components, n_numeric, n_numeric))
    for i in rows:
        xhat, C = completed[i]
        for k in range(n_components):
            centred = xhat[k] - means[k]
            spread[k] += resp[i, k] * (np.outer(centred, centred) + C[k])
    spread /= nk[:, np.newaxis, np.newaxis]
    eye = np.eye(n_numeric)
    if covariance_type == "full":
        covariances = spread + reg_covar * eye
    elif covariance_type == "tied":
        covariances = np.tensordot(nk, spread, axes=1) / nk.sum() + reg_covar * eye
    elif covariance_type == "diag":
        covariances = np.diagonal(spread, axis1=1, axis2=2) + reg_covar
    else:
        covariances = np.diagonal(spread, axis1=1, axis2=2).mean(axis=1) + reg_covar
    return weights, means, covariances, thetas


# -------------------------------------------- latent class model, direct fit


class UnconstrainedLatentClass:
    """A latent class model (categorical columns only) with free parameters.

    ``z`` holds the ``K - 1`` logits of the weights, then, column by column
    and component by component, the ``L_j - 1`` logits of ``theta[j][k]``;
    the last logit of every softmax is fixed at 0.

    Parameters
    ----------
    n_components : int
    n_categories : tuple of int
    """

    def __init__(self, n_components, n_categories):
        self.n_components = n_components
        self.n_categories = tuple(n_categories)

    def pack(self, weights, thetas):
        """``z`` from weights and category probabilities (all positive)."""
        log_weights = np.log(weights)
        parts = [log_weights[:-1] - log_weights[-1]]
        for theta in thetas:
            log_theta = np.log(theta)
            parts.append(np.ravel(log_theta[:, :-1] - log_theta[:, -1:]))
        return np.concatenate(parts)

    def unpack(self, z):
        """Weights ``(K,)`` and the tuple of ``(K, L_j)`` probabilities."""
        K = self.n_components
        weights = softmax(np.append(z[: K - 1], 0.0))
        thetas, start = [], K - 1
        for n in self.n_categories:
            logits = z[start : start + K * (n - 1)].reshape(K, n - 1)
            start += K * (n - 1)
            thetas.append(softmax(np.hstack([logits, np.zeros((K, 1))]), axis=1))
        return weights, tuple(thetas)

    def objective(self, z, codes):
        """Mean negative observed-data log-likelihood and its gradient.

        The value is :func:`latent_class_log_likelihood`'s. Gradient by
        Fisher's identity with ``r_ik`` the posterior: ``sum_i (r_ik -
        pi_k)`` for the weight logits and ``sum_{i: x_ij observed} r_ik
        (1[x_ij = c] - theta[j][k, c])`` for the category logits.
        """
        n_samples = len(codes)
        weights, thetas = self.unpack(z)
        norm, resp = latent_class_log_likelihood(codes, weights, thetas)
        K = self.n_components
        gradient = [(resp - weights).sum(axis=0)[: K - 1]]
        for j, theta in enumerate(thetas):
            observed = codes[:, j] >= 0
            one_hot = codes[observed, j][:, np.newaxis] == np.arange(theta.shape[1])
            r = resp[observed]
            g = r.T @ one_hot - r.sum(axis=0)[:, np.newaxis] * theta
            gradient.append(np.ravel(g[:, :-1]))
        return -norm.sum() / n_samples, -np.concatenate(gradient) / n_samples


def latent_class_log_likelihood(codes, weights, thetas):
    """Per-row observed-data log-likelihood of a latent class model.

    ``log sum_k pi_k prod_{j observed} theta[j][k, x_ij]`` (a row with
    nothing observed gives ``log sum_k pi_k = 0``). Probabilities may be 0:
    a component that cannot have produced a row gets responsibility 0.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,)
    resp : ndarray of shape (n_samples, n_components)
    """
    n_samples = len(codes)
    with np.errstate(divide="ignore"):
        log_joint = np.tile(np.log(weights), (n_samples, 1))
        for j, theta in enumerate(thetas):
            observed = codes[:, j] >= 0
            log_joint[observed] += np.log(theta[:, codes[observed, j]]).T
    norm = logsumexp(log_joint, axis=1)
    return norm, np.exp(log_joint - norm[:, np.newaxis])
