"""The P-step: parameters drawn given complete data, for proper multiple imputation.

Imputations drawn under the single maximum-likelihood fit treat its
parameters as known, so analyses of them understate the variance. A
*proper* imputation first draws the parameters from (an approximation of)
their distribution given the observed data, then the missing entries under
that draw. Two ways, as in R's Amelia and norm:

- :func:`~emimpute._em._bootstrap.bootstrap_params` (``_bootstrap``): EM
  refit on a row bootstrap of the data, started from the full-data fit
  (Amelia's EMB; Honaker, King and Blackwell 2011). Each refit costs a few
  EM iterations, Anderson-accelerated (``_accelerate``): the start is in
  EM's linear regime; with one Gaussian they run on per-pattern sums of
  the drawn rows (``_pattern_sums``).
- :func:`~emimpute._em._chain.posterior_params` (``_chain``): data
  augmentation (Tanner and Wong 1987; Schafer 1997, ch. 5-6): alternately
  draw the missing entries given the parameters (the I-step) and the
  parameters given the completed data (the P-step, :func:`draw_params`),
  ``n_steps`` times from the maximum-likelihood fit. With a mixture, the
  I-step also draws each row's component given its completed row, so that
  the P-step sees complete data with known components.

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
Each family draws its own parameters (``draw_given_complete``: the Gaussian
family's in ``_gaussian``, by its covariance form's ``draw_posterior``;
the categorical family's in ``_categorical``); this module draws the
components and the weights (:func:`draw_params`; :func:`draw_one_gaussian`
from the moments of one Gaussian's completed rows).

Cost of a P-step: ``O(n d^2 + K d^3)``, plus ``O(n m K + K L)`` for ``m``
categorical columns of ``L`` categories in all (the components' posterior,
the counts, a Dirichlet draw per component and column); of an I-step, an
E-step's (``_impute``), plus the categorical draws, ``O(K L + n_m log L)``
time and ``O(n_m + K L)`` memory for ``n_m`` missing cells
(``_categorical``: each cell from its drawn component's cumulative
probabilities, never an ``n_m x L`` table); data augmentation is
``n_steps`` of each. With one Gaussian on numeric columns (the default
imputation model) a step is one compiled pass over the rows with holes that
draws them and sums the completed data's moments as it goes
(``_augmentation``: ``O(n_h r d)`` for ``n_h`` rows with ``r`` of ``d``
entries missing), then a P-step of ``O(d^3)``.
"""

import numpy as np

from emimpute._em._categorical import dirichlet_draws
from emimpute._em._data import EMData
from emimpute._em._estep import posterior
from emimpute._em._impute import draw_components
from emimpute._em._params import MixtureParams


def draw_params(
    params, numeric, codes, n_categories, prior, random_state, *, weights=None
):
    """The P-step: parameters drawn given complete data.

    Each row's component is drawn given the complete row, then the weights
    and each family's parameters given the rows of each component (its
    ``draw_given_complete``; a family with nothing to draw raises a
    ValueError: parameter draws are for imputation models only). Sample
    ``weights`` count a row as that many copies of it in every count and
    moment (the copies share the row's drawn holes and component).

    Parameters
    ----------
    params : MixtureParams
        The current parameters (for the components and the forms).
    numeric : ndarray of shape (n_samples, n_numeric)
    codes : ndarray of shape (n_samples, n_categorical)
    n_categories : tuple of int
    prior : Prior
    random_state : numpy.random.RandomState
    weights : ndarray of shape (n_samples,), default=None

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
    counts = np.bincount(labels, weights=weights, minlength=n_components)
    families = tuple(
        family.draw_given_complete(
            numeric, codes, labels, prior, random_state, weights=weights
        )
        for family in params.families
    )
    return MixtureParams(
        weights=dirichlet_draws(counts[np.newaxis] + 1.0, random_state)[0],
        families=families,
    )


def draw_one_gaussian(params, moments, prior, random_state):
    """The P-step of one Gaussian on numeric columns, given the moments.

    The draws of :func:`draw_params` (the same numbers from the same
    stream, in the same order) when ``moments`` are the
    :func:`~emimpute._em._gaussian.component_moments` of the completed rows
    with one component:
    ``(counts, means, scatter)`` of shapes ``(1,)``, ``(1, d)``, ``(1, d, d)``.
    """
    family = params.gaussian.draw_from_moments(*moments, prior.reg_covar, random_state)
    return MixtureParams(
        weights=dirichlet_draws(moments[0][np.newaxis] + 1.0, random_state)[0],
        families=(family,),
    )
