"""Anderson-accelerated EM, for runs that start close to their maximum.

A bootstrap refit starts at the full-data fit, ``O(1/sqrt(n))`` from the
bootstrap sample's maximum: its whole trajectory is in EM's linear regime,
``e_{t+1} = J e_t`` with ``J`` the rate matrix, whose eigenvalues are the
fractions of missing information (up to 0.6 on the benchmark's designs).
Plain EM then gains a factor ``max(fmi)`` per E-step. Anderson acceleration
(Walker and Ni 2011) combines the last ``m`` EM steps so that the residual
``F(x) - x`` is smallest in the span of the last differences; on a linear
map it is essentially GMRES (Walker and Ni 2011), whose rate on a spectrum in
``[0, 0.6]`` is far better than 0.6 per step. Each iteration costs one
E-step and one M-step, as plain EM's, plus a least-squares problem with
``m`` columns over the parameters (``O(p m^2)``, ``p`` the number of
parameters: nothing beside an E-step's ``O(n K d^2)``).

Parameters are accelerated in the units the M-step produces them in (the
weights, the Gaussian means and covariances in their form's shape, the
categorical probabilities): an affine combination of M-step outputs keeps
the weights and each probability row summing to 1, so only the signs and
the positive definiteness can be lost. Safeguards, each falling back to the
plain EM step:

- an extrapolated point must be valid: weights and probabilities positive,
  covariances positive definite (their Cholesky factorisation, the same one
  every M-step makes);
- it must not lower the objective below the point it was extrapolated
  from (EM never does, but for ``reg_covar``): otherwise the step is
  rejected, the memory cleared and the EM step taken instead.

The run stops when an *EM step* (not an extrapolation) gains less than
``tol`` per row, plain EM's rule, or when an accelerated point's distance
to the maximum, estimated from its last two gains (Aitken's estimate), is
below ``AITKEN_SHARE * tol``; it returns the M-step of the last E-step, as
:func:`~emimpute._em._loop.run_em` does. When an accelerated step gains
less than ``tol`` and the estimate does not stop it, the next step is an EM
step, to check.
"""

from dataclasses import dataclass, replace

import numpy as np

from emimpute._em._mstep import log_prior, m_step
from emimpute._em._params import MixtureParams

# Past EM steps combined. On a linear map Anderson with memory m is GMRES
# restarted every m steps; a refit from the full-data fit needs 3-5
# accelerated steps to reach its tolerance, so a longer memory never fills.
ANDERSON_MEMORY = 4

# An accelerated point stops the run when the Aitken estimate of its
# distance to the maximum (per row) is below this share of ``tol``: plain
# EM stops when a step gains less than ``tol``, which leaves about
# ``tol fmi / (1 - fmi)`` (1.5 tol at fmi = 0.6), and 1.0 here left the
# refits as far from their maximum as plain EM's (mean) but up to 2x farther
# on some bootstrap samples of n = 200. Measured over 30 bootstrap refits
# each (n = 200, d = 10 and d = 4; n = 10000, d = 10; share of the start's
# log-likelihood gap left at the stop, plain EM / this): mean 4.8e-5 /
# 2.4e-5, 1.5e-5 / 5.9e-6, 3.4e-6 / 3.2e-6; max 8.2e-5 / 9.8e-5, 5.4e-5 /
# 4.6e-5, 6.6e-6 / 5.8e-6; E-steps 11.7 / 7.1, 8.9 / 5.8, 7.7 / 5.1.
# Repeated with the refits' per-pattern E-step (``_pattern_sums``) against
# the row blocks on the resampled rows, same designs and seeds: the same
# shares and E-steps to two digits, in the order above (mean 2.4e-5,
# 5.9e-6, 2.9e-6; max 9.8e-5, 4.6e-5, 5.8e-6; E-steps 7.07, 5.83, 5.23).
AITKEN_SHARE = 0.5

# The relative drop of the objective that rejects an extrapolation: its
# rounding when the point is already at the maximum (the per-row
# log-likelihood is a mean over rows of values of order 1-10).
_DROP = 1e-12


@dataclass(frozen=True)
class AcceleratedResult:
    """Outcome of :func:`anderson_em`.

    Attributes
    ----------
    params : MixtureParams
        The M-step of the last E-step.
    lower_bound : float
        The objective (per row) at the last E-step's parameters.
    n_iter : int
        E-steps run.
    converged : bool
    """

    params: MixtureParams
    lower_bound: float
    n_iter: int
    converged: bool


def flatten(params):
    """The parameters EM moves (``params.estimates()``), as one vector."""
    return np.concatenate([np.ravel(part) for part in params.estimates()])


def unflatten(vector, like):
    """The parameters of ``vector``, in the layout of ``like``; None if invalid.

    The inverse of :func:`flatten`: each family's arrays read in the shapes
    of its ``estimates()`` and made a family by its ``from_estimates``.
    Invalid: a weight or a probability not positive, or a covariance not
    positive definite.
    """
    offset = 0

    def take(shape):
        nonlocal offset
        size = int(np.prod(shape))
        part = vector[offset : offset + size].reshape(shape)
        offset += size
        return part

    weights = take(like.weights.shape)
    if not np.all(weights > 0):
        return None
    families = []
    for family in like.families:
        arrays = tuple(take(np.shape(array)) for array in family.estimates())
        try:
            families.append(family.from_estimates(arrays))
        except (ValueError, np.linalg.LinAlgError):
            return None
    return MixtureParams(weights=weights, families=tuple(families))


def anderson_em(data, config, start, *, memory=ANDERSON_MEMORY, scaling=None):
    """EM from ``start`` with Anderson acceleration (see the module notes).

    Parameters
    ----------
    data : EMData or PatternSums
        In the parameters' units (no standardisation is fit here). A source
        with an ``em_map(config)`` method runs on the map it returns (the
        per-pattern sums of one Gaussian: ``_pattern_sums.OneGaussianMap``),
        any other on :class:`MixtureMap`.
    config : EMConfig
        Its ``tol``, ``max_iter`` (E-steps), ``prior`` (resolved on
        ``data`` here, as ``run_em`` does), ``classes`` and ``chunk_size``.
    start : MixtureParams
    memory : int, default=ANDERSON_MEMORY
        EM steps combined; 0 runs plain EM.
    scaling : Scaling, default=None
        The standardisation ``data`` is in, if any: a conjugate prior's
        user-given mean and scale are in the data's units, and are
        converted by it, as ``run_em`` converts them.

    Returns
    -------
    result : AcceleratedResult

    Notes
    -----
    Cost: an E-step per iteration, as plain EM (``O(n K d^2)`` for dense
    Gaussian forms, plus the blocks' fixed cost per missing-pattern group),
    and ``O(p memory^2)`` for the least squares, ``p`` the number of
    parameters; about two thirds of plain EM's iterations from a start in
    the linear regime (see ``AITKEN_SHARE``).

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._accelerate import anderson_em
    >>> from emimpute._em._config import EMConfig
    >>> from emimpute._em._data import EMData
    >>> from emimpute._em._loop import run_em
    >>> rng = np.random.RandomState(0)
    >>> X = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], size=300)
    >>> X[rng.uniform(size=X.shape) < 0.3] = np.nan
    >>> data = EMData.build(X, np.isnan(X))
    >>> config = EMConfig(n_components=1, tol=1e-12, standardise=False)
    >>> plain = run_em(data, config)
    >>> fast = anderson_em(data, config, plain.params)
    >>> bool(np.allclose(fast.params.means, plain.params.means, atol=1e-6))
    True
    """
    config = replace(
        config,
        prior=config.prior.resolve(data, config.n_components, config.form, scaling),
    )
    make_map = getattr(data, "em_map", None)
    em = make_map(config) if make_map is not None else None
    if em is None:
        em = MixtureMap(data, config)
    x, lower_bound, n_iter = em.start(start), -np.inf, 0
    vector = em.vector(x) if memory else None
    previous_gain = np.inf
    # The point the current x was extrapolated from and its EM step, to
    # fall back to if x is rejected; None when x is an EM step.
    fallback = None
    xs, gs = [], []
    converged = False
    try:
        while n_iter < config.max_iter:
            value, stats = em.expectation(x)
            n_iter += 1
            if not np.isfinite(value):
                if fallback is None:
                    raise ValueError(
                        f"The log-likelihood became {value} at iteration "
                        f"{n_iter}: the model is degenerate. Increase "
                        "reg_covar, decrease n_components, or scale the data."
                    )
                value = -np.inf
            if fallback is not None and value < lower_bound - _DROP * abs(lower_bound):
                # The extrapolation lowered the objective: take the EM step
                # from the point it came from instead, and forget the past.
                x, fallback = fallback, None
                xs, gs = [], []
                continue
            gain = value - lower_bound
            was_em_step = fallback is None
            lower_bound = value
            g = em.m_step(stats, x)
            # The EM step from x gains at most x's distance to the maximum,
            # which the last two gains estimate (Aitken's): an accelerated
            # point that is within tol of the maximum needs no EM step to
            # tell. Gains that do not shrink estimate nothing.
            ratio = gain / previous_gain if 0 < previous_gain < np.inf else np.inf
            if (was_em_step and gain < config.tol) or (
                ratio < 1 and gain * ratio / (1 - ratio) < AITKEN_SHARE * config.tol
            ):
                x, converged = g, True
                break
            previous_gain = gain
            if vector is None or gain < config.tol:
                # Plain EM, or a small accelerated gain: check by an EM step.
                x, fallback = g, None
                continue
            xs.append(em.vector(x))
            gs.append(em.vector(g))
            del xs[: -memory - 1], gs[: -memory - 1]
            proposal = _extrapolate(xs, gs)
            candidate = None if proposal is None else em.point(proposal, g)
            if candidate is None:
                x, fallback = g, None
            else:
                x, fallback = candidate, g
    finally:
        release_blocks = getattr(data, "release_blocks", None)
        if release_blocks is not None:
            release_blocks()
    if not converged:
        # max_iter E-steps: the last one's M-step, as run_em returns.
        x = g if n_iter else em.start(start)
    return AcceleratedResult(em.params(x), float(lower_bound), n_iter, converged)


class MixtureMap:
    """EM's map on :class:`MixtureParams`, for any model and data source.

    What :func:`anderson_em` asks of a map (a data source with an
    ``em_map(config)`` method may supply its own, on points of its own, or
    None for this one): ``start(params)``, the point of the parameters;
    ``expectation(point)``, the objective per row and the E-step's
    statistics; ``m_step(stats, point)``, EM's next point; ``vector(point)``
    (:func:`flatten`) and
    ``point(vector, like)`` (:func:`unflatten`: None if invalid), the
    accelerated coordinates; ``params(point)``, the parameters of a point.
    Here a point is the parameters themselves. Cost of a step: the data's
    E-step and an M-step.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._accelerate import MixtureMap
    >>> from emimpute._em._config import EMConfig
    >>> from emimpute._em._data import EMData
    >>> from emimpute._em._params import MixtureParams
    >>> X = np.array([[0.0, 1.0], [1.0, np.nan], [2.0, 3.0], [np.nan, 0.5]])
    >>> data = EMData.build(X)
    >>> params = MixtureParams.from_covariances(
    ...     np.ones(1), np.array([[1.0, 1.5]]), np.eye(2)[None], "full")
    >>> em = MixtureMap(data, EMConfig(n_components=1))
    >>> value, stats = em.expectation(em.start(params))
    >>> bool(np.isclose(value, data.expectation(params)[0]))
    True
    >>> em.vector(em.m_step(stats, params)).shape  # weight, mean, covariance
    (7,)
    """

    def __init__(self, data, config):
        self.data, self.config = data, config

    def start(self, params):
        return params

    def expectation(self, params):
        value, stats = self.data.expectation(params, self.config.chunk_size)
        value += log_prior(params, self.config.prior) / self.data.total_weight
        return value, stats

    def m_step(self, stats, params):
        return m_step(stats, params, self.config.prior, self.config.classes)

    vector = staticmethod(flatten)

    def point(self, vector, like):
        return unflatten(vector, like)

    def params(self, params):
        return params


def _extrapolate(xs, gs):
    """Anderson's next point from past points ``xs`` and their EM steps ``gs``.

    ``g_k - dG gamma`` with ``gamma`` minimising ``|f_k - dF gamma|``, ``f =
    g - x`` the residuals and ``dF``, ``dG`` the differences of successive
    residuals and steps; None with a single step (nothing to combine).
    """
    if len(xs) < 2:
        return None
    x, g = np.array(xs), np.array(gs)
    f = g - x
    # Differences by slices (np.diff's numbers, without its overhead).
    d_f = (f[1:] - f[:-1]).T
    d_g = (g[1:] - g[:-1]).T
    gamma = np.linalg.lstsq(d_f, f[-1], rcond=None)[0]
    return g[-1] - d_g @ gamma
