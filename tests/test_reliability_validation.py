"""Reliability catalogue, input validation (RELIABILITY.md (b), cases 1-15).

Every bad input must raise the documented exception type with the documented
message, in ``fit`` and in every method that takes ``X`` after fit, for both
estimators; good inputs in unusual containers or memory layouts (object
arrays, pandas nullable dtypes, read-only, memory-mapped, Fortran-ordered,
strided) must give the same result as a plain C-contiguous float64 array,
bit for bit.
"""

import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from emimpute import EMImputer, EMMixture

# BLAS and OpenMP limited to one thread (see conftest.single_threaded).
pytestmark = pytest.mark.usefixtures("single_threaded")


ESTIMATORS = {"EMImputer": EMImputer, "EMMixture": EMMixture}
NAMES = list(ESTIMATORS)

# Methods taking X after fit (bic/aic call score internally but take X too).
METHODS = {
    "EMImputer": ["transform", "score"],
    "EMMixture": ["score", "score_samples", "predict", "predict_proba", "bic", "aic"],
}
FIT_METHODS = {
    "EMImputer": ["fit", "fit_transform"],
    "EMMixture": ["fit", "fit_predict"],
}
NAME_METHOD = [(name, method) for name in NAMES for method in METHODS[name]]
NAME_FIT = [(name, method) for name in NAMES for method in FIT_METHODS[name]]
# Outputs compared across containers and layouts.
OUTPUTS = {
    "EMImputer": ["transform", "score"],
    "EMMixture": ["score_samples", "predict_proba", "predict"],
}


def _make(name, **params):
    """The estimator under test: 2 components, so responsibilities matter."""
    return ESTIMATORS[name](n_components=2, random_state=0, **params)


def _data(n=30, d=3, seed=0, rate=0.2):
    """Two well-separated clusters, ``rate`` of the cells missing."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[: n // 2] += 5.0
    X[rng.random(X.shape) < rate] = np.nan
    X[:, 0][np.isnan(X[:, 0])] = 1.0  # keep one column complete
    return X


X_TRAIN = _data()


@pytest.fixture(scope="module")
def fitted():
    """One fitted model per estimator (methods write no state, see safety)."""
    return {name: _make(name).fit(X_TRAIN) for name in NAMES}


def _outputs(estimator, name, X):
    return [np.asarray(getattr(estimator, m)(X)) for m in OUTPUTS[name]]


def _assert_same_outputs(a, b):
    for left, right in zip(a, b, strict=True):
        # Bit for bit: the container or layout must not change a single
        # rounding (NaN positions must agree too).
        np.testing.assert_array_equal(left, right, strict=True)


# --------------------------------------------------------------------------
# 1. inf / -inf (not covered by the sklearn checks when allow_nan=True)
# --------------------------------------------------------------------------
INF_MESSAGE = "Input X contains infinity"


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("position", [(0, 0), (3, 1), (29, 2)])
@pytest.mark.parametrize("name, method", NAME_FIT)
def test_inf_rejected_at_fit(name, method, position, value):
    X = X_TRAIN.copy()
    X[position] = value
    with pytest.raises(ValueError, match=INF_MESSAGE):
        getattr(_make(name), method)(X)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("name, method", NAME_METHOD)
def test_inf_rejected_after_fit(fitted, name, method, value):
    X = X_TRAIN.copy()
    X[1, 1] = np.nan  # alongside a NaN, which is allowed
    X[1, 2] = value
    with pytest.raises(ValueError, match=INF_MESSAGE):
        getattr(fitted[name], method)(X)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_inf_rejected_with_missing_values_marker(value):
    X = np.nan_to_num(X_TRAIN, nan=-1.0)
    X[2, 1] = value
    imputer = EMImputer(missing_values=-1, random_state=0)
    with pytest.raises(ValueError, match=INF_MESSAGE):
        imputer.fit(X)
    imputer.fit(np.nan_to_num(X_TRAIN, nan=-1.0))
    with pytest.raises(ValueError, match=INF_MESSAGE):
        imputer.transform(X)


# --------------------------------------------------------------------------
# 3-5. strings, object arrays, complex
# --------------------------------------------------------------------------
def _with_text():
    X = X_TRAIN.astype(object)
    X[4, 1] = "abc"
    return X


@pytest.mark.parametrize("name, method", NAME_FIT)
def test_text_rejected_at_fit(name, method):
    with pytest.raises(ValueError, match="could not convert string to float"):
        getattr(_make(name), method)(_with_text())
    frame = pd.DataFrame(X_TRAIN, columns=["a", "b", "c"]).assign(
        b=lambda f: f["b"].astype(object).where(f.index != 4, "abc")
    )
    with pytest.raises(ValueError, match="could not convert string to float"):
        getattr(_make(name), method)(frame)


@pytest.mark.parametrize("name, method", NAME_METHOD)
def test_text_rejected_after_fit(fitted, name, method):
    with pytest.raises(ValueError, match="could not convert string to float"):
        getattr(fitted[name], method)(_with_text())


@pytest.mark.parametrize("name", NAMES)
def test_object_array_of_numbers_is_float64(name):
    X_object = X_TRAIN.astype(object)
    reference = _make(name).fit(X_TRAIN)
    model = _make(name).fit(X_object)
    _assert_same_outputs(
        _outputs(model, name, X_object), _outputs(reference, name, X_TRAIN)
    )


@pytest.mark.parametrize("name", NAMES)
def test_object_array_with_dict_is_type_error(fitted, name):
    X = X_TRAIN.astype(object)
    X[0, 0] = {"a": 1}
    message = "argument must be .* string.* number"
    with pytest.raises(TypeError, match=message):
        _make(name).fit(X)
    for method in METHODS[name]:
        with pytest.raises(TypeError, match=message):
            getattr(fitted[name], method)(X)


@pytest.mark.parametrize("name", NAMES)
def test_complex_rejected(fitted, name):
    X = X_TRAIN + 1j
    with pytest.raises(ValueError, match="Complex data not supported"):
        _make(name).fit(X)
    for method in METHODS[name]:
        with pytest.raises(ValueError, match="Complex data not supported"):
            getattr(fitted[name], method)(X)


# --------------------------------------------------------------------------
# 6. sparse input
# --------------------------------------------------------------------------
SPARSE = [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array, sp.coo_array]
SPARSE_MESSAGE = "Sparse data was passed for X, but dense data is required"


@pytest.mark.parametrize("container", SPARSE, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", NAMES)
def test_sparse_rejected(fitted, name, container):
    X = container(np.nan_to_num(X_TRAIN))
    for method in FIT_METHODS[name]:
        with pytest.raises(TypeError, match=SPARSE_MESSAGE):
            getattr(_make(name), method)(X)
    for method in METHODS[name]:
        with pytest.raises(TypeError, match=SPARSE_MESSAGE):
            getattr(fitted[name], method)(X)


# --------------------------------------------------------------------------
# 7-9. dimensions, empty arrays, wrong number of features
# --------------------------------------------------------------------------
BAD_SHAPES = [
    ("1-D", lambda X: X[:, 1], "Expected 2D array, got 1D array instead"),
    ("3-D", lambda X: X[:, :, np.newaxis], "Found array with dim 3"),
    ("0 rows", lambda X: X[:0], r"Found array with 0 sample\(s\)"),
]


@pytest.mark.parametrize("label, reshape, message", BAD_SHAPES, ids=lambda v: v)
@pytest.mark.parametrize("name", NAMES)
def test_bad_shapes_rejected(fitted, name, label, reshape, message):
    X = reshape(X_TRAIN)
    for method in FIT_METHODS[name]:
        with pytest.raises(ValueError, match=message):
            getattr(_make(name), method)(X)
    for method in METHODS[name]:
        with pytest.raises(ValueError, match=message):
            getattr(fitted[name], method)(X)


@pytest.mark.parametrize("name, method", NAME_FIT)
def test_zero_features_rejected(name, method):
    message = r"0 feature\(s\) \(shape=\(\d*, 0\)\) while a minimum of \d* is required"
    with pytest.raises(ValueError, match=message):
        getattr(_make(name), method)(X_TRAIN[:, :0])


@pytest.mark.parametrize("n_features", [2, 4])
@pytest.mark.parametrize("name, method", NAME_METHOD)
def test_wrong_number_of_features(fitted, name, method, n_features):
    X = np.column_stack([X_TRAIN, X_TRAIN])[:, :n_features]
    message = re.escape(
        f"X has {n_features} features, but {name} is expecting 3 features as input"
    )
    with pytest.raises(ValueError, match=message):
        getattr(fitted[name], method)(X)


# --------------------------------------------------------------------------
# 10. feature names
# --------------------------------------------------------------------------
def _frame(X=X_TRAIN):
    return pd.DataFrame(X, columns=["a", "b", "c"])


@pytest.mark.parametrize("name, method", NAME_METHOD)
def test_dataframe_columns_must_match(name, method):
    model = _make(name).fit(_frame())
    message = "The feature names should match those that were passed during fit"
    for frame in (_frame()[["b", "a", "c"]], _frame().rename(columns={"a": "z"})):
        with pytest.raises(ValueError, match=message):
            getattr(model, method)(frame)


@pytest.mark.parametrize("name", NAMES)
def test_ndarray_and_dataframe_mixed_warn_and_agree(name):
    on_array = _make(name).fit(X_TRAIN)
    on_frame = _make(name).fit(_frame())
    for method in OUTPUTS[name]:
        with pytest.warns(
            UserWarning, match=f"X has feature names, but {name} was fitted without"
        ):
            from_frame = getattr(on_array, method)(_frame())
        with pytest.warns(
            UserWarning,
            match=f"X does not have valid feature names, but {name} was fitted with",
        ):
            from_array = getattr(on_frame, method)(X_TRAIN)
        reference = getattr(on_array, method)(X_TRAIN)
        np.testing.assert_array_equal(np.asarray(from_frame), reference, strict=True)
        np.testing.assert_array_equal(np.asarray(from_array), reference, strict=True)


# --------------------------------------------------------------------------
# 11. pandas nullable dtypes and pd.NA
# --------------------------------------------------------------------------
def _nullable_frame():
    mask = np.isnan(X_TRAIN)
    ints = np.round(X_TRAIN * 10)
    return (
        pd.DataFrame(
            {
                "a": pd.array(ints[:, 0].astype(np.int64), dtype="Int64"),
                "b": pd.array(
                    [
                        None if m else v
                        for v, m in zip(ints[:, 1], mask[:, 1], strict=True)
                    ],
                    dtype="Int64",
                ),
                "c": pd.array(
                    [
                        None if m else v
                        for v, m in zip(X_TRAIN[:, 2], mask[:, 2], strict=True)
                    ],
                    dtype="Float64",
                ),
            }
        ),
        np.column_stack([ints[:, :2], X_TRAIN[:, 2]]),
    )


@pytest.mark.parametrize("name", NAMES)
def test_pandas_nullable_dtypes_with_pd_na(name):
    frame, X = _nullable_frame()
    assert frame.isna().to_numpy().sum() == np.isnan(X).sum() > 0
    model = _make(name).fit(frame)
    reference = _make(name).fit(X)
    # pd.NA is exactly NaN: same fit, same outputs, bit for bit.
    _assert_same_outputs(_outputs(model, name, frame), _outputs(reference, name, X))
    if name == "EMImputer":
        Xt = model.transform(frame)
        assert Xt.dtype == np.float64
        assert np.all(np.isfinite(Xt))


@pytest.mark.parametrize("name", NAMES)
def test_object_column_holding_pd_na_is_missing(name):
    # Catalogue 11 allows a TypeError (scikit-learn's) or conversion: pd.NA
    # in an object column of numbers is missing, as in mixed tables and
    # nullable columns. The same fit and outputs as NaN there, bit for bit.
    frame = _frame().astype({"b": object})
    frame.loc[3, "b"] = pd.NA
    with_nan = _frame()
    with_nan.loc[3, "b"] = np.nan
    model = _make(name).fit(frame)
    reference = _make(name).fit(with_nan)
    _assert_same_outputs(
        _outputs(model, name, frame), _outputs(reference, name, with_nan)
    )


# --------------------------------------------------------------------------
# 12. missing_values marker (EMImputer)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float64])
def test_missing_values_marker(dtype):
    rng = np.random.default_rng(3)
    values = rng.integers(0, 50, size=(40, 3))
    values[:20] += 100
    marked = rng.random(values.shape) < 0.2
    X = np.where(marked, -1, values).astype(dtype)
    X_copy = X.copy()
    imputer = EMImputer(missing_values=-1, random_state=0)
    Xt = imputer.fit_transform(X)
    assert Xt.dtype == np.float64
    assert np.all(Xt[marked] != -1)
    assert np.array_equal(Xt[~marked], X[~marked].astype(np.float64))
    # The marker is only a mask: the same fit as with NaN, bit for bit.
    with_nan = np.where(marked, np.nan, values.astype(np.float64))
    np.testing.assert_array_equal(
        Xt, EMImputer(random_state=0).fit_transform(with_nan), strict=True
    )
    np.testing.assert_array_equal(X, X_copy, strict=True)


def test_nan_with_missing_values_marker_is_error():
    X = np.nan_to_num(X_TRAIN, nan=-1.0)
    imputer = EMImputer(missing_values=-1)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        imputer.fit(X_TRAIN)
    imputer.fit(X)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        imputer.transform(X_TRAIN)


def test_none_as_the_marker_beside_categorical_columns():
    # missing_values=None marks None cells; a NaN in a numeric column is
    # not one, and is refused as on numbers alone (a reviewer's mixed frame
    # had it imputed silently, while the numeric frame raised).
    g = ["a", "b", None, "b", "a", "b"]
    frame = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0, 5.0, 7.0], "g": g})
    message = (
        r"Input X contains NaN \(first in feature 'x' \(column 0\)\), and "
        r"missing_values=None marks the missing cells: a NaN \(pd.NA\) in a "
        r"numeric column is neither \(pandas stores a None of a float column "
        r"as NaN\)\. .*missing_values=np.nan"
    )
    with pytest.raises(ValueError, match=message):
        EMImputer(missing_values=None).fit(frame)
    # None objects in a numeric column of an object array (or an object
    # column) are the marker: imputed, as with NaN and missing_values=np.nan.
    x = [1.0, 2.0, None, 4.0, 5.0, 7.0]
    as_none = np.array([x, g], dtype=object).T
    as_nan = np.array([[np.nan if v is None else v for v in x], g], dtype=object).T
    by_none = EMImputer(missing_values=None).fit_transform(as_none)
    by_nan = EMImputer().fit_transform(as_nan)
    np.testing.assert_array_equal(
        by_none[:, 0].astype(float), by_nan[:, 0].astype(float)
    )
    objects = pd.DataFrame({"x": pd.Series(x, dtype=object), "g": g})
    np.testing.assert_array_equal(
        EMImputer(missing_values=None).fit_transform(objects)[:, 0].astype(float),
        by_nan[:, 0].astype(float),
    )
    with pytest.raises(ValueError, match="Input X contains NaN"):
        EMImputer(missing_values=None).fit_transform(as_nan)
    # The nulls of a nullable pandas column (pd.NA) and of polars are
    # pandas' and polars' None: the marker too.
    pl = pytest.importorskip("polars")
    nullable = pd.DataFrame(
        {"x": pd.array([1, 2, None, 4, 5, 7], dtype="Int64"), "g": g}
    )
    for X in (nullable, pl.DataFrame({"x": x, "g": g})):
        completed = EMImputer(missing_values=None).fit_transform(X)
        np.testing.assert_array_equal(
            np.asarray(completed[:, 0], dtype=float), by_nan[:, 0].astype(float)
        )


@pytest.mark.parametrize("container", ["object", "pandas", "nullable", "polars"])
def test_nan_with_a_marker_is_an_error_beside_categorical_columns(container):
    # The same rule as for numbers alone: with missing_values=-1, a NaN,
    # None or pd.NA in a numeric column is neither a value nor the marker.
    # In a text column None stays missing (pandas' only spelling of it).
    x = [1.0, -1.0, 3.0, 4.0, np.nan, 6.0, 7.0, 8.0]
    g = ["a", "b", None, "b", "a", "b", "a", "b"]
    if container == "object":
        X = np.array([x, [2.0 * v for v in x], g], dtype=object).T
    elif container == "polars":
        pl = pytest.importorskip("polars")
        X = pl.DataFrame({"x": x, "g": g}).with_columns(
            pl.col("x").fill_nan(None), pl.col("g").cast(pl.Categorical)
        )
    else:
        if container == "nullable":
            x = pd.array([None if np.isnan(v) else int(v) for v in x], dtype="Int64")
        X = pd.DataFrame({"x": x, "g": g}).astype({"g": "category"})
    message = r"Input X contains NaN \(first in .*column 0.*missing_values=-1"
    with pytest.raises(ValueError, match=message):
        EMImputer(missing_values=-1).fit(X)
    # Marked with the marker instead, it fits, and None in g is missing.
    if container == "polars":
        clean = X.with_columns(pl.col("x").fill_null(-1.0))
    elif container == "object":
        clean = X.copy()
        clean[4, :2] = -1.0
    else:
        clean = X.fillna({"x": -1})
    imputer = EMImputer(missing_values=-1).fit(clean)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        imputer.transform(X)
    completed = np.asarray(imputer.transform(clean), dtype=object)
    assert completed[2, -1] in ("a", "b") and completed[1, 0] != -1


def test_no_missing_value_is_identity():
    X = np.nan_to_num(X_TRAIN, nan=0.5)
    for imputer in (EMImputer(), EMImputer(missing_values=-1)):
        np.testing.assert_array_equal(imputer.fit_transform(X), X, strict=True)


# --------------------------------------------------------------------------
# 13. invalid parameters: InvalidParameterError at fit, never at __init__
# --------------------------------------------------------------------------
COMMON_BAD = [
    ("n_components", 0),
    ("n_components", 1.5),
    ("covariance_type", "foo"),
    ("tol", -1.0),
    ("reg_covar", -1e-6),
    ("max_iter", -1),
    ("n_init", 0),
    ("init_params", "x"),
    ("random_state", "a"),
]
BAD_PARAMS = [(name, p, v) for name in NAMES for p, v in COMMON_BAD] + [
    ("EMImputer", "missing_values", [1]),
    ("EMImputer", "sample_posterior", "yes"),
    ("EMImputer", "add_indicator", 2),
    ("EMImputer", "keep_empty_features", None),
    ("EMMixture", "warm_start", "yes"),
    ("EMMixture", "verbose_interval", 0),
]


@pytest.mark.parametrize("name, param, value", BAD_PARAMS)
def test_invalid_parameter_raised_at_fit(name, param, value):
    estimator = ESTIMATORS[name](**{param: value})  # no error at __init__
    estimator.set_params(**{param: value})  # nor at set_params
    message = f"The '{param}' parameter of {name} must be"
    for method in FIT_METHODS[name]:
        with pytest.raises(InvalidParameterError, match=message):
            getattr(estimator, method)(X_TRAIN)
    assert issubclass(InvalidParameterError, ValueError)


# --------------------------------------------------------------------------
# 14. not fitted
# --------------------------------------------------------------------------
UNFITTED_CALLS = [
    ("EMImputer", "transform", (X_TRAIN,)),
    ("EMImputer", "score", (X_TRAIN,)),
    ("EMImputer", "get_feature_names_out", ()),
    ("EMMixture", "score", (X_TRAIN,)),
    ("EMMixture", "score_samples", (X_TRAIN,)),
    ("EMMixture", "predict", (X_TRAIN,)),
    ("EMMixture", "predict_proba", (X_TRAIN,)),
    ("EMMixture", "sample", (3,)),
    ("EMMixture", "bic", (X_TRAIN,)),
    ("EMMixture", "aic", (X_TRAIN,)),
]


@pytest.mark.parametrize("name, method, args", UNFITTED_CALLS, ids=str)
def test_not_fitted(name, method, args):
    message = f"This {name} instance is not fitted yet"
    with pytest.raises(NotFittedError, match=message):
        getattr(ESTIMATORS[name](), method)(*args)


# --------------------------------------------------------------------------
# 15. read-only, memory-mapped, Fortran-ordered and strided inputs
# --------------------------------------------------------------------------
def _layouts(X, tmp_path):
    read_only = X.copy()
    read_only.flags.writeable = False
    wide = np.full((X.shape[0], 2 * X.shape[1]), 123.0)
    wide[:, ::2] = X
    reversed_rows = np.ascontiguousarray(X[::-1])[::-1]
    path = tmp_path / "X.npy"
    np.save(path, X)
    return {
        "read-only": read_only,
        "memmap": np.load(path, mmap_mode="r"),
        "fortran": np.asfortranarray(X),
        "strided": wide[:, ::2],
        "negative-strides": reversed_rows,
    }


@pytest.mark.parametrize("name", NAMES)
def test_layouts_give_identical_results(name, tmp_path):
    reference = _make(name).fit(X_TRAIN)
    expected = _outputs(reference, name, X_TRAIN)
    for X in _layouts(X_TRAIN, tmp_path).values():
        model = _make(name).fit(X)
        _assert_same_outputs(_outputs(model, name, X), expected)
        _assert_same_outputs(_outputs(reference, name, X), expected)
        np.testing.assert_array_equal(X, X_TRAIN, strict=False)


def test_read_only_input_with_marker_is_imputed_without_writing():
    X = np.nan_to_num(X_TRAIN, nan=-1.0)
    X.flags.writeable = False
    # Filling in place would raise "assignment destination is read-only".
    Xt = EMImputer(missing_values=-1, random_state=0).fit_transform(X)
    assert not np.any(Xt == -1.0)
    assert not X.flags.writeable


@pytest.mark.parametrize("container", ["pandas", "pandas-tz", "polars", "numpy"])
@pytest.mark.parametrize("estimator", [EMImputer(), EMMixture(2)])
def test_date_columns_are_refused_by_name(container, estimator):
    # Neither numbers nor categories: scikit-learn's validation raised
    # numpy's DTypePromotionError, naming no column.
    dates = pd.to_datetime(["2020-01-01", "2020-02-01", None, "2020-03-01"])
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0], "when": dates})
    if container == "pandas-tz":
        frame["when"] = frame["when"].dt.tz_localize("UTC")
    if container == "polars":
        pl = pytest.importorskip("polars")
        frame = pl.from_pandas(frame)
    if container == "numpy":
        X, described = frame[["when"]].to_numpy(), "column 0"
    else:
        X, described = frame, "feature 'when' (column 1)"
    message = (
        rf"{type(estimator).__name__} models numbers and categories, and "
        rf"{re.escape(described)} holds dates or times \(.*\): convert them to "
        r"numbers"
    )
    with pytest.raises(ValueError, match=message):
        estimator.fit(X)
