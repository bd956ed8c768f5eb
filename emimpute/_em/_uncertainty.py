"""Parameter draws for proper multiple imputation: bootstrap and posterior.

Imputations drawn under the single maximum-likelihood fit treat its
parameters as known, so analyses of them understate the variance. A
*proper* imputation first draws the parameters from (an approximation of)
their distribution given the observed data, then the missing entries under
that draw. Two ways, as in R's Amelia and norm:

- :func:`bootstrap_params`: EM refit on a row bootstrap of the data,
  started from the full-data fit (Amelia's EMB; Honaker, King and Blackwell
  2011). Each refit costs a few EM iterations.
- :func:`posterior_params`: data augmentation (Tanner and Wong 1987;
  Schafer 1997, ch. 5-6): alternately draw the missing entries given the
  parameters (the I-step) and the parameters given the completed data (the
  P-step, :func:`draw_params`), ``n_steps`` times from the maximum-likelihood
  fit. With a mixture, the I-step also draws each row's component given its
  completed row, so that the P-step sees complete data with known
  components.

The P-step's prior is non-informative (Schafer 1997, sec. 5.2): for each
component's Gaussian, the Jeffreys-type prior ``p(mu, S) ~ |S|^{-(d+1)/2}``,
so that ``S | X ~ inverse-Wishart(n_k - 1, scatter_k)`` and
``mu | S, X ~ N(mean_k, S / n_k)`` (tied: ``n - K`` degrees of freedom and
the pooled scatter; diag and spherical: scaled inverse chi-square variances,
per feature or pooled over features); a uniform Dirichlet(1) prior on the
component weights; and on each categorical column's probabilities the
Dirichlet prior whose mode is the fit's ``category_smoothing`` (concentration
``1 + category_smoothing``). Two safeguards keep a draw defined: the scatter
gets ``n_k * reg_covar`` on its diagonal (the counterpart of the fit's
``reg_covar``), and a component with fewer than ``d + 1`` rows gets ``d``
degrees of freedom. An empty component keeps its current parameters.

Cost of a P-step: ``O(n d^2 + K d^3)``; of an I-step, an E-step's
(``_impute``); data augmentation is ``n_steps`` of each.
"""

from dataclasses import replace

import numpy as np

from emimpute._em._data import EMData
from emimpute._em._estep import posterior
from emimpute._em._impute import complete, draw_components
from emimpute._em._loop import run_em
from emimpute._em._params import MixtureParams

# Data augmentation steps per draw, from the maximum-likelihood fit. The
# chain moves like an autoregression whose coefficient is the largest
# fraction of missing information (Schafer 1997, sec. 4.4), so a chain
# started at the mode reaches the posterior variance but for a factor
# 1 - fmi**(2 steps): 1 - 1e-6 at fmi = 0.5, 0.97 at fmi = 0.84.
POSTERIOR_STEPS = 10


def bootstrap_params(data, params, config, random_state):
    """EM on a row bootstrap of ``data``, started from ``params``.

    Parameters
    ----------
    data : EMData
        The data as ``params`` were fit to (standardised, if they were).
    params : MixtureParams
        The full-data fit: the start, so that the refit takes few iterations.
    config : EMConfig
        Its ``tol`` and ``max_iter`` and ``prior`` are used; its
        standardisation is not (``data`` is in the parameters' units).
    random_state : numpy.random.RandomState

    Returns
    -------
    params : MixtureParams
    """
    rows = random_state.randint(data.n_samples, size=data.n_samples)
    config = replace(config, standardise=False, n_init=1, verbose=0)
    return run_em(data.take(rows), config, start=params).params


def posterior_params(data, params, prior, random_state, n_steps=POSTERIOR_STEPS):
    """A draw of the parameters from their posterior, by data augmentation.

    Parameters
    ----------
    data : EMData
        The data as ``params`` were fit to.
    params : MixtureParams
        The start of the chain (the maximum-likelihood fit).
    prior : Prior
        Its ``reg_covar`` and ``category_smoothing`` (see the module notes).
    random_state : numpy.random.RandomState
    n_steps : int, default=POSTERIOR_STEPS

    Returns
    -------
    params : MixtureParams
    """
    for _ in range(n_steps):
        completion = complete(data, params, random_state=random_state)
        params = draw_params(
            params,
            completion.numeric,
            completion.codes,
            data.n_categories,
            prior,
            random_state,
        )
    return params


def draw_params(params, numeric, codes, n_categories, prior, random_state):
    """The P-step: parameters drawn given complete data.

    Each row's component is drawn given the complete row, then the weights
    and each family's parameters given the rows of each component.

    Parameters
    ----------
    params : MixtureParams
        The current parameters (for the components and the forms).
    numeric : ndarray of shape (n_samples, n_numeric)
    codes : ndarray of shape (n_samples, n_categorical)
    n_categories : tuple of int
    prior : Prior
    random_state : numpy.random.RandomState

    Returns
    -------
    params : MixtureParams
    """
    n_components = params.n_components
    if n_components == 1:
        labels = np.zeros(len(numeric), dtype=np.intp)
    else:
        full = EMData.build(
            numeric, np.zeros(numeric.shape, dtype=bool), codes, n_categories
        )
        labels = draw_components(posterior(full, params)[1], random_state)
    counts = np.bincount(labels, minlength=n_components)
    families = []
    for family in params.families:
        if family is params.gaussian:
            family = draw_gaussian(
                family, numeric, labels, prior.reg_covar, random_state
            )
        elif family is params.categorical:
            family = draw_categorical(
                family, codes, labels, prior.category_smoothing, random_state
            )
        else:
            raise ValueError("Parameter draws are for imputation models only.")
        families.append(family)
    return MixtureParams(
        weights=_dirichlet(counts[np.newaxis] + 1.0, random_state)[0],
        families=tuple(families),
    )


def _dirichlet(alpha, random_state):
    """One Dirichlet draw per row of ``alpha``, by normalised gamma draws."""
    gammas = random_state.standard_gamma(alpha)
    return gammas / gammas.sum(axis=1, keepdims=True)


def _inverse_wishart(df, scale, random_state):
    """Inverse-Wishart draws, one per matrix of ``scale`` ``(K, d, d)``.

    By the Bartlett decomposition of the Wishart ``W(df, inv(scale))``:
    ``W = L A A^T L^T`` with ``L`` the Cholesky factor of ``inv(scale)``,
    ``A`` lower triangular with ``A_ii^2 ~ chi2(df_k - i)`` and standard
    normal entries below the diagonal; the draw is ``inv(W)``.
    """
    n_matrices, n_features = scale.shape[:2]
    lower = np.linalg.cholesky(np.linalg.inv(scale))
    bartlett = np.tril(
        random_state.standard_normal(size=(n_matrices, n_features, n_features)), -1
    )
    dfs = np.asarray(df, dtype=float)[:, np.newaxis] - np.arange(n_features)
    diagonal = np.sqrt(random_state.chisquare(dfs))
    bartlett[:, np.arange(n_features), np.arange(n_features)] = diagonal
    factor = lower @ bartlett
    wishart = factor @ np.swapaxes(factor, -1, -2)
    draws = np.linalg.inv(wishart)
    return 0.5 * (draws + np.swapaxes(draws, -1, -2))


def component_moments(values, labels, n_components):
    """Per-component counts, means and scatter matrices of complete rows.

    Returns
    -------
    counts : ndarray of shape (K,)
    means : ndarray of shape (K, d)
        0 for an empty component.
    scatter : ndarray of shape (K, d, d)
        ``sum_i (x_i - mean_k)(x_i - mean_k)^T`` over the component's rows.
    """
    one_hot = np.zeros((len(values), n_components))
    one_hot[np.arange(len(values)), labels] = 1.0
    counts = one_hot.sum(axis=0)
    means = (one_hot.T @ values) / np.maximum(counts, 1.0)[:, np.newaxis]
    deviations = values - means[labels]
    scatter = np.einsum("nk,ni,nj->kij", one_hot, deviations, deviations)
    return counts, means, scatter


def draw_gaussian(family, values, labels, reg_covar, random_state):
    """Means and covariances drawn given complete numeric rows and components.

    See the module notes for the prior; returns a ``GaussianFamily`` of the
    same form.
    """
    n_components, n_features = family.means.shape
    counts, means, scatter = component_moments(values, labels, n_components)
    form = family.form
    identity = np.eye(n_features)
    scatter = scatter + (np.maximum(counts, 1.0) * reg_covar)[:, None, None] * identity
    variances_of_means = None
    if form.dense and form.shared:
        df = max(counts.sum() - n_components, n_features)
        covariance = _inverse_wishart([df], scatter.sum(axis=0)[None], random_state)
        covariances = covariance[0]
        stack = np.broadcast_to(covariance, (n_components, n_features, n_features))
    elif form.dense:
        df = np.maximum(counts - 1.0, n_features)
        stack = _inverse_wishart(df, scatter, random_state)
        covariances = stack
    else:
        diagonal = np.diagonal(scatter, axis1=1, axis2=2)
        if form.spherical:
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
    safe_counts = np.maximum(counts, 1.0)[:, np.newaxis]
    if variances_of_means is None:
        offsets = np.einsum("kij,kj->ki", np.linalg.cholesky(stack), noise)
    else:
        offsets = np.sqrt(variances_of_means) * noise
    drawn_means = means + offsets / np.sqrt(safe_counts)
    # An empty component has no rows to inform it: it keeps its parameters.
    empty = counts == 0
    if empty.any():
        drawn_means[empty] = family.means[empty]
        if not form.shared:
            covariances = covariances.copy()
            covariances[empty] = family.covariances[empty]
    return type(family).from_covariances(form, drawn_means, covariances)


def draw_categorical(family, codes, labels, smoothing, random_state):
    """Category probabilities drawn given complete codes and components.

    Column ``j`` of component ``k`` gets ``Dirichlet(counts_kj + 1 +
    smoothing)``: the posterior under the Dirichlet prior whose mode the fit
    uses (``category_smoothing`` pseudo-counts).
    """
    n_components = family.n_components
    probabilities = []
    for j, n in enumerate(family.n_categories):
        counts = np.zeros((n_components, n))
        np.add.at(counts, (labels, codes[:, j]), 1.0)
        probabilities.append(_dirichlet(counts + 1.0 + smoothing, random_state))
    return type(family)(tuple(probabilities))
