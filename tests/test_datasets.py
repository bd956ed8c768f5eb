"""Tests of the bundled data loaders and of make_missing."""

import csv
import math
import re
import sys
import warnings
from importlib import resources

import numpy as np
import pytest

from emimpute.datasets import load_old_faithful, load_penguins, make_missing


def test_load_old_faithful():
    faithful = load_old_faithful()
    assert faithful.data.shape == (272, 2)
    assert faithful.data.dtype == np.float64
    assert faithful.feature_names == ["eruptions", "waiting"]
    assert faithful.frame is None
    assert "Old Faithful" in faithful.DESCR
    assert not np.isnan(faithful.data).any()
    # Known summaries of R's datasets::faithful.
    np.testing.assert_allclose(faithful.data.mean(axis=0), [3.487783, 70.897059])
    np.testing.assert_array_equal(faithful.data[-1], [4.467, 74.0])


def test_load_old_faithful_as_frame():
    pd = pytest.importorskip("pandas")
    faithful = load_old_faithful(as_frame=True)
    assert isinstance(faithful.frame, pd.DataFrame)
    assert faithful.data is faithful.frame
    assert list(faithful.frame.columns) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(faithful.frame.to_numpy(), load_old_faithful().data)


PENGUIN_FEATURES = [
    "species",
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
]
PENGUIN_CATEGORICAL = ["species", "island", "sex"]
PENGUIN_NUMERIC = [
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
]


@pytest.fixture(scope="module")
def penguins_csv():
    """The bundled CSV read with the csv module alone: ``(header, rows)``."""
    path = resources.files("emimpute.datasets").joinpath("data", "penguins.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _holes_per_column(header, rows):
    return {
        name: sum(row[j] in ("", "NA") for row in rows) for j, name in enumerate(header)
    }


def test_penguins_csv_is_the_published_table(penguins_csv):
    header, rows = penguins_csv
    assert header == [*PENGUIN_FEATURES, "year"]
    assert len(rows) == 344
    assert all(len(row) == 8 for row in rows)
    # The published table: 2 birds unmeasured, 11 unsexed, no other holes.
    assert _holes_per_column(header, rows) == {
        "species": 0,
        "island": 0,
        "bill_length_mm": 2,
        "bill_depth_mm": 2,
        "flipper_length_mm": 2,
        "body_mass_g": 2,
        "sex": 11,
        "year": 0,
    }


def test_load_penguins_as_frame(penguins_csv):
    pd = pytest.importorskip("pandas")
    header, rows = penguins_csv
    penguins = load_penguins()
    frame, data = penguins.frame, penguins.data
    assert isinstance(frame, pd.DataFrame)
    assert isinstance(data, pd.DataFrame)
    assert frame.shape == (344, 8)
    assert data.shape == (344, 7)
    assert list(frame.columns) == header
    assert list(data.columns) == PENGUIN_FEATURES
    assert penguins.feature_names == PENGUIN_FEATURES
    assert "Gorman" in penguins.DESCR and "CC0" in penguins.DESCR
    assert frame.isna().sum().to_dict() == _holes_per_column(header, rows)
    for name in PENGUIN_CATEGORICAL:
        assert isinstance(frame[name].dtype, pd.CategoricalDtype)
        assert not frame[name].cat.ordered
    for name in PENGUIN_NUMERIC:
        assert frame[name].dtype == np.float64
    assert frame["year"].dtype == np.int64
    assert sorted(frame["year"].unique()) == [2007, 2008, 2009]
    assert frame["species"].cat.categories.tolist() == ["Adelie", "Chinstrap", "Gentoo"]
    assert frame["island"].cat.categories.tolist() == ["Biscoe", "Dream", "Torgersen"]
    assert frame["sex"].cat.categories.tolist() == ["female", "male"]
    assert frame["species"].value_counts().to_dict() == {
        "Adelie": 152,
        "Gentoo": 124,
        "Chinstrap": 68,
    }
    # Every cell as written in the file.
    for j, name in enumerate(header):
        column = frame[name].tolist()
        for i, row in enumerate(rows):
            if row[j] in ("", "NA"):
                assert pd.isna(column[i])
            elif name in PENGUIN_CATEGORICAL:
                assert column[i] == row[j]
            else:
                assert column[i] == float(row[j])


def test_load_penguins_numpy(penguins_csv):
    header, rows = penguins_csv
    penguins = load_penguins(as_frame=False)
    X = penguins.data
    assert isinstance(X, np.ndarray)
    assert X.dtype == object
    assert X.shape == (344, 7)
    assert penguins.frame is None
    assert penguins.feature_names == PENGUIN_FEATURES
    for j, name in enumerate(PENGUIN_FEATURES):
        raw = [row[header.index(name)] for row in rows]
        if name in PENGUIN_CATEGORICAL:
            assert all(
                (v is None) if r == "" else (type(v) is str and v == r)
                for v, r in zip(X[:, j], raw, strict=True)
            )
        else:
            assert all(type(v) is float for v in X[:, j])
            expected = [math.nan if r == "" else float(r) for r in raw]
            np.testing.assert_array_equal(X[:, j].astype(float), expected)
    assert sorted(set(X[:, 0])) == ["Adelie", "Chinstrap", "Gentoo"]


def test_load_penguins_frame_matches_numpy():
    pd = pytest.importorskip("pandas")
    X = load_penguins(as_frame=False).data
    data = load_penguins().data
    expected = pd.DataFrame(X, columns=PENGUIN_FEATURES).astype(data.dtypes.to_dict())
    pd.testing.assert_frame_equal(data, expected)


def test_load_penguins_without_pandas(monkeypatch):
    # A None entry in sys.modules makes `import pandas` raise ImportError.
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        load_penguins()
    assert load_penguins(as_frame=False).data.shape == (344, 7)


@pytest.fixture
def X():
    return np.random.RandomState(0).normal(size=(2000, 4))


@pytest.mark.parametrize("mechanism", ["mcar", "mar"])
def test_make_missing_copies_and_keeps_values(X, mechanism):
    X_orig = X.copy()
    X_missing = make_missing(X, missing_rate=0.3, mechanism=mechanism, random_state=0)
    np.testing.assert_array_equal(X, X_orig)
    assert X_missing.shape == X.shape
    observed = ~np.isnan(X_missing)
    np.testing.assert_array_equal(X_missing[observed], X[observed])


def test_make_missing_mcar_rate(X):
    mask = np.isnan(make_missing(X, missing_rate=0.3, random_state=0))
    assert mask.mean() == pytest.approx(0.3, abs=0.02)
    # MCAR: every column loses about the same share.
    np.testing.assert_allclose(mask.mean(axis=0), 0.3, atol=0.04)


def test_make_missing_mar_depends_on_driver(X):
    X_missing = make_missing(
        X, missing_rate=0.4, mechanism="mar", driver=2, random_state=0
    )
    mask = np.isnan(X_missing)
    assert not mask[:, 2].any()
    np.testing.assert_allclose(np.delete(mask, 2, axis=1).mean(axis=0), 0.4, atol=0.04)
    # Rows with a large driver lose more values than rows with a small one.
    high = X[:, 2] > np.median(X[:, 2])
    assert mask[high].mean() > 2 * mask[~high].mean()


def test_make_missing_reproducible(X):
    a = make_missing(X, missing_rate=0.2, random_state=42)
    b = make_missing(X, missing_rate=0.2, random_state=42)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))


def test_make_missing_empty_rows():
    X = np.ones((500, 2))
    X_missing = make_missing(X, missing_rate=0.8, random_state=0)
    assert not np.isnan(X_missing).all(axis=1).any()
    X_empty = make_missing(X, missing_rate=0.8, allow_empty_rows=True, random_state=0)
    assert np.isnan(X_empty).all(axis=1).any()


def test_make_missing_keeps_existing_nan():
    X = np.ones((50, 3))
    X[0, 0] = np.nan
    X_missing = make_missing(X, missing_rate=0.0, random_state=0)
    np.testing.assert_array_equal(np.isnan(X_missing), np.isnan(X))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"missing_rate": 1.0}, "missing_rate"),
        ({"missing_rate": -0.1}, "missing_rate"),
        ({"missing_rate": 0.1, "mechanism": "mnar"}, "mechanism"),
        ({"missing_rate": 0.1, "mechanism": "mar", "driver": 5}, "driver"),
    ],
)
def test_make_missing_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_missing(np.ones((10, 3)), **kwargs)


def test_make_missing_mar_needs_observed_driver():
    X = np.ones((10, 3))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="driver column 0 to be fully observed"):
        make_missing(X, missing_rate=0.1, mechanism="mar", driver=0)
    # A DataFrame's driver is named by its name, however it was given.
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["I", "J", "K"])
    for driver in ("I", 0):
        with pytest.raises(ValueError, match="driver column 'I' to be fully"):
            make_missing(frame, missing_rate=0.1, mechanism="mar", driver=driver)


def test_make_missing_single_feature():
    with pytest.raises(ValueError, match="allow_empty_rows"):
        make_missing(np.ones((10, 1)), missing_rate=0.1)
    X_missing = make_missing(
        np.ones((1000, 1)), missing_rate=0.5, allow_empty_rows=True, random_state=0
    )
    assert np.isnan(X_missing).mean() == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("mechanism", ["mcar", "mar"])
def test_make_missing_on_a_pandas_frame_keeps_its_type_and_cells(X, mechanism):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=list("abcd"), index=np.arange(2000) * 3)
    frame["kind"] = pd.Categorical(np.where(X[:, 0] > 0, "up", "down"))
    frame["count"] = np.arange(2000)
    frame.loc[frame.index[:5], "kind"] = np.nan  # already missing, stays so
    original = frame.copy()
    holed = make_missing(
        frame, missing_rate=0.3, mechanism=mechanism, driver="b", random_state=0
    )
    pd.testing.assert_frame_equal(frame, original)
    assert list(holed.columns) == list(frame.columns)
    assert (holed.index == frame.index).all()
    assert isinstance(holed["kind"].dtype, pd.CategoricalDtype)
    missing = holed.isna().to_numpy()
    assert missing[:5, 4].all()
    # Observed cells are the input's, in place.
    pd.testing.assert_frame_equal(
        holed.where(~missing, original), original, check_dtype=False
    )
    # The holes are those an array of the same shape gets from the same seed
    # (same draws), the categorical column's own holes included.
    reference = np.zeros(frame.shape)
    reference[:5, 4] = np.nan
    reference = make_missing(
        reference + X[:, [1]] * (np.arange(6) == 1),
        missing_rate=0.3,
        mechanism=mechanism,
        driver=1,
        random_state=0,
    )
    np.testing.assert_array_equal(missing, np.isnan(reference))
    if mechanism == "mar":
        assert not missing[:, 1].any()


def test_make_missing_on_a_polars_frame():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 50, "s": ["a", "b"] * 100})
    holed = make_missing(frame, missing_rate=0.4, random_state=0)
    assert isinstance(holed, pl.DataFrame)
    assert holed.schema == frame.schema
    assert 0.3 < holed.null_count().to_numpy().sum() / 400 < 0.5
    assert frame.null_count().to_numpy().sum() == 0


def test_make_missing_frame_driver_errors(X):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": X[:, 0], "s": ["x"] * len(X)})
    with pytest.raises(ValueError, match="'s' is not numeric"):
        make_missing(frame, missing_rate=0.2, mechanism="mar", driver="s")
    with pytest.raises(ValueError, match="or a column name, got 'z'"):
        make_missing(frame, missing_rate=0.2, mechanism="mar", driver="z")


def _polars_null_or_nan(frame):
    # fill_nan turns a float column's NaN into null, so is_null sees both.
    columns = [
        frame[name].fill_nan(None) if frame[name].dtype.is_float() else frame[name]
        for name in frame.columns
    ]
    return np.column_stack([column.is_null().to_numpy() for column in columns])


@pytest.mark.parametrize("mechanism", ["mcar", "mar"])
def test_make_missing_keeps_polars_nulls_and_nan(mechanism):
    # A null in a float column made the missing mask an object array holding
    # None, and make_missing raised a TypeError.
    pl = pytest.importorskip("polars")
    values = np.random.RandomState(0).normal(size=400)
    frame = pl.DataFrame(
        {
            "driver": values,
            "x": pl.Series(values).scatter([0, 1], None),
            "y": pl.Series(values, dtype=pl.Float32).scatter([2], float("nan")),
            "k": pl.Series(np.arange(400)).scatter([3], None),
        }
    )
    before = _polars_null_or_nan(frame)
    assert before.sum() == 4
    holed = make_missing(frame, missing_rate=0.3, mechanism=mechanism, random_state=0)
    assert holed.schema == frame.schema
    after = _polars_null_or_nan(holed)
    assert after[before].all()
    assert 0.2 < after[:, 1:].mean() < 0.4
    for j, name in enumerate(frame.columns):
        kept = ~after[:, j]
        np.testing.assert_array_equal(
            holed[name].to_numpy()[kept], frame[name].to_numpy()[kept]
        )


def _outlier_driver(sign):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(1000, 2))
    X[0, 0] = sign * 1e6  # its z is about sqrt(1000), the others' about 0
    return X


@pytest.mark.parametrize(
    "X, missing_rate",
    [
        (_outlier_driver(1), 5e-4),
        (_outlier_driver(-1), 0.9995),
        (np.random.RandomState(1).normal(size=(100, 3)), 1e-25),
        (np.random.RandomState(1).normal(size=(100, 3)), 1 - 2**-53),
        (np.ones((100, 3)), 0.3),
    ],
)
def test_make_missing_mar_reaches_extreme_rates(X, missing_rate):
    # The intercept was solved on the fixed bracket [-50, 50], which these
    # cases fall outside: scipy's "f(a) and f(b) must have different signs".
    X_missing = make_missing(
        X, missing_rate=missing_rate, mechanism="mar", random_state=0
    )
    mask = np.isnan(X_missing)
    assert not mask[:, 0].any()
    # The removal probabilities average to missing_rate: with so many rows,
    # the realised share is that within a few standard errors.
    se = math.sqrt(missing_rate * (1 - missing_rate) / mask[:, 1:].size)
    assert abs(mask[:, 1:].mean() - missing_rate) <= 5 * se + 1e-12


def test_make_missing_mar_unreachable_rate():
    with pytest.raises(ValueError, match="cannot reach missing_rate=5e-324"):
        make_missing(np.eye(3), missing_rate=5e-324, mechanism="mar")


@pytest.mark.parametrize("library", ["pandas", "polars"])
@pytest.mark.parametrize("mechanism", ["mcar", "mar"])
@pytest.mark.parametrize("shape", [(3, 0), (0, 2), (0, 0)])
def test_make_missing_empty_frame(library, mechanism, shape):
    # A frame with no columns failed with numpy's "need at least one array to
    # concatenate"; with no rows, MCAR returned it silently and MAR warned
    # and failed in scipy. They now fail as an array of that shape does.
    module = pytest.importorskip(library)
    columns = {f"c{j}": np.zeros(shape[0]) for j in range(shape[1])}
    if library == "pandas":
        frame = module.DataFrame(columns, index=range(shape[0]))
    else:
        frame = module.DataFrame(columns or None, height=shape[0])
    assert frame.shape == shape
    what = "sample(s)" if shape[0] == 0 else "feature(s)"
    expected = (
        f"Found array with 0 {what} (shape={shape}) while a minimum of 1 is required."
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        make_missing(np.zeros(shape), missing_rate=0.3, mechanism=mechanism)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=re.escape(expected)):
            make_missing(frame, missing_rate=0.3, mechanism=mechanism)


def test_make_missing_on_the_penguins_object_array():
    # It failed with numpy's "could not convert string to float: 'Adelie'".
    X = load_penguins(as_frame=False).data
    X_orig = X.copy()
    holed = make_missing(X, missing_rate=0.2, random_state=0)
    # Not modified: the same objects in every cell (NaN != NaN, so `is`).
    assert all(a is b for a, b in zip(X.ravel(), X_orig.ravel(), strict=True))
    assert holed.dtype == object and holed.shape == X.shape
    before = np.array([[v is None or v != v for v in row] for row in X])
    missing = np.array([[v is None or v != v for v in row] for row in holed])
    assert missing[before].all()
    assert 0.15 < missing[~before].mean() < 0.25
    # Observed cells are the input's, with their types.
    assert all(a is b for a, b in zip(holed[~missing], X[~missing], strict=True))
    # The same holes as the DataFrame of that array gets from the same seed.
    pd = pytest.importorskip("pandas")
    frame = make_missing(pd.DataFrame(X), missing_rate=0.2, random_state=0)
    np.testing.assert_array_equal(missing, frame.isna().to_numpy())


def test_make_missing_mar_on_an_object_array():
    rng = np.random.RandomState(0)
    X = np.empty((500, 3), dtype=object)
    X[:, 0] = rng.choice(["a", "b"], 500)
    X[:, 1] = rng.normal(size=500)
    X[:, 2] = rng.normal(size=500)
    holed = make_missing(X, missing_rate=0.3, mechanism="mar", driver=1)
    assert holed.dtype == object
    assert not any(v != v for v in holed[:, 1])
    with pytest.raises(ValueError, match="driver column; column 0 is not numeric"):
        make_missing(X, missing_rate=0.3, mechanism="mar", driver=0)
    # An object array of numbers alone still comes back as float64.
    numeric = make_missing(X[:, 1:], missing_rate=0.3, random_state=0)
    assert numeric.dtype == np.float64


def test_make_missing_driver_is_a_label_first(X):
    # driver=2021 on columns [2020, 2021, 2022] was refused: only str drivers
    # were looked up as names.
    pd = pytest.importorskip("pandas")

    def kept_whole(frame, driver):
        holed = make_missing(
            frame, missing_rate=0.3, mechanism="mar", driver=driver, random_state=0
        )
        return list(holed.columns[~holed.isna().any().to_numpy()])

    years = pd.DataFrame(X[:, :3], columns=[2020, 2021, 2022])
    assert kept_whole(years, 2021) == [2021]
    assert kept_whole(years, np.int64(2022)) == [2022]
    # An int that is no label is a position.
    assert kept_whole(years, 0) == [2020]
    assert kept_whole(years, -1) == [2022]
    # A label wins over the position it could also be.
    assert kept_whole(pd.DataFrame(X[:, :3], columns=[1, 0, 2]), 0) == [0]
    assert kept_whole(pd.DataFrame(X[:, :2], columns=[0.5, "b"]), 0.5) == [0.5]
    with pytest.raises(ValueError, match="or a column name, got 2023"):
        make_missing(years, missing_rate=0.3, mechanism="mar", driver=2023)
    with pytest.raises(ValueError, match=r"or a column name, got \[2021\]"):
        make_missing(years, missing_rate=0.3, mechanism="mar", driver=[2021])
    twice = pd.DataFrame(X[:, :3], columns=["a", "a", "b"])
    with pytest.raises(ValueError, match="driver='a' names 2 columns"):
        make_missing(twice, missing_rate=0.3, mechanism="mar", driver="a")


def test_make_missing_mar_refuses_an_infinite_driver():
    # An infinite driver value made the column's spread NaN and every row's
    # probability the same: MCAR holes under mechanism='mar', silently.
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1.0, np.inf, 2.0, 3.0], "b": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="finite driver column; column 'a'"):
        make_missing(frame, missing_rate=0.3, mechanism="mar", random_state=0)
