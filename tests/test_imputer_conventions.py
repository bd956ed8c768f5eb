"""scikit-learn's generic imputer tests, written for EMImputer.

From ``sklearn/impute/tests/test_common.py`` (every test but the sparse one:
EMImputer takes dense data) and the generic parts of ``test_impute.py``:
missing-value markers (numbers, strings on object input, ``pd.NA``),
``keep_empty_features``, an input where every feature is empty, warnings
that name features, float dtypes. The estimator-specific ones (strategies,
fill values) have no counterpart here.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone

from emimpute import EMImputer, EMMixture

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def imputer():
    return EMImputer(random_state=0)


def test_imputation_missing_value_in_test_array():
    # sklearn #13968: missing in test only, with the indicator, is finite.
    model = clone(imputer()).set_params(add_indicator=True)
    Xt = model.fit([[1], [2]]).transform([[3], [np.nan]])
    assert np.isfinite(Xt).all()


@pytest.mark.parametrize("marker", [np.nan, -1, 0])
def test_imputers_add_indicator(marker):
    X = np.array(
        [
            [marker, 1, 5, marker, 1],
            [2, marker, 1, marker, 2],
            [6, 3, marker, marker, 3],
            [1, 2, 9, marker, 4],
        ]
    )
    X_true_indicator = np.array(
        [
            [1.0, 0.0, 0.0, 1.0],
            [0.0, 1.0, 0.0, 1.0],
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    model = clone(imputer()).set_params(missing_values=marker, add_indicator=True)
    X_trans = model.fit_transform(X)
    assert_allclose(X_trans[:, -4:], X_true_indicator)
    assert_array_equal(model.indicator_.features_, np.array([0, 1, 2, 3]))
    model.set_params(add_indicator=False)
    assert_allclose(X_trans[:, :-4], model.fit_transform(X))


@pytest.mark.parametrize("marker", [np.nan, pd.NA])
@pytest.mark.parametrize("add_indicator", [True, False])
def test_imputers_pandas_na_integer_array_support(add_indicator, marker):
    X = np.array(
        [
            [np.nan, 1, 5, np.nan, 1],
            [2, np.nan, 1, np.nan, 2],
            [6, 3, np.nan, np.nan, 3],
            [1, 2, 9, np.nan, 4],
        ]
    )
    model = clone(imputer()).set_params(add_indicator=add_indicator)
    expected = model.fit_transform(X)
    X_df = pd.DataFrame(X, dtype="Int16", columns=["a", "b", "c", "d", "e"])
    model.set_params(missing_values=marker)
    assert_allclose(model.fit_transform(X_df), expected)


@pytest.mark.parametrize("add_indicator", [True, False])
def test_imputers_feature_names_out_pandas(add_indicator):
    X = np.array(
        [
            [np.nan, 1, 5, 3, np.nan, 1],
            [2, np.nan, 1, 4, np.nan, 2],
            [6, 3, 7, np.nan, np.nan, 3],
            [1, 2, 9, 8, np.nan, 4],
        ]
    )
    X_df = pd.DataFrame(X, columns=["a", "b", "c", "d", "e", "f"])
    model = clone(imputer()).set_params(add_indicator=add_indicator)
    with pytest.warns(UserWarning, match=r"Skipping .*\['e'\]"):
        model.fit(X_df)
    expected = ["a", "b", "c", "d", "f"]
    if add_indicator:
        expected += [f"missingindicator_{name}" for name in "abde"]
    assert_array_equal(model.get_feature_names_out(), expected)


@pytest.mark.parametrize("keep_empty_features", [True, False])
def test_keep_empty_features(keep_empty_features):
    X = np.array([[np.nan, 1], [np.nan, 2], [np.nan, 3]])
    model = clone(imputer()).set_params(keep_empty_features=keep_empty_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for method in ["fit_transform", "transform"]:
            X_imputed = getattr(model, method)(X)
            if keep_empty_features:
                assert X_imputed.shape == X.shape
                # scikit-learn's rule: a kept empty feature is filled with 0.
                assert_array_equal(X_imputed[:, 0], 0.0)
            else:
                assert X_imputed.shape == (X.shape[0], X.shape[1] - 1)
            assert_array_equal(X_imputed[:, -1], X[:, 1])


@pytest.mark.parametrize("missing_value_test", [np.nan, 1])
def test_imputation_adds_missing_indicator_if_add_indicator_is_true(
    missing_value_test,
):
    # sklearn gh-26590: the indicator column exists even with nothing missing.
    X_train = np.array([[0, np.nan], [1, 2]])
    X_test = np.array([[0, missing_value_test], [1, 2]])
    model = clone(imputer()).set_params(add_indicator=True).fit(X_train)
    with_indicator = model.transform(X_test)
    assert with_indicator.shape == (2, 3)
    model.set_params(add_indicator=False).fit(X_train)
    without_indicator = model.transform(X_test)
    assert without_indicator.shape == (2, 2)
    assert_allclose(with_indicator[:, :-1], without_indicator)
    expected = [1, 0] if np.isnan(missing_value_test) else [0, 0]
    assert_allclose(with_indicator[:, -1], expected)


def test_imputation_deletion_warning_names_features():
    X = pd.DataFrame(
        [[np.nan, np.nan, 1, np.nan], [4, np.nan, 2, 10], [5, np.nan, 3, 11]],
        columns=np.array(["a", "b", "c", "d"], dtype=object),
    )
    with pytest.warns(UserWarning, match=r"Skipping features .*\['b'\]"):
        model = clone(imputer()).fit(X)
    assert_array_equal(model.feature_names_in_, ["a", "b", "c", "d"])
    assert_array_equal(model.get_feature_names_out(), ["a", "c", "d"])
    # Without names, indices.
    with pytest.warns(UserWarning, match=r"Skipping features .*\[1\]"):
        clone(imputer()).fit(X.to_numpy())


@pytest.mark.parametrize("keep_empty_features", [False, True])
@pytest.mark.parametrize("add_indicator", [False, True])
def test_all_empty_input(keep_empty_features, add_indicator):
    # As SimpleImputer: every feature empty gives (n, 0) with the warning
    # (or zeros with keep_empty_features), not an error.
    X = np.full((4, 3), np.nan)
    model = clone(imputer()).set_params(
        keep_empty_features=keep_empty_features, add_indicator=add_indicator
    )
    if keep_empty_features:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            Xt = model.fit_transform(X)
    else:
        with pytest.warns(UserWarning, match=r"Skipping features .*\[0 1 2\]"):
            Xt = model.fit_transform(X)
    n_kept = 3 if keep_empty_features else 0
    assert Xt.shape == (4, n_kept + 3 * add_indicator)
    assert_array_equal(Xt[:, :n_kept], 0.0)
    assert_array_equal(Xt[:, n_kept:], 1.0)
    assert model.score(X) == 0.0
    assert len(model.get_feature_names_out()) == Xt.shape[1]
    Xt, std = model.transform(X, return_std=True)
    assert std.shape == Xt.shape


def test_refit_on_empty_input_replaces_every_fitted_attribute():
    # A refit replaces the fitted attributes: on all-missing data the one
    # (empty) component is the model, with no 'auto' choice and no copy of
    # the earlier training data left over (it was pickled with the model).
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(6, 1, (60, 2))])
    empty = np.full((5, 2), np.nan)
    options = dict(sample_posterior=True, parameter_uncertainty=True)
    model = EMImputer(n_components="auto", random_state=0, **options).fit(X)
    assert hasattr(model, "held_out_errors_") and model._fit_data is not None
    with pytest.warns(UserWarning, match="Skipping features"):
        model.fit(empty)
    fresh = EMImputer(n_components="auto", random_state=0, **options)
    with pytest.warns(UserWarning, match="Skipping features"):
        fresh.fit(empty)
    for imputer in (model, fresh):
        assert imputer.n_components_ == len(imputer.weights_) == 1
        assert not hasattr(imputer, "held_out_errors_")
        assert imputer._fit_data is None


@pytest.mark.parametrize("marker", ["NaN", "-1", "", "?"])
def test_string_missing_values_on_object_input(marker):
    # As SimpleImputer's most_frequent on object arrays: cells equal to the
    # string marker are missing, the others untouched; text columns are
    # categorical features, their holes filled with a category seen in fit.
    X = np.array(
        [
            ["a", 1.0, "x"],
            ["b", 2.0, marker],
            [marker, 3.0, "y"],
            ["a", 1.5, "x"],
            ["b", 2.5, "y"],
            ["a", 1.2, "x"],
        ],
        dtype=object,
    )
    Xt = clone(imputer()).set_params(missing_values=marker).fit_transform(X)
    missing = X == marker
    assert_array_equal(Xt[~missing], X[~missing])
    assert Xt[2, 0] in {"a", "b"} and Xt[1, 2] in {"x", "y"}
    # The same as NaN-marked holes.
    X_nan = np.where(missing, None, X)
    assert_array_equal(Xt, clone(imputer()).fit_transform(X_nan))


def test_string_missing_values_on_numeric_input_is_an_error():
    with pytest.raises(ValueError, match="both numerical"):
        clone(imputer()).set_params(missing_values="NaN").fit(np.ones((3, 2)))
    # Numbers beside the marker in an object array: the message gives the fix.
    X = np.array([[1.0, 2.0], ["?", 3.0], [2.0, "?"], [4.0, 5.0]], dtype=object)
    with pytest.raises(ValueError, match=r"make the marker NaN first .*'\?'"):
        clone(imputer()).set_params(missing_values="?").fit(X)


def test_invalid_missing_values_parameter():
    with pytest.raises(ValueError, match="missing_values"):
        clone(imputer()).set_params(missing_values=[1]).fit(np.ones((3, 2)))


def test_pd_na_on_string_and_integer_columns():
    X = pd.DataFrame(
        {
            "kind": pd.Series(["u", None, "v", "u", "v", "u"], dtype="string"),
            "n": pd.Series([1, 2, None, 1, 2, 1], dtype="Int64"),
            "x": [0.1, 0.2, 0.3, np.nan, 0.5, 0.6],
        }
    )
    Xt = clone(imputer()).set_params(missing_values=pd.NA).fit_transform(X)
    assert Xt[1, 0] in {"u", "v"}
    assert np.isfinite(Xt[:, 1:].astype(float)).all()
    observed = X.notna().to_numpy()
    assert (Xt[observed] == X.astype(object).to_numpy()[observed]).all()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32])
def test_float_and_integer_dtypes(dtype):
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(40, 3)) * 10)
    marker = -999 if np.dtype(dtype).kind == "i" else np.nan
    X[rng.random(X.shape) < 0.2] = marker
    X = X.astype(dtype)
    model = clone(imputer()).set_params(missing_values=marker)
    Xt = model.fit_transform(X)
    assert Xt.dtype in (np.float32, np.float64)
    missing = X == marker if marker == -999 else np.isnan(X)
    assert_array_equal(Xt[~missing], X[~missing].astype(Xt.dtype))
    # The values, not their dtype, decide: the float64 copy imputes the same,
    # to rounding; where float32 is kept, to float32's precision (1e-5 of the
    # data's spread: its eps is 1.2e-7, times the conditioning of the fit).
    reference = clone(imputer()).set_params(missing_values=marker)
    expected = reference.fit_transform(X.astype(np.float64))
    if Xt.dtype == np.float64:
        assert_allclose(Xt, expected, rtol=1e-12)
    else:
        assert_allclose(Xt, expected, rtol=0, atol=1e-5 * np.nanstd(expected))
    assert not np.isin(Xt, [-999]).any()


@pytest.mark.parametrize("estimator", [EMImputer, EMMixture])
def test_pd_na_in_a_numeric_object_column_is_missing(estimator):
    # Numbers beside pd.NA in an object column (a frame's astype(object))
    # are a numeric feature whose pd.NA cells are missing, as in mixed
    # tables; numpy's float conversion used to refuse them with a TypeError
    # about 'NAType'. The same fit as the float column with NaN, to the bit.
    rng = np.random.default_rng(0)
    floats = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    floats.iloc[::4, 0] = np.nan
    floats.iloc[1::5, 2] = np.nan
    objects = floats.astype(object)
    objects.iloc[::4, 0] = pd.NA
    before = objects.copy()
    expected = estimator(random_state=0).fit(floats)
    got = estimator(random_state=0).fit(objects)
    assert_array_equal(got.means_, expected.means_)
    pd.testing.assert_frame_equal(objects, before)
    if estimator is EMImputer:
        assert_array_equal(got.transform(objects), expected.transform(floats))
        values = objects.to_numpy()
        with pytest.warns(UserWarning, match="does not have valid feature names"):
            from_values = got.transform(values)
        assert_array_equal(from_values, expected.transform(floats))
    else:
        assert_array_equal(got.score_samples(objects), expected.score_samples(floats))
