"""Proper multiple imputation: multiple_impute and parameter_uncertainty."""

import warnings
from dataclasses import replace

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from emimpute import EMImputer, EMMixture, _multiple, multiple_impute, pool
from emimpute._base import em_config
from emimpute._em import _chain, _gaussian, _pattern_sums
from emimpute._em._accelerate import anderson_em
from emimpute._em._augmentation import OneGaussianAugmentation
from emimpute._em._bootstrap import bootstrap_counts, bootstrap_params, bootstrap_tol
from emimpute._em._categorical import CategoricalFamily
from emimpute._em._chain import posterior_chain, posterior_params
from emimpute._em._config import EMConfig, Prior
from emimpute._em._data import EMData
from emimpute._em._forms import _bartlett_draws, _inverse_wishart, covariance_form
from emimpute._em._gaussian import component_moments
from emimpute._em._impute import complete
from emimpute._em._loop import run_em
from emimpute._em._parallel import serial_engine
from emimpute._em._params import MixtureParams
from emimpute._em._scaling import Scaling
from emimpute._em._streams import seeded
from emimpute._em._uncertainty import draw_params


def _data(n=150, seed=0, p=0.25):
    rng = np.random.RandomState(seed)
    cov = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.5], [0.3, 0.5, 1.0]])
    X = rng.multivariate_normal([1.0, -2.0, 5.0], cov, size=n)
    X[rng.uniform(size=X.shape) < p] = np.nan
    return X


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_multiple_impute_reproducible_whatever_n_jobs(method):
    X = _data()
    original = X.copy()
    a = multiple_impute(X, 3, method=method, random_state=1, n_jobs=1)
    b = multiple_impute(X, 3, method=method, random_state=1, n_jobs=2)
    np.testing.assert_array_equal(X, original)  # input never mutated
    observed = ~np.isnan(X)
    for table_a, table_b in zip(a, b, strict=True):
        np.testing.assert_array_equal(table_a, table_b)
        assert not np.isnan(table_a).any()
        np.testing.assert_array_equal(table_a[observed], X[observed])
    # Different imputations differ.
    assert not np.array_equal(a[0], a[1])


def test_bootstrap_threads_and_processes_give_the_same_tables():
    # The bootstrap runs on joblib's threads by default, each task the
    # engine on one thread; a mixture (row blocks kept and shared by the
    # threads) and a user's process backend give the tables of one process.
    joblib = pytest.importorskip("joblib")
    X = _data()
    imputer = EMImputer(n_components=2)
    expected = multiple_impute(X, 4, imputer=imputer, random_state=2)
    threads = multiple_impute(X, 4, imputer=imputer, random_state=2, n_jobs=2)
    with joblib.parallel_backend("loky", n_jobs=2):
        processes = multiple_impute(X, 4, imputer=imputer, random_state=2)
    for a, b, c in zip(expected, threads, processes, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_serial_engine_restores_the_thread_count():
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    with serial_engine():
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_parameter_draws_change_between_imputations(method):
    X = _data()
    imputer = EMImputer(sample_posterior=True, parameter_uncertainty=method).fit(X)
    draws = [imputer._draw_parameters(np.random.RandomState(seed)) for seed in range(3)]
    means = np.array([d.means[0] for d in draws])
    assert not np.allclose(means[0], means[1])
    assert not np.allclose(means[0], imputer._params.means[0])
    again = imputer._draw_parameters(np.random.RandomState(0))
    np.testing.assert_array_equal(again.means, draws[0].means)
    np.testing.assert_array_equal(again.covariances, draws[0].covariances)


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_proper_imputations_vary_more_than_improper(method):
    # The between-imputation variance of a column mean includes the
    # parameters' uncertainty with a parameter draw, on top of the spread of
    # draws under one fit. On this design (n = 100, 40% of the cells
    # missing) the ratio measured 1.4-1.7 over seeds of both methods, with
    # 200 imputations each (each variance then known to about 10%,
    # sqrt(2/199), the ratio to about 14%): 1.25 is over two standard errors
    # below the lowest. For the posterior, the draws are successive draws
    # of one thinned chain.
    X = _data(n=100, p=0.4, seed=3)
    proper = multiple_impute(X, 200, method=method, random_state=0)
    improper_imputer = EMImputer(sample_posterior=True).fit(X)
    improper = [
        improper_imputer._transform(X, random_state=np.random.RandomState(s))
        for s in range(200)
    ]
    v_proper = np.var([t[:, 0].mean() for t in proper], ddof=1)
    v_improper = np.var([t[:, 0].mean() for t in improper], ddof=1)
    assert v_proper > 1.25 * v_improper


def _fitted(X):
    imputer = EMImputer(sample_posterior=True, parameter_uncertainty=True).fit(X)
    return imputer, imputer._fit_data, imputer._params, em_config(imputer)


def _bootstrap_sample(data, seed):
    """The bootstrap sample of ``bootstrap_params``: drawn rows, weighted."""
    counts = bootstrap_counts(data, np.random.RandomState(seed))
    return replace(data.take(counts > 0), sample_weight=counts[counts > 0] * 1.0)


def _vector(params):
    return np.concatenate([params.means.ravel(), params.covariances.ravel()])


def _assert_bootstrap_of_copies(data, params, config, seed, weights=None):
    """``bootstrap_params`` against the bootstrap's definition.

    The drawn rows copied (a row of sample weight ``w`` drawn as ``w``
    copies would be, ``bootstrap_counts``), EM from the
    same start to the same threshold (by the refit's accelerated EM, whose
    agreement with plain EM tests/test_accelerate.py checks); 1e-10 covers
    the rounding of sums taken in another order over a few iterations, on
    standardised values of order 1.
    """
    drawn = bootstrap_params(data, params, config, np.random.RandomState(seed))
    counts = bootstrap_counts(data, np.random.RandomState(seed))
    if weights is not None:
        # A row of weight w is w copies: never drawn at weight 0.
        assert not counts[weights == 0].any()
        assert counts.sum() == round(weights.sum())
    rows = np.repeat(np.arange(data.n_samples), counts)
    copies = replace(data.take(rows), sample_weight=None)
    reference = anderson_em(
        copies,
        replace(
            config, standardise=False, tol=bootstrap_tol(copies.n_samples, params, 1e-3)
        ),
        params,
    ).params
    np.testing.assert_allclose(_vector(drawn), _vector(reference), rtol=0, atol=1e-10)


def test_bootstrap_refit_on_weights_equals_refit_on_copied_rows():
    # The definition of the bootstrap: EM on the drawn rows, copies
    # included. The weights (rows drawn 0 times dropped) give the same
    # likelihood, so EM from the same start with the same threshold takes
    # the same steps; only sums in another order differ.
    X = _data()
    _, data, params, config = _fitted(X)
    _assert_bootstrap_of_copies(data, params, config, seed=3)


def test_bootstrap_refit_reaches_the_bootstrap_maximum():
    # A refit stopped by bootstrap_tol is within 4% of the bootstrap
    # sample's own maximum (EM to 1e-14), relative to the distance the
    # bootstrap moved the parameters from the fit (measured: at most 1.7%
    # over these 10 samples; the docstring's estimate is sqrt(1e-4) = 1%).
    # Stopped by the fit's tol=1e-3 instead, some fall short by up to 25%:
    # the draws understated the parameters' variance.
    X = _data(n=150, p=0.4, seed=3)
    _, data, params, config = _fitted(X)
    short = []
    for seed in range(10):
        sample = _bootstrap_sample(data, seed)
        best = run_em(
            sample,
            replace(config, standardise=False, tol=1e-14, max_iter=10_000),
            start=params,
        ).params
        loose = run_em(
            sample, replace(config, standardise=False, tol=1e-3), start=params
        ).params
        drawn = bootstrap_params(data, params, config, np.random.RandomState(seed))
        moved = np.linalg.norm(_vector(best) - _vector(params))
        assert np.linalg.norm(_vector(drawn) - _vector(best)) < 0.04 * moved
        short.append(np.linalg.norm(_vector(loose) - _vector(best)) / moved)
    assert max(short) > 0.04


def test_bootstrap_refit_stopped_by_max_iter_warns():
    # Two E-steps cannot reach bootstrap_tol from the fit (it takes 5-10):
    # the draw is short of the bootstrap maximum, and the user is told.
    _, data, params, config = _fitted(_data())
    with pytest.warns(ConvergenceWarning, match="bootstrap refit did not converge"):
        bootstrap_params(
            data, params, replace(config, max_iter=2), np.random.RandomState(0)
        )


def test_bootstrap_of_weighted_rows_drops_the_rows_of_weight_zero():
    # A row of sample weight 0 drawn by the bootstrap is still no row: the
    # tied kernel would divide by its zero mass (it raised
    # ZeroDivisionError). Reference: the bootstrap's definition, the drawn
    # rows copied, each weighted by its sample weight, the zero ones left
    # out.
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) + 4])
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    weights = rng.randint(0, 3, size=len(X)).astype(float)
    imputer = EMImputer(
        n_components=2,
        covariance_type="tied",
        sample_posterior=True,
        parameter_uncertainty=True,
        random_state=0,
    ).fit(X, sample_weight=weights)
    _assert_bootstrap_of_copies(
        imputer._fit_data, imputer._params, em_config(imputer), 1, weights
    )


def test_bootstrap_imputations_are_transform_with_their_stream():
    # multiple_impute reads X once for all imputations; each table is what
    # transform gives with that imputation's stream (a Generator seeded by
    # its seed), bit for bit.
    X = _data()
    tables = multiple_impute(X, 3, imputer=EMImputer(random_state=5), random_state=0)
    seeds = np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=5)[1:-1]
    imputer = EMImputer(
        random_state=5, sample_posterior=True, parameter_uncertainty="bootstrap"
    ).fit(X)
    for table, seed in zip(tables, seeds, strict=True):
        expected = imputer._transform(X, random_state=seeded(seed))
        np.testing.assert_array_equal(table, expected)


def test_draws_from_kept_blocks_are_the_draws_from_fresh_ones():
    # multiple_impute completes one data set many times from its kept row
    # blocks (and standardised once); the draws must be those of a fresh
    # pass, bit for bit, call after call (the stream runs on), with several
    # chunks per pattern group and a categorical column.
    rng = np.random.RandomState(1)
    X = _data(n=400, seed=2, p=0.3)
    codes = rng.randint(3, size=(len(X), 1))
    codes[rng.uniform(size=len(X)) < 0.2] = -1
    data = EMData.build(X, codes=codes, n_categories=(3,))
    scaling = Scaling.fit(data)
    model = run_em(
        data, EMConfig(n_components=2, standardise=True, random_state=0)
    ).params
    scaled = scaling.apply(data)
    fresh, kept = np.random.RandomState(7), np.random.RandomState(7)
    for _ in range(3):
        expected = complete(
            data, model, scaling=scaling, random_state=fresh, chunk_size=64
        )
        actual = complete(
            data,
            model,
            scaling=scaling,
            random_state=kept,
            chunk_size=64,
            keep_blocks=True,
            scaled_data=scaled,
        )
        np.testing.assert_array_equal(actual.numeric, expected.numeric)
        np.testing.assert_array_equal(actual.codes, expected.codes)
    assert scaled.block_memo._groups


def test_posterior_chain_is_one_chain_thinned(monkeypatch):
    # The first draw is the chain after its burn-in, the next one `thin`
    # steps later: the same stream through posterior_params with that many
    # steps gives each of them, bit for bit (one chain, not restarts). Each
    # draw comes with the holes drawn given it: the stream's next I-step.
    # Every step draws its holes row by row here, as the recorded I-steps
    # do (a step that records no table sums runs of a pattern in
    # distribution: other numbers from the stream).
    monkeypatch.setattr(
        _chain,
        "_augmentation",
        lambda data, params: OneGaussianAugmentation(
            data, params.gaussian.means[0], sum_runs=False
        ),
    )
    X = _data()
    _, data, params, config = _fitted(X)
    chain = posterior_chain(
        data, params, config.prior, np.random.RandomState(0), burn_in=3, thin=2
    )
    drawn = [(params, holes.numeric) for params, holes in (next(chain), next(chain))]
    chain.close()
    (first, first_holes), (second, second_holes) = drawn
    for draw, holes, steps in ((first, first_holes, 3), (second, second_holes, 5)):
        stream = np.random.RandomState(0)
        expected = posterior_params(data, params, config.prior, stream, n_steps=steps)
        np.testing.assert_array_equal(_vector(draw), _vector(expected))
        expected_holes = complete(data, expected, random_state=stream)
        # The same draws; the compiled steps of one Gaussian round the
        # conditional means in another order (values of order 1).
        np.testing.assert_allclose(holes, expected_holes.numeric, rtol=0, atol=1e-13)
        np.testing.assert_array_equal(holes[~data.mask], data.numeric[~data.mask])
    assert not np.array_equal(_vector(first), _vector(second))
    assert not data.block_memo._groups


def test_multiple_impute_keeps_the_input_type():
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    X = _data(n=60)
    frame = pd.DataFrame(X, columns=["a", "b", "c"], index=np.arange(100, 160))
    tables = multiple_impute(frame, 2, random_state=0)
    assert isinstance(tables[0], pd.DataFrame)
    assert list(tables[0].columns) == ["a", "b", "c"]
    assert list(tables[0].index) == list(frame.index)
    polars_tables = multiple_impute(pl.from_pandas(frame), 2, random_state=0)
    assert isinstance(polars_tables[0], pl.DataFrame)
    np.testing.assert_array_equal(polars_tables[0].to_numpy(), tables[0].to_numpy())


def test_multiple_impute_mixed_table_posterior():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    n = 120
    group = rng.choice(["a", "b"], size=n)
    x = rng.normal(size=n) + (group == "a") * 3.0
    frame = pd.DataFrame({"g": pd.Categorical(group), "x": x})
    frame.loc[rng.uniform(size=n) < 0.2, "x"] = np.nan
    frame.loc[rng.uniform(size=n) < 0.2, "g"] = np.nan
    tables = multiple_impute(
        frame, 2, imputer=EMImputer(n_components=2), method="posterior", random_state=0
    )
    assert tables[0]["g"].dtype == "category"
    assert not tables[0].isna().any().any()


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_category_probabilities_keep_the_maximum_likelihood_fit(method):
    # Documented: the fitted attributes, predict_category_proba and score
    # keep the maximum-likelihood fit; only transform draws parameters.
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(1)
    n = 150
    group = rng.choice(["a", "b"], size=n)
    frame = pd.DataFrame(
        {"g": pd.Categorical(group), "x": rng.normal(size=n) + (group == "a") * 3.0}
    )
    frame.loc[rng.uniform(size=n) < 0.3, "g"] = np.nan
    expected = EMImputer(n_components=2, random_state=0).fit(frame)
    expected = expected.predict_category_proba(frame)[0]
    imputer = EMImputer(
        n_components=2,
        random_state=0,
        sample_posterior=True,
        parameter_uncertainty=method,
    ).fit(frame)
    for seed in (0, 1):  # whatever the seed of the draws, no refit
        imputer.set_params(random_state=seed)
        np.testing.assert_array_equal(
            imputer.predict_category_proba(frame)[0], expected
        )


def test_transform_with_parameter_uncertainty_semantics():
    X = _data()
    imputer = EMImputer(
        sample_posterior=True, parameter_uncertainty=True, random_state=0
    ).fit(X)
    # An int seed restarts the stream at every call: the same imputation.
    np.testing.assert_array_equal(imputer.transform(X), imputer.transform(X))
    stream = EMImputer(
        sample_posterior=True,
        parameter_uncertainty="posterior",
        random_state=np.random.RandomState(0),
    ).fit(X)
    assert not np.array_equal(stream.transform(X), stream.transform(X))


def test_bad_input_is_named():
    X = _data()
    with pytest.raises(ValueError, match="n_imputations must be an integer >= 2"):
        multiple_impute(X, 1)
    with pytest.raises(ValueError, match="method must be one of"):
        multiple_impute(X, 2, method="jackknife")
    with pytest.raises(TypeError, match="imputer must be an EMImputer"):
        multiple_impute(X, 2, imputer=object())
    with pytest.raises(ValueError, match="needs sample_posterior=True"):
        EMImputer(parameter_uncertainty=True).fit(X)
    # Also where nothing is observed (it fitted), and before the refit's
    # data reset a fitted imputer's state (it kept the old model with the
    # new number of features).
    with pytest.raises(ValueError, match="needs sample_posterior=True"):
        EMImputer(parameter_uncertainty=True).fit(np.full((5, 2), np.nan))
    fitted = EMImputer().fit(X)
    with pytest.raises(ValueError, match="needs sample_posterior=True"):
        fitted.set_params(parameter_uncertainty=True).fit(X[:, :2])
    assert fitted.n_features_in_ == X.shape[1]


@pytest.mark.parametrize("n_components", [1, 3, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_component_moments_are_the_weighted_textbook_ones(n_components, weighted):
    # Against numpy's weighted mean and np.cov(..., aweights, ddof=0) times
    # the weight, per component (the 4th is empty: counts, means and
    # scatter 0). Off-centre values (mean 10) check the centring; 1e-10
    # relative is rounding of sums over 500 rows (measured: 1e-14).
    rng = np.random.RandomState(4)
    values = 3.0 * rng.normal(size=(500, 4)) + 10.0
    labels = rng.randint(min(n_components, 3), size=500)
    weights = rng.poisson(1.0, size=500).astype(float) if weighted else None
    counts, means, scatter = component_moments(values, labels, n_components, weights)
    for k in range(n_components):
        rows = labels == k
        w = np.ones(rows.sum()) if weights is None else weights[rows]
        if w.sum() == 0:
            assert counts[k] == 0 and not means[k].any() and not scatter[k].any()
            continue
        np.testing.assert_allclose(counts[k], w.sum(), rtol=1e-12)
        mean = np.average(values[rows], axis=0, weights=w)
        np.testing.assert_allclose(means[k], mean, rtol=1e-10)
        cov = np.cov(values[rows], rowvar=False, aweights=w, ddof=0) * w.sum()
        np.testing.assert_allclose(scatter[k], cov, rtol=1e-10)


def test_inverse_wishart_mean():
    # E[IW(df, S)] = S / (df - d - 1). 20000 draws: each entry's Monte Carlo
    # standard error is below 1.5% of the diagonal here; 5% is > 3 of them.
    rng = np.random.RandomState(0)
    scale = np.array([[2.0, 0.5], [0.5, 1.0]])
    df = 12.0
    numbers = _bartlett_draws(np.full(20000, df), 2, rng)
    draws, factors = _inverse_wishart(np.broadcast_to(scale, (20000, 2, 2)), *numbers)
    # Each factor C is a square root of its draw (the means are drawn with it).
    np.testing.assert_allclose(
        factors @ np.swapaxes(factors, -1, -2), draws, rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(draws.mean(axis=0), scale / (df - 3), atol=0.05 * 0.22)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_compiled_dense_draw_is_the_numpy_draw(covariance_type, monkeypatch):
    # One dense Gaussian's P-step runs compiled; the numpy arithmetic on the
    # same numbers from the stream is its reference (rounding only: sums of
    # a few products of order-one entries, 1e-12 relative).
    rng = np.random.RandomState(0)
    values = rng.normal(size=(40, 4)) @ rng.normal(size=(4, 4))
    moments = component_moments(values, np.zeros(40, dtype=np.intp), 1)
    family = MixtureParams.from_covariances(
        np.ones(1),
        moments[1],
        {"full": np.eye(4)[None], "tied": np.eye(4)}[covariance_type],
        covariance_type,
    ).gaussian

    def draw():
        stream = np.random.RandomState(3)
        drawn = family.draw_from_moments(*moments, 1e-6, stream)
        return drawn, stream.uniform()

    fast, fast_next = draw()
    monkeypatch.setattr(_gaussian, "use_fused", lambda engine="auto": False)
    slow, slow_next = draw()
    assert fast_next == slow_next  # the same numbers taken from the stream
    for name in ("means", "covariances", "precisions_cholesky"):
        np.testing.assert_allclose(
            getattr(fast, name), getattr(slow, name), rtol=1e-12, atol=1e-14
        )


def _one_standard_gaussian(covariance_type):
    """One component, N(0, I) in two features, in the covariance type's shape."""
    covariances = {
        "full": np.eye(2)[None],
        "tied": np.eye(2),
        "diag": np.ones((1, 2)),
        "spherical": np.ones(1),
    }[covariance_type]
    return MixtureParams.from_covariances(
        np.ones(1), np.zeros((1, 2)), covariances, covariance_type
    )


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_posterior_draw_centred_on_complete_data_estimates(covariance_type):
    # Complete data, one component: mu | X ~ N(xbar, S / n) and S | X is
    # inverse-Wishart (or scaled inverse chi-square) with mean close to the
    # sample covariance. The mean of 2000 draws of mu is within
    # 4 sqrt(var/(n 2000)) of xbar.
    rng = np.random.RandomState(1)
    n = 200
    X = rng.multivariate_normal([0.0, 1.0], [[1.0, 0.5], [0.5, 2.0]], size=n)
    form = covariance_form(covariance_type)
    params = _one_standard_gaussian(covariance_type)
    codes = np.empty((n, 0), dtype=np.intp)
    draws = [
        draw_params(params, X, codes, (), Prior(reg_covar=0.0), rng)
        for _ in range(2000)
    ]
    means = np.array([d.means[0] for d in draws])
    xbar = X.mean(axis=0)
    var = X.var(axis=0)
    assert np.all(np.abs(means.mean(axis=0) - xbar) < 4 * np.sqrt(var / n / 2000))
    # The spread of the drawn means is that of xbar: var / n (to 10%, the
    # Monte Carlo error of a variance from 2000 draws being ~3%; the
    # covariance's draw adds n / (n - d - 2) ~ 2%).
    # A spherical model has one variance for both features.
    expected = var if covariance_type != "spherical" else np.full(2, var.mean())
    np.testing.assert_allclose(means.var(axis=0), expected / n, rtol=0.1)
    variances = np.array(
        [form.variances(d.covariances, 2)[0] for d in draws]
        if not form.dense
        else [np.diag(form.dense_stack(d.covariances, 1)[0]) for d in draws]
    )
    np.testing.assert_allclose(variances.mean(axis=0), expected, rtol=0.05)


def test_posterior_draw_of_a_mixture_with_categories():
    rng = np.random.RandomState(0)
    n = 300
    labels = rng.randint(2, size=n)
    numeric = rng.normal(size=(n, 2)) + labels[:, None] * 4.0
    codes = np.where(
        rng.uniform(size=(n, 1)) < 0.9, labels[:, None], 1 - labels[:, None]
    )
    data = EMData.build(numeric, codes=codes, n_categories=(2,))
    params = MixtureParams.from_covariances(
        np.array([0.5, 0.5]),
        np.array([[0.0, 0.0], [4.0, 4.0]]),
        np.broadcast_to(np.eye(2), (2, 2, 2)).copy(),
        "full",
    )
    params = MixtureParams(
        params.weights,
        params.families + (CategoricalFamily((np.array([[0.9, 0.1], [0.1, 0.9]]),)),),
    )
    drawn = draw_params(params, data.numeric, data.codes, (2,), Prior(), rng)
    assert drawn.weights.sum() == pytest.approx(1.0)
    # Components stay where the data put them (no label switching from a
    # well-separated start), category probabilities stay near 0.9.
    assert np.all(np.abs(drawn.means - [[0.0, 0.0], [4.0, 4.0]]) < 0.5)
    probabilities = drawn.categorical.probabilities[0]
    assert probabilities[0, 0] > 0.8 and probabilities[1, 1] > 0.8


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_posterior_draw_counts_weights_as_repeated_rows(covariance_type):
    # One component, so no component is drawn per row: the P-step then
    # consumes the same random numbers for the weighted rows as for the rows
    # repeated, and draws the same parameters (counts, means and scatter
    # equal to rounding of sums over ~300 rows).
    rng = np.random.RandomState(0)
    n = 120
    numeric = rng.multivariate_normal([0.0, 1.0], [[1.0, 0.3], [0.3, 2.0]], size=n)
    codes = rng.randint(3, size=(n, 1))
    weights = rng.randint(0, 5, size=n)
    gaussian = _one_standard_gaussian(covariance_type)
    params = MixtureParams(
        gaussian.weights,
        gaussian.families + (CategoricalFamily((np.full((1, 3), 1 / 3),)),),
    )
    weighted = draw_params(
        params,
        numeric,
        codes,
        (3,),
        Prior(),
        np.random.RandomState(7),
        weights=weights.astype(float),
    )
    repeated = draw_params(
        params,
        np.repeat(numeric, weights, axis=0),
        np.repeat(codes, weights, axis=0),
        (3,),
        Prior(),
        np.random.RandomState(7),
    )
    np.testing.assert_allclose(weighted.means, repeated.means, rtol=1e-12)
    np.testing.assert_allclose(
        weighted.gaussian.covariances, repeated.gaussian.covariances, rtol=1e-12
    )
    np.testing.assert_allclose(
        weighted.categorical.probabilities[0],
        repeated.categorical.probabilities[0],
        rtol=1e-12,
    )


def test_refit_warnings_point_at_the_callers_line():
    # A bootstrap refit runs inside joblib (in this process at n_jobs=None):
    # its warning names the line that called multiple_impute, not a line
    # of joblib's.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        multiple_impute(_data(), 2, imputer=EMImputer(max_iter=2), random_state=0)
    refits = [w for w in caught if "bootstrap refit" in str(w.message)]
    assert refits
    assert {w.filename for w in refits} == {__file__}


def test_bootstrap_counts_draw_a_weighted_row_as_its_copies():
    # A bootstrap of the copies draws sum(w) copies uniformly: each row's
    # count is multinomial with probability w / sum(w), mean w and variance
    # sum(w) p (1 - p). Drawing rows uniformly and multiplying by w (as
    # before) has mean w too but variance w^2 (1 - 1/n): parameter draws
    # sqrt(w) too wide at w = 10. Over 4000 draws the mean is within 4
    # standard errors and the variance within 10% (its relative standard
    # error is about 2.3%).
    weights = np.array([10.0, 10.0, 0.0, 3.0, 7.0, 10.0])
    data = EMData.build(np.arange(12.0).reshape(6, 2), sample_weight=weights)
    rng = np.random.RandomState(0)
    counts = np.array([bootstrap_counts(data, rng) for _ in range(4000)])
    assert (counts.sum(axis=1) == weights.sum()).all()
    assert not counts[:, 2].any()
    p = weights / weights.sum()
    variance = weights.sum() * p * (1 - p)
    np.testing.assert_array_less(
        np.abs(counts.mean(axis=0) - weights), 4 * np.sqrt(variance / 4000) + 1e-12
    )
    kept = weights > 0
    np.testing.assert_allclose(counts.var(axis=0)[kept], variance[kept], rtol=0.1)


def test_bootstrap_of_weights_that_count_no_copies():
    # Weights that are not all whole numbers (survey weights, weights
    # normalised to sum to 1) count no copies: the rows of positive weight
    # are drawn uniformly, as many as there are, each keeping its weight
    # times its count. So the draws do not depend on the weights' scale:
    # with the same stream, weights scaled by 1/1000 draw the same rows.
    weights = np.array([2.5, 0.5, 0.0, 1.0, 3.0, 1.5])
    data = EMData.build(np.arange(12.0).reshape(6, 2), sample_weight=weights)
    scaled = EMData.build(np.arange(12.0).reshape(6, 2), sample_weight=weights / 1e3)
    counts = bootstrap_counts(data, np.random.RandomState(3))
    np.testing.assert_allclose(
        bootstrap_counts(scaled, np.random.RandomState(3)), counts / 1e3, rtol=1e-15
    )
    rng = np.random.RandomState(0)
    draws = np.array([bootstrap_counts(data, rng) for _ in range(4000)])
    assert not draws[:, 2].any()
    kept = weights > 0
    times = draws[:, kept] / weights[kept]
    # Whole numbers of draws of 5 rows, 5 in all: each row's count is
    # binomial(5, 1/5), mean 1 and variance 0.8; over 4000 draws the means
    # within 4 standard errors (0.057), the variances within 10% (their
    # relative standard error is about 2.6%).
    np.testing.assert_allclose(times, np.round(times), rtol=0, atol=1e-12)
    assert (times.sum(axis=1) == kept.sum()).all()
    np.testing.assert_array_less(
        np.abs(times.mean(axis=0) - 1.0), 4 * np.sqrt(0.8 / 4000)
    )
    np.testing.assert_allclose(times.var(axis=0), 0.8, rtol=0.1)


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_parameter_draws_do_not_depend_on_the_scale_of_survey_weights(method):
    # The fit does not depend on the weights' scale, nor should its
    # parameter draws: weights summing to 1 once made bootstrap samples of
    # a single row (imputations of 400 on unit-variance data), and
    # posterior draws as from one row (a pooled standard error twice the
    # unweighted one). Scaled weights give the same imputations up to the
    # rounding of sums taken on another scale through the refits or the
    # chain (1e-8 on values of order 1; measured 1e-13), in a transform
    # and in multiple_impute's chain alike.
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal([0.0, 0.0, 0.0], np.eye(3) + 0.5, size=120)
    X[rng.random(X.shape) < 0.25] = np.nan
    weights = rng.uniform(0.5, 2.0, size=len(X))
    options = dict(sample_posterior=True, parameter_uncertainty=method)
    draws, tables = [], []
    for scale in (1.0, 1.0 / weights.sum()):
        imputer = EMImputer(random_state=0, **options)
        draws.append(imputer.fit(X, sample_weight=weights * scale).transform(X))
        tables.append(
            multiple_impute(
                X, 3, method=method, random_state=0, sample_weight=weights * scale
            )
        )
    np.testing.assert_allclose(draws[1], draws[0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(tables[1], tables[0], rtol=0, atol=1e-8)
    assert np.abs(draws[0][np.isnan(X)]).max() < 6.0


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_auto_components_draw_under_the_prior_they_were_fit_with(method):
    # 'auto' fits MAP-EM (prior='default'): its parameter draws refit (or
    # augment) under that prior and the chosen number of components, as an
    # imputer given both explicitly (they were maximum-likelihood refits).
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal([0.0, 0.0, 0.0], np.eye(3) + 0.5, size=150)
    X[rng.random(X.shape) < 0.2] = np.nan
    options = dict(sample_posterior=True, parameter_uncertainty=method)
    auto = EMImputer(n_components="auto", random_state=0, **options).fit(X)
    explicit = EMImputer(
        n_components=auto.n_components_, prior="default", random_state=0, **options
    ).fit(X)
    np.testing.assert_array_equal(auto.means_, explicit.means_)
    np.testing.assert_array_equal(auto.transform(X), explicit.transform(X))
    tables = [
        multiple_impute(X, 3, imputer=imputer, method=method, random_state=1)
        for imputer in (auto, explicit)
    ]
    for a, b in zip(*tables, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bootstrap_refits_read_a_user_prior_in_the_data_units():
    # The fit converts a ConjugatePrior's mean from the data's units to the
    # standardised ones it runs in; the bootstrap refits, on the same
    # standardised data, read it unconverted (a mean of 100 as 100
    # standard deviations): their means were 2.4 and 4.7 sd from the fit's.
    from emimpute import ConjugatePrior

    rng = np.random.default_rng(0)
    X = rng.multivariate_normal([100.0, 200.0], [[25.0, 20.0], [20.0, 25.0]], 200)
    X[rng.random(200) < 0.3, 1] = np.nan
    prior = ConjugatePrior(mean=[100.0, 200.0], shrinkage=5.0)
    imputer = EMImputer(
        prior=prior, sample_posterior=True, parameter_uncertainty="bootstrap"
    ).fit(X)
    fitted = imputer._params.gaussian.means
    draws = np.array(
        [
            imputer._draw_parameters(np.random.RandomState(seed)).gaussian.means
            for seed in range(20)
        ]
    )
    # A bootstrap mean of 200 rows is about 0.07 sd from the fit's; 0.3 sd
    # is over 4 of its standard errors.
    assert np.abs(draws - fitted).max() < 0.3
    assert np.abs(draws.mean(axis=0) - fitted).max() < 0.05


@pytest.mark.parametrize("n_components", [1, 2])
def test_posterior_draws_with_whole_weights_are_those_of_the_repeated_rows(
    n_components,
):
    # A row of whole weight w is w copies, each drawn on its own: the
    # parameter draws equal those of the rows repeated (the same rows with
    # holes, in the same order, from the same stream). They shared one draw
    # weighted by w, which made the drawn mean of a half-missing column
    # 1.8 times too variable at w = 4. 1e-12 leaves room for sums taken
    # over weighted rows instead of their copies.
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal([0.0, 0.0, 0.0], np.eye(3) * 0.7 + 0.3, size=60)
    X[rng.random(len(X)) < 0.5, 0] = np.nan
    weights = rng.integers(1, 5, size=len(X))
    options = dict(
        n_components=n_components,
        sample_posterior=True,
        parameter_uncertainty="posterior",
        random_state=0,
    )
    weighted = EMImputer(**options).fit(X, sample_weight=weights)
    repeated = EMImputer(**options).fit(np.repeat(X, weights, axis=0))
    streams = np.random.RandomState(1), np.random.RandomState(1)
    for _ in range(3):
        a = weighted._draw_parameters(streams[0]).gaussian
        b = repeated._draw_parameters(streams[1]).gaussian
        np.testing.assert_allclose(a.means, b.means, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.covariances, b.covariances, rtol=0, atol=1e-12)
    # Weights that count no copies are drawn once per row, unchanged.
    data = weighted._fit_data
    survey = replace(data, sample_weight=data.sample_weight * 0.5)
    assert _chain._drawn_rows_as_copies(survey, weighted._params) is survey


def test_posterior_copies_beyond_memory_warn(monkeypatch):
    monkeypatch.setattr(_chain, "MAX_COPY_CELLS", 10)
    X = np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 0.5], [2.0, 2.5]])
    imputer = EMImputer(sample_posterior=True, parameter_uncertainty="posterior")
    imputer.fit(X, sample_weight=[1, 20, 1, 1])
    with pytest.warns(UserWarning, match="parameter_uncertainty='bootstrap'"):
        imputer.transform(X)


def test_indicator_columns_are_named_after_the_input_columns():
    # Columns named by integers come back as given, and so do the missing
    # indicators' names (they said missingindicator_x0 beside a column 10).
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=[10, 20, 30])
    X.iloc[::5, 0] = np.nan
    X.iloc[1::7, 2] = np.nan
    tables = multiple_impute(
        X, 2, imputer=EMImputer(add_indicator=True), random_state=0
    )
    expected = [10, 20, 30, "missingindicator_10", "missingindicator_30"]
    for table in tables:
        assert list(table.columns) == expected


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_parameter_uncertainty_set_after_fit_says_to_refit(method):
    # The draws need the training data, kept only by a fit with the option
    # set: a bare AttributeError on None before.
    X = np.random.default_rng(0).normal(size=(30, 3))
    X[::4, 1] = np.nan
    imputer = EMImputer(sample_posterior=True, random_state=0).fit(X)
    imputer.set_params(parameter_uncertainty=method)
    with pytest.raises(ValueError, match="set after fit.*Call fit again"):
        imputer.transform(X)


def test_tables_are_of_the_input_kind_whatever_the_global_output():
    # scikit-learn's set_config(transform_output='pandas') made DataFrames
    # named x0, x1, ... of a numpy input; the docstring promises tables of
    # the input's kind (and fit_and_pool(target=0) then failed).
    from sklearn import config_context

    X = np.random.default_rng(0).normal(size=(30, 3))
    X[::4, 1] = np.nan
    with config_context(transform_output="pandas"):
        tables = multiple_impute(X, 2, random_state=0)
    assert all(isinstance(table, np.ndarray) for table in tables)


def test_posterior_copies_include_rows_whose_only_hole_is_a_category():
    # data.mask covers the numeric columns: a row whose only hole was its
    # category was drawn once and weighed by w, 1.2 times too wide. Its
    # copies are drawn on their own now, as the repeated rows' are.
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {"x": rng.normal(size=n), "c": pd.Categorical(rng.choice(["a", "b"], size=n))}
    )
    frame.loc[::3, "c"] = np.nan
    weights = rng.integers(1, 5, size=n)
    options = dict(sample_posterior=True, parameter_uncertainty="posterior")
    weighted = EMImputer(random_state=0, **options).fit(frame, sample_weight=weights)
    repeated = EMImputer(random_state=0, **options).fit(
        frame.loc[frame.index.repeat(weights)].reset_index(drop=True)
    )
    streams = np.random.RandomState(1), np.random.RandomState(1)
    for _ in range(3):
        a = weighted._draw_parameters(streams[0]).categorical.probabilities[0]
        b = repeated._draw_parameters(streams[1]).categorical.probabilities[0]
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_weights_a_few_ulps_off_whole_still_count_copies():
    # Counts divided by their sum and multiplied back land an ulp off in a
    # fifth of the rows: still copies (they were read as survey weights and
    # the bootstrap draws doubled in spread); a real fraction is not.
    from emimpute._em._data import weights_count_copies

    counts = np.random.default_rng(0).integers(1, 8, size=200).astype(float)
    rescaled = counts / counts.sum() * counts.sum()
    assert not np.array_equal(rescaled, counts)
    assert weights_count_copies(rescaled)
    assert not weights_count_copies(counts + 1e-6)


def test_tiny_weights_are_fractions_not_zero_copies():
    # A positive weight that rounds to 0 (1e-10) counted as a whole number
    # of copies (0) under the ulp tolerance, and the bootstrap drew one row.
    from emimpute._em._data import weights_count_copies

    assert not weights_count_copies(np.full(5, 1e-10))
    assert weights_count_copies(np.array([0.0, 1.0, 3.0]))


def test_em_rate_reads_the_late_ratio_of_gains_above_rounding():
    # An objective closing its gap as rate**(2 t) (EM near its maximum):
    # the square root of the ratio of successive gains is the rate, to the
    # rounding of the differences (1e-12 at gains of 1e-6 of the values).
    rate = 0.8
    values = -1.0 - 0.5 * rate ** (2 * np.arange(12))
    assert _chain.em_rate(values) == pytest.approx(rate, rel=1e-10)
    # Gains below RATE_ROUNDING of the objective are skipped, not read.
    flat = np.concatenate([values, values[-1] + np.array([1e-14, 1e-14, 3e-15])])
    assert _chain.em_rate(flat) == pytest.approx(rate, rel=1e-10)
    assert _chain.em_rate(values[:2]) is None
    assert _chain.em_rate(np.full(5, -1.0)) is None


def _mostly_missing(rate, seed=0, n=200):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    X[rng.random(n) < rate, 0] = np.nan
    return X


def test_posterior_chain_thins_by_the_fraction_of_missing_information():
    # With 85% of a column missing (fmi about 0.9), five steps between draws
    # left neighbouring imputations correlated by 0.43 (600 draws), the
    # between-imputation variance 0.69 of the bootstrap's and the intervals
    # of the column's mean covering 86% (300 data sets; 96% after). The
    # chain now takes as many steps as bring fmi**t to 0.08, fmi read from
    # EM run on from the fit; with little missing, the fixed 10 and 5.
    X = _mostly_missing(0.85)
    imputer = EMImputer(sample_posterior=True, parameter_uncertainty="posterior")
    plan = imputer.fit(X)._chain_plan
    # EM's late rate, read from a fit run until its gains are rounding (the
    # rate does not depend on the units, which the imputer standardises).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        history = EMMixture(1, tol=0.0, max_iter=2000).fit(X).lower_bounds_
    assert plan.rate == pytest.approx(_chain.em_rate(history), abs=0.01)
    assert plan.rate > 0.9
    assert plan.rate**plan.thin <= _chain.POSTERIOR_LAG_CORRELATION
    assert plan.burn_in == plan.thin > 20
    # The draws' neighbours: their correlation, about 0.08 by the plan (its
    # standard error over 300 draws 0.06), was 0.43 five steps apart.
    chain = _chain.posterior_chain(
        imputer._fit_data,
        plan.start,
        imputer._fitted_config().prior,
        np.random.RandomState(1),
        burn_in=plan.burn_in,
        thin=plan.thin,
    )
    holes = np.isnan(X[:, 0])
    means = np.array(
        [
            completion.numeric[holes, 0].mean()
            for _, (_, completion) in zip(range(300), chain, strict=False)
        ]
    )
    chain.close()
    means -= means.mean()
    assert means[:-1] @ means[1:] / (means @ means) < 0.25
    few = EMImputer(sample_posterior=True, parameter_uncertainty="posterior")
    plan = few.fit(_mostly_missing(0.2))._chain_plan
    assert (plan.burn_in, plan.thin) == (
        _chain.POSTERIOR_STEPS,
        _chain.POSTERIOR_THIN,
    )
    # Read on three steps of EM from the fit (its start), below 0.5.
    assert plan.rate < _chain.RATE_CHECKED_FROM


@pytest.mark.parametrize("rate_missing", [0.2, 0.85])
def test_the_rate_probe_on_pattern_sums_is_the_probe_on_rows(rate_missing, monkeypatch):
    # With one Gaussian the probe's EM steps run on the per-pattern sums of
    # the rows; the row-block E-step is the reference: the same map, so the
    # same steps and the same rate but for rounding (sums of a few hundred
    # terms of order 1 in another order: 1e-12 relative on the parameters,
    # whose ratios of step sizes then agree to 1e-6 after up to 200 steps
    # whose sizes fall to 1e-9 of the parameters').
    X = _mostly_missing(rate_missing)
    X[:5, 1] = np.nan  # a second pattern with holes
    imputer = EMImputer(
        sample_posterior=True, parameter_uncertainty="posterior", random_state=0
    ).fit(X)
    config = imputer._fitted_config()
    data, params = imputer._fit_data, imputer._params
    # Resolved as chain_plan resolves it.
    config = replace(
        config, prior=config.prior.resolve(data, 1, config.form, imputer._scaling)
    )
    assert _pattern_sums.supports(data, params, config.prior)
    fast, fast_rate = _chain._late_rate(data, params, config)
    monkeypatch.setattr(_pattern_sums, "supports", lambda *args: False)
    slow, slow_rate = _chain._late_rate(data, params, config)
    assert fast_rate == pytest.approx(slow_rate, rel=1e-6)
    np.testing.assert_allclose(_vector(fast), _vector(slow), rtol=1e-9, atol=1e-12)


def test_a_chain_too_slow_to_thin_warns_and_names_the_bootstrap(monkeypatch):
    monkeypatch.setattr(_chain, "POSTERIOR_MAX_THIN", 10)
    X = _mostly_missing(0.85)
    with pytest.warns(UserWarning, match="method='bootstrap'"):
        tables = multiple_impute(X, 3, method="posterior", random_state=0)
    assert len(tables) == 3


@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_a_mixture_chain_keeps_the_fixed_lengths(missing):
    # Two overlapping clusters: EM's rate (0.996 on complete rows) measures
    # how uncertain the rows' components are, not the holes' missing
    # information; read as fmi it gave 200 steps between draws, a warning
    # on complete data, or (a gain rising at the last step, rate 1) a
    # ZeroDivisionError.
    rng = np.random.RandomState(3)
    X = np.vstack([rng.randn(200, 2), rng.randn(200, 2) + [1.0, 0.5]])
    X[rng.rand(*X.shape) < missing] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        imputer = EMImputer(
            n_components=2,
            sample_posterior=True,
            parameter_uncertainty="posterior",
            random_state=3,
        ).fit(X)
        tables = multiple_impute(
            X,
            3,
            method="posterior",
            imputer=EMImputer(n_components=2, random_state=3),
            random_state=3,
        )
    plan = imputer._chain_plan
    assert (plan.burn_in, plan.thin, plan.rate) == (
        _chain.POSTERIOR_STEPS,
        _chain.POSTERIOR_THIN,
        None,
    )
    assert plan.start is imputer._params
    assert len(tables) == 3


def test_complete_data_keeps_the_fixed_chain_lengths():
    X = np.random.RandomState(0).randn(100, 3)
    plan = (
        EMImputer(sample_posterior=True, parameter_uncertainty="posterior")
        .fit(X)
        ._chain_plan
    )
    assert (plan.burn_in, plan.thin, plan.rate) == (10, 5, None)


@pytest.mark.parametrize(
    "settings, tolerance",
    [
        ({"reg_covar": 1e-2}, 0.01),
        ({"reg_covar": 1e-2, "tol": 1e-8}, 0.01),
        ({"max_iter": 2}, 0.01),
        ({"reg_covar": 0.2}, 0.05),
        ({"reg_covar": 0.5}, 0.05),
    ],
)
def test_the_chain_reads_the_rate_from_em_steps_whatever_the_fit(settings, tolerance):
    # With reg_covar, EM's end point is no maximum of the objective: its
    # gains head for a change of sign, and read 0.29 for a rate of 0.88 at
    # reg_covar=0.2, 0.02 for 0.92 at reg_covar=0.01 with tol=1e-8 (5 steps
    # between draws correlated by 0.6; at 0.5 all gains were negative). A
    # fit stopped after two iterations gave no reading either. The rate is
    # read from the parameters' steps of EM run on: here 0.921 by default,
    # 0.915 at reg_covar=0.01; a ridge of 0.2-0.5 (in standardised units)
    # makes EM's map itself faster, 0.880, which the steps read.
    X = _mostly_missing(0.85)
    reference = EMImputer(sample_posterior=True, parameter_uncertainty="posterior")
    rate = reference.fit(X)._chain_plan.rate
    imputer = EMImputer(
        sample_posterior=True, parameter_uncertainty="posterior", **settings
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plan = imputer.fit(X)._chain_plan
    assert plan.rate == pytest.approx(rate, abs=tolerance)
    assert plan.thin >= 20


def test_an_imputer_pickled_before_the_plan_draws_and_pools():
    # Pickles of the last version lack the fit's history and plan, and a
    # pooled result its variance_form: the plan is worked out from the fit
    # alone, the form from the within-imputation covariance.
    X = _mostly_missing(0.5)
    imputer = EMImputer(
        sample_posterior=True, parameter_uncertainty="posterior", random_state=0
    ).fit(X)
    for name in ("_fit_history", "_chain_plan"):
        del imputer.__dict__[name]
    assert np.isfinite(imputer.transform(X)).all()
    assert imputer._chain_plan.thin >= _chain.POSTERIOR_THIN
    from emimpute import pool

    covariances = [[[0.04, 0.01], [0.01, 0.02]]] * 3
    result = pool([[1.0, 0.5], [1.4, 0.3], [1.1, 0.6]], covariances)
    expected = result.wald_test([0, 1])
    state = dict(result.__dict__)
    del state["variance_form"]
    restored = object.__new__(type(result))
    restored.__setstate__(state)
    assert restored.variance_form == "covariance"
    assert restored.wald_test([0, 1]) == expected
    diagonal = pool([[1.0, 0.5], [1.4, 0.3], [1.1, 0.6]], [[0.04, 0.02]] * 3)
    state = dict(diagonal.__dict__)
    del state["variance_form"]
    restored = object.__new__(type(diagonal))
    restored.__setstate__(state)
    assert restored.variance_form == "variance"
    with pytest.raises(ValueError, match="covariance matrix"):
        restored.wald_test([0, 1])


def test_a_subclass_fit_is_honoured():
    # multiple_impute fits its clone keeping the data it read; an EMImputer
    # subclass that overrides fit gets its own fit called, and the tables
    # are those of the data read again (the same ones).
    calls = []

    class Recording(EMImputer):
        def fit(self, X, y=None, sample_weight=None):
            calls.append(len(X))
            return super().fit(X, y, sample_weight)

    X = _data()
    tables = multiple_impute(X, 2, imputer=Recording(random_state=0), random_state=1)
    assert calls == [len(X)]
    expected = multiple_impute(X, 2, imputer=EMImputer(random_state=0), random_state=1)
    for table, reference in zip(tables, expected, strict=True):
        np.testing.assert_array_equal(table, reference)


def _group_effect_data(n=500, seed=0):
    # The reviewer's example: y = 1 + x + 2 g + e with x = N(0, 1) + g, the
    # binary category g missing completely at random in 30% of the rows.
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    g = rng.random(n) < 0.5
    x = rng.normal(size=n) + g
    y = 1 + x + 2 * g + rng.normal(size=n)
    frame = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(np.where(g, "b", "a"))})
    frame.loc[rng.random(n) < 0.3, "g"] = np.nan
    return frame


def _pooled_group_effect(tables):
    """The coefficient of g in ols(y ~ x + g), pooled by Rubin's rules."""
    estimates, covariances = [], []
    for table in tables:
        design = np.column_stack(
            [np.ones(len(table)), table["x"], (table["g"] == "b").astype(float)]
        )
        beta, *_ = np.linalg.lstsq(design, table["y"].to_numpy(), rcond=None)
        residuals = table["y"].to_numpy() - design @ beta
        sigma2 = residuals @ residuals / (len(table) - 3)
        estimates.append(beta)
        covariances.append(sigma2 * np.linalg.inv(design.T @ design))
    result = pool(estimates, covariances, n_samples=len(tables[0]) - 3)
    return result.estimate[2], result.std_error[2]


def test_default_model_of_categorical_holes_carries_the_association(monkeypatch):
    # With one component g's holes were drawn from its frequencies, whatever
    # x and y say: the pooled effect of g was 1.16 (standard error 0.15),
    # against the true 2. The default takes 'auto' components for a table
    # with categorical holes, which chose 2 and pool 2.03 (0.12). Tolerance:
    # 3 pooled standard errors (the estimate's sampling spread and the
    # imputations' together); one component's estimate is 5.6 of them off.
    frame = _group_effect_data()
    fitted = []
    proper_imputations = _multiple.proper_imputations

    def recording(imputer, *args, **kwargs):
        fitted.append((imputer.n_components, imputer.n_components_))
        return proper_imputations(imputer, *args, **kwargs)

    monkeypatch.setattr(_multiple, "proper_imputations", recording)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no one-component warning
        tables = multiple_impute(frame, 20, random_state=0)
    [(n_components, chosen)] = fitted
    assert n_components == "auto" and chosen > 1
    estimate, std_error = _pooled_group_effect(tables)
    assert abs(estimate - 2.0) < 3 * std_error
    # The tolerance tells the two models apart: one component fails it.
    with pytest.warns(UserWarning, match="one component"):
        tables = multiple_impute(frame, 20, imputer=EMImputer(), random_state=0)
    estimate, std_error = _pooled_group_effect(tables)
    assert estimate < 2.0 - 3 * std_error


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_numeric_default_is_one_gaussian_bit_for_bit(method, monkeypatch):
    # Numeric data take EMImputer() as before: the same tables bit for bit,
    # one fit, and the data not read by the check for categorical holes (a
    # numeric array is judged by its dtype, a frame by its columns' dtypes).
    pd = pytest.importorskip("pandas")
    import emimpute._multiple as multiple

    X = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    fits = []
    fit = EMImputer._fit

    def counting(self, *args, **kwargs):
        fits.append(self.n_components)
        return fit(self, *args, **kwargs)

    expected = multiple_impute(X, 3, imputer=EMImputer(), method=method, random_state=0)
    expected_frames = multiple_impute(
        frame, 3, imputer=EMImputer(), method=method, random_state=0
    )
    monkeypatch.setattr(EMImputer, "_fit", counting)
    with monkeypatch.context() as patch:
        patch.setattr(multiple, "as_table", None)  # a numeric array: not read
        tables = multiple_impute(X, 3, method=method, random_state=0)
    frames = multiple_impute(frame, 3, method=method, random_state=0)
    assert fits == [1, 1]
    for table, reference in zip(tables, expected, strict=True):
        np.testing.assert_array_equal(table, reference)
    for table, reference in zip(frames, expected_frames, strict=True):
        pd.testing.assert_frame_equal(table, reference, check_exact=True)


def test_one_component_with_categorical_holes_warns_and_names_the_columns():
    pd = pytest.importorskip("pandas")
    frame = _group_effect_data(n=120)
    frame["h"] = pd.Categorical(np.where(frame["x"] > 0, "u", "v"))  # complete
    with pytest.warns(UserWarning, match=r"categorical column\(s\) \['g'\]") as record:
        multiple_impute(frame, 2, imputer=EMImputer(n_components=1), random_state=0)
    [warning] = [w for w in record if "one component" in str(w.message)]
    assert "n_components='auto'" in str(warning.message)
    assert "biased towards none" in str(warning.message)
    assert warning.filename == __file__  # the caller's line

    # Also through a subclass's own fit (the mask read again), and named by
    # index for an array without names.
    class Subclass(EMImputer):
        def fit(self, X, y=None, sample_weight=None):
            return super().fit(X, y, sample_weight)

    with pytest.warns(UserWarning, match=r"categorical column\(s\) \[2\]"):
        multiple_impute(frame.to_numpy(), 2, imputer=Subclass(), random_state=0)


def test_no_one_component_warning_without_categorical_holes():
    pd = pytest.importorskip("pandas")
    frame = _group_effect_data(n=120)
    complete = frame.assign(g=pd.Categorical(np.where(frame["x"] > 0, "b", "a")))
    complete.loc[::5, "x"] = np.nan
    only_category = frame[["g"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        multiple_impute(_data(), 2, imputer=EMImputer(n_components=1), random_state=0)
        multiple_impute(complete, 2, imputer=EMImputer(n_components=1), random_state=0)
        # Nothing to be associated with: a lone categorical column.
        multiple_impute(only_category, 2, random_state=0)
    # Complete categorical columns keep the default model, bit for bit.
    default = multiple_impute(complete, 2, random_state=0)
    expected = multiple_impute(complete, 2, imputer=EMImputer(), random_state=0)
    for table, reference in zip(default, expected, strict=True):
        pd.testing.assert_frame_equal(table, reference, check_exact=True)


def test_auto_that_chose_one_component_warns():
    # A category unrelated to the rest: 'auto' keeps one component, and the
    # warning says so (more components, where the association matters).
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "g": pd.Categorical(rng.choice(["a", "b"], size=n)),
        }
    )
    frame.loc[rng.random(n) < 0.3, "g"] = np.nan
    with pytest.warns(UserWarning, match="'auto' chose 1"):
        multiple_impute(frame, 2, random_state=0)


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_multiple_impute_takes_sample_weights(method):
    # 20 rows shifted by 100 in both columns, of weight 0: unweighted they
    # make the fitted slope of column 1 on column 0 about 1 (0.98 and 1.01
    # here), weighted they count for nothing and the imputations follow the
    # other rows' slope, 0.8 (0.80 and 0.77; the slope of 10 tables' imputed
    # cells on their column-0 values, each within about 0.07 of it).
    rng = np.random.RandomState(0)
    X = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], size=200)
    X[:20] += 100
    X[rng.uniform(size=200) < 0.3, 1] = np.nan
    weights = np.r_[np.zeros(20), np.ones(180)]
    holes = np.isnan(X[:, 1]) & (np.arange(200) >= 20)

    def slope(tables):
        return np.mean([np.polyfit(X[holes, 0], t[holes, 1], 1)[0] for t in tables])

    weighted = multiple_impute(
        X, 10, method=method, random_state=0, sample_weight=weights
    )
    unweighted = multiple_impute(X, 10, method=method, random_state=0)
    assert abs(slope(weighted) - 0.8) < 0.1 < abs(slope(unweighted) - 0.8)
    # Reproducible, and the same through a subclass's own fit (X read again
    # with its weights).

    class Subclass(EMImputer):
        def fit(self, X, y=None, sample_weight=None):
            return super().fit(X, y, sample_weight=sample_weight)

    again = multiple_impute(
        X, 10, imputer=Subclass(), method=method, random_state=0, sample_weight=weights
    )
    for a, b in zip(weighted, again, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="sample_weight"):
        multiple_impute(X, 2, random_state=0, sample_weight=weights[:10])


def test_multiple_impute_passes_no_weights_to_a_fit_that_takes_none():
    class NoWeights(EMImputer):
        def fit(self, X, y=None):
            return super().fit(X)

    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 2))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    tables = multiple_impute(X, 2, imputer=NoWeights(), random_state=0)
    expected = multiple_impute(X, 2, random_state=0)
    for a, b in zip(tables, expected, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["bootstrap", "posterior"])
def test_return_imputer_gives_the_fit_the_draws_started_from(method):
    # The same tables with and without it; the imputer is the fit on X
    # (EMImputer's own fit with the seed multiple_impute gave it), set to
    # draw proper imputations.
    X = _data()
    tables = multiple_impute(X, 2, method=method, random_state=3)
    again, imputer = multiple_impute(
        X, 2, method=method, random_state=3, return_imputer=True
    )
    for table, same in zip(tables, again, strict=True):
        np.testing.assert_array_equal(table, same)
    assert imputer.sample_posterior and imputer.parameter_uncertainty == method
    seed = np.random.RandomState(3).randint(np.iinfo(np.int32).max)
    fit = EMImputer(random_state=int(seed)).fit(X)
    np.testing.assert_array_equal(imputer.means_, fit.means_)
    np.testing.assert_array_equal(imputer.covariances_, fit.covariances_)


def test_a_dask_dataframe_is_refused_with_advice_that_works():
    # The estimators' advice for a dask DataFrame (its dask array) is
    # refused here too: only compute() helps.
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    ddf = dd.from_pandas(pd.DataFrame(_data(), columns=list("abc")), npartitions=2)
    with pytest.raises(ValueError, match=r"not a dask DataFrame.*X\.compute\(\)"):
        multiple_impute(ddf, 2)
