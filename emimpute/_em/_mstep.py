"""M-step: statistics to mixture parameters, family by family."""

# Keeps an empty component from dividing by zero (as scikit-learn does).
from emimpute._em._conjugate import log_dirichlet
from emimpute._em._gaussian import NK_FLOOR
from emimpute._em._params import MixtureParams


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
    """The log-prior density of ``params``: weights and every family's.

    0 when EM maximises the likelihood (no conjugate prior), so that the
    objective is then the log-likelihood itself.
    """
    if not prior.is_map:
        return 0.0
    return log_dirichlet(params.weights, prior.weight_concentration) + sum(
        family.log_prior(prior) for family in params.families
    )
