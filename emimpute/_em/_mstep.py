"""M-step: statistics to mixture parameters, family by family."""

from emimpute._em._conjugate import log_dirichlet
from emimpute._em._params import MixtureParams
from emimpute._em._stats import NK_FLOOR


def m_step(stats, params, prior, classes=None):
    """Maximise the expected complete-data log-likelihood.

    ``weights = nk / sum(nk)`` (``nk + alpha - 1`` for a Dirichlet prior of
    concentration ``alpha``), or, with fixed class priors, each class's
    prior split among its components in proportion to ``nk``
    (:meth:`Classes.weights`); each family re-estimates its own parameters
    from its own statistics (see their ``m_step``).

    Parameters
    ----------
    stats : MixtureStats
    params : MixtureParams
        The current parameters (their families' forms carry over).
    prior : Prior
    classes : Classes, default=None
        The class of each component and the fixed class priors, if any.

    Returns
    -------
    params : MixtureParams
    """
    nk = stats.nk + NK_FLOOR
    if prior.weight_concentration != 1.0:
        # The Dirichlet prior's MAP: alpha - 1 pseudo-rows per component.
        nk = nk + (prior.weight_concentration - 1.0)
    return MixtureParams(
        weights=nk / nk.sum() if classes is None else classes.weights(nk),
        families=tuple(
            family.m_step(family_stats, prior)
            for family, family_stats in zip(
                params.families, stats.families, strict=True
            )
        ),
    )


def log_prior(params, prior):
    """The log-prior density of ``params`` whose MAP the M-step computes.

    With a conjugate prior: the weights' and every family's. Without one,
    the categorical family's when ``category_smoothing > 0`` (its
    pseudo-counts are a Dirichlet prior's MAP, and EM never lowers the
    log-likelihood plus that log-prior, while the log-likelihood alone may
    fall), else 0, so that the objective is the log-likelihood itself.
    """
    if prior.is_map:
        return log_dirichlet(params.weights, prior.weight_concentration) + sum(
            family.log_prior(prior) for family in params.families
        )
    categorical = params.categorical
    if categorical is None or not prior.category_smoothing:
        return 0.0
    return categorical.log_prior(prior)
