"""The engine's E-step against a per-row scipy reference.

Every quantity the E-step produces (log-densities of the observed parts,
responsibilities, conditional means and covariances of the missing parts,
expected sufficient statistics, observed-data log-likelihood) is compared
with :func:`_reference.reference_e_step`, which uses
``scipy.stats.multivariate_normal`` on each row's observed part and explicit
inverses of ``S_OO``, for every covariance type, 1 to 3 components, and
missingness structures that exercise the engine's grouping: MCAR and MAR,
few patterns, one pattern per row, rows with nothing observed, complete rows,
outlying rows, and chunk sizes that split the groups.

Why the tolerance is 1e-10: the parameters have covariances with
eigenvalues in [0.5, 2] (condition number <= 4, and so is every principal
block ``S_OO`` and every ``P_MM``), the data are O(1) to O(10) away from the
means, so all routes (the engine's precision route through ``P_MM`` and its
covariance route through ``S_OO``, each tested on its own, and the
reference's inverses of ``S_OO``) are backward stable with
errors of a few ``eps * cond * |value|``, about 1e-14 relative; the
statistics are sums of at most 200 such terms, so their norm-wise error
stays below 1e-13. 1e-10 leaves three orders of magnitude for rounding and
none for a wrong formula.
"""

import functools

import numpy as np
import pytest
from _reference import (
    COVARIANCE_TYPES,
    assert_close,
    dense_covariances,
    distinct_patterns_mask,
    mar_mask,
    mcar_mask,
    norm_scale,
    random_params,
    reference_e_step,
    reference_stats,
    sample_mixture,
)

from emimpute._em import _gaussian_block
from emimpute._em._blocks import BlockMemo, iter_blocks
from emimpute._em._data import EMData
from emimpute._em._estep import e_step, responsibilities, weighted_log_prob
from emimpute._em._params import MixtureParams
from emimpute._em._patterns import find_patterns

TOL = 1e-10


def _mask_mcar(rng, X, rate):
    return mcar_mask(rng, *X.shape, rate)


def _mask_mar(rng, X, rate):
    # Column 0 always observed; every other column missing with a
    # probability that increases with X[:, 0].
    return mar_mask(rng, X, rate)


def _mask_few(rng, X, rate):
    # Missingness restricted to two columns: at most four patterns.
    return mar_mask(rng, X, rate, driver=0, columns=[3, 5])


def _mask_distinct(rng, X, rate):
    return distinct_patterns_mask(rng, *X.shape, rate)


def _mask_edge(rng, X, rate):
    # MCAR, plus rows with nothing observed, complete rows, and rows with
    # all but one coordinate missing.
    mask = mcar_mask(rng, *X.shape, rate)
    mask[:3] = True
    mask[3:6] = False
    mask[6:9] = True
    mask[6, 0] = mask[7, 2] = mask[8, 3] = False
    return mask


# name: (n_samples, n_features, mask maker, missing rate, means offset,
#        number of outlying rows)
SCENARIOS = {
    "mcar-n30-d1": (30, 1, _mask_mcar, 0.3, 0.0, 0),
    "mcar-n200-d2": (200, 2, _mask_mcar, 0.4, 0.0, 0),
    "mar-n200-d4": (200, 4, _mask_mar, 0.35, 0.0, 0),
    "few-n100-d7": (100, 7, _mask_few, 0.4, 0.0, 0),
    "distinct-n40-d10": (40, 10, _mask_distinct, 0.5, 0.0, 0),
    "mcar-n60-d7": (60, 7, _mask_mcar, 0.2, 0.0, 0),
    "edge-n30-d4": (30, 4, _mask_edge, 0.25, 0.0, 3),
    "offset-mar-n30-d4": (30, 4, _mask_mar, 0.5, 1e3, 0),
    # Rows with 9 to 12 missing of 24 observed through P_MM: the products
    # of the missing blocks switch from entry loops to einsum above 8.
    "mcar-n40-d24": (40, 24, _mask_mcar, 0.4, 0.0, 0),
}


@functools.cache
def _case(scenario, covariance_type, n_components, seed):
    """Data, mask, parameters and the reference E-step of one test case."""
    n_samples, n_features, make_mask, rate, offset, n_outliers = SCENARIOS[scenario]
    rng = np.random.default_rng(
        [
            seed,
            list(SCENARIOS).index(scenario),
            COVARIANCE_TYPES.index(covariance_type),
            n_components,
        ]
    )
    params = random_params(rng, n_components, n_features, covariance_type)
    if offset:
        params = MixtureParams.from_covariances(
            params.weights,
            params.means + offset,
            params.covariances,
            covariance_type,
        )
    X, _ = sample_mixture(
        rng, n_samples, params.weights, params.means, dense_covariances(params)
    )
    if n_outliers:
        # Rows moved 8 units away (6 to 11 standard deviations, as the
        # covariance eigenvalues are in [0.5, 2]): log-densities of -20 to
        # -60, responsibilities within 1e-10 of 0 and 1.
        direction = rng.standard_normal((n_outliers, n_features))
        X[-n_outliers:] += 8.0 * direction / np.linalg.norm(direction, axis=1)[:, None]
    mask = make_mask(rng, X, rate)
    X_nan = X.copy()
    X_nan[mask] = np.nan
    return X_nan, mask, params, reference_e_step(X_nan, mask, params)


CASES = pytest.mark.parametrize(
    "scenario, covariance_type, n_components",
    [
        (scenario, covariance_type, n_components)
        for scenario in SCENARIOS
        for covariance_type in COVARIANCE_TYPES
        for n_components in (1, 2, 3)
    ],
)


def _chunk_sizes(X):
    # 3 (and 1 on the small data sets) split every group of more than a few
    # rows, often in the middle of a pattern; the default (None) keeps the
    # groups whole at these sizes.
    small = (1,) if X.shape[0] <= 40 else ()
    return (*small, 3, None)


def mixture_mean(params):
    """The mean of the mixture, ``sum_k pi_k mu_k``."""
    return params.weights @ params.means


def make_kernel(data, params, shift, route="auto"):
    """The Gaussian family's kernel bound to ``data``, centred on ``shift``."""
    return params.gaussian.kernel(data, params.weights, shift=shift, route=route)


def _kernel(data, params, shift, route):
    """The E-step kernel, its route forced for full and tied covariances.

    'mixed' sends every other component through the covariance route (as
    when only some components are ill-conditioned), and rows with fewer
    observed than missing entries through it for all components.
    """
    if route == "mixed":
        kernel = make_kernel(data, params, shift)
        if hasattr(kernel.inner, "ill_conditioned"):
            kernel.inner.ill_conditioned = np.arange(params.n_components) % 2 == 0
        return kernel
    return make_kernel(data, params, shift, route)


def _conditionals(kernel, block):
    """The kernel's conditionals of a block, moments included."""
    return kernel.evaluate(block, moments=True).conditionals


def _engine_conditionals(X, mask, params, shift, chunk_size, route="auto"):
    """Gather the kernel's output over all blocks, row by row."""
    data = EMData.build(X, mask)
    kernel = _kernel(data, params, shift, route)
    n_samples = X.shape[0]
    log_density = np.full((n_samples, params.n_components), np.nan)
    means, covs = [None] * n_samples, [None] * n_samples
    seen = np.zeros(n_samples, dtype=int)
    for block in iter_blocks(data.patterns, [kernel], chunk_size=chunk_size):
        conditionals = _conditionals(kernel, block)
        row_covariances = conditionals.row_covariances(block.row_pattern)
        assert chunk_size is None or len(block.rows) <= chunk_size
        assert np.array_equal(block.missing, block.pattern_missing[block.row_pattern])
        np.add.at(seen, block.rows, 1)
        log_density[block.rows] = conditionals.log_density
        for j, row in enumerate(block.rows):
            missing = block.missing[j]
            assert np.array_equal(missing, np.flatnonzero(mask[row])), row
            # Conditional means are relative to the shift.
            means[row] = conditionals.means[:, j] + shift[missing]
            covs[row] = row_covariances[:, j]
    np.testing.assert_array_equal(seen, 1)
    return log_density, means, covs


def _flat(arrays):
    return np.concatenate([np.ravel(a) for a in arrays])


def _assert_conditionals(X, mask, params, reference, shift, chunk_size, route="auto"):
    log_density, means, covs = _engine_conditionals(
        X, mask, params, shift, chunk_size, route
    )
    assert_close(log_density, reference.log_density, TOL, "log-density")
    # Row by row, each component's conditional mean and covariance, in one
    # flat array (the shapes were checked when gathering).
    assert [m.shape for m in means] == [m.shape for m in reference.cond_means]
    assert [c.shape for c in covs] == [c.shape for c in reference.cond_covs]
    assert_close(_flat(means), _flat(reference.cond_means), TOL, "conditional mean")
    assert_close(_flat(covs), _flat(reference.cond_covs), TOL, "conditional covariance")


ROUTES = ("auto", "precision", "covariance", "mixed")


@CASES
def test_conditionals_match_reference(
    scenario, covariance_type, n_components, global_random_seed
):
    # Each route of the full and tied kernels on its own, and mixed per
    # component; the diagonal kernel has one route and ignores the choice.
    X, mask, params, reference = _case(
        scenario, covariance_type, n_components, global_random_seed
    )
    shift = mixture_mean(params)
    for route in ROUTES:
        for chunk_size in _chunk_sizes(X):
            _assert_conditionals(X, mask, params, reference, shift, chunk_size, route)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("scenario", ["mar-n200-d4", "edge-n30-d4", "mcar-n30-d1"])
def test_conditionals_do_not_depend_on_the_shift(
    scenario, covariance_type, global_random_seed
):
    # Any shift gives the same conditionals once added back: zero, an offset
    # far from the data, and a random one.
    X, mask, params, reference = _case(scenario, covariance_type, 2, global_random_seed)
    rng = np.random.default_rng(global_random_seed)
    n_features = X.shape[1]
    for shift in (
        np.zeros(n_features),
        np.full(n_features, 50.0),
        rng.standard_normal(n_features),
    ):
        _assert_conditionals(X, mask, params, reference, shift, 3)


@CASES
def test_responsibilities_match_reference(
    scenario, covariance_type, n_components, global_random_seed
):
    X, mask, params, reference = _case(
        scenario, covariance_type, n_components, global_random_seed
    )
    log_weights = np.log(params.weights)
    empty = mask.all(axis=1)
    for chunk_size in (3, None):
        weighted = weighted_log_prob(
            EMData.build(X, mask), params, chunk_size=chunk_size
        )
        # Rows with nothing observed get log pi_k (their log-density is 0).
        assert_close(
            weighted, reference.log_density + log_weights, TOL, "weighted log-prob"
        )
    log_prob_norm, resp = responsibilities(weighted, 0.0)
    log_prob_norm[empty] = 0.0
    # Responsibilities are in [0, 1]: an absolute tolerance.
    assert_close(resp, reference.resp, TOL, "responsibilities", scale=1.0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert_close(log_prob_norm, reference.log_prob_norm, TOL, "log p(x_O) per row")


@CASES
def test_e_step_matches_reference(
    scenario, covariance_type, n_components, global_random_seed
):
    X, mask, params, reference = _case(
        scenario, covariance_type, n_components, global_random_seed
    )
    data = EMData.build(X, mask)
    for chunk_size in _chunk_sizes(X):
        log_prob_norm, mixture_stats = e_step(data, params, chunk_size=chunk_size)
        stats = mixture_stats.families[0]
        # Whatever shift the engine accumulates around, the reference uses
        # the same one.
        nk, s1, s2 = reference_stats(X, mask, params, stats.shift, reference)
        if covariance_type in ("diag", "spherical"):
            # The engine keeps only the diagonal of s2 for these types,
            s2 = np.diagonal(s2, axis1=1, axis2=2)
        elif covariance_type == "tied":
            # and only the sum over components for the tied one.
            s2 = s2.sum(axis=0, keepdims=True)
        assert_close(log_prob_norm, reference.log_prob_norm, TOL, "log p(x_O) per row")
        assert_close(
            log_prob_norm.sum(),
            reference.log_prob_norm.sum(),
            TOL,
            "observed-data log-likelihood",
        )
        # Norm-wise relative: each statistic is a sum of up to n_samples
        # terms, so it is compared with the size of the array.
        assert_close(stats.nk, nk, TOL, "stats nk", scale=norm_scale(nk))
        assert_close(stats.s1, s1, TOL, "stats s1", scale=norm_scale(s1))
        assert_close(stats.s2, s2, TOL, "stats s2", scale=norm_scale(s2))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_every_row_has_its_own_pattern(covariance_type, global_random_seed):
    # The "distinct" scenario really has one pattern per row, so the engine
    # factorises one P_MM per row there.
    X, mask, params, _ = _case(
        "distinct-n40-d10", covariance_type, 2, global_random_seed
    )
    patterns = find_patterns(mask)
    n_patterns = sum(len(group.missing) for group in patterns.groups)
    assert n_patterns == X.shape[0]
    assert len(patterns.groups) > 3


def test_wide_scenario_has_large_missing_blocks_on_the_precision_route(
    global_random_seed,
):
    _, mask, _, _ = _case("mcar-n40-d24", "full", 2, global_random_seed)
    n_missing = mask.sum(axis=1)
    assert np.any((n_missing > 8) & (n_missing <= 12))


def test_scenarios_cover_the_edge_cases(global_random_seed):
    # Rows with nothing observed, complete rows, a single observed entry and
    # few patterns are really present in the data the tests above use.
    _, mask, _, _ = _case("edge-n30-d4", "full", 2, global_random_seed)
    n_missing = mask.sum(axis=1)
    assert {0, 3, 4} <= set(n_missing.tolist())
    _, mask, _, _ = _case("few-n100-d7", "full", 2, global_random_seed)
    assert len(np.unique(mask, axis=0)) <= 4
    assert not mask[:, [0, 1, 2, 4, 6]].any()
    _, mask, _, _ = _case("mar-n200-d4", "full", 2, global_random_seed)
    assert not mask[:, 0].any() and 0.1 < mask[:, 1:].mean() < 0.5
    _, mask, _, _ = _case("mcar-n30-d1", "full", 2, global_random_seed)
    assert 0 < mask.sum() < mask.size


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_conditionals_have_documented_shapes(covariance_type, global_random_seed):
    # Conditionals: log_density (n_rows, K), means (K, n_rows, r), per-row
    # covariances (K, n_rows, r, r) and variances (K, n_rows, r), for every
    # block, complete rows (r = 0) and rows with nothing observed (r = d)
    # included.
    X, mask, params, _ = _case("edge-n30-d4", covariance_type, 2, global_random_seed)
    shift = mixture_mean(params)
    data = EMData.build(X, mask)
    kernel = make_kernel(data, params, shift)
    K = params.n_components
    n_missing = set()
    for block in iter_blocks(data.patterns, [kernel], chunk_size=3):
        conditionals = _conditionals(kernel, block)
        n_rows, r = len(block.rows), block.n_missing
        n_missing.add(r)
        assert conditionals.log_density.shape == (n_rows, K)
        assert conditionals.means.shape == (K, n_rows, r)
        if r:
            covariances = conditionals.row_covariances(block.row_pattern)
            assert covariances.shape == (K, n_rows, r, r)
            variances = conditionals.variances(block.row_pattern)
            np.testing.assert_array_equal(
                variances, np.diagonal(covariances, axis1=2, axis2=3)
            )
    assert {0, X.shape[1]} <= n_missing


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_density_of_tight_distant_clusters(covariance_type, global_random_seed):
    # Two components 200 apart, standard deviation 0.01 in every direction
    # (2e4 standard deviations apart; the mixture mean lies between them).
    # Regression test: the diagonal kernel once expanded (x - mu)^2 / var
    # around the mixture mean, whose terms cancel here to an absolute error
    # of eps * ((x - shift)^2 + (mu - shift)^2) / var ~ 1e-8.
    # The log-densities themselves are moderate (-0.5 * chi2 + 3 * 4.6 for
    # the own component), so the 1e-10 tolerance of this module applies.
    rng = np.random.default_rng(global_random_seed)
    n_samples, n_features, variance = 60, 3, 1e-4
    direction = rng.standard_normal(n_features)
    means = np.outer([1.0, -1.0], 100.0 * direction / np.linalg.norm(direction))
    covariances = {
        "full": np.stack([variance * np.eye(n_features)] * 2),
        "tied": variance * np.eye(n_features),
        "diag": np.full((2, n_features), variance),
        "spherical": np.full(2, variance),
    }[covariance_type]
    params = MixtureParams.from_covariances(
        np.array([0.4, 0.6]), means, covariances, covariance_type
    )
    X, _ = sample_mixture(
        rng, n_samples, params.weights, means, dense_covariances(params)
    )
    mask = mcar_mask(rng, n_samples, n_features, 0.3)
    X[mask] = np.nan
    reference = reference_e_step(X, mask, params)
    data = EMData.build(X, mask)
    weighted = weighted_log_prob(data, params)
    assert_close(
        weighted,
        reference.log_density + np.log(params.weights),
        TOL,
        f"tight distant clusters ({covariance_type}): weighted log-prob",
    )
    log_prob_norm, _ = e_step(data, params)
    assert_close(
        log_prob_norm,
        reference.log_prob_norm,
        TOL,
        f"tight distant clusters ({covariance_type}): log p(x_O)",
    )


# A valid covariance whose correlation matrix has condition number 1e10 (what
# EM reached on 5 rows x 3 features at scale 1e3): the precision route loses
# about eps * 1e10 of relative accuracy here, although every principal block
# S_OO is well conditioned (correlation condition numbers below 100).
ILL_CONDITIONED_COVARIANCE = np.array(
    [
        [789108.77729698, -151373.85630995, 13993.17374561],
        [-151373.85630995, 3325172.94918945, 231373.34241765],
        [13993.17374561, 231373.34241765, 16868.50723873],
    ]
)
ILL_CONDITIONED_MEAN = np.array([-130.10262193, 1082.76171973, 290.20240767])


def _ill_conditioned_case(covariance_type, global_random_seed):
    """An ill-conditioned and (for 'full') a well-conditioned component, and
    rows with every pattern of three features with a missing entry, about 1e3
    from the means. (Complete rows have no well-conditioned block to work
    with: their density depends on S itself.)"""
    rng = np.random.default_rng(global_random_seed)
    if covariance_type == "tied":
        weights, covariances = np.array([1.0]), ILL_CONDITIONED_COVARIANCE
        means = ILL_CONDITIONED_MEAN[np.newaxis]
    else:
        weights = np.array([0.5, 0.5])
        covariances = np.stack([ILL_CONDITIONED_COVARIANCE, 1e5 * np.eye(3)])
        means = np.stack([ILL_CONDITIONED_MEAN, -ILL_CONDITIONED_MEAN])
    params = MixtureParams.from_covariances(
        weights, means, covariances, covariance_type
    )
    patterns = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    patterns = patterns[patterns.any(axis=1)]
    mask = np.repeat(patterns.astype(bool), 4, axis=0)
    X = ILL_CONDITIONED_MEAN + 1e3 * rng.standard_normal(mask.shape)
    X[mask] = np.nan
    return X, mask, params


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_ill_conditioned_covariance_takes_the_covariance_route(
    covariance_type, global_random_seed
):
    # The kernel flags the ill-conditioned component only, and the result
    # matches the reference (explicit inverses of the well-conditioned S_OO)
    # to 1e-10 relative on log-densities and conditional means and 1e-10 of
    # the covariance's scale on conditional covariances: C = S_MM - S_MO
    # inv(S_OO) S_OM cancels to about eps * |S_MM| absolute whichever way it
    # is computed, since C is 1e-10 times smaller than S_MM here.
    X, mask, params = _ill_conditioned_case(covariance_type, global_random_seed)
    kernel = make_kernel(EMData.build(X, mask), params, mixture_mean(params))
    expected_flags = [True] if covariance_type == "tied" else [True, False]
    np.testing.assert_array_equal(kernel.inner.ill_conditioned, expected_flags)
    reference = reference_e_step(X, mask, params)
    shift = mixture_mean(params)
    log_density, means, covs = _engine_conditionals(X, mask, params, shift, None)
    assert_close(log_density, reference.log_density, TOL, "ill-conditioned density")
    assert_close(
        _flat(means),
        _flat(reference.cond_means),
        TOL,
        "ill-conditioned conditional mean",
    )
    scale = np.abs(ILL_CONDITIONED_COVARIANCE).max()
    assert_close(
        _flat(covs),
        _flat(reference.cond_covs),
        TOL,
        "ill-conditioned conditional covariance",
        scale=scale,
    )
    # The precision route alone is off by far more than the tolerance here
    # (1e-5, through |inv(L) y_M|^2; 1e-3 through inv(P_MM) itself): the
    # test would catch a kernel that ignored the condition number.
    forced, _, _ = _engine_conditionals(X, mask, params, shift, None, "precision")
    assert np.max(np.abs(forced - reference.log_density)) > 1e-6


def test_route_choice_ignores_the_scales_of_the_features():
    # Rescaling features changes cond(S) but not the rounding of either
    # route; the choice depends on the correlation matrix only.
    rng = np.random.default_rng(0)
    correlation = np.corrcoef(rng.standard_normal((4, 50)))
    scales = np.array([1e-4, 1.0, 1e3, 1e6])
    covariance = correlation * np.outer(scales, scales)
    assert np.linalg.cond(covariance) > 1e18
    params = MixtureParams.from_covariances(
        np.ones(1), np.zeros((1, 4)), covariance[np.newaxis], "full"
    )
    data = EMData.build(np.zeros((1, 4)), np.zeros((1, 4), dtype=bool))
    kernel = make_kernel(data, params, np.zeros(4)).inner
    assert not kernel.ill_conditioned.any()
    # Fewer observed than missing coordinates: the covariance route, whose
    # factorisation is the smaller one, whatever the conditioning.
    assert not kernel.covariance_route(2, 4).any()
    assert kernel.covariance_route(3, 4).all()


def _without_memo(data):
    """``data`` whose E-steps make their blocks each time."""
    data = EMData.build(data.numeric, data.mask)
    data.__dict__["block_memo"] = None  # the cached property, set first
    return data


def _without_gathers(data):
    """``data`` that keeps its blocks but not their rows (as a large one)."""
    data = EMData.build(data.numeric, data.mask)
    data.__dict__["block_memo"] = BlockMemo(keep_gathers=False)
    return data


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_kept_blocks_give_the_same_bits_at_every_e_step(
    covariance_type, engine, global_random_seed, monkeypatch
):
    # A data set keeps its blocks and their gathered rows between E-steps;
    # each E-step with kept blocks (the parameters, hence the shift, change
    # in between; so does the chunk size) must give exactly what blocks made
    # afresh give: the same rows, zeroed at the same entries, summed in the
    # same order. Bitwise, since nothing but the blocks' origin differs.
    monkeypatch.setenv("EMIMPUTE_KERNEL", engine)
    rng = np.random.default_rng([global_random_seed, 15])
    X = rng.standard_normal((300, 6)) * 3.0 + 100.0
    mask = mcar_mask(rng, *X.shape, 0.3)
    mask[:4] = True  # rows with nothing observed, not visited
    X[mask] = np.nan
    data = EMData.build(X)
    assert data.block_memo.keep_gathers
    fresh = _without_memo(data)
    # Kept blocks that gather their rows at each E-step: in one compiled
    # pass (numba importable) or numpy's (not), the same values.
    ungathered = _without_gathers(data)
    if engine == "numpy":
        monkeypatch.setattr(_gaussian_block, "numba_available", lambda: False)
    for step, chunk_size in enumerate([None, None, 37, None, 37]):
        params = random_params(rng, 2, 6, covariance_type)
        params = MixtureParams.from_covariances(
            params.weights, params.means + 100.0, params.covariances, covariance_type
        )
        kept_norm, kept = e_step(data, params, chunk_size=chunk_size)
        for other in (fresh, ungathered):
            other_norm, made = e_step(other, params, chunk_size=chunk_size)
            assert np.array_equal(kept_norm, other_norm), step
            assert np.array_equal(kept.nk, made.nk), step
            for a, b in zip(
                kept.families[0].arrays, made.families[0].arrays, strict=True
            ):
                assert np.array_equal(a, b), step
    assert ungathered.block_memo._groups
    assert all(
        block.memo is None and block.kept_by is ungathered.block_memo
        for _, blocks in ungathered.block_memo._groups.values()
        for block in blocks
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_gather_of_centred_rows_equals_numpy(dtype, monkeypatch):
    # A block without a memo gathers its rows in one compiled pass: x -
    # shift in float64 (float32 data promoted before subtracting, never
    # rounded to float32), +0.0 at the missing entries, the same bits as
    # numpy's gather, subtraction and mask.
    if not _gaussian_block.numba_available():
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(3)
    X = (rng.standard_normal((120, 7)) * 5.0 + 1e3).astype(dtype)
    X[mcar_mask(rng, *X.shape, 0.4)] = np.nan
    data = EMData.build(X)
    shift = rng.standard_normal(7) + 1e3
    for block in iter_blocks(data.patterns, [], chunk_size=17):
        rows = _gaussian_block.GaussianBlock.gather(
            block, data.numeric, data.mask, shift
        )
        compiled = rows.centred
        with monkeypatch.context() as patch:
            patch.setattr(_gaussian_block, "numba_available", lambda: False)
            reference = _gaussian_block.GaussianBlock.gather(
                block, data.numeric, data.mask, shift
            ).centred
        assert compiled.dtype == np.float64
        assert np.array_equal(compiled, reference)
        assert not np.signbit(compiled[data.mask[block.rows]]).any()


def test_what_a_data_set_keeps_between_e_steps_depends_on_its_size(monkeypatch):
    # Small: blocks and their gathers; mid-sized: the blocks (index arrays)
    # only; large: nothing (blocks made at each E-step).
    from emimpute._em import _data

    monkeypatch.setattr(_data, "MEMO_FLOATS", 60)
    monkeypatch.setattr(_data, "BLOCKS_FLOATS", 120)
    X = np.where(mcar_mask(np.random.default_rng(0), 40, 3, 0.3), np.nan, 1.0)
    assert EMData.build(X[:20]).block_memo.keep_gathers  # 60 entries
    assert not EMData.build(X[:40]).block_memo.keep_gathers  # 120
    assert EMData.build(np.vstack([X, X[:1]])).block_memo is None  # 123


def test_mixed_data_too_large_to_keep_its_blocks(monkeypatch):
    # Beyond BLOCKS_FLOATS numeric entries a data set keeps no blocks (its
    # block_memo is None); the categorical family's compiled kernels then
    # make their column groups per kernel, with the same E-step as a data
    # set that keeps them, bit for bit.
    pd = pytest.importorskip("pandas")
    from emimpute import EMMixture
    from emimpute._em import _data

    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {
            "a": rng.standard_normal(300),
            "b": rng.standard_normal(300),
            "c": pd.Categorical(rng.choice(["x", "y", "z"], 300)),
        }
    )
    X.loc[::7, "a"] = np.nan
    X.loc[::5, "c"] = np.nan
    kept = EMMixture(n_components=2, random_state=0, max_iter=5).fit(X)
    monkeypatch.setattr(_data, "BLOCKS_FLOATS", 10)
    made = EMMixture(n_components=2, random_state=0, max_iter=5).fit(X)
    assert made.lower_bound_ == kept.lower_bound_
    for got, want in zip(
        made.category_probabilities_, kept.category_probabilities_, strict=True
    ):
        assert np.array_equal(got, want)


def test_block_memo_keeps_one_cut_per_group():
    # The blocks of a group are made once per chunk size and reused while it
    # holds; a new size replaces them (at most one set per group is kept).
    rng = np.random.default_rng(0)
    data = EMData.build(np.where(mcar_mask(rng, 200, 5, 0.3), np.nan, 1.0))
    group = max(data.patterns.groups, key=lambda group: len(group.rows))
    memo = data.block_memo
    first = memo.blocks(group, 50)
    assert memo.blocks(group, 50) is first
    assert all(block.memo == {} for block in first)
    assert sum(len(block.rows) for block in first) == len(group.rows)
    second = memo.blocks(group, 30)
    assert second is not first and max(len(block.rows) for block in second) == 30
    assert len(memo._groups) == 1
    # Sizes beyond the group's rows cut the same single block.
    whole = memo.blocks(group, 10**6)
    assert len(whole) == 1 and memo.blocks(group, 10**7) is whole


def test_standardised_data_gather_their_own_rows():
    # dataclasses.replace (the standardisation) shares the patterns but not
    # the kept blocks: each data set gathers its own rows of X.
    from dataclasses import replace

    rng = np.random.default_rng(1)
    X = rng.standard_normal((100, 3))
    X[rng.random(X.shape) < 0.3] = np.nan
    data = EMData.build(X)
    scaled = replace(data, numeric=data.numeric * 2.0)
    params = random_params(rng, 1, 3, "full")
    e_step(data, params)
    norm, stats = e_step(scaled, params)
    fresh_norm, fresh_stats = e_step(_without_memo(scaled), params)
    assert scaled.patterns is data.patterns
    assert scaled.block_memo is not data.block_memo
    assert np.array_equal(norm, fresh_norm)
    assert np.array_equal(stats.families[0].s2, fresh_stats.families[0].s2)


def test_kept_blocks_share_scratch_per_thread():
    # Kept blocks borrow their temporaries from their keeper: one array per
    # name, grown to the largest request, shared by the blocks, and separate
    # per thread (a data set's E-steps may run on several); a block made for
    # one pass gets a fresh array each time.
    import threading

    from emimpute._em._blocks import BlockMemo, RowBlock

    memo = BlockMemo()
    big = memo.scratch("products", (10, 4))
    small = memo.scratch("products", (3, 2))
    assert small.shape == (3, 2) and np.shares_memory(big, small)
    grown = memo.scratch("products", (20, 4))
    assert grown.shape == (20, 4) and not np.shares_memory(big, grown)
    assert not np.shares_memory(grown, memo.scratch("filled", (20, 4)))
    elsewhere = []
    thread = threading.Thread(
        target=lambda: elsewhere.append(memo.scratch("products", (20, 4)))
    )
    thread.start()
    thread.join()
    assert not np.shares_memory(grown, elsewhere[0])
    empty = np.empty(0, dtype=np.intp)
    one_pass = RowBlock(empty, empty[:, np.newaxis], empty, empty[:, np.newaxis])
    assert not np.shares_memory(
        one_pass.scratch("products", (2, 2)), one_pass.scratch("products", (2, 2))
    )


def test_data_with_kept_blocks_pickle_and_copy_without_them():
    # The kept blocks are a cache (with thread-local scratch arrays, which
    # cannot be pickled): a pickled or copied data set (an estimator keeps
    # its fit data for parameter draws) starts with none, and its E-steps
    # give the same bits.
    import copy
    import pickle

    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 3))
    X[rng.random(X.shape) < 0.3] = np.nan
    data = EMData.build(X)
    params = random_params(rng, 2, 3, "full")
    norm, stats = e_step(data, params)
    assert data.block_memo._groups
    for twin in (pickle.loads(pickle.dumps(data)), copy.deepcopy(data)):
        assert not twin.block_memo._groups
        twin_norm, twin_stats = e_step(twin, params)
        assert np.array_equal(twin_norm, norm)
        assert np.array_equal(twin_stats.families[0].s2, stats.families[0].s2)


def test_a_fit_releases_the_kept_blocks():
    # An estimator may keep its fit data (parameter draws): the blocks kept
    # for the fit's E-steps, and their scratch arrays, are dropped after it.
    from emimpute import EMMixture
    from emimpute._base import em_config
    from emimpute._em._loop import run_em

    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 3))
    X[rng.random(X.shape) < 0.3] = np.nan
    data = EMData.build(X)
    estimator = EMMixture(n_components=2, tol=0.1, random_state=0)
    run_em(data, em_config(estimator))
    assert "block_memo" not in data.__dict__
