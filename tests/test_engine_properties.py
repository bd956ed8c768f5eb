"""Properties of the EM engine that need no reference implementation.

- Pattern round trip: ``find_patterns`` puts every row in exactly one group,
  once, with its own missing coordinates, and its chunks cover the group;
  the grouping of a subset of the rows is that of their mask.
- Additivity: the statistics of a data set are the sum of those of any split
  of its rows, and the chunk size changes no fitted value.
- Monotonicity: without regularisation, EM never lowers the observed-data
  log-likelihood.
"""

import warnings

import numpy as np
import pytest
from _reference import (
    COVARIANCE_TYPES,
    assert_close,
    dense_covariances,
    mcar_mask,
    norm_scale,
    random_params,
    sample_mixture,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import ConvergenceWarning

from emimpute._em._config import EMConfig, Prior
from emimpute._em._data import EMData
from emimpute._em._estep import e_step
from emimpute._em._forms import covariance_form
from emimpute._em._init import initial_params
from emimpute._em._loop import run_em
from emimpute._em._patterns import find_patterns

# ------------------------------------------------------------ pattern round trip


def _check_round_trip(mask):
    """Every row in exactly one group, once, with its own pattern."""
    mask = np.asarray(mask, dtype=bool)
    n_samples, n_features = mask.shape
    patterns = find_patterns(mask)
    np.testing.assert_array_equal(patterns.mask, mask)
    assert patterns.n_samples == n_samples
    assert patterns.n_features == n_features
    sizes = [group.n_missing for group in patterns.groups]
    assert sizes == sorted(set(sizes)), "one group per number of missing entries"
    seen = np.zeros(n_samples, dtype=int)
    for group in patterns.groups:
        n_rows, (n_patterns, r) = len(group.rows), group.missing.shape
        assert r == group.n_missing and n_rows > 0
        assert group.row_pattern.shape == (n_rows,)
        assert np.all(np.diff(group.row_pattern) >= 0), "rows sorted by pattern"
        # Every pattern is used, and patterns are distinct and sorted.
        np.testing.assert_array_equal(
            np.unique(group.row_pattern), np.arange(n_patterns)
        )
        assert len(np.unique(group.missing, axis=0)) == n_patterns
        assert np.all(np.diff(group.missing, axis=1) > 0)
        np.add.at(seen, group.rows, 1)
        # The row's mask, rebuilt from its pattern.
        rebuilt = np.zeros((n_rows, n_features), dtype=bool)
        np.put_along_axis(rebuilt, group.missing[group.row_pattern], True, axis=1)
        np.testing.assert_array_equal(rebuilt, mask[group.rows])
        for chunk_size in (1, 2, 5, n_rows + 1):
            chunks = list(group.chunks(chunk_size))
            assert len(chunks) == -(-n_rows // chunk_size)
            np.testing.assert_array_equal(
                np.concatenate([rows for rows, _, _ in chunks]), group.rows
            )
            for rows, row_pattern, missing in chunks:
                assert row_pattern[0] == 0 and len(missing) == row_pattern[-1] + 1
                np.testing.assert_array_equal(
                    missing[row_pattern],
                    group.missing[group.row_pattern[np.isin(group.rows, rows)]],
                )
    np.testing.assert_array_equal(seen, 1)
    empty = mask.all(axis=1) if n_features else np.ones(n_samples, dtype=bool)
    np.testing.assert_array_equal(patterns.empty_rows, np.flatnonzero(empty))
    np.testing.assert_array_equal(patterns.observed_rows, np.flatnonzero(~empty))
    assert all(g.n_missing < n_features for g in patterns.informative_groups)
    return patterns


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    arrays(
        dtype=bool,
        shape=st.tuples(st.integers(0, 40), st.integers(1, 6)),
        elements=st.booleans(),
    )
)
def test_patterns_round_trip(mask):
    _check_round_trip(mask)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.integers(0, 40).flatmap(
        lambda n: st.tuples(
            arrays(bool, st.tuples(st.just(n), st.integers(1, 6))),
            arrays(bool, n),
            arrays(bool, n),
        )
    )
)
def test_patterns_subset_is_find_patterns_of_the_rows(case):
    # The reference is the grouping built afresh from the kept rows' mask:
    # the subset must equal it field for field (same groups, patterns, rows
    # and their order), with or without rows observed elsewhere.
    mask, keep, elsewhere = case
    for observed_elsewhere in (None, elsewhere):
        subset = find_patterns(mask, observed_elsewhere).subset(keep)
        expected = find_patterns(
            mask[keep], None if observed_elsewhere is None else elsewhere[keep]
        )
        np.testing.assert_array_equal(subset.mask, expected.mask)
        assert len(subset.groups) == len(expected.groups)
        for got, want in zip(subset.groups, expected.groups, strict=True):
            assert got.n_missing == want.n_missing
            np.testing.assert_array_equal(got.rows, want.rows)
            np.testing.assert_array_equal(got.row_pattern, want.row_pattern)
            np.testing.assert_array_equal(got.missing, want.missing)
        np.testing.assert_array_equal(subset.empty_rows, expected.empty_rows)
        np.testing.assert_array_equal(subset.observed_rows, expected.observed_rows)


@pytest.mark.parametrize(
    "mask",
    [
        np.zeros((7, 3), dtype=bool),  # all observed
        np.ones((7, 3), dtype=bool),  # all missing
        np.array([[False], [True], [False], [True], [True]]),  # d = 1
        np.zeros((1, 1), dtype=bool),
        np.ones((1, 1), dtype=bool),
        np.zeros((0, 4), dtype=bool),  # no rows
    ],
    ids=["all-observed", "all-missing", "d1", "one-cell", "one-missing", "no-rows"],
)
def test_patterns_round_trip_edge_cases(mask):
    patterns = _check_round_trip(mask)
    n_samples, n_features = mask.shape
    if n_samples and not mask.any():
        assert [g.n_missing for g in patterns.groups] == [0]
        np.testing.assert_array_equal(patterns.groups[0].rows, np.arange(n_samples))
    if n_samples and mask.all():
        assert [g.n_missing for g in patterns.groups] == [n_features]
        assert patterns.informative_groups == []


def test_patterns_round_trip_large(global_random_seed):
    # Many rows, many patterns, every group size present.
    rng = np.random.default_rng(global_random_seed)
    mask = mcar_mask(rng, 1000, 8, 0.5)
    mask[:9] = np.tril(np.ones((9, 8), dtype=bool), -1)  # 0..8 missing
    patterns = _check_round_trip(mask)
    assert [g.n_missing for g in patterns.groups] == list(range(9))


# ------------------------------------------------------------------ additivity


def _incomplete_data(rng, n_samples, n_features, n_components, rate, *, spread=2.0):
    """Data drawn from a random mixture, NaN where MCAR-missing."""
    truth = random_params(rng, n_components, n_features, "full", spread=spread)
    X, _ = sample_mixture(
        rng, n_samples, truth.weights, truth.means, dense_covariances(truth)
    )
    mask = mcar_mask(rng, n_samples, n_features, rate)
    X[mask] = np.nan
    return X, mask


@pytest.mark.parametrize("n_components", [1, 3])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_are_additive_over_rows(
    covariance_type, n_components, global_random_seed
):
    # The same rows summed in a different order and batching: the sums agree
    # to a few n * eps relative to the largest entry (n = 150 rows of
    # O(1)-O(10) terms gives about 1e-14); 1e-12 leaves a margin of 100.
    rng = np.random.default_rng([global_random_seed, n_components])
    X, mask = _incomplete_data(rng, 150, 4, n_components, 0.3)
    mask[:4] = True  # rows with nothing observed
    mask[4:8] = False  # complete rows
    X[:4] = np.nan
    X[4:8] = rng.standard_normal((4, 4))
    params = random_params(rng, n_components, 4, covariance_type)
    log_prob_norm, mixture_stats = e_step(EMData.build(X, mask), params)
    stats = mixture_stats.families[0]
    order = rng.permutation(len(X))
    splits = [
        np.split(order, [40, 41, 100]),  # a part of one row
        [np.arange(8), np.arange(8, len(X))],  # empty + complete rows alone
        [np.arange(4), np.arange(4, len(X))],  # only empty rows in a part
    ]
    for parts in splits:
        total = None
        per_row = np.empty(len(X))
        for rows in parts:
            part_norm, part = e_step(
                EMData.build(X[rows], mask[rows]), params, chunk_size=7
            )
            per_row[rows] = part_norm
            total = part if total is None else total + part
        total = total.families[0]
        np.testing.assert_array_equal(total.shift, stats.shift)
        for name in ("nk", "s1", "s2"):
            desired = getattr(stats, name)
            assert_close(
                getattr(total, name),
                desired,
                1e-12,
                f"additivity {name}",
                scale=norm_scale(desired),
            )
        assert_close(per_row, log_prob_norm, 1e-12, "additivity log p(x_O)")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunk_size_changes_no_fitted_value(covariance_type, global_random_seed):
    # Chunking only reorders the sums of each E-step (relative effect about
    # 1e-16 per iteration); from a common start the EM map, smooth and
    # contracting around its fixed point, does not amplify such differences
    # over 12 iterations beyond ~1e-14, so 1e-12 relative holds.
    rng = np.random.default_rng(global_random_seed)
    X, mask = _incomplete_data(rng, 60, 3, 2, 0.25, spread=3.0)
    data = EMData.build(X, mask)
    start = initial_params(
        data,
        EMConfig(
            n_components=2,
            form=covariance_form(covariance_type),
            prior=Prior(reg_covar=0.0),
            init_params="kmeans",
            random_state=np.random.RandomState(global_random_seed),
        ),
    )
    results = {
        chunk_size: run_em(
            data,
            EMConfig(
                n_components=2,
                form=covariance_form(covariance_type),
                prior=Prior(reg_covar=0.0),
                tol=0.0,
                max_iter=12,
                n_init=1,
                init_params="kmeans",
                random_state=np.random.RandomState(0),
                chunk_size=chunk_size,
            ),
            start=start,
        )
        for chunk_size in (1, 5, 64, None)
    }
    reference = results[None]
    assert reference.n_iter == 12
    for result in results.values():
        assert result.n_iter == reference.n_iter
        for name in ("weights", "means", "covariances", "precisions_cholesky"):
            desired = getattr(reference.params, name)
            assert_close(
                getattr(result.params, name),
                desired,
                1e-12,
                f"chunk size: {name}",
                scale=norm_scale(desired),
            )
        assert_close(
            result.lower_bounds, reference.lower_bounds, 1e-12, "chunk size: ll"
        )


# ---------------------------------------------------------------- monotonicity

# "k-means++" and "random_from_data" start each component from one row, a
# zero covariance: not a valid start without reg_covar.
_INITS = ("kmeans", "random")


_FITS_PER_K = 9


def _collapsed(params, X):
    """Whether a component is collapsing onto a few rows.

    Without regularisation the likelihood of a mixture is unbounded: a
    component can shrink onto a few rows, its variance driven to the
    rounding level of the one-pass M-step (``s2 / nk - mean**2``), where the
    computed log-likelihood is rounding noise. Such fits are not evidence
    about EM's monotonicity either way; they are counted and replaced.
    """
    eigenvalues = np.linalg.eigvalsh(dense_covariances(params))
    return eigenvalues.min() < 1e-3 * np.nanvar(X, axis=0).min()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_likelihood_never_decreases(covariance_type, global_random_seed):
    # EM's log-likelihood is non-decreasing in exact arithmetic when the
    # M-step is exact (reg_covar=0). The per-sample mean log-likelihood of n
    # <= 200 rows is computed to a few n * eps relative, so a drop larger
    # than 1e-12 * max(1, |value|) is not rounding. 27 fits per covariance
    # type, 108 in all: d in 2..5, K in 1..3, n in 100..200, 10-40% MCAR.
    n_fits = n_steps = n_collapsed = 0
    worst_drop, worst_fit = -np.inf, None
    type_index = COVARIANCE_TYPES.index(covariance_type)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n_components in (1, 2, 3):
            n_valid = 0
            for j in range(3 * _FITS_PER_K):
                if n_valid == _FITS_PER_K:
                    break
                rng = np.random.default_rng(
                    [global_random_seed, type_index, n_components, j]
                )
                n_features = int(rng.integers(2, 6))
                n_samples = int(rng.integers(100, 201))
                rate = rng.uniform(0.1, 0.4)
                X, mask = _incomplete_data(
                    rng, n_samples, n_features, n_components, rate, spread=2.5
                )
                init_params = _INITS[j % len(_INITS)]
                n_warnings = len(caught)
                try:
                    result = run_em(
                        EMData.build(X, mask),
                        EMConfig(
                            n_components=n_components,
                            form=covariance_form(covariance_type),
                            prior=Prior(reg_covar=0.0),
                            tol=0.0,
                            max_iter=30,
                            n_init=1,
                            init_params=init_params,
                            random_state=np.random.RandomState(j),
                        ),
                    )
                except ValueError as exc:
                    # A covariance that is no longer positive definite.
                    assert "ill-defined empirical covariance" in str(exc)
                    n_collapsed += 1
                    continue
                if _collapsed(result.params, X):
                    # Also drop the monitor's warnings about this fit.
                    del caught[n_warnings:]
                    n_collapsed += 1
                    continue
                values = np.asarray(result.lower_bounds)
                assert len(values) == 30 and np.all(np.isfinite(values))
                drops = (values[:-1] - values[1:]) / np.maximum(1.0, np.abs(values[1:]))
                n_valid += 1
                n_fits += 1
                n_steps += len(drops)
                if drops.max() > worst_drop:
                    worst_drop = drops.max()
                    worst_fit = (n_components, j, n_samples, n_features, init_params)
    message = (
        f"{covariance_type}: {n_fits} fits, {n_steps} EM steps checked "
        f"({n_collapsed} collapsing fits replaced); largest relative drop "
        f"{worst_drop:.2e} (K, fit, n, d, init = {worst_fit})"
    )
    print(message)
    assert n_fits == 3 * _FITS_PER_K and n_steps == n_fits * 29, message
    # Collapse is the exception on these data, not the rule.
    assert n_collapsed <= n_fits // 3, message
    assert worst_drop <= 1e-12, message
    unexpected = [
        str(w.message) for w in caught if not issubclass(w.category, ConvergenceWarning)
    ]
    assert not unexpected, unexpected


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_start_given_in_full_is_the_start(covariance_type, global_random_seed):
    # With weights, means and precisions all given, the start is those
    # values, exactly as when k-means runs and each of its results is
    # replaced (two given, the third replaced after), on data with holes.
    rng = np.random.default_rng(global_random_seed)
    X, mask = _incomplete_data(rng, 60, 3, 2, 0.25, spread=3.0)
    data = EMData.build(X, mask)
    form = covariance_form(covariance_type)
    config = EMConfig(n_components=2, form=form, init_params="kmeans", random_state=0)
    reference = initial_params(data, config)
    given = dict(
        weights_init=np.array([0.3, 0.7]),
        means_init=reference.means[::-1] + 0.5,
        precisions_init=form.precisions(reference.precisions_cholesky),
    )
    start = initial_params(data, config, **given)
    replaced = initial_params(
        data,
        config,
        means_init=given["means_init"],
        precisions_init=given["precisions_init"],
    )
    np.testing.assert_array_equal(start.weights, given["weights_init"])
    for name in ("means", "covariances", "precisions_cholesky"):
        np.testing.assert_array_equal(
            getattr(start, name), getattr(replaced, name), err_msg=name
        )


def _available_case_covariance(X, mask, weights=None):
    """Textbook pairwise moments, pair by pair: each column's observed
    mean, each pair's mean product of deviations over the rows observing
    both."""
    n, d = X.shape
    w = np.ones(n) if weights is None else weights
    means = np.array(
        [np.average(X[~mask[:, j], j], weights=w[~mask[:, j]]) for j in range(d)]
    )
    covariance = np.zeros((d, d))
    for j in range(d):
        for k in range(d):
            both = ~mask[:, j] & ~mask[:, k]
            if both.any():
                deviations = (X[both, j] - means[j]) * (X[both, k] - means[k])
                covariance[j, k] = np.average(deviations, weights=w[both])
    return means, covariance


@pytest.mark.parametrize(
    "init_params", ["kmeans", "k-means++", "random", "random_from_data", "hierarchical"]
)
def test_one_component_starts_at_the_available_case_moments(init_params):
    # One component needs no clustering: whatever the method and seed, the
    # start is the weight 1, the observed column means and, for each pair,
    # the covariance over the rows observing both (plus reg_covar), as
    # norm starts; not the moments of mean-filled data, whose variances
    # are shrunk by the observed share. Rows with nothing observed tell
    # nothing and are left out.
    rng = np.random.default_rng(0)
    X, mask = _incomplete_data(rng, 80, 4, 1, 0.25, spread=3.0)
    data = EMData.build(X, mask)
    informative = ~mask.all(axis=1)
    assert not informative.all()  # the case is in the data
    means, covariance = _available_case_covariance(X[informative], mask[informative])
    # Jointly positive definite here: no eigenvalue raised.
    spread = np.sqrt(np.diag(covariance))
    assert np.linalg.eigvalsh(covariance / np.outer(spread, spread)).min() > 0.1
    expected = covariance + 1e-6 * np.eye(4)
    for seed in (0, 1):
        config = EMConfig(
            n_components=1,
            form=covariance_form("full"),
            init_params=init_params,
            random_state=seed,
        )
        start = initial_params(data, config)
        np.testing.assert_array_equal(start.weights, [1.0])
        # Rounding of sums over 79 rows of values of order 1-10.
        np.testing.assert_allclose(start.means[0], means, rtol=1e-13)
        np.testing.assert_allclose(start.covariances[0], expected, rtol=1e-12)


def _one_component_start(X, mask, covariance_type="full", sample_weight=None):
    data = EMData.build(X, mask, sample_weight=sample_weight)
    config = EMConfig(n_components=1, form=covariance_form(covariance_type))
    return initial_params(data, config)


def test_the_available_case_start_weighs_rows_as_copies():
    rng = np.random.default_rng(1)
    X, mask = _incomplete_data(rng, 60, 3, 1, 0.3)
    counts = rng.integers(1, 4, size=60)
    weighted = _one_component_start(X, mask, sample_weight=counts.astype(float))
    repeated = _one_component_start(
        np.repeat(X, counts, axis=0), np.repeat(mask, counts, axis=0)
    )
    means, covariance = _available_case_covariance(X, mask, counts.astype(float))
    # Sums of about 120 terms of order 1-10, in another order.
    np.testing.assert_allclose(weighted.means, repeated.means, rtol=1e-12)
    np.testing.assert_allclose(weighted.covariances, repeated.covariances, rtol=1e-12)
    np.testing.assert_allclose(weighted.means[0], means, rtol=1e-12)
    np.testing.assert_allclose(
        weighted.covariances[0], covariance + 1e-6 * np.eye(3), rtol=1e-12
    )


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_the_available_case_start_keeps_the_forms_part(covariance_type):
    rng = np.random.default_rng(2)
    X, mask = _incomplete_data(rng, 70, 3, 1, 0.4)
    start = _one_component_start(X, mask, covariance_type)
    _, covariance = _available_case_covariance(X, mask)
    variances = np.diag(covariance) + 1e-6
    expected = variances if covariance_type == "diag" else variances.mean()
    np.testing.assert_allclose(start.covariances[0], expected, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_the_diagonal_start_reads_only_the_variances(covariance_type):
    # The pairwise d x d matrices (32 MB at d = 2000) were built and all
    # but their diagonal dropped: 58 s and 2.6 GiB at d = 6000. The data
    # are 0.8 MB; the start's arrays a few times that.
    import tracemalloc

    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 2000))
    mask = rng.random(X.shape) < 0.2
    X[mask] = np.nan
    tracemalloc.start()
    try:
        start = _one_component_start(X, mask, covariance_type)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8e6
    variances = np.nanvar(X, axis=0) + 1e-6
    expected = variances if covariance_type == "diag" else variances.mean()
    np.testing.assert_allclose(start.covariances[0], expected, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_the_one_gaussian_start_makes_no_copy_of_the_data(covariance_type):
    # It made five temporaries of the data's size beside a discarded
    # mean-filled copy: 4.15x the data at 2e5 x 50 (1.20x before it). In
    # chunks of 8192 rows it needs a few chunks' worth, whatever the rows:
    # about 0.3x the 31 MiB here.
    import tracemalloc

    rng = np.random.default_rng(5)
    X = rng.normal(size=(200_000, 20))
    mask = rng.random(X.shape) < 0.2
    X[mask] = np.nan
    data = EMData.build(X, mask)
    config = EMConfig(n_components=1, form=covariance_form(covariance_type))
    tracemalloc.start()
    try:
        initial_params(data, config)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * X.nbytes


def test_the_available_case_start_is_positive_definite():
    # Three pairs observed on disjoint rows: correlations +0.95, +0.95 and
    # -0.95, each possible, not all three together. A pair no row observes
    # together starts uncorrelated.
    rng = np.random.default_rng(3)
    blocks = []
    for pair, sign in (((0, 1), 1.0), ((1, 2), 1.0), ((0, 2), -1.0)):
        z = rng.normal(size=(100, 2))
        block = np.full((100, 4), np.nan)
        block[:, pair[0]] = z[:, 0]
        block[:, pair[1]] = sign * (0.95 * z[:, 0] + np.sqrt(1 - 0.95**2) * z[:, 1])
        blocks.append(block)
    last = np.full((100, 4), np.nan)
    last[:, 3] = rng.normal(size=100)
    X = np.vstack([*blocks, last])
    mask = np.isnan(X)
    _, pairwise = _available_case_covariance(X, mask)
    spread = np.sqrt(np.diag(pairwise))
    assert np.linalg.eigvalsh(pairwise / np.outer(spread, spread)).min() < 0
    start = _one_component_start(X, mask)
    covariance = start.covariances[0]
    np.testing.assert_allclose(np.diag(covariance), np.diag(pairwise) + 1e-6)
    correlation = covariance / np.sqrt(
        np.outer(np.diag(covariance), np.diag(covariance))
    )
    assert np.linalg.eigvalsh(correlation).min() > 5e-4
    np.testing.assert_array_equal(covariance[3, :3], 0.0)
