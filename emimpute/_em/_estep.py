"""E-step of a mixture of families on data with missing entries.

Under the missing-at-random assumption the likelihood of the observed data
is, per row, ``sum_k pi_k prod_f p_f(x_{f,O} | k)``: each family ``f`` (the
Gaussian block over the numeric columns, the categorical factors) gives the
density of its observed part under component ``k``, missing entries
marginalised. The E-step needs, for every row and component:

- the log-density of the observed part, the sum of the families' ones;
- the responsibilities ``r_k = softmax_k(log pi_k + log p(x_O | k))``;
- each family's expected sufficient statistics, the missing entries
  completed by their conditional distribution given the observed ones.

This module holds the entry points: the loop over row blocks (``_blocks``),
the log-sum-exp and the sums of statistics. It knows no family's arithmetic:
each family's kernel (``family.kernel(data, weights)``) implements

- ``floats_per_row(n_missing)``: scratch space, for the chunk size;
- ``evaluate(block, moments=...)``: an evaluation with ``log_density`` of
  shape ``(n_rows, K)`` (and whatever its statistics reuse);
- ``statistics(block, resp, evaluation)``: a new additive value;
- ``impute(block, resp, evaluation, out, ...)``: the completed entries.

Cost per E-step: the sum of the families' (``_gaussian``, ``_categorical``),
plus a fixed cost per block of rows (``_blocks``: the blocks, and what the
families gather for them, are kept between the E-steps of a small data set);
Python loops run over the chunks and the families, never over rows or
patterns. The blocks are shared out to a pool of threads (``_parallel``:
as many as numba's and BLAS's thread counts allow) and their values added
in block order, so the result does not depend on the number of threads.
"""

import numpy as np

from emimpute._em._blocks import iter_blocks
from emimpute._em._fused import (
    NEGLIGIBLE_LOG_RATIO,
    blas_threads_for,
    softmax_rows,
    use_fused,
)
from emimpute._em._parallel import e_step_threads, map_blocks
from emimpute._em._stats import MixtureStats


def kernels(data, params, **options):
    """Each family of ``params`` bound to ``data``."""
    return [
        family.kernel(data, params.weights, **options) for family in params.families
    ]


def responsibilities(log_density, log_weights, *, fused=None):
    """Return ``log p(x_O)`` per row and the responsibilities.

    ``fused`` says whether the compiled version runs (default: as
    ``_fused.use_fused()``; an E-step asks once, not per block).

    A log-sum-exp over the components (max first, so nothing overflows or
    underflows to a wrong result): compiled (``_fused.softmax_rows``) when
    the fused kernels run, else in plain numpy (scipy's version costs more
    than the rest of a small block's E-step). Numpy's reductions along a
    short row (K entries) cost several times the arithmetic: compiled, one
    pass per row, the step takes about half the time (measured over the
    blocks of an E-step at 1e5 x 5: 9 ms, 5 ms).
    """
    if use_fused() if fused is None else fused:
        return softmax_rows(log_density, log_weights)
    weighted = log_density + log_weights
    top = weighted.max(axis=1, keepdims=True)
    top[~np.isfinite(top)] = 0.0
    with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
        ratio = weighted - top
        shifted = np.exp(ratio)
        shifted[ratio < NEGLIGIBLE_LOG_RATIO] = 0.0
        total = shifted.sum(axis=1, keepdims=True)
        log_prob_norm = (np.log(total) + top)[:, 0]
        resp = shifted / total
    return log_prob_norm, resp


def log_mixture_weights(params):
    """``log pi_k``; a zero weight gives ``-inf`` silently (an empty component)."""
    with np.errstate(divide="ignore"):
        return np.log(params.weights)


def evaluate_block(kernels, block, *, moments=False):
    """The families' evaluations of a block and their summed log-density."""
    evaluations = [kernel.evaluate(block, moments=moments) for kernel in kernels]
    log_density = evaluations[0].log_density
    for evaluation in evaluations[1:]:
        log_density = log_density + evaluation.log_density
    return evaluations, log_density


def map_row_blocks(
    function, data, bound, *, chunk_size, threads, groups=None, keep=True
):
    """``function(block)`` over the blocks of ``groups`` of ``data``'s rows.

    ``groups`` defaults to the rows with an observed entry; ``keep`` takes
    the blocks from ``data``'s kept ones (``EMData.block_memo``), else makes
    them for this pass. In block order (``_blocks.iter_blocks``), on
    ``threads`` threads (``_parallel.map_blocks``); BLAS products on one
    thread up to 64 features (see ``_fused.blas_threads_for``), and on one
    per block when the blocks share the cores.
    """
    blocks = iter_blocks(
        data.patterns,
        bound,
        chunk_size=chunk_size,
        groups=data.patterns.informative_groups if groups is None else groups,
        memo=data.block_memo if keep else None,
    )
    with blas_threads_for(data.n_numeric, shared=threads > 1):
        yield from map_blocks(function, blocks, threads)


def e_step(data, params, *, chunk_size=None, threads=None):
    """Expected sufficient statistics and observed-data log-likelihood.

    Parameters
    ----------
    data : EMData
    params : MixtureParams
        Current parameters.
    chunk_size : int, default=None
        Rows per chunk; ``None`` bounds the scratch space to about 16 MiB.
    threads : int, default=None
        Threads sharing the blocks (``_parallel``); ``None``:
        ``_parallel.e_step_threads`` (one for a small E-step). The result
        does not depend on it.

    Returns
    -------
    log_prob_norm : ndarray of shape (n_samples,)
        ``log p(x_O)`` per row; 0 for rows with nothing observed.
    stats : MixtureStats
        Summed over the rows with at least one observed entry, each weighted
        by its sample weight.
    """
    bound = kernels(data, params)
    log_weights = log_mixture_weights(params)
    fused = use_fused()
    threads = e_step_threads(data, params.n_components) if threads is None else threads

    def expect(block):
        # Underflow of tiny responsibilities is benign; the caller checks
        # that the log-likelihood is finite, and says what to change if it
        # is not. (Set here: a pool thread has numpy's default state.)
        with np.errstate(under="ignore", over="ignore", invalid="ignore"):
            evaluations, log_density = evaluate_block(bound, block)
            block_norm, resp = responsibilities(log_density, log_weights, fused=fused)
            weights = data.block_weights(block)
            if weights is not None:
                # Statistics are linear in the responsibilities: a row of
                # weight w counts as w copies of it.
                resp *= weights
            # A product, not resp.sum(axis=0): a column sum of a tall
            # (rows, K) array is 6x slower, and this runs per block.
            counts = np.ones(len(resp)) @ resp
            values = [
                kernel.statistics(block, resp, evaluation)
                for kernel, evaluation in zip(bound, evaluations, strict=True)
            ]
        return block.rows, block_norm, counts, values

    log_prob_norm = np.zeros(data.n_samples)
    # Sums over the blocks, in block order whatever thread computed them:
    # the counts in one array (0 + a is a: the same bits as adding the
    # blocks' values), each family's statistics by its values' addition.
    nk = np.zeros(params.n_components)
    totals = [None] * len(bound)
    n_blocks = 0
    for rows, block_norm, counts, values in map_row_blocks(
        expect, data, bound, chunk_size=chunk_size, threads=threads
    ):
        log_prob_norm[rows] = block_norm
        nk += counts
        n_blocks += 1
        for index, value in enumerate(values):
            total = totals[index]
            totals[index] = value if total is None else total + value
    stats = MixtureStats(nk, tuple(totals)) if n_blocks else None
    return log_prob_norm, stats


_OVERFLOW = (
    "The model's log-density overflowed on some rows of X (values far "
    "outside the range of the training data, for instance 1e200); scale the "
    "data, or remove those rows."
)


def check_finite_scores(values):
    """Raise the overflow error if any value is not finite."""
    if not np.all(np.isfinite(values)):
        raise ValueError(_OVERFLOW)


def check_log_densities(log_density, *, allow_impossible=False):
    """Raise a clear error for rows no component can have produced.

    A log-density of ``-inf`` under *some* components is legitimate (a
    category of probability 0 in them, with ``category_smoothing=0``); NaN,
    ``+inf``, or ``-inf`` under every component is not, unless
    ``allow_impossible``: a row of density 0 then has the log-density
    ``-inf`` (``GaussianMixture.score_samples``' answer for a row far from
    every component; responsibilities do not exist for it), and so has a
    NaN, changed in place.
    """
    if np.all(np.isfinite(log_density)):
        return
    if allow_impossible:
        # Scoring under fitted (finite) parameters, NaN comes from a row's
        # squares overflowing (inf - inf in the quadratic form): a row
        # infinitely far, of density 0. In a fit it stays an error: there
        # the parameters themselves may have run away.
        log_density[np.isnan(log_density)] = -np.inf
    if np.any(np.isnan(log_density) | (log_density == np.inf)):
        raise ValueError(_OVERFLOW)
    if allow_impossible:
        return
    impossible = np.flatnonzero(np.all(log_density == -np.inf, axis=1))
    if len(impossible):
        raise ValueError(
            f"No component can have produced {len(impossible)} row(s) of X "
            f"(the first at index {impossible[0]}): each holds values far "
            "outside the range of the training data (scale the data), or a "
            "category of probability 0 in every component (possible with "
            "category_smoothing=0 when a category was never seen in fit, or "
            "only on rows of weight 0: set category_smoothing > 0); or "
            "remove those rows."
        )


def weighted_log_prob(
    data, params, *, chunk_size=None, threads=None, allow_impossible=False
):
    """``log pi_k + log p(x_O | k)`` for every row and component.

    Rows with nothing observed get ``log pi_k``. ``threads`` as in
    :func:`e_step`; ``allow_impossible`` as in :func:`check_log_densities`.

    Returns
    -------
    weighted_log_prob : ndarray of shape (n_samples, n_components)

    Raises
    ------
    ValueError
        If a row's log-density overflows (a row far outside the data).
    """
    bound = kernels(data, params)
    out = np.empty((data.n_samples, params.n_components))

    def evaluate(block):
        # Written here, not by the caller: the log-density is the block's
        # scratch array, which this thread's next block overwrites. Blocks
        # write disjoint rows.
        with np.errstate(under="ignore", over="ignore", invalid="ignore"):
            out[block.rows] = evaluate_block(bound, block)[1]

    threads = e_step_threads(data, params.n_components) if threads is None else threads
    for _ in map_row_blocks(
        evaluate, data, bound, chunk_size=chunk_size, threads=threads
    ):
        pass
    out[data.patterns.empty_rows] = 0.0
    check_log_densities(out, allow_impossible=allow_impossible)
    return out + log_mixture_weights(params)


def posterior(data, params, *, scaling=None, chunk_size=None, allow_impossible=False):
    """``log p(x_O)`` of every row and the component responsibilities.

    ``scaling``, when the parameters are of the standardised numeric
    columns, standardises ``data`` and returns the log-densities in the
    data's units (minus the log-Jacobian). With ``allow_impossible``, a row
    that no component can have produced gets the log-density ``-inf`` (and
    NaN responsibilities) instead of an error.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,)
        The mixture's marginal density on each row's observed part; exactly
        0 for a row with nothing observed (the marginal of no coordinates is
        1; the log-sum-exp of the log weights would only round to 0).
    resp : ndarray of shape (n_samples, n_components)
        Rows sum to 1; ``weights`` for a row with nothing observed.
    """
    model_data = data if scaling is None else scaling.apply(data)
    weighted = weighted_log_prob(
        model_data, params, chunk_size=chunk_size, allow_impossible=allow_impossible
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        log_prob, resp = responsibilities(weighted, 0.0)
    log_prob[data.patterns.empty_rows] = 0.0
    if scaling is not None:
        log_prob -= scaling.log_jacobian(data.mask)
    return log_prob, resp
