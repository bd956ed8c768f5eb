"""Property-based tests of the invariants of RELIABILITY.md (c).

Run with the derandomised "ci" profile by default; set
``EMIMPUTE_HYPOTHESIS_PROFILE=nightly`` for many more, random examples (see
``tests/_strategies.py``). Numbers refer to the properties of section (c):

1. observed cells bit-identical, output finite, documented shape, input not
   mutated;
2. idempotence; a fit on complete data imputes nothing;
3. row-subset and row-permutation invariance of the predict side;
4. column-permutation equivariance of the fit;
6. ``score_samples`` is the marginal density of the observed coordinates
   (scipy oracle);
7. one component: imputations are the closed-form conditional mean;
8. mixtures: imputations are the responsibility-weighted conditional means;
10. without regularisation EM never lowers the objective;
11. probabilities sum to one; ``score``, ``bic`` and ``aic`` formulas;
13. determinism; posterior draws average to the conditional mean.
"""

import copy
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from _reference import dense_covariances
from _strategies import (
    covariance_types,
    float_dtypes,
    masked_data,
    seeds,
    well_posed_data,
)
from hypothesis import assume, given, reject
from hypothesis import strategies as st
from scipy import linalg
from scipy.special import logsumexp

from emimpute import EMImputer, EMMixture

# BLAS and OpenMP limited to one thread (see conftest.single_threaded).
pytestmark = pytest.mark.usefixtures("single_threaded")


EPS = np.finfo(np.float64).eps
LOG_2PI = np.log(2 * np.pi)
VARIANTS = ("plain", "plain", "constant", "duplicates", "empty-row")

# Warnings that generated data may legitimately raise: EM stopped by
# max_iter; k-means finding fewer distinct points than clusters (duplicated
# rows); the convergence monitor's note that the likelihood fell, which
# reg_covar causes by design on zero-variance features (reported as an xfail
# in test_reliability_numerics). Any other warning -- a numpy RuntimeWarning
# from emimpute in particular -- is an error (pyproject.toml).
QUIET = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


def quiet(test):
    for mark in QUIET:
        test = mark(test)
    return test


# The ValueErrors the estimators document for degenerate fits; each says
# what to change (reg_covar, scaling, fewer components, more rows). EMMixture's
# reg_covar is absolute, as GaussianMixture's, so e.g. 3 rows of 3 features at
# scale 1e6 are singular to rounding and raise the first one.
DOCUMENTED_ERRORS = re.compile(
    "ill-defined empirical covariance|rows with an observed value|"
    "Expected n_samples >= n_components"
)


def fit_or_reject(model, X):
    """Fit, or exclude the example if the fit raises a documented error."""
    try:
        return model.fit(X)
    except ValueError as exc:
        assert DOCUMENTED_ERRORS.search(str(exc)), exc
        reject()


def _column_tolerance(data, relative=1e-9):
    """Per-feature absolute tolerance for imputed values.

    ``relative`` of the feature's spread, plus 1e3 ulps of its magnitude:
    with an offset of up to 1e3 on data of spread 1e-6, the data themselves
    carry only ~7 significant digits of their spread, so a sum taken in a
    different order moves results by that much (inherent to float64).
    """
    complete = data.complete.astype(np.float64)
    spread = np.std(complete, axis=0)
    magnitude = np.max(np.abs(complete), axis=0)
    return relative * spread + 1e3 * EPS * magnitude + 1e-300


# Forward error of a backward-stable Gaussian computation: a few ulps times
# the condition number. C = 1e3 leaves room for the dimension and for the
# engine's route (the full precision matrix, standardised units) while
# staying orders of magnitude below any formula error.
C = 1e3


def _floored_eigenvalues(S):
    """|eigenvalues| of a symmetric matrix, at least eps * the largest."""
    eigenvalues = np.abs(np.linalg.eigvalsh(S))
    return np.maximum(eigenvalues, EPS * eigenvalues.max())


def _log_density_tolerance(model, X):
    """Per row, the rounding bound of log N(x_O; mu_O, S_OO), the largest
    over components: C eps (|x_O - mu_O|^2 / lambda_min(S) + d cond(S)) for
    the dense models (the precision route inverts the full covariance),
    elementwise for the diagonal ones. Callers add their relative term."""
    covariances = dense_covariances(model)
    out = np.zeros(len(X))
    for mu, S in zip(model.means_, covariances, strict=True):
        # On n <= d data at large scale the absolute reg_covar is below
        # rounding: the smallest eigenvalue comes out at rounding level, even
        # negative or zero (e.g. -4e-5 next to 2e11), so take |lambda|
        # floored at eps * lambda_max, its accuracy.
        eigenvalues = _floored_eigenvalues(S)
        if model.covariance_type in ("diag", "spherical"):
            deviation = np.nansum((X - mu) ** 2 / np.diag(S), axis=1)
            bound = C * EPS * (deviation + S.shape[0])
        else:
            deviation = np.nansum((X - mu) ** 2, axis=1) / eigenvalues.min()
            condition = eigenvalues.max() / eigenvalues.min()
            bound = C * EPS * (deviation + S.shape[0] * condition)
        out = np.maximum(out, bound)
    return out


def _reference_log_density(x, mu, S):
    """log N(x; mu, S) by scipy's Cholesky, on direct differences."""
    lower = linalg.cholesky(S, lower=True)
    z = linalg.solve_triangular(lower, x - mu, lower=True)
    return -0.5 * (len(x) * LOG_2PI + z @ z) - np.log(np.diag(lower)).sum()


def _reference_weighted_log_prob(model, X):
    """log w_k + log N(x_O; mu_k,O, S_k,OO) per row, independently of the
    engine."""
    covariances = dense_covariances(model)
    out = np.tile(np.log(model.weights_), (len(X), 1))
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        if not o.any():
            continue
        for k, (mu, S) in enumerate(zip(model.means_, covariances, strict=True)):
            out[i, k] += _reference_log_density(x[o], mu[o], S[np.ix_(o, o)])
    return out


# --------------------------------------------------------------------------
# 1. observed cells, finiteness, shape, no mutation
# --------------------------------------------------------------------------
@quiet
@given(
    data=masked_data(dtypes=float_dtypes, variants=VARIANTS),
    covariance_type=covariance_types,
    n_components=st.integers(1, 2),
    container=st.sampled_from(["ndarray", "dataframe", "marker"]),
    add_indicator=st.booleans(),
)
def test_imputer_safety(data, covariance_type, n_components, container, add_indicator):
    X = data.X
    missing_values = np.nan
    if container == "marker":
        assume(not np.any(data.complete == -1))  # -1 *is* missing by definition
        X = np.where(data.mask, -1, X).astype(X.dtype)
        missing_values = -1
    elif container == "dataframe":
        X = pd.DataFrame(X, columns=[f"f{j}" for j in range(data.n_features)])
    snapshot = copy.deepcopy(X)
    imputer = EMImputer(
        missing_values=missing_values,
        n_components=n_components,
        covariance_type=covariance_type,
        add_indicator=add_indicator,
        random_state=0,
    )
    fit_or_reject(imputer, X)
    Xt = imputer.transform(X)
    n_indicator = int(add_indicator) * int(data.mask.any(axis=0).sum())
    assert Xt.shape == (data.n_samples, data.n_features + n_indicator)
    # float32 stays float32 (as scikit-learn's imputers); the rest is float64.
    dtype = np.float32 if data.X.dtype == np.float32 else np.float64
    assert Xt.dtype == dtype
    assert np.all(np.isfinite(Xt))
    observed = ~data.mask
    expected = data.X[observed].astype(dtype)
    # Bit for bit, compared as bytes.
    values = Xt[:, : data.n_features][observed]
    assert np.array_equal(values.view(np.uint8), expected.view(np.uint8))
    if add_indicator:
        indicated = data.mask[:, data.mask.any(axis=0)]
        np.testing.assert_array_equal(Xt[:, data.n_features :], indicated)
    if container == "dataframe":
        pd.testing.assert_frame_equal(X, snapshot)
    else:
        np.testing.assert_array_equal(X, snapshot, strict=True)


@quiet
@given(
    data=masked_data(min_rows=3, dtypes=float_dtypes, variants=VARIANTS),
    covariance_type=covariance_types,
    n_components=st.integers(1, 2),
)
def test_mixture_safety(data, covariance_type, n_components):
    snapshot = data.X.copy()
    gm = EMMixture(n_components, covariance_type=covariance_type, random_state=0)
    fit_or_reject(gm, data.X)
    scores = gm.score_samples(data.X)
    proba = gm.predict_proba(data.X)
    assert scores.shape == (data.n_samples,) and np.all(np.isfinite(scores))
    assert proba.shape == (data.n_samples, n_components)
    assert np.all(np.isfinite(proba))
    np.testing.assert_array_equal(gm.fit_predict(data.X), gm.predict(data.X))
    np.testing.assert_array_equal(data.X, snapshot, strict=True)
    for parameter in (gm.weights_, gm.means_, gm.covariances_):
        assert np.all(np.isfinite(parameter))


# --------------------------------------------------------------------------
# 2. idempotence; complete data imputes nothing
# --------------------------------------------------------------------------
@quiet
@given(data=masked_data(variants=VARIANTS), covariance_type=covariance_types)
def test_imputer_idempotent(data, covariance_type):
    imputer = EMImputer(covariance_type=covariance_type, random_state=0)
    fit_or_reject(imputer, data.X)
    Xt = imputer.transform(data.X)
    np.testing.assert_array_equal(imputer.transform(Xt), Xt, strict=True)
    complete = data.complete.astype(np.float64)
    refit = EMImputer(covariance_type=covariance_type, random_state=0).fit(complete)
    np.testing.assert_array_equal(refit.transform(complete), complete, strict=True)


# --------------------------------------------------------------------------
# 3. row subsets and permutations
# --------------------------------------------------------------------------
@quiet
@given(
    data=masked_data(min_rows=4, variants=VARIANTS),
    covariance_type=covariance_types,
    seed=seeds,
)
def test_row_subset_and_permutation_invariance(data, covariance_type, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(data.n_samples)
    subset = np.sort(order[: data.n_samples // 2])
    params = dict(n_components=2, covariance_type=covariance_type, random_state=0)
    imputer = fit_or_reject(EMImputer(**params), data.X)
    gm = fit_or_reject(EMMixture(**params), data.X)
    full = imputer.transform(data.X)
    scores = gm.score_samples(data.X)
    proba = gm.predict_proba(data.X)
    # Each row's output depends on that row alone: only the grouping of rows
    # into blocks (hence BLAS's blocking) may change the rounding.
    tolerance = _column_tolerance(data)
    score_tolerance = 1e-9 * np.maximum(1.0, np.abs(scores))
    score_tolerance += _log_density_tolerance(gm, data.X)
    for rows in (order, subset):
        assert np.all(np.abs(imputer.transform(data.X[rows]) - full[rows]) <= tolerance)
        difference = np.abs(gm.score_samples(data.X[rows]) - scores[rows])
        assert np.all(difference <= score_tolerance[rows])
        difference = np.abs(gm.predict_proba(data.X[rows]) - proba[rows])
        assert np.all(difference <= score_tolerance[rows, None])


# --------------------------------------------------------------------------
# 4. column permutations
# --------------------------------------------------------------------------
@quiet
@given(
    data=masked_data(min_cols=2, variants=VARIANTS),
    covariance_type=covariance_types,
    seed=seeds,
)
def test_column_permutation_equivariance(data, covariance_type, seed):
    permutation = np.random.default_rng(seed).permutation(data.n_features)
    # One component (k-means has nothing to choose) and a fixed number of
    # steps (tol=0), so both fits run the same EM on relabelled features.
    params = dict(covariance_type=covariance_type, tol=0.0, max_iter=10)
    imputer = fit_or_reject(EMImputer(**params), data.X)
    Xt = imputer.transform(data.X)
    Xp = fit_or_reject(EMImputer(**params), data.X[:, permutation])
    Xp = Xp.transform(data.X[:, permutation])
    # The imputer works in standardised units; its rounding is that of
    # solves with the correlation matrix (condition number kappa). Taken from
    # the model in standardised units: in data units, a feature whose spread
    # is a subnormal number (a constant column at 1e-299) has a variance
    # that underflows to 0.
    internal = SimpleNamespace(
        covariances_=imputer._params.covariances,
        means_=imputer._params.means,
        covariance_type=covariance_type,
    )
    covariance = dense_covariances(internal)[0]
    sd = np.sqrt(np.diag(covariance))
    eigenvalues = _floored_eigenvalues(covariance / np.outer(sd, sd))
    kappa = eigenvalues.max() / eigenvalues.min()
    tolerance = _column_tolerance(data, relative=1e-8 + C * EPS * kappa)
    assert np.all(np.abs(Xp - Xt[:, permutation]) <= tolerance[permutation])
    gm = fit_or_reject(EMMixture(**params), data.X)
    # (Numerically singular models may pass the Cholesky test in one column
    # order and fail it in another: both outcomes are documented.)
    gp = fit_or_reject(EMMixture(**params), data.X[:, permutation])
    difference = np.abs(
        gp.score_samples(data.X[:, permutation]) - gm.score_samples(data.X)
    )
    scores = gm.score_samples(data.X)
    bound = 1e-8 * np.maximum(1.0, np.abs(scores)) + _log_density_tolerance(gm, data.X)
    assert np.all(difference <= bound)


# --------------------------------------------------------------------------
# 6. marginal density of the observed coordinates (scipy oracle)
# --------------------------------------------------------------------------
@quiet
@given(
    data=masked_data(min_rows=3, max_rows=25, variants=VARIANTS),
    covariance_type=covariance_types,
    n_components=st.integers(1, 2),
)
def test_score_samples_is_the_observed_marginal(data, covariance_type, n_components):
    gm = EMMixture(n_components, covariance_type=covariance_type, random_state=0)
    fit_or_reject(gm, data.X)
    weighted = _reference_weighted_log_prob(gm, data.X)
    expected = logsumexp(weighted, axis=1)
    scores = gm.score_samples(data.X)
    empty = data.mask.all(axis=1)
    assert np.all(scores[empty] == 0.0)
    # 1e-8 relative (RELIABILITY.md (c) 6), plus the conditioning bound.
    tolerance = 1e-8 * np.maximum(1.0, np.abs(expected))
    tolerance += _log_density_tolerance(gm, data.X)
    assert np.all(np.abs(scores - expected)[~empty] <= tolerance[~empty])
    proba = gm.predict_proba(data.X)
    np.testing.assert_allclose(
        proba[empty], np.tile(gm.weights_, (empty.sum(), 1)), rtol=1e-14
    )
    expected_proba = np.exp(weighted - expected[:, None])
    assert np.all(np.abs(proba - expected_proba) <= tolerance[:, None])


# --------------------------------------------------------------------------
# 7-8. imputations are (mixtures of) conditional means
# --------------------------------------------------------------------------
def _reference_conditional(model, X):
    """Closed-form imputations, standard deviations and tolerances, by row.

    Tolerance: the rounding of solves with S_k,OO in standardised units
    (eps * cond(correlation) * sigma_M * (1 + |z_O|)), plus the effect of
    the responsibilities' rounding on the mixture of conditional means.
    """
    covariances = dense_covariances(model)
    weighted = _reference_weighted_log_prob(model, X)
    resp = np.exp(weighted - logsumexp(weighted, axis=1, keepdims=True))
    log_tolerance = 1e-8 * np.maximum(1.0, np.abs(weighted)).max(axis=1)
    log_tolerance += _log_density_tolerance(model, X)
    mean_out, std_out = X.copy(), np.zeros_like(X)
    tolerance = np.zeros_like(X)
    for i, x in enumerate(X):
        m = np.isnan(x)
        if not m.any():
            continue
        o = ~m
        component_means, component_vars, bounds = [], [], []
        for mu, S in zip(model.means_, covariances, strict=True):
            sd = np.sqrt(np.diag(S))
            if o.any():
                # In correlation form (S = D R D): the solve is then as
                # accurate as the data allow, whatever the features' units.
                R = S / np.outer(sd, sd)
                gain = linalg.solve(R[np.ix_(o, o)], R[np.ix_(o, m)], assume_a="pos").T
                z = (x[o] - mu[o]) / sd[o]
                component_means.append(mu[m] + sd[m] * (gain @ z))
                component_vars.append(
                    sd[m] ** 2 * np.diag(R[np.ix_(m, m)] - gain @ R[np.ix_(o, m)])
                )
                eigenvalues = _floored_eigenvalues(R)
                kappa = eigenvalues.max() / eigenvalues.min()
                bounds.append(C * EPS * kappa * sd[m] * (1.0 + np.abs(z).max()))
            else:
                component_means.append(mu[m])
                component_vars.append(np.diag(S)[m])
                bounds.append(C * EPS * sd[m])
        component_means = np.array(component_means)
        mean = resp[i] @ component_means
        # Law of total variance, in its centred form (no cancellation).
        spread = component_means - mean
        variance = resp[i] @ (np.array(component_vars) + spread**2)
        mean_out[i, m] = mean
        std_out[i, m] = np.sqrt(np.maximum(variance, 0.0))
        tolerance[i, m] = np.max(bounds, axis=0) + np.abs(spread).max(axis=0) * min(
            1.0, log_tolerance[i]
        )
    return mean_out, std_out, tolerance


@quiet
@given(
    data=masked_data(max_rows=25, variants=VARIANTS),
    covariance_type=covariance_types,
    n_components=st.integers(1, 2),
)
def test_imputations_are_conditional_means(data, covariance_type, n_components):
    imputer = EMImputer(
        n_components=n_components, covariance_type=covariance_type, random_state=0
    )
    fit_or_reject(imputer, data.X)
    Xt, std = imputer.transform(data.X, return_std=True)
    expected, expected_std, bound = _reference_conditional(imputer, data.X)
    # The closed form from the fitted parameters in the data's units, with
    # explicit solves (the engine works in standardised units with the
    # precision route): 1e-8 of the feature's spread, plus rounding bounds.
    tolerance = _column_tolerance(data, relative=1e-8) + bound
    assert np.all(np.abs(Xt - expected) <= tolerance)
    # A variance computed as a difference loses half the digits near 0:
    # compare standard deviations through their squares.
    assert np.all(
        np.abs(std**2 - expected_std**2)
        <= tolerance * (std + expected_std) + tolerance**2
    )


# --------------------------------------------------------------------------
# 10. monotone objective without regularisation
# --------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@given(data=well_posed_data(), covariance_type=covariance_types)
def test_objective_never_decreases_without_regularisation(data, covariance_type):
    gm = EMMixture(
        covariance_type=covariance_type, reg_covar=0.0, tol=1e-12, max_iter=30
    )
    gm.fit(data.X)
    bounds = np.array(gm.lower_bounds_)
    drops = -np.diff(bounds) / np.maximum(1.0, np.abs(bounds[1:]))
    # 1e-9 relative: far above rounding, far below a real decrease.
    assert np.all(drops <= 1e-9)


# --------------------------------------------------------------------------
# 11. probabilities, score, information criteria
# --------------------------------------------------------------------------
def _n_parameters(covariance_type, n_components, n_features):
    """As scikit-learn's GaussianMixture._n_parameters."""
    covariance = {
        "full": n_components * n_features * (n_features + 1) / 2.0,
        "tied": n_features * (n_features + 1) / 2.0,
        "diag": n_components * n_features,
        "spherical": n_components,
    }[covariance_type]
    return int(covariance + n_features * n_components + n_components - 1)


@quiet
@given(
    data=masked_data(min_rows=3, variants=VARIANTS),
    covariance_type=covariance_types,
    n_components=st.integers(1, 3),
)
def test_probabilities_score_and_criteria(data, covariance_type, n_components):
    gm = EMMixture(n_components, covariance_type=covariance_type, random_state=0)
    fit_or_reject(gm, data.X)
    proba = gm.predict_proba(data.X)
    assert np.all((proba >= 0.0) & (proba <= 1.0))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    score = gm.score(data.X)
    assert score == np.mean(gm.score_samples(data.X))
    n = data.n_samples
    p = _n_parameters(covariance_type, n_components, data.n_features)
    # Same formula, same operations up to association: 1e-12 relative; log n
    # of the rows with an observed entry.
    n_informative = max((~data.mask).any(axis=1).sum(), 1)
    np.testing.assert_allclose(
        gm.bic(data.X),
        -2 * n * score + p * np.log(n_informative),
        rtol=1e-12,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        gm.aic(data.X), -2 * n * score + 2 * p, rtol=1e-12, atol=1e-9
    )


# --------------------------------------------------------------------------
# 13. determinism; posterior draws
# --------------------------------------------------------------------------
@quiet
@given(
    data=masked_data(min_rows=3, variants=VARIANTS),
    covariance_type=covariance_types,
    init_params=st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_same_seed_same_bits(data, covariance_type, init_params, seed):
    params = dict(
        n_components=2,
        covariance_type=covariance_type,
        init_params=init_params,
        random_state=seed,
    )
    a = fit_or_reject(EMMixture(**params), data.X)
    b = EMMixture(**params).fit(data.X)
    for name in ("weights_", "means_", "covariances_", "lower_bound_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.score_samples(data.X), b.score_samples(data.X))
    i = fit_or_reject(EMImputer(**params), data.X)
    j = EMImputer(**params).fit(data.X)
    np.testing.assert_array_equal(i.transform(data.X), j.transform(data.X))


@quiet
@given(
    data=masked_data(min_rows=3, max_rows=12, max_cols=4, variants=VARIANTS),
    covariance_type=covariance_types,
    n_components=st.integers(1, 2),
)
def test_posterior_draws_average_to_the_conditional_mean(
    data, covariance_type, n_components
):
    imputer = EMImputer(
        n_components=n_components, covariance_type=covariance_type, random_state=0
    )
    fit_or_reject(imputer, data.X)
    mean, std = imputer.transform(data.X, return_std=True)
    repeats = 400
    imputer.set_params(sample_posterior=True)
    # Every copy of a row gets its own draw from the one stream.
    draws = imputer.transform(np.tile(data.X, (repeats, 1)))
    draws = draws.reshape(repeats, data.n_samples, data.n_features)
    observed = ~data.mask
    assert np.all(draws[:, observed] == data.X[observed])
    assert np.all(np.isfinite(draws))
    # Six standard errors (derandomised, so no flakiness), plus rounding.
    tolerance = 6 * std / np.sqrt(repeats) + _column_tolerance(data, relative=1e-8)
    assert np.all(np.abs(draws.mean(axis=0) - mean) <= tolerance)
    # The same seed gives the same draws on every call.
    again = imputer.transform(np.tile(data.X, (repeats, 1)))
    np.testing.assert_array_equal(again.reshape(draws.shape), draws)
