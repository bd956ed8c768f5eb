"""The posterior chain: parameter draws by data augmentation.

Tanner and Wong 1987; Schafer 1997, ch. 5-6: alternately draw the missing
entries given the parameters (the I-step: ``_impute.complete``, or the
compiled steps of ``_augmentation`` for one Gaussian on numeric columns)
and the parameters given the completed data (the P-step, ``_uncertainty``),
from the maximum-likelihood fit (:func:`posterior_params`,
:func:`posterior_chain`). How long the chain burns in and thins between
draws (:func:`chain_plan`) is read from EM's late rate of convergence, the
largest fraction of missing information (:func:`em_rate`,
:func:`_late_rate`).

Cost of a step: an I-step, an E-step's (``_impute``) plus the categorical
draws (``O(K L + n_m log L)`` for ``n_m`` missing cells of ``L``
categories in all), then a P-step, ``O(n d^2 + K d^3)`` (see
``_uncertainty``); with one Gaussian on numeric columns, one compiled pass
over the rows with holes, ``O(n_h r d)`` for ``n_h`` rows with ``r`` of
``d`` entries missing, then ``O(d^3)``. A chain of ``m`` draws takes
``burn_in + 1 + (m - 1) thin`` steps. Reading the rate: ``RATE_PROBE_STEPS``
E-steps, up to ``RATE_MAX_ITER`` where it is high, each ``O(P d^3)`` for
``P`` missing patterns with one Gaussian (per-pattern sums), else ``O(n K
d^2)``. Rows of whole sample weight are copied (``O(N d)`` for ``N`` rows
made, at most ``MAX_COPY_CELLS`` cells).
"""

import itertools
import math
import warnings
from dataclasses import dataclass, replace

import numpy as np

from emimpute._em import _pattern_sums as pattern_sums
from emimpute._em._accelerate import flatten
from emimpute._em._augmentation import OneGaussianAugmentation
from emimpute._em._data import weights_as_counts, weights_count_copies
from emimpute._em._fused import blas_threads_for
from emimpute._em._impute import Completion, complete, in_data_units
from emimpute._em._loop import em_steps
from emimpute._em._params import MixtureParams
from emimpute._em._streams import generator, independent
from emimpute._em._uncertainty import draw_one_gaussian, draw_params
from emimpute._em._warnings import user_stacklevel

# Data augmentation steps from the maximum-likelihood fit to the first
# draw (the burn-in). The chain moves like an autoregression whose
# coefficient is the largest fraction of missing information (Schafer 1997,
# sec. 4.4), so a chain started at the mode reaches the posterior variance
# but for a factor 1 - fmi**(2 steps): 1 - 1e-6 at fmi = 0.5, 0.97 at
# fmi = 0.84.
POSTERIOR_STEPS = 10

# Data augmentation steps between two draws of one chain (the thinning).
# Draws t steps apart are correlated by at most fmi**t for any function of
# the parameters (fmi the largest fraction of missing information); m draws
# correlated by rho between neighbours (an AR(1)) have a sample variance
# smaller than the posterior's by about 2 rho / ((m - 1) (1 - rho)).
# Measured on the two designs of benchmarks/bench_multiple.py (n = 200, 30%
# of two of four columns missing at random; n = 10000, d = 10, 20% MCAR):
# EM's late rate of convergence, which is that largest fmi, 0.55-0.63; in
# chains of 3000 steps (three data sets of the first design: the OLS slopes
# of the completed tables) and 800 (the second: means, variances, extreme
# covariance eigenvalues), the largest autocorrelation at lag 1 to 5: 0.40-
# 0.53, 0.19-0.27, 0.10-0.14, 0.05-0.09, 0.04-0.09 (standard errors 0.02 and
# 0.035), close to 0.5**t. 5 steps keep rho below 0.08 even at fmi = 0.6,
# so the between-imputation variance is short by under 1% at m = 20 and
# about 2% at the default m = 5; 3 steps (rho 0.14) would leave it short by
# 2% and 6%, which is why the chain does not take fewer.
POSTERIOR_THIN = 5

# Where the largest fraction of missing information is higher, the chain
# takes more steps: as many as bring the correlation of neighbouring draws
# (fmi**t) down to POSTERIOR_LAG_CORRELATION (that of POSTERIOR_THIN steps
# at fmi = 0.6, above), and the burn-in as many (a chain from the mode then
# reaches the posterior variance but for a factor 1 - 0.08**2). At fmi =
# 0.85 (n = 200, 85% of a column missing) five steps left neighbours
# correlated by 0.43 (measured over 600 draws), the between-imputation
# variance 0.69 of the bootstrap's and the 95% intervals of that column's
# mean covering 86% of 300 data sets (bootstrap: 94%). fmi is read from
# EM's late rate of convergence (:func:`em_rate`).
POSTERIOR_LAG_CORRELATION = 0.08
# The most steps between draws (fmi = 0.987): beyond it, a warning.
POSTERIOR_MAX_THIN = 200
# fmi is read from the steps of EM run on from the fit, not from the fit's
# objective: with reg_covar, EM's end point is no maximum of the objective,
# whose gains then head for a change of sign instead of shrinking by
# fmi**2 (0.29 read for 0.88 at reg_covar=0.2, 0.02 for 0.92 at 0.01 with
# tol=1e-8), and at the default tol the early gains of 3 data sets in 40
# read 0.39-0.49 for late rates of 0.64-0.76. The steps' ratio creeps up
# too, as EM's faster directions die out, so it is a floor: after
# RATE_PROBE_STEPS steps, below RATE_CHECKED_FROM EM stops there (the fixed
# thinning then does: the speed benchmark's data read 0.2, 3 E-steps added
# to a chain of 106); from it up EM runs on until its steps are rounding
# (RATE_ROUNDING; RATE_MAX_ITER E-steps at most) and the rate is the ratio
# of its last two: 0.92 and 0.73 for one of two columns 85% and 70% missing
# (n = 200), where the fit's objective had read 0.86 and 0.66.
RATE_PROBE_STEPS = 3
RATE_CHECKED_FROM = 0.5
RATE_MAX_ITER = 200
# Gains of the per-row objective below this share of its size are rounding:
# their ratios drift (0.734, then 0.730, 0.714 and 0.61 as the gains fell
# from 2e-9 to 4e-13 of it). Steps of the parameters below this share of
# their size are rounding too (their own rounding is about 1e-16 of it).
RATE_ROUNDING = 1e-9

# The most cells the copies of rows of whole sample weight may take in a
# posterior draw (_drawn_rows_as_copies): 2**24, 128 MiB of float64.
MAX_COPY_CELLS = 2**24


def em_rate(lower_bounds):
    """EM's rate of convergence read from its objective's values.

    Near the maximum, EM's distance to it shrinks by the largest fraction of
    missing information ``fmi`` per iteration and the objective's gap by
    ``fmi**2`` (Dempster, Laird and Rubin 1977, sec. 3.9): the square root of
    the ratio of two successive gains, the last two above rounding
    (``RATE_ROUNDING``). None where no two are, or where the later is the
    larger (EM not yet in its last, geometric, stretch).
    """
    values = np.asarray(lower_bounds, dtype=float)
    if len(values) < 3:
        return None
    gains = np.diff(values)
    readable = gains > RATE_ROUNDING * max(1.0, abs(float(values[-1])))
    pairs = np.flatnonzero(readable[1:] & readable[:-1])
    if not len(pairs):
        return None
    before, last = gains[pairs[-1]], gains[pairs[-1] + 1]
    return float(np.sqrt(last / before)) if last < before else None


def _late_rate(data, params, config):
    """EM run on from ``params``: its last parameters and the ratio of its
    last two steps (None if it took fewer than two above rounding).

    ``RATE_PROBE_STEPS`` E-steps, then, where their ratio reads
    ``RATE_CHECKED_FROM`` or more, on until the steps are rounding
    (``RATE_ROUNDING``), at most ``RATE_MAX_ITER`` E-steps in all. With
    one Gaussian on numeric columns, where the bootstrap refits would run
    on the per-pattern sums of the rows (``_pattern_sums.supports``), so do
    these steps: the same EM to rounding, ``O(P d^3)`` an E-step instead
    of ``O(n d^2)`` (at 1e4 x 10 with 20% missing, 0.25 ms instead of 2.3:
    the 3 probe steps took a third of the fit's time).
    """
    previous, step, rate = flatten(params), None, None
    source = data
    if pattern_sums.supports(data, params, config.prior):
        weights = data.sample_weight
        source = pattern_sums.PatternRows(data, params.gaussian.means[0]).weighted(
            np.ones(data.n_samples) if weights is None else weights
        )
    steps = itertools.islice(em_steps(source, params, config), RATE_MAX_ITER)
    # The E-step's BLAS limit held throughout, as run_em holds it.
    with blas_threads_for(data.n_numeric):
        for n_steps, (_, moved) in enumerate(steps, start=1):
            params, current = moved, flatten(moved)
            size = float(np.linalg.norm(current - previous))
            if not size > RATE_ROUNDING * max(1.0, float(np.linalg.norm(current))):
                break
            if step is not None:
                rate = min(size / step, 1.0)
            previous, step = current, size
            if n_steps >= RATE_PROBE_STEPS and rate is not None:
                if rate < RATE_CHECKED_FROM:
                    break
    return params, rate


@dataclass(frozen=True)
class ChainPlan:
    """Where a posterior chain starts and how it steps (:func:`chain_plan`).

    Attributes
    ----------
    start : MixtureParams
        The fit, or EM run on from it while its rate was read.
    burn_in : int
        Steps from ``start`` to the first draw.
    thin : int
        Steps between draws.
    rate : float or None
        EM's late rate of convergence, the largest fraction of missing
        information (None: not read, for a mixture, data without holes, or
        a fit that converged at once).
    """

    start: MixtureParams
    burn_in: int
    thin: int
    rate: float | None


def chain_plan(data, params, config, lower_bounds, *, scaling=None):
    """How long a posterior chain from the fit ``params`` burns in and thins.

    ``POSTERIOR_STEPS`` and ``POSTERIOR_THIN`` where the largest fraction of
    missing information ``fmi`` is at most 0.6; else as many steps as bring
    ``fmi**t`` down to ``POSTERIOR_LAG_CORRELATION``, both
    (``ceil(log(0.08) / log(fmi))``: 8 at 0.7, 16 at 0.85, 24 at 0.9, 50 at
    0.95), up to ``POSTERIOR_MAX_THIN``, with a warning beyond. ``fmi`` is
    EM's late rate of convergence (Dempster, Laird and Rubin 1977), read
    from the steps of EM run on from the fit (:func:`_late_rate`; not from
    the fit's objective, which reg_covar fools: see ``RATE_PROBE_STEPS``),
    whose parameters the chain then starts from; from the fit's objective
    ``lower_bounds`` (:func:`em_rate`) only where the fit had run to
    rounding. Cost: ``RATE_PROBE_STEPS`` E-steps where fmi reads under
    ``RATE_CHECKED_FROM``; else at most ``RATE_MAX_ITER``, about
    ``log(1e-9) / log(fmi)`` (130 at fmi = 0.85), where the chain then
    takes ``burn_in + (m - 1) thin`` steps (320 at m = 20).

    One Gaussian only (with or without categorical features): a mixture's
    EM rate also measures how uncertain the rows' components are, which is
    not the fraction of missing information of the holes (two overlapping
    clusters of complete rows read 0.996), and its chain keeps the fixed
    lengths; as does data without holes, whose imputations a chain cannot
    change.

    Parameters
    ----------
    data : EMData
        The data as ``params`` were fit to (standardised, if they were).
    params : MixtureParams
    config : EMConfig
        The fit's: its ``prior`` (resolved on ``data`` here, as ``run_em``
        does), ``classes`` and ``chunk_size``.
    lower_bounds : list of float or None
        The fit's objective at each iteration (None: not known).
    scaling : Scaling, default=None
        The standardisation ``data`` is in, if any (for a conjugate prior's
        hyperparameters given in the data's units).

    Returns
    -------
    plan : ChainPlan
    """
    holes = data.mask.any() or (data.codes < 0).any()
    if params.n_components > 1 or not holes:
        return ChainPlan(params, POSTERIOR_STEPS, POSTERIOR_THIN, None)
    prior = config.prior.resolve(data, config.n_components, config.form, scaling)
    params, rate = _late_rate(data, params, replace(config, prior=prior))
    if rate is None and lower_bounds is not None:
        # The fit was run to rounding (tol=0): its own objective has the
        # only reading, the late one.
        rate = em_rate(lower_bounds)
    thin = POSTERIOR_THIN
    if rate is not None and rate > 0:
        needed = (
            math.inf
            if rate >= 1.0
            else math.ceil(math.log(POSTERIOR_LAG_CORRELATION) / math.log(rate))
        )
        thin = max(thin, needed)
        if thin > POSTERIOR_MAX_THIN:
            warnings.warn(
                f"The largest fraction of missing information is about "
                f"{rate:.3f} (EM's rate of convergence): posterior draws "
                f"{POSTERIOR_MAX_THIN} steps apart are still correlated by "
                f"{rate**POSTERIOR_MAX_THIN:.2f}, so the between-imputation "
                "variance is understated. Use method='bootstrap' (or "
                "parameter_uncertainty='bootstrap'), whose draws are "
                "independent, or a conjugate prior, which brings information.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
            thin = POSTERIOR_MAX_THIN
    return ChainPlan(
        start=params, burn_in=max(POSTERIOR_STEPS, thin), thin=int(thin), rate=rate
    )


def posterior_params(data, params, prior, random_state, n_steps=POSTERIOR_STEPS):
    """A draw of the parameters from their posterior, by data augmentation.

    ``n_steps`` steps of the chain that :func:`posterior_chain` runs, from
    ``params``: the same stream gives the same draw as that chain's first
    one with ``burn_in=n_steps`` (on data without whole weights above 1,
    whose rows are copied here: see :func:`_drawn_rows_as_copies`).

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
    data = _drawn_rows_as_copies(_weights_counting_rows(data), params)
    augmentation = _augmentation(data, params)
    holes = _holes_stream(augmentation, random_state)
    try:
        for _ in range(n_steps):
            params, _ = _augmentation_step(
                data, params, prior, random_state, augmentation, holes=holes
            )
    finally:
        data.release_blocks()
    return params


def _weights_counting_rows(data):
    """``data`` with weights that count no copies (survey weights, weights
    summing to 1) rescaled to the rows of positive weight
    (:func:`~emimpute._em._data.weights_as_counts`), as the bootstrap counts
    them: the P-step's draws read the weights' sum as the number of rows, so
    weights summing to 1 had drawn the parameters as from one row (a pooled
    standard error twice the unweighted one). ``O(n)``."""
    weights = data.sample_weight
    if weights is None or weights_count_copies(weights):
        return data
    return replace(data, sample_weight=weights_as_counts(weights))


def _drawn_rows_as_copies(data, params):
    """``data`` with each row that the I-step draws repeated by its weight.

    A row of whole weight ``w`` is ``w`` copies of it (as in the fit), and
    each copy's holes (and, with several components, its component) are
    drawn on their own: ``w`` copies sharing one draw weighted by ``w``
    would give its noise the variance ``w^2`` times one draw's where ``w``
    draws give ``w`` times, and the parameter draws would be too wide.
    Rows that draw nothing (complete rows of one component) keep their
    weight. Other weights count no copies (survey weights): each row is
    drawn once and weighs by its weight, as it does in the fit.

    The copies cost memory: above ``MAX_COPY_CELLS`` cells, a warning, and
    the rows are drawn once. ``O(N d)`` for ``N`` rows made.
    """
    weights = data.sample_weight
    if weights is None or not weights_count_copies(weights) or weights.max() <= 1:
        return data
    # data.mask is the numeric columns': a missing category is drawn too.
    drawn = (
        data.mask.any(axis=1) | (data.codes < 0).any(axis=1)
        if params.n_components == 1
        else np.ones(data.n_samples, dtype=bool)
    )
    repeats = np.rint(np.where(drawn, weights, weights > 0)).astype(np.intp)
    n_features = data.n_numeric + data.n_categorical
    if repeats.sum() * n_features > MAX_COPY_CELLS:
        warnings.warn(
            f"The posterior parameter draws would copy the rows of whole "
            f"sample weights {int(repeats.sum())} times, more than memory "
            f"allows here ({MAX_COPY_CELLS} cells): each row's copies share "
            "one draw instead, which makes the parameter draws too wide. Use "
            "parameter_uncertainty='bootstrap', which draws copies without "
            "making them.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        return data
    rows = np.repeat(np.arange(data.n_samples), repeats)
    copies = data.take(rows)
    return replace(copies, sample_weight=np.where(drawn, 1.0, weights)[rows])


def posterior_chain(
    data,
    params,
    prior,
    random_state,
    *,
    burn_in=POSTERIOR_STEPS,
    thin=POSTERIOR_THIN,
    scaling=None,
    unscaled=None,
):
    """Draws of the parameters and the holes from one data augmentation chain.

    The chain starts at ``params``; the first draw comes after ``burn_in``
    steps, every next one ``thin`` steps later (see ``POSTERIOR_STEPS`` and
    ``POSTERIOR_THIN``). A step is an I-step (every hole drawn given the
    parameters) and a P-step (the parameters drawn given the completed
    data, :func:`draw_params`). With each parameter draw comes the chain's
    next I-step, the holes drawn given that draw: a proper imputation of
    ``data``, which the chain then continues from (so that it costs no pass
    over the data of its own: ``burn_in + 1 + (m - 1) thin`` I-steps for
    ``m`` draws). One Gaussian on numeric columns takes the compiled steps
    of ``_augmentation`` (draws of the same distribution); other models
    ``complete``, whose row blocks are kept (``keep_blocks=True``) until the
    chain is closed.

    With ``scaling`` (``data`` being ``scaling.apply(unscaled)``), the
    completions are in ``unscaled``'s units (``in_data_units``; the compiled
    steps write them so).

    Yields
    ------
    params : MixtureParams
    completion : Completion
        ``data`` completed by a draw of its holes given ``params``, in
        ``data``'s units (the model's), or ``unscaled``'s; new arrays.
    """
    data = _weights_counting_rows(data)
    output = _Output(data, scaling, unscaled)
    augmentation = _augmentation(data, params)
    holes = _holes_stream(augmentation, random_state)
    steps = burn_in
    try:
        while True:
            for _ in range(steps):
                params, _ = _augmentation_step(
                    data, params, prior, random_state, augmentation, holes=holes
                )
            drawn = params
            params, completion = _augmentation_step(
                data,
                params,
                prior,
                random_state,
                augmentation,
                record=output,
                holes=holes,
            )
            yield drawn, completion
            steps = thin - 1
    finally:
        data.release_blocks()


def _augmentation(data, params):
    """The compiled steps of one Gaussian, when they apply (else None)."""
    if not OneGaussianAugmentation.applies(data, params):
        return None
    return OneGaussianAugmentation(data, params.gaussian.means[0])


def _holes_stream(augmentation, random_state):
    """Where a chain's compiled I-steps take their standard normals.

    A chain whose steps sum runs of a pattern in distribution (``sum_runs``)
    draws other numbers than ``complete`` would in any case: it takes its
    I-steps' normals (and Bartlett chi-squares) from one numpy
    ``Generator`` seeded once from ``random_state`` (``_streams``), and its
    recorded I-steps too: they then draw ``complete``'s distribution, not
    its numbers. None for a chain that draws row by row (``sum_runs=False``)
    or that has no compiled steps: each of its steps takes ``complete``'s
    numbers, from a generator seeded from ``random_state`` for that step
    (:func:`_augmentation_step`).
    """
    if augmentation is None or not augmentation.sum_runs:
        return None
    return independent(random_state)


def _augmentation_step(
    data, params, prior, random_state, augmentation, record=None, holes=None
):
    """An I-step and a P-step: the next parameters, and the completion if asked.

    By ``augmentation``'s compiled pass when given (and when it can draw
    under ``params``), its normals from ``holes`` (see
    :func:`_holes_stream`; when None, from ``complete``'s generator,
    seeded from ``random_state`` for this step), else by ``complete`` and
    :func:`draw_params`: the same numbers and draws either way for an
    augmentation made with ``sum_runs=False`` (``holes`` then None); one
    that sums runs draws the same distribution with other numbers and, in
    the steps that record a table, another square root of each conditional
    covariance (see ``_augmentation``). The P-step draws from
    ``random_state``. ``record``, an :class:`_Output`, asks for the
    completion, in its units.
    """
    # complete() would seed the same generator from random_state.
    stream = generator(random_state) if holes is None else holes
    if augmentation is not None:
        table = None if record is None else record.table()
        units = None if record is None else record.units
        moments = augmentation.step(params, stream, table, units)
        if moments is not None:
            completion = None
            if record is not None:
                completion = Completion(table, data.codes.copy())
            return draw_one_gaussian(params, moments, prior, random_state), completion
    # Every I-step of a chain completes the same data: its row blocks are
    # kept for the whole chain, released when it is closed.
    completion = complete(data, params, random_state=stream, keep_blocks=True)
    params = draw_params(
        params,
        completion.numeric,
        completion.codes,
        data.n_categories,
        prior,
        random_state,
        weights=data.sample_weight,
    )
    if record is not None:
        completion = record.mapped(completion)
    return params, completion


class _Output:
    """Where a chain's completions go: ``data``'s units, or ``unscaled``'s."""

    def __init__(self, data, scaling=None, unscaled=None):
        self.scaling = scaling
        self.data = data if scaling is None else unscaled
        self.units = None if scaling is None else (scaling.scale, scaling.centre)

    def table(self):
        """A new table of the data in these units, for a step to draw into."""
        return np.array(self.data.numeric, dtype=float, copy=True, order="C")

    def mapped(self, completion):
        """A completion of the model's data, in these units."""
        return in_data_units(completion, self.data, self.scaling)
