"""Information criteria of a fitted mixture: BIC, ICL and AIC.

One job, for both callers: :meth:`EMMixture.bic <emimpute.EMMixture.bic>`
and :meth:`~emimpute.EMMixture.aic`, and every fit of
:class:`~emimpute.EMMixtureSelector`'s grid, in memory and on a dask array,
score by the same sums of the same rows (the observed-data log-likelihood,
the number of rows with an observed entry and the classification's
entropy, weighted alike), so that a selector's table and the kept fit's
``bic`` agree. Cost: one E-step's posterior over the rows, ``O(n K d^2)``
for full covariances; on dask one pass of tasks, three numbers back.
"""

import math

import numpy as np

from emimpute._em._dask import add_counts, map_reduce
from emimpute._em._data import EMData
from emimpute._em._estep import posterior

CRITERIA = ("bic", "icl", "aic")


def information_criteria(
    log_prob, resp, n_parameters, informative=None, sample_weight=None
):
    """BIC, ICL and AIC of a fit from its rows' log-densities (lower is better).

    ``log_prob`` is each row's observed-data log-density (``score_samples``),
    ``resp`` the responsibilities, ``informative`` whether each row has an
    observed entry. With ``n`` such rows and ``L`` the summed
    log-likelihood: ``bic = -2 L + p log n``, ``aic = -2 L + 2 p`` and
    ``icl = bic - 2 sum_i log resp[i, map_i]`` over those rows (Biernacki,
    Celeux and Govaert 2000: BIC plus twice the entropy of the hard
    classification, as mclust's ``icl``). A row with nothing observed
    carries no information: it adds 0 to ``L`` and nothing to ``n`` or to
    the entropy (its responsibilities are the weights, whatever the data).
    mclust reports ``-bic`` (higher is better). With ``sample_weight``, a
    row of weight ``w`` counts as ``w`` copies of it in ``L``, ``n`` and the
    entropy.

    Returns
    -------
    criteria : dict
        ``log_likelihood``, ``n_parameters``, ``bic``, ``icl``, ``aic``.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._criteria import information_criteria
    >>> criteria = information_criteria(
    ...     np.array([-1.0, -2.0]), np.array([[1.0, 0.0], [0.5, 0.5]]), 3
    ... )
    >>> round(criteria["bic"], 6), round(criteria["aic"], 6)
    (8.079442, 12.0)
    """
    return criteria_of_sums(
        criteria_sums(log_prob, resp, informative, sample_weight), n_parameters
    )


def criteria_sums(log_prob, resp, informative=None, sample_weight=None):
    """What the criteria read of some rows, additive over rows.

    Returns
    -------
    log_likelihood : float
        The summed ``log_prob`` of the ``informative`` rows.
    n_samples : int
        Their number.
    entropy : float
        Their ``sum_i -log max_k resp[i, k]``.
    """
    if informative is not None:
        log_prob, resp = log_prob[informative], resp[informative]
        if sample_weight is not None:
            sample_weight = sample_weight[informative]
    with np.errstate(divide="ignore"):
        entropies = -np.log(resp.max(axis=1))
    if sample_weight is None:
        return float(np.sum(log_prob)), len(log_prob), float(entropies.sum())
    # A row of weight 0 adds nothing, its entropy (inf at 0 probability)
    # included.
    counted = sample_weight > 0
    weights = sample_weight[counted]
    return (
        float(weights @ log_prob[counted]),
        float(weights.sum()),
        float(weights @ entropies[counted]),
    )


def criteria_of_sums(sums, n_parameters):
    """:func:`information_criteria` from the rows' sums (:func:`criteria_sums`)."""
    log_likelihood, n_samples, entropy = sums
    bic = -2.0 * log_likelihood + n_parameters * math.log(max(n_samples, 1))
    return {
        "log_likelihood": log_likelihood,
        "n_parameters": int(n_parameters),
        "bic": bic,
        "icl": bic + 2.0 * entropy,
        "aic": -2.0 * log_likelihood + 2.0 * n_parameters,
    }


def data_criteria_sums(data, params, counts=None):
    """:func:`criteria_sums` of an :class:`EMData`'s rows under ``params``.

    The float64 posterior, whatever the data's dtype: float32 data's,
    rounded to float32 and summed so, was ~4e-8 relative off (BIC 725772.18
    for 725772.21 on 100,000 rows). ``counts``: each row's weight as a
    count of rows (``weights_as_counts``), or None.
    """
    log_prob, resp = posterior(data, params)
    informative = np.ones(data.n_samples, dtype=bool)
    informative[data.patterns.empty_rows] = False
    return criteria_sums(log_prob, resp, informative, counts)


def mixture_criteria(mixture, data, counts=None):
    """:func:`information_criteria` of a fitted ``mixture`` on ``data`` (an
    in-memory :class:`EMData`, the rows as the mixture reads them)."""
    sums = data_criteria_sums(data, mixture._fitted_params(), counts)
    return criteria_of_sums(sums, mixture._n_parameters())


def _chunk_criteria_sums(chunk, params, read):
    """:func:`data_criteria_sums` of a dask chunk, read by ``read``."""
    if len(chunk) == 0:  # boolean indexing leaves empty chunks
        return 0.0, 0, 0.0
    return data_criteria_sums(read(chunk), params)


def dask_information_criteria(mixture, array, read=EMData.build):
    """:func:`information_criteria` of ``mixture`` on a dask array, in one pass.

    One task per row chunk of ``array`` reads it by ``read`` (the
    estimator's validation, or :meth:`EMData.build` for data already
    checked) and returns its :func:`criteria_sums` (three numbers), summed
    as a tree: the client receives three numbers, never a row. The
    parameters travel as one key. Equal to the in-memory criteria but for
    the order of the summation (the chunks' sums added, instead of one sum
    over all rows).
    """
    import dask

    params = dask.delayed(mixture._fitted_params(), pure=True)
    sums = map_reduce(array, _chunk_criteria_sums, add_counts, params, read)
    return criteria_of_sums(sums, mixture._n_parameters())
