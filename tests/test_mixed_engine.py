"""Acceptance tests of the engine's categorical family against references.

The mixed model: component weights, a Gaussian over the numeric columns and,
given the component, independent categorical columns (a latent class model
beside a Gaussian mixture), with holes in both kinds of columns.

- The E-step and one M-step are compared with
  :mod:`_mixed_reference`, which works row by row and *enumerates* every
  completion of a row's missing categorical cells instead of using the
  closed form ``resp * theta`` the engine uses; edge rows (all numeric
  entries missing but a category observed, all categories missing, nothing
  observed, complete) are in every case.
- A latent class model (no numeric column) fitted by EM is compared with a
  direct quasi-Newton maximisation of its observed-data log-likelihood in a
  softmax parametrisation, and a one-class fit with the observed
  frequencies.
- EM never lowers the observed-data log-likelihood on 100 small random
  mixed problems.
- A category probability of exactly 0 (maximum likelihood,
  ``category_smoothing=0``) makes the component impossible for the rows
  that show the category (``-inf``, responsibility 0), nothing worse.
- ``category_smoothing`` keeps every probability positive and follows
  ``(counts + alpha) / (sum counts + L alpha)``.

Why the tolerance of the comparisons is 1e-12: the covariances have
eigenvalues in [0.5, 2] (condition number <= 4, and so has every principal
block ``S_OO``), the data lie O(1) to O(10) from the means and the
category probabilities are at least about 0.01, so every quantity is
computed by both sides with errors of a few ``eps * cond * |value|``, about
1e-15 relative; the statistics are sums of 25 rows (times at most 6
completions in the reference), compared relative to their largest entry
(a norm-wise scale, :func:`_reference.norm_scale`), so their error stays
near 1e-14. 1e-12 leaves two orders of magnitude for rounding and none for a
wrong formula (a completion weighted wrongly, a row left out, a pseudo-count
misplaced, all move results by 1e-3 or more). The direct maximisation
has its own tolerance, explained where it is used.
"""

import functools
import warnings

import numpy as np
import pytest
from _mixed_reference import (
    UnconstrainedLatentClass,
    latent_class_log_likelihood,
    punch_holes,
    random_mixed_params,
    random_probabilities,
    reference_mixed_e_step,
    reference_mixed_m_step,
    reference_mixed_stats,
    sample_mixed,
)
from _reference import COVARIANCE_TYPES, DISCREPANCIES, assert_close, norm_scale
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from emimpute._em._categorical import CategoricalFamily, CategoricalStats
from emimpute._em._config import EMConfig, Prior
from emimpute._em._data import EMData
from emimpute._em._estep import e_step, posterior, weighted_log_prob
from emimpute._em._forms import ILL_DEFINED_COVARIANCE, covariance_form
from emimpute._em._loop import run_em
from emimpute._em._mstep import m_step
from emimpute._em._params import MixtureParams
from emimpute._em._stats import MixtureStats

pytestmark = pytest.mark.usefixtures("single_threaded")

TOL = 1e-12

N_SAMPLES, N_NUMERIC, N_CATEGORIES = 25, 3, (2, 3)


@functools.cache
def _mixed_case(covariance_type, n_components, seed):
    """Small mixed data with holes, its parameters and the reference E-step.

    Rows 0 to 4 are edge rows: 0 has every numeric entry missing and one of
    its two categories observed, 1 has every category missing, 2 has nothing
    observed, 3 is complete, 4 has every numeric entry missing and both
    categories observed. The other rows have MCAR holes (25%) in both kinds
    of columns.
    """
    rng = np.random.default_rng(
        [seed, COVARIANCE_TYPES.index(covariance_type), n_components]
    )
    params = random_mixed_params(
        rng, n_components, N_NUMERIC, N_CATEGORIES, covariance_type
    )
    complete_numeric, complete_codes, _ = sample_mixed(
        rng, N_SAMPLES, params, N_NUMERIC
    )
    numeric, codes = punch_holes(rng, complete_numeric, complete_codes, 0.25)
    numeric[:5] = complete_numeric[:5]
    codes[:5] = complete_codes[:5]
    numeric[0] = np.nan
    codes[0, 1] = -1
    codes[1] = -1
    numeric[1, 2] = np.nan
    numeric[2] = np.nan
    codes[2] = -1
    numeric[4] = np.nan
    data = EMData.build(numeric, codes=codes, n_categories=N_CATEGORIES)
    reference = reference_mixed_e_step(numeric, codes, params)
    return numeric, codes, data, params, reference


def _case_parameters():
    return pytest.mark.parametrize(
        "covariance_type, n_components",
        [(t, k) for t in COVARIANCE_TYPES for k in (1, 2, 3)],
    )


def _compare_stats(actual, desired, what):
    """Engine statistics against another value of the same layout."""
    assert_close(actual.nk, desired.nk, TOL, f"{what} nk", scale=norm_scale(desired.nk))
    gaussian, other = actual.families[0], desired.families[0]
    for name in ("s1", "s2"):
        a, d = getattr(gaussian, name), getattr(other, name)
        assert_close(a, d, TOL, f"{what} {name}", scale=norm_scale(d))
    for a, d in zip(actual.families[1].counts, desired.families[1].counts, strict=True):
        assert_close(a, d, TOL, f"{what} counts", scale=norm_scale(d))


# ------------------------------------------------ E-step against enumeration


@_case_parameters()
def test_densities_match_enumeration(covariance_type, n_components, global_random_seed):
    numeric, codes, data, params, reference = _mixed_case(
        covariance_type, n_components, global_random_seed
    )
    # Elementwise max(1, |value|): log-densities up to ~30 in size.
    assert_close(
        weighted_log_prob(data, params),
        np.log(params.weights) + reference.log_density,
        TOL,
        "mixed weighted_log_prob",
    )
    log_prob, resp = posterior(data, params)
    assert_close(log_prob, reference.log_prob_norm, TOL, "mixed log p(x_O)")
    # Responsibilities are in [0, 1]: absolute.
    assert_close(resp, reference.resp, TOL, "mixed responsibilities")
    # The row with nothing observed: exactly 0 and the weights, as documented.
    assert log_prob[2] == 0.0
    # (the weights through exp and log: a few ulps).
    assert_close(resp[2], params.weights, 1e-15, "mixed empty-row responsibilities")
    # A row whose only information is a category is informative.
    assert reference.informative[0] and not reference.informative[2]


@_case_parameters()
def test_e_step_matches_enumeration(covariance_type, n_components, global_random_seed):
    numeric, codes, data, params, reference = _mixed_case(
        covariance_type, n_components, global_random_seed
    )
    log_prob_norm, stats = e_step(data, params)
    assert_close(log_prob_norm, reference.log_prob_norm, TOL, "mixed e_step log p")
    gaussian, categorical = stats.families
    nk, s1, s2 = reference_mixed_stats(numeric, reference, gaussian.shift)
    # Sums over 24 informative rows: relative to the largest entry.
    assert_close(stats.nk, nk, TOL, "mixed nk", scale=norm_scale(nk))
    assert_close(gaussian.nk, nk, TOL, "mixed gaussian nk", scale=norm_scale(nk))
    assert_close(gaussian.s1, s1, TOL, "mixed s1", scale=norm_scale(s1))
    if covariance_type == "full":
        expected_s2 = s2
    elif covariance_type == "tied":
        expected_s2 = s2.sum(axis=0, keepdims=True)
    else:
        expected_s2 = np.diagonal(s2, axis1=1, axis2=2)
    assert_close(gaussian.s2, expected_s2, TOL, "mixed s2", scale=norm_scale(s2))
    assert len(categorical.counts) == len(N_CATEGORIES)
    for actual, expected in zip(categorical.counts, reference.counts, strict=True):
        assert_close(actual, expected, TOL, "mixed counts", scale=norm_scale(expected))
    # Every informative row's completions add up to one row per column.
    for counts in categorical.counts:
        assert_close(
            counts.sum(axis=1), stats.nk, TOL, "mixed counts total", scale=N_SAMPLES
        )


@_case_parameters()
def test_e_step_chunks_add_up(covariance_type, n_components, global_random_seed):
    _, _, data, params, _ = _mixed_case(
        covariance_type, n_components, global_random_seed
    )
    log_prob_norm, stats = e_step(data, params)
    chunked_norm, chunked = e_step(data, params, chunk_size=3)
    # Same rows, summed in another order: rounding only.
    assert_close(chunked_norm, log_prob_norm, TOL, "mixed chunked log p")
    np.testing.assert_array_equal(chunked.families[0].shift, stats.families[0].shift)
    _compare_stats(chunked, stats, "mixed chunked")
    assert_close(
        weighted_log_prob(data, params, chunk_size=3),
        weighted_log_prob(data, params),
        TOL,
        "mixed chunked weighted_log_prob",
    )


# ---------------------------------------------------- M-step against reference


@_case_parameters()
@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_m_step_matches_reference(
    covariance_type, n_components, smoothing, global_random_seed
):
    numeric, codes, data, params, reference = _mixed_case(
        covariance_type, n_components, global_random_seed
    )
    reg_covar = 1e-3
    _, stats = e_step(data, params)
    new = m_step(
        stats, params, Prior(reg_covar=reg_covar, category_smoothing=smoothing)
    )
    weights, means, covariances, thetas = reference_mixed_m_step(
        numeric, reference, covariance_type, reg_covar=reg_covar, smoothing=smoothing
    )
    # Weights and probabilities are in [0, 1]: absolute.
    assert_close(new.weights, weights, TOL, "mixed m_step weights")
    # Means and covariances O(1) to O(10): relative to their largest entry.
    assert_close(new.means, means, TOL, "mixed m_step means", scale=norm_scale(means))
    assert_close(
        new.covariances,
        covariances,
        TOL,
        "mixed m_step covariances",
        scale=norm_scale(covariances),
    )
    assert new.covariance_type == covariance_type
    new_thetas = new.categorical.probabilities
    assert len(new_thetas) == len(thetas)
    for actual, expected in zip(new_thetas, thetas, strict=True):
        assert_close(actual, expected, TOL, "mixed m_step theta")
        assert_close(
            actual.sum(axis=1), np.ones(n_components), TOL, "mixed m_step theta sums"
        )


# ------------------------------------------ latent class model: a local maximum


def _latent_class_data(seed, n_samples=300, n_categories=(2, 3, 4, 3), rate=0.15):
    """Categorical rows from two well separated classes, with MCAR holes."""
    rng = np.random.default_rng([seed, 1729])
    params = random_mixed_params(
        rng, 2, 0, n_categories, "full", concentration=1.0, weights=[0.4, 0.6]
    )
    _, codes, _ = sample_mixed(rng, n_samples, params, 0)
    _, codes = punch_holes(rng, np.empty((n_samples, 0)), codes, rate)
    return codes, n_categories


def _categorical_config(n_components, seed, *, tol, max_iter, smoothing=0.0):
    return EMConfig(
        n_components=n_components,
        form=covariance_form("full"),
        prior=Prior(reg_covar=0.0, category_smoothing=smoothing),
        tol=tol,
        max_iter=max_iter,
        n_init=1,
        init_params="kmeans",
        random_state=np.random.RandomState(seed),
    )


def test_latent_class_em_is_a_local_maximum(global_random_seed):
    codes, n_categories = _latent_class_data(global_random_seed)
    n_samples = len(codes)
    data = EMData.build(
        np.empty((n_samples, 0)), codes=codes, n_categories=n_categories
    )
    result = run_em(
        data,
        _categorical_config(2, global_random_seed, tol=1e-13, max_iter=20000),
    )
    assert result.converged
    params = result.params
    assert params.gaussian is None
    weights, thetas = params.weights, params.categorical.probabilities
    log_prob_em = latent_class_log_likelihood(codes, weights, thetas)[0]
    value_em = -log_prob_em.mean()
    # The independent likelihood and the engine's agree to rounding (mean
    # of 300 log-densities of size ~3).
    assert_close(log_prob_em, e_step(data, params)[0], TOL, "latent class log p")

    model = UnconstrainedLatentClass(2, n_categories)

    def objective(z):
        return model.objective(z, codes)

    # A softmax cannot hold a probability of exactly 0: the optimiser starts
    # from EM's solution with such probabilities lifted to 1e-3 (a point
    # slightly worse than EM's when EM's is a maximum, on the boundary or
    # not).
    lifted = [np.maximum(theta, 1e-3) for theta in thetas]
    z_em = model.pack(weights, [t / t.sum(axis=1, keepdims=True) for t in lifted])
    _, gradient_start = objective(z_em)
    # The analytic gradient is right (central differences, error ~1e-10).
    step = 1e-5
    numerical = np.array(
        [
            (objective(z_em + step * e)[0] - objective(z_em - step * e)[0]) / (2 * step)
            for e in np.eye(len(z_em))
        ]
    )
    np.testing.assert_allclose(gradient_start, numerical, rtol=0, atol=1e-8)
    options = {"gtol": 1e-10, "maxiter": 5000}
    from_em = minimize(objective, z_em, jac=True, method="BFGS", options=options)
    gain = (value_em - from_em.fun) / abs(value_em)
    DISCREPANCIES["latent class: optimiser gain over EM"] = max(
        DISCREPANCIES.get("latent class: optimiser gain over EM", 0.0), gain
    )
    # EM's fixed point is a maximum: a direct optimiser started there finds
    # nothing better than EM's value (EM stopped when the mean
    # log-likelihood changed by < 1e-13; 1e-8 is the optimiser's own
    # precision on a flat optimum).
    zeros = [np.argwhere(theta == 0.0).tolist() for theta in thetas]
    assert gain < 1e-8, (
        f"optimiser gain {gain:.3e} over EM ({-value_em!r} -> {-from_em.fun!r}); "
        f"EM's exact zeros (component, category) per column: {zeros}"
    )
    # The optimiser does find gains when there are some: from a perturbed
    # start it climbs by more than 1e-4, and still not above EM's value.
    rng = np.random.default_rng(global_random_seed)
    perturbed = z_em + 0.3 * rng.standard_normal(len(z_em))
    value_perturbed = objective(perturbed)[0]
    assert value_perturbed > value_em + 1e-4
    from_perturbed = minimize(
        objective, perturbed, jac=True, method="BFGS", options=options
    )
    assert from_perturbed.fun < value_perturbed - 1e-4
    assert (value_em - from_perturbed.fun) / abs(value_em) < 1e-8, (
        from_perturbed.fun,
        value_em,
    )


@pytest.mark.parametrize("start", ["kmeans", "random"])
def test_single_class_probabilities_are_observed_frequencies(start, global_random_seed):
    codes, n_categories = _latent_class_data(global_random_seed)
    n_samples = len(codes)
    data = EMData.build(
        np.empty((n_samples, 0)), codes=codes, n_categories=n_categories
    )
    initial = None
    if start == "random":
        rng = np.random.default_rng([global_random_seed, 7])
        initial = MixtureParams(
            weights=np.ones(1),
            families=(CategoricalFamily(random_probabilities(rng, 1, n_categories)),),
        )
    # tol=0: run all iterations. Each one shrinks the error by the fraction
    # of missing cells (~0.15), so 300 iterations reach rounding.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = run_em(
            data,
            _categorical_config(1, global_random_seed, tol=0.0, max_iter=300),
            start=initial,
        )
    np.testing.assert_array_equal(result.params.weights, [1.0])
    for j, theta in enumerate(result.params.categorical.probabilities):
        observed = codes[codes[:, j] >= 0, j]
        frequencies = np.bincount(observed, minlength=n_categories[j]) / len(observed)
        # Probabilities in [0, 1], the fixed point reached to rounding.
        assert_close(theta, frequencies[np.newaxis], TOL, "one class frequencies")


# ------------------------------------------------------------- monotone EM

N_FITS = 100


def _monotone_problem(seed, category_smoothing=0.0):
    """Small, well separated mixed data with 15% holes in both kinds."""
    rng = np.random.default_rng([seed, 2718])
    n_components = int(rng.integers(1, 4))
    covariance_type = COVARIANCE_TYPES[int(rng.integers(4))]
    n_samples = int(rng.integers(40, 81))
    n_numeric = int(rng.integers(1, 4))
    n_categories = tuple(int(n) for n in rng.integers(2, 5, size=rng.integers(1, 4)))
    weights = rng.dirichlet(np.full(n_components, 10.0))
    params = random_mixed_params(
        rng,
        n_components,
        n_numeric,
        n_categories,
        covariance_type,
        spread=3.0,
        concentration=1.0,
        weights=weights,
    )
    numeric, codes, _ = sample_mixed(rng, n_samples, params, n_numeric)
    numeric, codes = punch_holes(rng, numeric, codes, 0.15)
    data = EMData.build(numeric, codes=codes, n_categories=n_categories)
    config = EMConfig(
        n_components=n_components,
        form=covariance_form(covariance_type),
        prior=Prior(reg_covar=0.0, category_smoothing=category_smoothing),
        tol=0.0,
        max_iter=30,
        n_init=1,
        init_params="kmeans",
        random_state=np.random.RandomState(seed),
    )
    return data, config


@pytest.mark.parametrize("category_smoothing", [0.0, 1.0])
def test_em_is_monotone_on_mixed_data(global_random_seed, category_smoothing):
    # With smoothing, the objective is the log-likelihood plus the
    # smoothing's Dirichlet log-prior, whose MAP the M-step computes (the
    # log-likelihood alone fell by up to 2e-5 per row in 10 of 40 fits).
    completed, collapsed, decreases, worst = 0, [], [], 0.0
    for index in range(N_FITS):
        seed = global_random_seed * N_FITS + index
        data, config = _monotone_problem(seed, category_smoothing)
        with warnings.catch_warnings():
            # tol=0 never converges; a decrease would warn too, but it is
            # counted below with a much tighter threshold.
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                result = run_em(data, config)
            except ValueError as exc:
                # The documented failures of a collapsing component.
                message = str(exc)
                assert message == ILL_DEFINED_COVARIANCE or (
                    "The log-likelihood became" in message
                ), message
                collapsed.append(seed)
                continue
        completed += 1
        lb = np.asarray(result.lower_bounds)
        assert len(lb) == config.max_iter and np.all(np.isfinite(lb))
        # Rounding of a mean log-likelihood of size ~5: ~1e-15 relative.
        drops = -np.diff(lb) / np.maximum(1.0, np.abs(lb[1:]))
        worst = max(worst, float(drops.max()))
        if np.any(drops > 1e-12):
            decreases.append((seed, float(drops.max())))
    DISCREPANCIES["mixed EM: largest relative decrease"] = max(
        DISCREPANCIES.get("mixed EM: largest relative decrease", 0.0), worst
    )
    assert completed >= 90, f"{N_FITS - completed} fits collapsed: seeds {collapsed}"
    assert decreases == [], f"{len(decreases)} fits decreased: {decreases}"


# ----------------------------------------------- zero probabilities, smoothing


def test_zero_probability_scores_minus_infinity(global_random_seed):
    # category_smoothing=0 gives maximum likelihood, whose probabilities can
    # be exactly 0: then a component that cannot have produced a row has
    # log pi_k + log p(x_O | k) = -inf and responsibility 0, and the row's
    # log p(x_O) is finite (another component can produce it).
    numeric, codes, _, params, _ = _mixed_case("full", 2, global_random_seed)
    codes = codes.copy()
    codes[5:9, 1] = 0
    theta = params.categorical.probabilities[1].copy()
    theta[0] = [0.0, 0.3, 0.7]
    params = MixtureParams(
        weights=params.weights,
        families=(
            params.gaussian,
            CategoricalFamily((params.categorical.probabilities[0], theta)),
        ),
    )
    data = EMData.build(numeric, codes=codes, n_categories=N_CATEGORIES)
    reference = reference_mixed_e_step(numeric, codes, params)
    impossible = codes[:, 1] == 0
    _, stats = e_step(data, params)
    for actual, expected in zip(
        stats.families[1].counts, reference.counts, strict=True
    ):
        assert_close(
            actual, expected, TOL, "zero theta counts", scale=norm_scale(expected)
        )
    weighted = weighted_log_prob(data, params)
    np.testing.assert_array_equal(weighted[:, 0] == -np.inf, impossible)
    finite = np.isfinite(weighted)
    expected = np.log(params.weights) + reference.log_density
    assert_close(
        weighted[finite], expected[finite], TOL, "zero theta weighted_log_prob"
    )
    log_prob, resp = posterior(data, params)
    assert_close(log_prob, reference.log_prob_norm, TOL, "zero theta log p(x_O)")
    assert_close(resp, reference.resp, TOL, "zero theta responsibilities")
    np.testing.assert_array_equal(resp[impossible, 0], 0.0)


def _unseen_category_data(seed):
    """Mixed data whose column 1 never shows its category 2 and has no holes."""
    rng = np.random.default_rng([seed, 31])
    params = random_mixed_params(rng, 2, 2, (3, 3), "full", spread=3.0)
    numeric, codes, _ = sample_mixed(rng, 80, params, 2)
    numeric, holed = punch_holes(rng, numeric, codes, 0.2)
    codes[:, 0] = holed[:, 0]
    codes[codes[:, 1] == 2, 1] = 0
    return EMData.build(numeric, codes=codes, n_categories=(3, 3))


@pytest.mark.parametrize("smoothing", [0.0, 0.5, 2.0])
def test_m_step_smoothing_formula(smoothing, global_random_seed):
    data = _unseen_category_data(global_random_seed)
    rng = np.random.default_rng([global_random_seed, 5])
    params = random_mixed_params(rng, 2, 2, (3, 3), "diag", spread=3.0)
    _, stats = e_step(data, params)
    counts = stats.families[1].counts
    # The unseen category of the hole-free column gets no count at all.
    assert np.all(counts[1][:, 2] == 0.0)
    new = m_step(stats, params, Prior(reg_covar=1e-6, category_smoothing=smoothing))
    for theta, column_counts in zip(new.categorical.probabilities, counts, strict=True):
        n_categories = column_counts.shape[1]
        expected = (column_counts + smoothing) / (
            column_counts.sum(axis=1, keepdims=True) + n_categories * smoothing
        )
        # One addition and one division per entry, on values in [0, 1].
        assert_close(theta, expected, 1e-15, "smoothing formula")
    unseen = new.categorical.probabilities[1][:, 2]
    if smoothing == 0.0:
        np.testing.assert_array_equal(unseen, 0.0)
    else:
        assert np.all(unseen > 0.0)
        # alpha / (n_k + 3 alpha) with n_k <= 80 rows.
        assert np.all(unseen >= smoothing / (80 + 3 * smoothing))


@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_smoothing_of_hand_made_counts(smoothing):
    # Component 0 never saw category 1 of column 0; component 1 has no mass
    # at all in column 1 (possible only through hand-made statistics or an
    # empty component).
    counts = (
        np.array([[4.0, 0.0, 2.0], [1.0, 3.0, 0.5]]),
        np.array([[2.5, 3.5], [0.0, 0.0]]),
    )
    nk = np.array([6.0, 4.5])
    params = MixtureParams(
        weights=np.array([0.5, 0.5]),
        families=(
            CategoricalFamily(
                random_probabilities(np.random.default_rng(0), 2, (3, 2))
            ),
        ),
    )
    stats = MixtureStats(nk=nk, families=(CategoricalStats(counts),))
    new = m_step(stats, params, Prior(reg_covar=0.0, category_smoothing=smoothing))
    # Sums of a few exact binary fractions: rounding only.
    assert_close(new.weights, nk / nk.sum(), 1e-15, "hand-made weights")
    theta0, theta1 = new.categorical.probabilities
    a = smoothing
    assert_close(
        theta0,
        np.array([[4 + a, a, 2 + a], [1 + a, 3 + a, 0.5 + a]])
        / np.array([[6 + 3 * a], [4.5 + 3 * a]]),
        1e-15,
        "hand-made theta",
    )
    if a:
        assert np.all(theta0 > 0.0) and np.all(theta1 > 0.0)
        # No mass: the pseudo-counts alone, uniform.
        np.testing.assert_allclose(theta1[1], [0.5, 0.5], rtol=0, atol=1e-15)
    else:
        assert theta0[0, 1] == 0.0
        # Documented: a component with no mass gets uniform probabilities.
        np.testing.assert_array_equal(theta1[1], [0.5, 0.5])


def test_smoothed_fit_scores_an_unseen_category(global_random_seed):
    data = _unseen_category_data(global_random_seed)
    alpha = 0.5
    config = EMConfig(
        n_components=2,
        form=covariance_form("full"),
        prior=Prior(reg_covar=1e-6, category_smoothing=alpha),
        tol=1e-8,
        max_iter=500,
        random_state=np.random.RandomState(global_random_seed),
    )
    result = run_em(data, config)
    thetas = result.params.categorical.probabilities
    n_rows = data.n_samples
    for theta in thetas:
        assert np.all(theta >= alpha / (n_rows + theta.shape[1] * alpha))
    # A row showing the unseen category has a finite log-density.
    new = EMData.build(
        np.array([[np.nan, np.nan]]), codes=np.array([[0, 2]]), n_categories=(3, 3)
    )
    log_prob, resp = posterior(new, result.params)
    assert np.isfinite(log_prob).all()
    expected = np.log(result.params.weights @ (thetas[0][:, 0] * thetas[1][:, 2]))
    # One log of a sum of two products: rounding only.
    assert_close(log_prob, [expected], TOL, "unseen category log p")
