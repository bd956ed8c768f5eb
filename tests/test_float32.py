"""float32 input: float32 attributes and outputs where scikit-learn has them.

The engine computes in float64 and rounds the results once, so float32
results equal the float64 fit of the float32 data rounded; against the
float64 fit of the float64 data they differ by the data's own rounding (a
relative 6e-8 per entry), amplified by the fit's conditioning: 1e-4 relative
is the issue's bound for well-conditioned data (seen: ~1e-5).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

from emimpute import EMImputer, EMMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
ATTRIBUTES = ["weights_", "means_", "covariances_", "precisions_cholesky_"]


def _clusters(missing_rate):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(300, 3)), rng.normal(4.0, 1.0, size=(300, 3))])
    X[rng.random(X.shape) < missing_rate] = np.nan
    return X


# scikit-learn's own sample() warns on its float32 tied covariance.
@pytest.mark.filterwarnings("ignore:covariance is not symmetric:RuntimeWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_dtypes_equal_gaussian_mixture(covariance_type):
    X = _clusters(0.0).astype(np.float32)
    ours = EMMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    theirs = GaussianMixture(2, covariance_type=covariance_type, random_state=0)
    theirs.fit(X)
    for name in [*ATTRIBUTES, "precisions_"]:
        assert getattr(ours, name).dtype == getattr(theirs, name).dtype, name
    assert type(ours.lower_bound_) is type(theirs.lower_bound_)
    for method in ["score_samples", "predict_proba"]:
        ours_out = getattr(ours, method)(X)
        assert ours_out.dtype == getattr(theirs, method)(X).dtype, method
    assert type(ours.score(X)) is type(theirs.score(X))
    assert ours.predict(X).dtype.kind == theirs.predict(X).dtype.kind
    assert ours.sample(3)[0].dtype == theirs.sample(3)[0].dtype


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("missing_rate", [0.0, 0.2])
def test_mixture_float32_close_to_float64(covariance_type, missing_rate):
    X = _clusters(missing_rate)
    single = EMMixture(2, covariance_type=covariance_type, random_state=0)
    single.fit(X.astype(np.float32))
    double = EMMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    for name in ATTRIBUTES:
        assert_allclose(
            getattr(single, name), getattr(double, name), rtol=1e-4, atol=1e-6
        )
    assert_allclose(single.lower_bound_, double.lower_bound_, rtol=1e-4)
    assert_allclose(
        single.predict_proba(X.astype(np.float32)),
        double.predict_proba(X),
        rtol=0,
        atol=1e-4,
    )


def test_imputer_returns_the_input_dtype():
    X = _clusters(0.2)
    single = EMImputer(random_state=0).fit(X.astype(np.float32))
    completed, std = single.transform(X.astype(np.float32), return_std=True)
    assert completed.dtype == np.float32 and std.dtype == np.float32
    double = EMImputer(random_state=0).fit(X).transform(X)
    assert double.dtype == np.float64
    # Float32 entries are within their own rounding of the float64 ones
    # (values up to ~8: an ulp is 5e-7; 1e-5 leaves room for the fit's).
    assert_allclose(completed, double, rtol=0, atol=1e-5)
    # Observed entries pass through exactly.
    observed = ~np.isnan(X)
    assert np.array_equal(completed[observed], X.astype(np.float32)[observed])


def test_float32_data_is_not_copied_to_float64():
    X = _clusters(0.2).astype(np.float32)
    mixture = EMMixture(2, random_state=0)
    data = mixture.fit(X)._validated_data(X)
    assert data.numeric.dtype == np.float32


def test_float32_weights_init_tolerance():
    # Sums to 1 only to float32 precision: accepted, as by GaussianMixture.
    weights = np.full(3, 1 / 3, dtype=np.float32)
    assert abs(float(weights.astype(np.float64).sum()) - 1.0) > 1e-8
    X = _clusters(0.0).astype(np.float32)
    EMMixture(3, weights_init=weights, random_state=0).fit(X)
    GaussianMixture(3, weights_init=weights, random_state=0).fit(X)
    with pytest.raises(ValueError, match="should be normalized"):
        EMMixture(3, weights_init=np.array([0.3, 0.3, 0.3])).fit(X)


def test_scores_use_the_float64_model_not_its_rounded_attributes():
    # The third feature is four times the first plus a little noise: the
    # fitted covariance's condition number (5e8) is beyond float32's
    # precision, and covariances_ rounded to float32 is not positive
    # definite. Scoring (and predicting, warm-starting) uses the float64
    # model the fit found.
    X = np.array(
        [
            [3.95484863e02, -1.00694075e-01, 1.58167542e03],
            [1.42758093e03, 5.28448701e-01, 5.70993555e03],
            [1.43023889e03, -3.48085821e-01, 5.72034570e03],
            [1.07581177e03, 8.98116231e-01, 4.30425195e03],
        ],
        dtype=np.float32,
    )
    mixture = EMMixture(1, covariance_type="tied", random_state=0).fit(X)
    rounded = mixture.covariances_.astype(np.float64)
    assert np.linalg.eigvalsh(rounded)[0] <= 0.0
    assert mixture.covariances_.dtype == np.float32
    scores = mixture.score_samples(X)
    assert scores.dtype == np.float32 and np.isfinite(scores).all()
    # Each row's observed-coordinate density under the float64 model, by
    # scipy: equal up to the float32 rounding of the output.
    params = mixture._params
    gaussian = params.gaussian
    reference = []
    for row in X.astype(np.float64):
        o = ~np.isnan(row)
        reference.append(
            logsumexp(
                [
                    np.log(w)
                    + multivariate_normal(
                        mean[o], gaussian.covariances[np.ix_(o, o)]
                    ).logpdf(row[o])
                    for w, mean in zip(params.weights, gaussian.means, strict=True)
                ]
            )
        )
    np.testing.assert_allclose(scores, reference, rtol=1e-6)


def test_float32_fit_whose_rounded_covariance_is_singular_still_scores():
    # Three rows of three features, two of them collinear to float32's
    # precision (the example hypothesis found): the float64 fit is positive
    # definite, its covariance rounded to float32 (covariances_) has a
    # negative eigenvalue. Scores come from the float64 model, finite, and
    # equal to those of the same numbers fit as float64.
    X = np.array(
        [
            [np.nan, -398.01678466796875, np.nan],
            [np.nan, -144.98292541503906, 557.35888671875],
            [-3336.77978515625, -636.9490966796875, -903.4979248046875],
        ],
        dtype=np.float32,
    )
    model = EMMixture(1, covariance_type="full", random_state=0).fit(X)
    scores = model.score_samples(X)
    assert np.all(np.isfinite(scores))
    wide = EMMixture(1, covariance_type="full", random_state=0).fit(
        X.astype(np.float64)
    )
    np.testing.assert_allclose(
        scores, wide.score_samples(X.astype(np.float64)), rtol=1e-6
    )


def test_float32_is_kept_beside_categorical_columns():
    # encode built a float64 block whatever the columns: one category
    # column turned every float32 result into float64.
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=40).astype(np.float32),
            "b": rng.normal(size=40).astype(np.float32),
            "c": pd.Categorical(rng.choice(["x", "y"], 40)),
        }
    )
    frame.loc[3, "a"] = np.nan
    mixture = EMMixture(2, random_state=0).fit(frame)
    assert mixture.means_.dtype == np.float32
    assert mixture.score_samples(frame).dtype == np.float32
    imputer = EMImputer().set_output(transform="pandas")
    out = imputer.fit_transform(frame)
    assert out["a"].dtype == np.float32 and out["c"].dtype == "category"
    observed = frame["a"].notna()
    np.testing.assert_array_equal(out["a"][observed], frame["a"][observed])
    polars_out = imputer.set_output(transform="polars").fit_transform(
        pl.from_pandas(frame)
    )
    assert polars_out["a"].dtype == pl.Float32
    array = np.column_stack([frame[["a", "b"]].to_numpy(), rng.integers(0, 2, 40)])
    array = array.astype(np.float32)
    imputed = EMImputer(categorical_features=[2]).fit_transform(array)
    assert imputed.dtype == np.float32
    # return_std too, as on the numeric path (it was float64).
    _, std = (
        EMImputer(categorical_features=[2]).fit(array).transform(array, return_std=True)
    )
    assert std.dtype == np.float32
    # A float64 column beside them gives float64, as in numeric tables.
    wider = frame.assign(d=rng.normal(size=40))
    assert EMMixture(2, random_state=0).fit(wider).means_.dtype == np.float64


@pytest.mark.parametrize("estimator", [EMMixture, EMImputer])
def test_float32_values_whose_squares_overflow_float32_are_refused(estimator):
    # float32 data is fit in float64 but its attributes are float32: spreads
    # of 1e20 have covariances of 1e40, beyond float32's 3.4e38. EMMixture
    # stored infinite covariances (and its float32 k-means merged the two
    # clusters); EMImputer failed on an overflowing float32 column sum with a
    # false "contains infinity" message. Now a clear refusal; as float64 the
    # same data fits.
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(4, 1, (50, 2))]) * 1e20
    X[rng.random(X.shape) < 0.2] = np.nan
    with pytest.raises(ValueError, match="overflow float32.*pass X as float64"):
        estimator(n_components=2, random_state=0).fit(X.astype(np.float32))
    fitted = estimator(n_components=2, random_state=0).fit(X)
    assert np.isfinite(fitted.covariances_).all()


def test_float32_column_sums_are_taken_in_float64():
    # The standardisation's column sums of float32 data: 100 values of 3e37
    # overflow float32 (the centre was infinite), not float64.
    from emimpute._em._scaling import Scaling

    X = np.full((100, 1), 3e37, dtype=np.float32)
    X[::2] = 1e37
    scaling = Scaling.fit_columns(X, np.zeros(X.shape, dtype=bool))
    assert_allclose(scaling.centre, [2e37], rtol=1e-6)
    assert_allclose(scaling.scale, [1e37], rtol=1e-6)
