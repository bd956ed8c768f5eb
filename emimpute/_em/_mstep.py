"""M-step: statistics to mixture parameters, family by family."""

# Keeps an empty component from dividing by zero (as scikit-learn does).
from emimpute._em._gaussian import NK_FLOOR
from emimpute._em._params import MixtureParams


def m_step(stats, params, prior, classes=None):
    """Maximise the expected complete-data log-likelihood.

    ``weights = nk / sum(nk)``, or, with fixed class priors, each class's
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
    return MixtureParams(
        weights=nk / nk.sum() if classes is None else classes.weights(nk),
        families=tuple(
            family.m_step(family_stats, prior)
            for family, family_stats in zip(
                params.families, stats.families, strict=True
            )
        ),
    )
