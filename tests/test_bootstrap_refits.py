"""Bootstrap refits from per-pattern sums (``_em._pattern_sums``).

The reference is the refit's data as it was built before: the drawn rows
taken physically (``EMData.take``) with their counts as sample weights, and
the engine's row-block E-step on them.
"""

import pickle
from dataclasses import replace

import numpy as np
import pytest
from _reference import (
    COVARIANCE_TYPES,
    dense_covariances,
    mcar_mask,
    random_params,
    sample_mixture,
)

from emimpute._em._accelerate import anderson_em, flatten
from emimpute._em._bootstrap import bootstrap_counts, bootstrap_params, bootstrap_tol
from emimpute._em._config import EMConfig
from emimpute._em._data import EMData
from emimpute._em._forms import FULL, _cholesky_lower, covariance_form
from emimpute._em._fused import factor_covariance
from emimpute._em._loop import run_em
from emimpute._em._params import MixtureParams
from emimpute._em._pattern_sums import (
    PatternRows,
    _factor_numpy,
    pattern_work,
    supports,
)
from emimpute._prior import ConjugatePrior


def _fit(covariance_type, *, weighted=False, seed=0, n=400, d=4):
    rng = np.random.default_rng(seed)
    truth = random_params(rng, 1, d, covariance_type)
    X, _ = sample_mixture(rng, n, truth.weights, truth.means, dense_covariances(truth))
    X[mcar_mask(rng, n, d, 0.3)] = np.nan
    X[0] = np.nan  # a row with nothing observed: no statistics, weight only
    sample_weight = rng.integers(0, 4, size=n).astype(float) if weighted else None
    data = EMData.build(X, sample_weight=sample_weight)
    config = EMConfig(
        n_components=1,
        form=covariance_form(covariance_type),
        standardise=False,
        tol=1e-10,
        random_state=np.random.RandomState(seed),
    )
    return data, config, run_em(data, config).params


def _resampled(data, counts):
    """The bootstrap sample as rows: the drawn rows, weighted by their counts
    (the draws of their copies, sample weights counted in)."""
    drawn = counts > 0
    return replace(data.take(drawn), sample_weight=counts[drawn].astype(float))


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_pattern_e_step_equals_the_e_step_on_the_resampled_rows(
    covariance_type, weighted, engine
):
    # At the fit and at a point away from it (the refit's later E-steps),
    # centred elsewhere than the mean. Sums of the same terms in another
    # order: 1e-10 relative to the statistics' size (rows of order 1-10,
    # 400 rows) is far above rounding (measured 1e-15) and far below any
    # error in a term.
    data, config, params = _fit(covariance_type, weighted=weighted)
    counts = bootstrap_counts(data, np.random.RandomState(1))
    reference = _resampled(data, counts)
    rows = PatternRows(data, params.means[0] + 0.3, engine=engine)
    sums = rows.weighted(counts)
    moved = params.replace_gaussian(means=params.means + 0.2)
    for point in (params, moved):
        value, stats = sums.expectation(point)
        expected_value, expected = reference.expectation(point)
        assert value == pytest.approx(expected_value, rel=1e-10)
        mine, theirs = stats.families[0], expected.families[0]
        np.testing.assert_allclose(stats.nk, expected.nk, rtol=1e-12)
        np.testing.assert_array_equal(mine.shift, theirs.shift)
        scale = np.abs(theirs.s2).max()
        np.testing.assert_allclose(mine.s1, theirs.s1, rtol=0, atol=1e-10 * scale)
        np.testing.assert_allclose(mine.s2, theirs.s2, rtol=0, atol=1e-10 * scale)
    assert sums.total_weight == reference.total_weight


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_refit_equals_the_refit_on_the_resampled_rows(
    covariance_type, engine, monkeypatch
):
    monkeypatch.setenv("EMIMPUTE_KERNEL", engine)
    # The same accelerated EM from the same start, on E-steps that agree to
    # rounding: the same maximum. 1e-9 on parameters of order 1 leaves room
    # for the rounding carried through the least squares of the
    # extrapolations (measured at most 1e-12).
    data, config, params = _fit(covariance_type, weighted=True)
    random_state = np.random.RandomState(5)
    fast = bootstrap_params(data, params, config, random_state)
    assert "_pattern_rows" in data.__dict__  # the per-pattern path ran
    counts = bootstrap_counts(data, np.random.RandomState(5))
    sample = _resampled(data, counts)
    refit = replace(config, tol=bootstrap_tol(sample.total_weight, params, config.tol))
    reference = anderson_em(sample, refit, params)
    np.testing.assert_allclose(
        flatten(fast), flatten(reference.params), rtol=0, atol=1e-9
    )
    # And it moved: a bootstrap draw is not the fit.
    assert np.abs(flatten(fast) - flatten(params)).max() > 1e-3
    # Its precision's factor is its covariance's, as the forms make it (the
    # refit's own factorisation, rounding apart: covariances of condition
    # below 1e3 here).
    family = fast.gaussian
    expected = family.form.precision_cholesky(family.covariances)
    assert family.precisions_cholesky.shape == expected.shape
    np.testing.assert_allclose(
        family.precisions_cholesky,
        expected,
        rtol=0,
        atol=1e-12 * np.abs(expected).max(),
    )


def test_refits_do_not_depend_on_their_order():
    # The per-pattern rows are made once per fit, centred on its mean,
    # whatever refit comes first: the same draws, bit for bit.
    data, config, params = _fit("full")
    first = [
        bootstrap_params(data, params, config, np.random.RandomState(s)) for s in (1, 2)
    ]
    data, config, params = _fit("full")
    second = [
        bootstrap_params(data, params, config, np.random.RandomState(s)) for s in (2, 1)
    ]
    for a, b in zip(first, second[::-1], strict=True):
        np.testing.assert_array_equal(flatten(a), flatten(b))


def test_a_pickled_data_set_refits_alike_and_carries_no_kept_rows():
    # A joblib worker gets the fit data pickled: it must make the same
    # per-pattern rows, hence the same draw, bit for bit; the pickle does
    # not carry the parent's kept rows (they are a cache of n x d floats).
    data, config, params = _fit("full")
    here = bootstrap_params(data, params, config, np.random.RandomState(3))
    assert data.__dict__["_pattern_rows"].rows is not None
    copy_data, copy_params = pickle.loads(pickle.dumps((data, params)))
    assert copy_data.__dict__["_pattern_rows"].rows is None
    there = bootstrap_params(copy_data, copy_params, config, np.random.RandomState(3))
    np.testing.assert_array_equal(flatten(here), flatten(there))
    # Released with the data's row blocks.
    data.release_blocks()
    assert "_pattern_rows" not in data.__dict__


def test_the_row_blocks_run_where_patterns_are_many():
    # pattern_work against an explicit sum over the distinct patterns, and
    # the choice: one pattern per row at d = 30 (every row its own solve)
    # keeps the row-block E-step; few patterns take the per-pattern sums.
    rng = np.random.default_rng(0)
    for n, d, rate, expected in [(2000, 30, 0.3, False), (2000, 5, 0.3, True)]:
        X = rng.normal(size=(n, d))
        X[rng.uniform(size=X.shape) < rate] = np.nan
        data = EMData.build(X)
        patterns = np.unique(np.isnan(X), axis=0)
        r = patterns.sum(axis=1)
        r = r[r < d]  # a row with nothing observed has no terms
        assert pattern_work(data) == np.sum(r * (d - r) * d)
        params = random_params(rng, 1, d, "full")
        prior = EMConfig(n_components=1).prior
        assert supports(data, params, prior) is expected
    # Two components: never.
    assert not supports(data, random_params(rng, 2, d, "full"), prior)


@pytest.mark.parametrize(
    "factor", [factor_covariance, _factor_numpy], ids=["numba", "numpy"]
)
def test_a_refits_factorisation_is_the_m_steps(factor):
    # The precision and log det S of a covariance, against numpy's inverse
    # and slogdet: 1e-12 relative to the precision's largest entry (the
    # matrices' condition numbers are below 1e3, so rounding is below
    # 1e-13); and a point is invalid exactly where the M-step's own
    # factorisation (_forms) raises.
    rng = np.random.default_rng(0)
    d = 6
    for _ in range(20):
        root = rng.normal(size=(d, d))
        covariance = root @ root.T / d + 0.1 * np.eye(d)
        precision, inverse = np.empty((d, d)), np.empty((d, d))
        log_det = factor(covariance, precision, inverse)
        expected = np.linalg.inv(covariance)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(precision, expected, rtol=0, atol=1e-12 * scale)
        # inv(R)^T: the precision's Cholesky factor as the forms make it.
        factor_u = FULL.precision_cholesky(covariance[None])[0]
        size = np.abs(factor_u).max()
        np.testing.assert_allclose(inverse.T, factor_u, rtol=0, atol=1e-12 * size)
        assert log_det == pytest.approx(np.linalg.slogdet(covariance)[1], abs=1e-12)
    root = rng.normal(size=(d, d - 1))
    singular = root @ root.T  # rank d - 1: a pivot of rounding size
    indefinite = np.diag([1.0, -1.0, 1.0, 1.0, 1.0, 1.0])
    with_nan = np.eye(d)
    with_nan[2, 1] = with_nan[1, 2] = np.nan
    with_inf = np.eye(d)
    with_inf[4, 4] = np.inf
    for matrix in (singular, indefinite, with_nan, with_inf):
        with pytest.raises(ValueError, match="ill-defined empirical covariance"):
            _cholesky_lower(matrix[None])
        assert np.isnan(factor(matrix, np.empty((d, d)), np.empty((d, d))))


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_a_singular_m_step_raises_as_on_the_resampled_rows(engine):
    # Two observed columns on a line, and no reg_covar: the refit's M-step
    # covariance is singular (a pivot of rounding size), and the map of the
    # per-pattern sums raises the M-step's own error, as the rows' refit
    # does.
    data, config, params = _fit("full")
    X = data.numeric.copy()
    X[:, 0] = np.random.default_rng(1).normal(size=len(X))
    X[:, 1] = 2.0 * X[:, 0] + 1.0
    data = EMData.build(X)
    counts = bootstrap_counts(data, np.random.RandomState(1))
    rows = PatternRows(data, params.means[0], engine=engine)
    refit = replace(config, prior=replace(config.prior, reg_covar=0.0))
    for sample in (rows.weighted(counts), _resampled(data, counts)):
        with pytest.raises(ValueError, match="ill-defined empirical covariance"):
            anderson_em(sample, refit, params)


@pytest.mark.parametrize("scale", [1e-60, 1e60])
def test_pattern_e_step_at_extreme_scales(scale):
    # Data in units of 1e-60 (or 1e60): a pattern's det L_MM is a product of
    # pivots of order 1e120 (1e-120), past the floats' range at three
    # missing entries; the compiled terms take its log in pieces. Same
    # tolerance as at scale 1 (the test above), relative.
    data, config, params = _fit("full", n=400, d=4)
    X = data.numeric * scale
    data = EMData.build(X)
    family = params.gaussian
    params = MixtureParams.from_covariances(
        params.weights,
        family.means * scale,
        family.covariances * scale**2,
        "full",
    )
    counts = bootstrap_counts(data, np.random.RandomState(1))
    assert np.any(data.mask.sum(axis=1) == 3)  # a pattern with three holes
    sums = PatternRows(data, params.means[0], engine="numba").weighted(counts)
    value, stats = sums.expectation(params)
    expected_value, expected = _resampled(data, counts).expectation(params)
    assert np.isfinite(value)
    assert value == pytest.approx(expected_value, rel=1e-10)
    mine, theirs = stats.families[0], expected.families[0]
    size = np.abs(theirs.s2).max()
    np.testing.assert_allclose(mine.s2, theirs.s2, rtol=0, atol=1e-10 * size)


def test_the_map_of_the_pattern_sums_is_only_for_plain_em():
    # A prior in the objective, or fixed classes: supports() keeps those
    # refits on the rows, and the sums offer no map of their own for them
    # (anderson_em would run its own on the parameters).
    data, config, params = _fit("full")
    sums = PatternRows(data, params.means[0]).weighted(np.ones(data.n_samples))
    assert sums.em_map(config) is not None
    with_prior = replace(
        config, prior=replace(config.prior, conjugate=ConjugatePrior())
    )
    assert with_prior.prior.is_map and sums.em_map(with_prior) is None
    assert sums.em_map(replace(config, classes=object())) is None


def test_the_compiled_full_m_step_is_the_forms():
    # The full form's compiled M-step (_full_m_step) against the form's own
    # numpy arithmetic on the same statistics (the numpy map's): the same
    # operations but for fused multiply-adds, so 1e-13 relative to the
    # covariance's size; and the same factorisation.
    data, config, params = _fit("full")
    weights = bootstrap_counts(data, np.random.RandomState(2)).astype(float)
    maps = [
        PatternRows(data, params.means[0], engine=engine)
        .weighted(weights)
        .em_map(config)
        for engine in ("numba", "numpy")
    ]
    points = [em.start(params) for em in maps]
    stats = maps[1].expectation(points[1])[1]
    compiled, reference = (
        em.m_step(stats, p) for em, p in zip(maps, points, strict=True)
    )
    size = np.abs(reference[0]).max()
    np.testing.assert_allclose(compiled[0], reference[0], rtol=0, atol=1e-13 * size)
    scale = np.abs(reference[2]).max()
    np.testing.assert_allclose(compiled[2], reference[2], rtol=0, atol=1e-12 * scale)
    assert compiled[3] == pytest.approx(reference[3], abs=1e-12)
