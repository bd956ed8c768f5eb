"""M-step: statistics to mixture parameters, family by family."""

# Keeps an empty component from dividing by zero (as scikit-learn does).
from emimpute._em._gaussian import NK_FLOOR
from emimpute._em._params import MixtureParams


def m_step(stats, params, prior):
    """Maximise the expected complete-data log-likelihood.

    ``weights = nk / sum(nk)``; each family re-estimates its own parameters
    from its own statistics (see their ``m_step``).

    Parameters
    ----------
    stats : MixtureStats
    params : MixtureParams
        The current parameters (their families' forms carry over).
    prior : Prior

    Returns
    -------
    params : MixtureParams
    """
    nk = stats.nk + NK_FLOOR
    return MixtureParams(
        weights=nk / nk.sum(),
        families=tuple(
            family.m_step(family_stats, prior)
            for family, family_stats in zip(
                params.families, stats.families, strict=True
            )
        ),
    )
