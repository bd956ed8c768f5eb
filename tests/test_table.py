"""Mixed tables to the EM engine's arrays and back (emimpute._table)."""

import ast
import math
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.preprocessing import OneHotEncoder

import emimpute._table
from emimpute._cells import is_missing_cell
from emimpute._decode import decode
from emimpute._encode import encode
from emimpute._layout import categorical_mask, fit_layout


@pytest.fixture
def pd():
    return pytest.importorskip("pandas")


@pytest.fixture
def pl():
    return pytest.importorskip("polars")


def _round_trip(X, **kwargs):
    """Mask, layout, encode and decode of ``X`` with 'from_dtype'."""
    n_features = len(X.columns) if hasattr(X, "columns") else np.shape(X)[1]
    mask = categorical_mask(X, "from_dtype", n_features=n_features, **kwargs)
    layout = fit_layout(X, mask, **kwargs)
    numeric, codes, _ = encode(X, layout, **kwargs)
    return layout, numeric, codes, decode(numeric, codes, layout, like=X)


def _same_cells(a, b):
    """Cell-by-cell equality of two object arrays, any missing value matching."""
    assert a.shape == b.shape
    for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True):
        x_missing = x is None or (isinstance(x, float) and math.isnan(x))
        y_missing = y is None or (isinstance(y, float) and math.isnan(y))
        assert x_missing == y_missing, (x, y)
        if not x_missing:
            assert type(x) is type(y) and x == y, (x, y)


# categorical_mask ------------------------------------------------------------


def test_from_dtype_numpy_object_judges_values():
    X = np.array(
        [
            [1.0, "a", True, np.nan, 1, {"k": 1}],
            [None, None, np.bool_(False), "?", 2.5, 3.0],
        ],
        dtype=object,
    )
    mask = categorical_mask(X, "from_dtype", n_features=6)
    np.testing.assert_array_equal(mask, [False, True, True, True, False, False])
    # A string marker is a missing cell, not text.
    mask = categorical_mask(X, "from_dtype", n_features=6, missing_values="?")
    np.testing.assert_array_equal(mask, [False, True, True, False, False, False])


def test_from_dtype_list_of_lists_keeps_numbers_apart_from_text():
    # numpy alone would make this a string array with 'nan' and '1.0' in it.
    X = [[1.0, "a"], [np.nan, "b"]]
    np.testing.assert_array_equal(
        categorical_mask(X, "from_dtype", n_features=2), [False, True]
    )
    layout, numeric, codes, _ = _round_trip(X)
    np.testing.assert_array_equal(numeric, [[1.0], [np.nan]])
    np.testing.assert_array_equal(codes, [[0], [1]])


@pytest.mark.parametrize(
    "X",
    [
        np.array([[1.0, np.nan], [2.0, 3.0]]),
        np.array([[1, 2], [3, 4]]),
        np.array([[True, False], [False, True]]),
        np.array([[1.0, 2.0], [3.0, None]], dtype=object),
    ],
    ids=["float", "int", "bool", "object-numbers"],
)
def test_from_dtype_numeric_numpy_has_no_categorical(X):
    assert not categorical_mask(X, "from_dtype", n_features=2).any()


def test_from_dtype_pandas(pd):
    X = pd.DataFrame(
        {
            "category": pd.Series(["a", None], dtype="category"),
            "object_text": pd.Series(["a", None], dtype=object),
            "object_numbers": pd.Series([1.5, None], dtype=object),
            "string_python": pd.Series(["a", None], dtype=pd.StringDtype("python")),
            "str_default": ["a", None],
            "bool": [True, False],
            "boolean": pd.Series([True, None], dtype="boolean"),
            "Int64": pd.Series([1, pd.NA], dtype="Int64"),
            "Float64": pd.Series([1.5, pd.NA], dtype="Float64"),
            "float64": [1.5, np.nan],
        }
    )
    mask = categorical_mask(X, "from_dtype", n_features=X.shape[1])
    categorical = list(X.columns[mask])
    assert categorical == [
        "category",
        "object_text",
        "string_python",
        "str_default",
        "bool",
        "boolean",
    ]


def test_from_dtype_polars(pl):
    X = pl.DataFrame(
        {
            "categorical": pl.Series(["a", None], dtype=pl.Categorical),
            "enum": pl.Series(["a", None], dtype=pl.Enum(["b", "a"])),
            "string": ["a", None],
            "boolean": [True, None],
            "int": [1, None],
            "float": [1.5, None],
        }
    )
    mask = categorical_mask(X, "from_dtype", n_features=X.width)
    np.testing.assert_array_equal(mask, [True, True, True, True, False, False])


def test_explicit_forms():
    X = np.zeros((2, 4))
    names = np.array(["a", "b", "c", "d"], dtype=object)
    expected = [False, True, False, True]
    assert not categorical_mask(X, None, n_features=4).any()
    assert not categorical_mask(X, [], n_features=4).any()
    for given in ([1, 3], np.array([3, 1]), expected):
        np.testing.assert_array_equal(
            categorical_mask(X, given, n_features=4), expected
        )
    np.testing.assert_array_equal(
        categorical_mask(X, ["d", "b"], n_features=4, feature_names_in=names),
        expected,
    )


@pytest.mark.parametrize(
    "given, kwargs, message",
    [
        ([1, 4], {}, "index 4 is out of range: X has 4 features"),
        ([-1], {}, "index -1 is out of range: X has 4 features"),
        ([True, False], {}, "boolean mask of length 2, but X has 4 features"),
        (["b"], {}, "given as names, but X has no feature names"),
        (
            ["b", "z"],
            {"feature_names_in": np.array(["a", "b", "c", "d"], dtype=object)},
            r"names \['z'\] are not feature names",
        ),
        ("auto", {}, "should be 'from_dtype', None, an array-like of int indices"),
        ([0.5], {}, "should be 'from_dtype', None, an array-like of int indices"),
        ([[0]], {}, "should be 'from_dtype', None, an array-like of int indices"),
    ],
)
def test_explicit_form_errors(given, kwargs, message):
    with pytest.raises(ValueError, match=message):
        categorical_mask(np.zeros((2, 4)), given, n_features=4, **kwargs)


# fit_layout: categories --------------------------------------------------------


@pytest.mark.parametrize(
    "column",
    [
        np.array([["b"], ["a"], ["c"], ["a"]], dtype=object),
        np.array([[3], [1], [2], [3]]),
        np.array([[True], [False], [True], [True]]),
    ],
    ids=["str", "int", "bool"],
)
def test_categories_sorted_as_one_hot_encoder(column):
    layout = fit_layout(column, [True])
    (expected,) = OneHotEncoder().fit(column).categories_
    np.testing.assert_array_equal(layout.categories[0], expected)
    assert layout.categories[0].dtype == expected.dtype


def test_categories_leave_missing_out():
    X = np.array([["b", 2.0], [None, np.nan], [np.nan, 1.0], ["a", 2.0]], dtype=object)
    layout = fit_layout(X, [True, True])
    np.testing.assert_array_equal(layout.categories[0], ["a", "b"])
    np.testing.assert_array_equal(layout.categories[1], [1.0, 2.0])
    np.testing.assert_array_equal(layout.numeric, np.array([], dtype=int))
    np.testing.assert_array_equal(layout.categorical, [0, 1])


def test_pandas_category_keeps_declared_categories(pd):
    dtype = pd.CategoricalDtype(["c", "unused", "a"], ordered=True)
    X = pd.DataFrame(
        {"x": [1.0, 2.0, np.nan], "k": pd.Categorical(["a", None, "c"], dtype=dtype)}
    )
    layout, numeric, codes, out = _round_trip(X)
    np.testing.assert_array_equal(layout.categories[0], ["c", "unused", "a"])
    np.testing.assert_array_equal(codes[:, 0], [2, -1, 0])
    assert out["k"].dtype == dtype
    pd.testing.assert_frame_equal(out, X)


def test_polars_enum_keeps_declared_categories(pl):
    X = pl.DataFrame({"e": pl.Series(["a", "b"], dtype=pl.Enum(["b", "z", "a"]))})
    layout, _, codes, out = _round_trip(X)
    np.testing.assert_array_equal(layout.categories[0], ["b", "z", "a"])
    np.testing.assert_array_equal(codes[:, 0], [2, 0])
    assert out.equals(X) and out.schema == X.schema


@pytest.mark.parametrize(
    "values, types",
    [(["a", 1.0], r"\['number', 'str'\]"), ([True, 2], r"\['number', 'bool'\]")],
)
def test_mixed_value_types_raise_naming_the_column(values, types):
    X = np.array([[0.0, v] for v in values], dtype=object)
    with pytest.raises(
        TypeError, match=rf"categorical column 1 mixes values of types {types}"
    ):
        fit_layout(X, [False, True])


def test_mixed_value_types_name_the_feature(pd):
    X = pd.DataFrame({"island": pd.Series(["a", 1], dtype=object)})
    with pytest.raises(TypeError, match=r"feature 'island' \(column 0\) mixes"):
        fit_layout(X, [True])


def test_column_without_observed_value():
    X = np.array([[1.0, None], [2.0, np.nan]], dtype=object)
    layout = fit_layout(X, [False, True])
    assert layout.categories[0].size == 0
    numeric, codes, _ = encode(X, layout)
    np.testing.assert_array_equal(codes, [[-1], [-1]])
    out = decode(numeric, codes, layout, like=X)
    assert out[0, 0] == 1.0 and math.isnan(out[1, 1])


# encode ----------------------------------------------------------------------


def test_codes_index_the_categories():
    train = np.array([["b", 1.0], ["a", 2.0], ["c", np.nan]], dtype=object)
    layout = fit_layout(train, [True, False])
    test = np.array([["c", 5.0], [None, 6.0], ["a", np.nan], ["c", 7.0]], dtype=object)
    numeric, codes, _ = encode(test, layout)
    np.testing.assert_array_equal(codes[:, 0], [2, -1, 0, 2])
    assert codes.dtype == np.intp
    np.testing.assert_array_equal(numeric[:, 0], [5.0, 6.0, np.nan, 7.0])
    assert numeric.dtype == np.float64
    # Codes decode to the values: categories[codes] is the column.
    np.testing.assert_array_equal(
        layout.categories[0][codes[[0, 2, 3], 0]], ["c", "a", "c"]
    )


def test_encode_returns_new_arrays():
    X = np.array([[1.0, 2.0], [np.nan, 4.0]])
    numeric, _, _ = encode(X, fit_layout(X, [False, False]))
    numeric[:] = 0.0
    np.testing.assert_array_equal(X, [[1.0, 2.0], [np.nan, 4.0]])


def test_unknown_category_names_feature_and_values(pd):
    train = pd.DataFrame({"bill": [39.1, 40.3], "island": ["Biscoe", "Torgersen"]})
    layout = fit_layout(train, [False, True])
    test = pd.DataFrame(
        {"bill": [1.0, 2.0, 3.0], "island": ["Dream", "Biscoe", "Dream"]}
    )
    message = (
        "Found unknown categories ['Dream'] in feature 'island' (column 1); "
        "the estimator knows only the categories seen in fit"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        encode(test, layout)
    # A pandas category column is looked up by its categories, same message;
    # a declared but absent category is no error.
    test = test.astype({"island": pd.CategoricalDtype(["Biscoe", "Dream", "Other"])})
    with pytest.raises(ValueError, match=re.escape(message)):
        encode(test, layout)
    numeric, codes, _ = encode(test.iloc[[1]], layout)
    np.testing.assert_array_equal(codes, [[0]])


def test_unknown_category_without_names_gives_the_column():
    layout = fit_layout(np.array([["a"], ["b"]], dtype=object), [True])
    # A number in a str column is unknown too, not a comparison error.
    with pytest.raises(
        ValueError, match=r"unknown categories \['z', 3\] in column 0; "
    ):
        encode(np.array([["z"], [3], ["a"]], dtype=object), layout)


@pytest.mark.parametrize(
    "X", [np.array([[1.0, np.inf]]), np.array([[1.0, -np.inf]], dtype=object)]
)
def test_infinity_raises(X):
    layout = fit_layout(np.zeros((1, 2)), [False, False])
    with pytest.raises(ValueError, match="Input X contains infinity"):
        encode(X, layout)


def test_bad_numeric_cells_raise_as_scikit_learn_does():
    layout = fit_layout(np.zeros((1, 2)), [False, False])
    with pytest.raises(ValueError, match="could not convert string to float: 'abc'"):
        encode(np.array([[1.0, "abc"]], dtype=object), layout)
    X = np.random.RandomState(0).uniform(size=(3, 2)).astype(object)
    X[0, 0] = {"foo": "bar"}
    assert not categorical_mask(X, "from_dtype", n_features=2).any()
    with pytest.raises(TypeError, match="argument must be .* string.* number"):
        encode(X, layout)


def test_missing_values_minus_one():
    X = np.array([[1, 2], [-1, 3], [4, -1], [-1, 2]])
    layout = fit_layout(X, [False, True], missing_values=-1)
    np.testing.assert_array_equal(layout.categories[0], [2, 3])
    numeric, codes, _ = encode(X, layout, missing_values=-1)
    np.testing.assert_array_equal(numeric[:, 0], [1.0, np.nan, 4.0, np.nan])
    np.testing.assert_array_equal(codes[:, 0], [0, 1, -1, 0])


def test_missing_values_string_marker(pd):
    X = pd.DataFrame(
        {
            "x": pd.Series([1.5, "?", 2.0], dtype=object),
            "k": pd.Series(["a", "?", "b"], dtype=object),
            "c": pd.Categorical(["a", "?", "b"], categories=["?", "a", "b"]),
        }
    )
    layout, numeric, codes, out = _round_trip(X, missing_values="?")
    np.testing.assert_array_equal(layout.numeric, [0])
    np.testing.assert_array_equal(numeric[:, 0], [1.5, np.nan, 2.0])
    np.testing.assert_array_equal(codes, [[0, 0], [-1, -1], [1, 1]])
    # A marker declared as a category is left out of the categories, and the
    # output keeps the declared dtype with the cell missing.
    np.testing.assert_array_equal(layout.categories[1], ["a", "b"])
    assert out["c"].dtype == X["c"].dtype
    assert out["c"].isna().tolist() == [False, True, False]


def test_is_missing_cell(pd):
    values = np.array(
        [None, np.nan, pd.NA, pd.NaT, np.datetime64("NaT"), "a", 0, False, "0"],
        dtype=object,
    )
    expected = [True] * 5 + [False] * 4
    np.testing.assert_array_equal(is_missing_cell(values), expected)
    # A marker catches only values of its own kind: 0 is not False or "0".
    np.testing.assert_array_equal(
        is_missing_cell(values, missing_values=0),
        [True] * 5 + [False, True, False, False],
    )
    np.testing.assert_array_equal(
        is_missing_cell(np.array([0.0, -1.0, np.nan]), missing_values=-1),
        [False, True, True],
    )


# decode: round trips ------------------------------------------------------------


def test_round_trip_numpy_object():
    X = np.array(
        [[1.5, "b", True], [np.nan, None, False], [-2.0, "a", None]], dtype=object
    )
    layout, numeric, codes, out = _round_trip(X)
    assert out.dtype == object
    _same_cells(out, X)


def test_round_trip_numeric_ndarray_is_float():
    X = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, np.nan]])
    layout = fit_layout(X, [False, True])
    numeric, codes, _ = encode(X, layout)
    out = decode(numeric, codes, layout, like=X)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, X)


def test_round_trip_pandas(pd):
    X = pd.DataFrame(
        {
            "num": [1.5, np.nan, 3.0],
            "str": ["x", None, "y"],
            "obj": pd.Series(["x", np.nan, "z"], dtype=object),
            "string": pd.Series(["a", None, "b"], dtype="string"),
            "bool": [True, False, True],
            "boolean": pd.Series([True, None, False], dtype="boolean"),
            "cat": pd.Categorical(["b", "a", None], categories=["b", "a"]),
        }
    )
    X.index = [10, 5, 7]
    layout, numeric, codes, out = _round_trip(X)
    pd.testing.assert_frame_equal(out, X)


def test_round_trip_pandas_pyarrow_types(pd, tmp_path):
    # read_parquet(dtype_backend='pyarrow') reads a category column as a
    # pyarrow dictionary, which 'from_dtype' took for a number (encode then
    # failed: could not convert string to float: 'a'). Its pyarrow string
    # and bool columns were found already.
    pa = pytest.importorskip("pyarrow")
    X = pd.DataFrame(
        {
            "num": [1.5, np.nan, 3.0, 4.0],
            "cat": pd.Categorical(["b", "a", None, "b"]),
            "string": pd.Series(["x", None, "y", "x"], dtype="string"),
            "bool": pd.Series([True, None, False, True], dtype="boolean"),
        }
    )
    X.to_parquet(tmp_path / "X.parquet")
    X = pd.read_parquet(tmp_path / "X.parquet", dtype_backend="pyarrow")
    assert str(X["cat"].dtype).startswith("dictionary<values=string")
    X["num"] = X["num"].astype(float)  # numeric columns come back float64
    # A dictionary of numbers is categorical too, as a category of numbers.
    numbers = pa.array([3, None, 1, 3]).dictionary_encode()
    X.insert(2, "cat_int", pd.Series(numbers, dtype=pd.ArrowDtype(numbers.type)))
    mask = categorical_mask(X, "from_dtype", n_features=X.shape[1])
    assert mask.tolist() == [False, True, True, True, True]
    layout, numeric, codes, out = _round_trip(X)
    assert [c.tolist() for c in layout.categories] == [
        ["a", "b"],
        [1, 3],
        ["x", "y"],
        [False, True],
    ]
    pd.testing.assert_frame_equal(out, X)


def test_pandas_nullable_numbers_come_back_float64(pd):
    X = pd.DataFrame(
        {
            "Int64": pd.Series([1, pd.NA, 3], dtype="Int64"),
            "Float64": pd.Series([1.5, pd.NA, 3.0], dtype="Float64"),
            "object": pd.Series([1.0, pd.NA, 3], dtype=object),
        }
    )
    layout, numeric, codes, out = _round_trip(X)
    np.testing.assert_array_equal(numeric, [[1.0, 1.5, 1.0], [np.nan] * 3, [3.0] * 3])
    assert out.dtypes.tolist() == [np.float64] * 3


def test_pandas_bool_column_with_a_missing_code_becomes_boolean(pd):
    X = pd.DataFrame({"b": [True, False]})
    layout = fit_layout(X, [True])
    out = decode(np.empty((2, 0)), np.array([[1], [-1]]), layout, like=X)
    assert str(out["b"].dtype) == "boolean"
    assert out["b"].isna().tolist() == [False, True]


def test_round_trip_polars(pl):
    X = pl.DataFrame(
        {
            "num": [1.5, None, 3.0],
            "string": ["x", None, "y"],
            "categorical": pl.Series(["u", "v", None], dtype=pl.Categorical),
            "enum": pl.Series(["q", None, "p"], dtype=pl.Enum(["q", "p"])),
            "boolean": [True, None, False],
        }
    )
    layout, numeric, codes, out = _round_trip(X)
    assert out.schema == X.schema
    assert out.equals(X)
    # The polars data types (Enum with its categories) pickle with the layout.
    assert pickle.loads(pickle.dumps(layout)).dtypes == layout.dtypes


def test_decode_to_frames_for_ndarray_input(pd, pl):
    X = np.array([[1.5, "b"], [2.0, "a"], [np.nan, None]], dtype=object)
    layout = fit_layout(X, [False, True])
    numeric, codes, _ = encode(X, layout)
    frame = decode(numeric, codes, layout, container="pandas", columns=["x", "k"])
    assert frame.columns.tolist() == ["x", "k"]
    assert frame["x"].dtype == np.float64
    assert frame["k"].dtype == pd.CategoricalDtype(["a", "b"])
    assert frame["k"].tolist()[:2] == ["b", "a"] and frame["k"].isna().tolist()[2]
    frame = decode(numeric, codes, layout, container="polars", columns=["x", "k"])
    assert frame.columns == ["x", "k"]
    assert frame.schema["x"] == pl.Float64 and frame.schema["k"] == pl.Categorical
    assert frame["k"].to_list() == ["b", "a", None]


def test_decode_argument_errors():
    layout = fit_layout(np.zeros((1, 2)), [False, False])
    with pytest.raises(ValueError, match="exactly one of like and container"):
        decode(np.zeros((1, 2)), np.zeros((1, 0), dtype=int), layout)
    with pytest.raises(ValueError, match=r"numeric has shape \(1, 1\)"):
        decode(
            np.zeros((1, 1)), np.zeros((1, 0), dtype=int), layout, like=np.zeros((1, 2))
        )


# layout objects and optional libraries -------------------------------------------


def test_layout_pickles(pd):
    X = pd.DataFrame(
        {
            "x": [1.0, np.nan],
            "k": pd.Categorical(["a", "b"], categories=["b", "a", "c"], ordered=True),
            "s": pd.Series(["u", None], dtype="string"),
        }
    )
    layout = fit_layout(X, [False, True, True])
    clone = pickle.loads(pickle.dumps(layout))
    assert clone.dtypes == layout.dtypes and clone.container == "pandas"
    for a, b in zip(clone.categories, layout.categories, strict=True):
        np.testing.assert_array_equal(a, b)
    numeric, codes, _ = encode(X, clone)
    pd.testing.assert_frame_equal(decode(numeric, codes, clone, like=X), X)


@pytest.mark.parametrize(
    "module", ["_cells", "_table", "_layout", "_encode", "_decode"]
)
def test_pandas_and_polars_are_not_imported_by_the_table_modules(module):
    # A numpy user needs neither: they are imported where a frame is read.
    path = Path(emimpute.__file__).parent / f"{module}.py"
    imported = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert "numpy" in imported
    assert not imported & {"pandas", "polars"}


def test_numpy_input_without_pandas_or_polars(monkeypatch):
    # A None entry in sys.modules makes `import pandas` raise ImportError.
    monkeypatch.setitem(sys.modules, "pandas", None)
    monkeypatch.setitem(sys.modules, "polars", None)
    X = np.array([[1.0, "a"], [None, "b"], [2.0, np.nan]], dtype=object)
    layout, numeric, codes, out = _round_trip(X)
    _same_cells(out, X)


def test_text_mixed_with_numbers_stays_numeric():
    # A numeric column with a stray string is a typo, not categories: it
    # stays numeric so that its conversion names the problem.
    X = np.array([[1.0, "a"], ["abc", "b"], [3.0, None]], dtype=object)
    mask = categorical_mask(X, "from_dtype", n_features=2)
    np.testing.assert_array_equal(mask, [False, True])
    layout = fit_layout(X[[0, 2]], mask)
    with pytest.raises(ValueError, match="could not convert string to float"):
        encode(X, layout)
