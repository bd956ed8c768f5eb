"""Bootstrap parameter draws: EM refit on a row bootstrap of the data.

Amelia's EMB (Honaker, King and Blackwell 2011): a draw of the parameters
is the EM fit of a row bootstrap of the data (:func:`bootstrap_counts`: the
rows' weights, no row copied), started from the full-data fit and run to
:func:`bootstrap_tol` by Anderson-accelerated EM (``_accelerate``); with
one Gaussian its E-steps run on per-pattern sums of the drawn rows
(``_pattern_sums``: :func:`_pattern_rows`, made once per fit).

Cost of a draw, for ``n`` rows of ``d`` features, ``K`` components and
``P`` missing patterns: the counts ``O(n)``; with one Gaussian, ``O(n
d^2)`` for the draw's per-pattern sums, then ``O(P d^3)`` per iteration;
otherwise one pattern grouping of the drawn rows, then an E-step over them
per iteration (``O(n K d^2)`` for full covariances). Iterations grow as
``log(BOOTSTRAP_PRECISION) / log(fmi**2)``, ``fmi`` the largest fraction
of missing information, the accelerated ones more slowly.
"""

import warnings
from dataclasses import replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from emimpute._em import _pattern_sums as pattern_sums
from emimpute._em._accelerate import anderson_em
from emimpute._em._data import weights_count_copies
from emimpute._em._streams import generator
from emimpute._em._warnings import user_stacklevel

# A bootstrap refit stops when its per-row log-likelihood gains less than
# this share of the gap between the start and the bootstrap sample's own
# maximum (about n_parameters / (2 n) per row: twice the gap summed over the
# rows is a chi-square with n_parameters degrees of freedom). The parameters
# are then within about sqrt(share) (1%) of that maximum, relative to their
# bootstrap displacement, in the slowest direction; the user's ``tol``
# (1e-3 per row by default, made to stop a fit, not to resolve a
# displacement of order 1/sqrt(n)) left them short: the variance of the
# bootstrap draws of regression slopes came out 6% too small at n = 200.
BOOTSTRAP_PRECISION = 1e-4


def bootstrap_tol(n_rows, params, tol):
    """The convergence threshold of a bootstrap refit (per row).

    ``min(tol, BOOTSTRAP_PRECISION * n_parameters / (2 n))``, with ``n``
    the bootstrap's number of rows (:func:`bootstrap_rows`): a share of the
    expected distance in log-likelihood between the full-data fit and the
    bootstrap one.
    """
    gap = params.n_parameters() / (2.0 * n_rows)
    return min(tol, BOOTSTRAP_PRECISION * gap)


def bootstrap_rows(data):
    """The number of rows a bootstrap of ``data`` draws (see
    :func:`bootstrap_counts`): ``n`` without weights, ``sum w`` with whole
    weights (the copies), else the rows of positive weight."""
    weights = data.sample_weight
    if weights is None:
        return data.n_samples
    if weights_count_copies(weights):
        return max(1, round(float(weights.sum())))
    return int(np.count_nonzero(weights))


def bootstrap_counts(data, random_state):
    """The row weights of a row bootstrap of ``data``.

    ``n`` rows drawn uniformly with replacement: each row's weight is the
    number of times it is drawn. With sample weights that are all whole
    numbers, as a bootstrap of the rows' copies would draw them (a row of
    weight ``w`` counts as ``w`` copies): ``sum w`` draws, each row with
    probability ``w / sum w``. With other weights (survey weights, weights
    normalised to sum to 1: they count no copies), the rows of positive
    weight are drawn uniformly, as many as there are, and each drawn row
    keeps its weight, times the number of times it is drawn (the bootstrap
    of a weighted sample), so that, as the fit, the draws do not depend on
    the weights' scale. Rows of weight 0 are never drawn.

    The numbers come from ``_streams.generator(random_state)``.
    """
    stream = generator(random_state)
    n = data.n_samples
    weights = data.sample_weight
    if weights is None:
        return np.bincount(stream.integers(n, size=n), minlength=n)
    if weights_count_copies(weights):
        total = float(weights.sum())
        return stream.multinomial(max(1, round(total)), weights / total)
    rows = np.flatnonzero(weights > 0)
    counts = np.bincount(
        stream.integers(len(rows), size=len(rows)), minlength=len(rows)
    )
    drawn = np.zeros(n)
    drawn[rows] = counts * weights[rows]
    return drawn


def bootstrap_params(data, params, config, random_state, *, scaling=None):
    """EM on a row bootstrap of ``data``, started from ``params``.

    The bootstrap sample is ``data`` with each row weighted by the number
    of times it or its copies are drawn (``bootstrap_counts``: a row of
    sample weight ``w`` as ``w`` copies), so no row is copied. With one
    Gaussian component on numeric columns (and no conjugate prior) and
    patterns few enough for it to be the cheaper
    (``_pattern_sums.supports``), the E-steps run on the drawn rows'
    per-pattern sums (``_pattern_sums``): summed once per draw, from the
    rows the data keeps sorted by pattern for all the refits from
    ``params``, and no row block is made. Otherwise the rows drawn 0 times
    (about 37%) and those of sample weight 0 are dropped (``EMData.take``)
    and every E-step runs on the distinct rows left.

    The refit runs to ``bootstrap_tol`` (see ``BOOTSTRAP_PRECISION``): a
    refit stopped by the fit's ``tol`` moves only part of the way from the
    start to the bootstrap maximum, and the draws then understate the
    parameters' variance. It is EM with Anderson acceleration
    (:func:`~emimpute._em._accelerate.anderson_em`), which stops at least as
    close to the bootstrap maximum as plain EM in about two thirds of its
    E-steps (5.1 instead of 7.7 at n = 10000, d = 10, 20% MCAR).

    Parameters
    ----------
    data : EMData
        The data as ``params`` were fit to (standardised, if they were).
    params : MixtureParams
        The full-data fit: the start, so that the refit takes few iterations.
    config : EMConfig
        Its ``tol``, ``max_iter`` and ``prior`` are used; its
        standardisation is not (``data`` is in the parameters' units).
    random_state : numpy.random.RandomState or Generator
        The bootstrap's rows are drawn from ``_streams.generator`` of it.
    scaling : Scaling, default=None
        The standardisation of ``data`` (the fit's), for a conjugate prior's
        hyperparameters given in the data's units (see ``anderson_em``).

    Returns
    -------
    params : MixtureParams

    Notes
    -----
    Cost: with one Gaussian, ``O(n d^2)`` for the draw's sums, then
    ``O(P d^3)`` per iteration (``P`` the missing patterns): 2.2 ms per
    refit at n = 10000, d = 10, 20% MCAR, 5.6 ms at n = 1e5 (14 ms and 95
    ms on the drawn rows, measured before). Otherwise one pattern grouping
    of the drawn rows, then an E-step over them per iteration. Plain EM's
    iterations grow as ``log(BOOTSTRAP_PRECISION) / log(fmi**2)``, fmi the
    largest fraction of missing information (4 at fmi = 0.3, 7 at fmi =
    0.5), the accelerated ones more slowly (see ``_accelerate.AITKEN_SHARE``
    for measured counts).
    """
    # The draws of the rows' copies: the sample's weights (bootstrap_counts).
    weights = bootstrap_counts(data, random_state)
    if pattern_sums.supports(data, params, config.prior):
        # One Gaussian: every E-step from the drawn rows' per-pattern sums.
        sample = _pattern_rows(data, params).weighted(weights)
    else:
        # Rows of weight 0 (not drawn, or of sample weight 0) are no rows:
        # every E-step of the refit skips them instead of counting them as
        # nothing.
        drawn = weights > 0
        sample = data.take(drawn)
        sample = replace(sample, sample_weight=weights[drawn].astype(float))
    config = replace(
        config,
        standardise=False,
        n_init=1,
        verbose=0,
        tol=bootstrap_tol(bootstrap_rows(data), params, config.tol),
    )
    result = anderson_em(sample, config, params, scaling=scaling)
    if not result.converged and config.max_iter > 0:
        warnings.warn(
            f"A bootstrap refit did not converge in max_iter={config.max_iter} "
            "iterations: its parameter draw is short of the bootstrap "
            "sample's maximum. Increase max_iter.",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
    return result.params


def _pattern_rows(data, params):
    """``data``'s :class:`~emimpute._em._pattern_sums.PatternRows`, made once.

    Kept on ``data`` (as its row blocks are, and dropped with them by
    ``EMData.release_blocks``) for the refits from ``params``, centred on
    its mean: every refit from the same fit sums the same centred rows, so
    the draws do not depend on which refit came first, nor on ``n_jobs``. A
    pickled or copied data set carries none (:class:`_KeptRows`): a joblib
    worker makes its own, in about a pass over the rows (1 ms at n = 10000,
    d = 10).
    """
    kept = data.__dict__.get("_pattern_rows")
    engine = pattern_sums.use_fused()
    if kept is None or kept.params is not params or kept.compiled != engine:
        rows = pattern_sums.PatternRows(data, params.gaussian.means[0])
        kept = _KeptRows(params, rows, rows.compiled)
        data.__dict__["_pattern_rows"] = kept
    return kept.rows


class _KeptRows:
    """The per-pattern rows kept on a data set, and the fit they are for.

    A cache: a pickled or copied data set (an estimator keeps its fit data
    for the parameter draws) carries none of it.
    """

    def __init__(self, params=None, rows=None, compiled=None):
        self.params, self.rows, self.compiled = params, rows, compiled

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()
