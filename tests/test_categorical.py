"""Categorical features in EMImputer and EMMixture: the estimators' contract.

The engine's arithmetic is checked against per-row brute-force references in
``test_mixed_engine.py``; here, what a user sees: column detection, output
types, observed cells untouched, posterior predictive probabilities against
a direct computation, parameter counts, errors.
"""

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from emimpute import EMImputer, EMMixture
from emimpute.datasets import load_penguins

CATEGORICAL = ["species", "island", "sex"]


@pytest.fixture(scope="module")
def penguins():
    return load_penguins().data


def _latent_class_table(seed, n=120, missing=0.2):
    """Two classes: colour and size depend on the class, as does x."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    colour = np.where(rng.random(n) < 0.9, label, 1 - label)
    size = np.where(rng.random(n) < 0.8, label, 1 - label)
    x = rng.normal(3.0 * label, 1.0)
    X = np.empty((n, 3), dtype=object)
    X[:, 0] = x
    X[:, 1] = np.array(["red", "blue"])[colour]
    X[:, 2] = np.array(["small", "large"])[size]
    holes = rng.random((n, 3)) < missing
    X[holes[:, 0], 0] = np.nan
    X[holes[:, 1], 1] = None
    X[holes[:, 2], 2] = None
    return X, label


def test_columns_detected_from_dtype(penguins):
    imputer = EMImputer(n_components=2, random_state=0).fit(penguins)
    np.testing.assert_array_equal(imputer.categorical_features_, [0, 1, 6])
    np.testing.assert_array_equal(imputer.numeric_features_, [2, 3, 4, 5])
    assert [list(c) for c in imputer.categories_] == [
        ["Adelie", "Chinstrap", "Gentoo"],
        ["Biscoe", "Dream", "Torgersen"],
        ["female", "male"],
    ]
    assert imputer.means_.shape == (2, 4)
    assert [p.shape for p in imputer.category_probabilities_] == [
        (2, 3),
        (2, 3),
        (2, 2),
    ]
    for probabilities in imputer.category_probabilities_:
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=0, atol=1e-14)


def test_imputer_fills_every_hole_and_keeps_observed_cells(penguins):
    out = EMImputer(n_components=3, random_state=0).fit_transform(penguins)
    assert isinstance(out, np.ndarray) and out.dtype == object
    assert out.shape == penguins.shape
    observed = penguins.notna().to_numpy()
    # Observed cells come back as they were, exactly.
    assert all(
        out[i, j] == penguins.iat[i, j]
        for i, j in zip(*np.nonzero(observed), strict=True)
    )
    holes = ~observed
    assert not pd.isna(out[holes]).any()
    for j, name in enumerate(penguins.columns):
        if name in CATEGORICAL:
            assert set(out[holes[:, j], j]) <= set(penguins[name].cat.categories)


def test_pandas_output_keeps_category_dtype(penguins):
    imputer = EMImputer(n_components=2, random_state=0).set_output(transform="pandas")
    out = imputer.fit_transform(penguins)
    assert list(out.columns) == list(penguins.columns)
    pd.testing.assert_index_equal(out.index, penguins.index)
    for name in CATEGORICAL:
        assert out[name].dtype == penguins[name].dtype
    assert out.notna().all().all()
    observed = penguins.notna()
    pd.testing.assert_frame_equal(
        out.where(observed), penguins.where(observed), check_dtype=False
    )


def test_polars_in_and_out(penguins):
    frame = pl.DataFrame(
        {
            name: (
                pl.Series(
                    name,
                    penguins[name]
                    .astype(object)
                    .where(penguins[name].notna(), None)
                    .tolist(),
                    pl.Categorical,
                )
                if name in CATEGORICAL
                else pl.Series(name, penguins[name].to_numpy())
            )
            for name in penguins.columns
        }
    )
    imputer = EMImputer(n_components=2, random_state=0).set_output(transform="polars")
    out = imputer.fit_transform(frame)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == frame.columns
    assert out.null_count().sum_horizontal().item() == 0
    for name in CATEGORICAL:
        assert out[name].dtype == frame[name].dtype
    np.testing.assert_array_equal(imputer.categorical_features_, [0, 1, 6])


def test_numpy_object_in_object_out():
    X, _ = _latent_class_table(0)
    out = EMImputer(n_components=2, random_state=0).fit_transform(X)
    assert out.dtype == object
    observed = ~pd.isna(X)
    assert np.all(out[observed] == X[observed])
    assert set(out[:, 1]) == {"red", "blue"}
    assert set(out[:, 2]) == {"small", "large"}


def test_one_component_fills_with_the_mode():
    # With one component the categorical features are independent of
    # everything: a hole gets its column's most frequent observed category.
    X, _ = _latent_class_table(1)
    X[:, 1] = np.where(np.arange(len(X)) % 3 == 0, "blue", X[:, 1])
    imputer = EMImputer(random_state=0).fit(X)
    out = imputer.transform(X)
    for j in (1, 2):
        values = pd.Series(X[:, j]).dropna()
        mode = values.value_counts().idxmax()
        assert set(out[pd.isna(X[:, j]), j]) == {mode}


def test_predict_category_proba_matches_direct_computation():
    X, _ = _latent_class_table(2)
    imputer = EMImputer(n_components=2, random_state=0).fit(X)
    proba = imputer.predict_category_proba(X)
    assert [p.shape for p in proba] == [(len(X), 2), (len(X), 2)]
    # Direct computation: P(x_j = c | x_O) = sum_k r_k theta_kjc, with r_k
    # from log w_k + log N(x; mu_k, S_k) + sum of observed log theta.
    weights = imputer.weights_
    mean = imputer.means_[:, 0]
    variance = imputer.covariances_.reshape(2, -1)[:, 0]
    thetas = imputer.category_probabilities_
    for i in range(len(X)):
        log_r = np.log(weights)
        if not pd.isna(X[i, 0]):
            log_r = log_r - 0.5 * (
                np.log(2 * np.pi * variance) + (X[i, 0] - mean) ** 2 / variance
            )
        for j, categories in zip((1, 2), imputer.categories_, strict=True):
            if X[i, j] is not None:
                c = list(categories).index(X[i, j])
                log_r = log_r + np.log(thetas[j - 1][:, c])
        resp = np.exp(log_r - logsumexp(log_r))
        for j, categories in zip((1, 2), imputer.categories_, strict=True):
            if X[i, j] is None:
                expected = resp @ thetas[j - 1]
            else:
                expected = (np.asarray(categories) == X[i, j]).astype(float)
            # Same sums in a different order: rounding only.
            np.testing.assert_allclose(
                proba[j - 1][i], expected, rtol=1e-12, atol=1e-15
            )


def test_imputed_category_is_the_most_probable():
    X, _ = _latent_class_table(3)
    imputer = EMImputer(n_components=2, random_state=0).fit(X)
    out = imputer.transform(X)
    for j, probabilities in zip((1, 2), imputer.predict_category_proba(X), strict=True):
        holes = pd.isna(X[:, j])
        best = np.asarray(imputer.categories_[j - 1])[probabilities.argmax(axis=1)]
        np.testing.assert_array_equal(out[holes, j], best[holes])


def test_mixture_counts_categorical_parameters(penguins):
    mixture = EMMixture(3, covariance_type="diag", random_state=0).fit(penguins)
    n = len(penguins)
    # weights, means and variances of 4 numeric features, and K (L_j - 1)
    # category probabilities per categorical feature (3, 3 and 2 levels).
    n_parameters = 2 + 3 * 4 + 3 * 4 + 3 * (2 + 2 + 1)
    expected = -2 * n * mixture.score(penguins) + n_parameters * np.log(n)
    np.testing.assert_allclose(mixture.bic(penguins), expected, rtol=1e-14)
    assert mixture._n_parameters() == n_parameters


def test_mixture_score_marginalises_categorical_holes(penguins):
    mixture = EMMixture(2, covariance_type="diag", random_state=0).fit(penguins)
    # A row whose only observed entry is a category: its density is the
    # mixture of the category probabilities.
    row = penguins.iloc[[0]].copy()
    row.iloc[0, 1:] = None
    row["species"] = pd.Categorical(
        ["Gentoo"], categories=row["species"].cat.categories
    )
    expected = np.log(mixture.weights_ @ mixture.category_probabilities_[0][:, 2])
    np.testing.assert_allclose(mixture.score_samples(row), [expected], rtol=1e-13)
    proba = mixture.predict_proba(row)
    prior = mixture.weights_ * mixture.category_probabilities_[0][:, 2]
    np.testing.assert_allclose(proba[0], prior / prior.sum(), rtol=1e-13)


def test_mixture_clusters_penguin_species(penguins):
    mixture = EMMixture(3, covariance_type="diag", random_state=0)
    labels = mixture.fit_predict(penguins)
    species = penguins["species"].cat.codes.to_numpy()
    # Each cluster is (almost) one species: the largest species per cluster
    # covers nearly every bird.
    majority = sum(np.bincount(species[labels == k]).max() for k in range(3))
    assert majority / len(species) > 0.95
    np.testing.assert_array_equal(labels, mixture.predict(penguins))


def test_sample_draws_categories(penguins):
    mixture = EMMixture(2, covariance_type="diag", random_state=0).fit(penguins)
    X, labels = mixture.sample(50)
    assert X.shape == (50, 7) and labels.shape == (50,)
    assert set(X[:, 0]) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert np.all(np.isfinite(X[:, 2:6].astype(float)))


def test_sample_dtype_follows_the_fitted_input():
    # What the sample docstring states: categories as floats in a float64
    # array after a fit on an array of numbers, as their own values in an
    # object array after a fit on a DataFrame or an object array.
    rng = np.random.RandomState(0)
    a = rng.randint(0, 3, 200)
    x = rng.normal(size=200) + a
    numeric = np.column_stack([a * 10.0, x])
    text = np.column_stack([np.array(list("pqr"), dtype=object)[a], x])
    fits = [
        (numeric, [0], np.float64, float, {0.0, 10.0, 20.0}),
        (numeric.astype(np.float32), [0], np.float64, float, {0.0, 10.0, 20.0}),
        (pd.DataFrame({"a": a, "x": x}), ["a"], object, int, {0, 1, 2}),
        (text, "from_dtype", object, str, {"p", "q", "r"}),
    ]
    for X, categorical, dtype, kind, categories in fits:
        mixture = EMMixture(2, categorical_features=categorical, random_state=0)
        sample, _ = mixture.fit(X).sample(50)
        assert sample.dtype == dtype
        assert all(isinstance(v, kind) for v in sample[:, 0])
        assert set(sample[:, 0]) <= categories
        assert all(isinstance(v, float) for v in sample[:, 1])


def test_unknown_category_is_an_error(penguins):
    imputer = EMImputer(random_state=0).fit(penguins)
    other = penguins.copy()
    other["island"] = other["island"].cat.add_categories("Anvers")
    other.loc[0, "island"] = "Anvers"
    with pytest.raises(ValueError, match=r"unknown categories \['Anvers'\].*'island'"):
        imputer.transform(other)


def test_categorical_features_by_index_name_and_none():
    X, _ = _latent_class_table(4)
    frame = pd.DataFrame(X, columns=["x", "colour", "size"])
    by_name = EMImputer(n_components=2, random_state=0, categorical_features=["size"])
    with pytest.raises(ValueError, match="could not convert string to float"):
        by_name.fit(frame)
    by_index = EMImputer(n_components=2, random_state=0, categorical_features=[1, 2])
    np.testing.assert_array_equal(by_index.fit(frame).categorical_features_, [1, 2])
    with pytest.raises(ValueError, match="could not convert string to float"):
        EMImputer(categorical_features=None).fit(X)


def test_posterior_draws_are_reproducible_and_keep_observed_cells():
    X, _ = _latent_class_table(5)
    imputer = EMImputer(n_components=2, sample_posterior=True, random_state=3)
    first = imputer.fit(X).transform(X)
    second = clone(imputer).fit(X).transform(X)
    assert np.all(first == second)
    observed = ~pd.isna(X)
    assert np.all(first[observed] == X[observed])


def test_grid_search_on_a_mixed_frame(penguins):
    search = GridSearchCV(
        EMMixture(covariance_type="diag", random_state=0),
        {"n_components": [1, 3]},
        cv=3,
    ).fit(penguins)
    assert search.best_params_ == {"n_components": 3}


def test_student_heights_missing_genders_are_recovered():
    # The classic first example of EM: heights all recorded, gender for a
    # third of the students; the two Gaussians are learnt from both.
    rng = np.random.default_rng(0)
    n = 400
    gender = rng.integers(0, 2, n)
    height = np.where(gender == 1, rng.normal(178, 7, n), rng.normal(164, 6, n))
    recorded = rng.random(n) < 0.3
    frame = pd.DataFrame(
        {
            "height": height,
            "gender": pd.Categorical(
                np.where(recorded, np.array(["F", "M"])[gender], None),
                categories=["F", "M"],
            ),
        }
    )
    imputer = EMImputer(n_components=2, random_state=0).fit(frame)
    out = imputer.transform(frame)
    truth = np.array(["F", "M"])[gender]
    accuracy = np.mean(out[~recorded, 1] == truth[~recorded])
    # Overlapping Gaussians (means 2 sd apart): the Bayes rate is about 0.84.
    assert accuracy > 0.78


@pytest.mark.parametrize("keep_empty_features", [False, True])
def test_empty_categorical_feature(keep_empty_features):
    X, _ = _latent_class_table(6)
    frame = pd.DataFrame(X, columns=["x", "colour", "size"]).astype(
        {"x": float, "colour": "category", "size": "category"}
    )
    frame["shade"] = pd.Categorical([None] * len(frame), categories=["dark", "pale"])
    imputer = EMImputer(
        n_components=2, random_state=0, keep_empty_features=keep_empty_features
    )
    if keep_empty_features:
        out = imputer.fit_transform(frame)
        # Kept, and left missing: there is no category to fill it with.
        assert out.shape == frame.shape and pd.isna(out[:, 3]).all()
    else:
        with pytest.warns(UserWarning, match=r"observed values: \['shade'\]"):
            out = imputer.fit_transform(frame)
        assert out.shape == (len(frame), 3)
    assert not pd.isna(out[:, :3]).any()
    np.testing.assert_array_equal(imputer.categorical_features_, [1, 2])


@pytest.mark.parametrize("keep_empty_features", [False, True])
def test_empty_category_column_without_categories_to_pandas(keep_empty_features):
    # decode indexed the column's (empty) category positions with code -1:
    # IndexError for any pandas output of such a table.
    X, _ = _latent_class_table(6)
    frame = pd.DataFrame(X, columns=["x", "colour", "size"]).astype(
        {"x": float, "colour": "category", "size": "category"}
    )
    frame["shade"] = pd.Series([None] * len(frame), dtype="category")
    imputer = EMImputer(
        n_components=2, random_state=0, keep_empty_features=keep_empty_features
    ).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the dropped feature
        out = imputer.fit_transform(frame)
    assert list(out.columns) == list(imputer.get_feature_names_out())
    assert not out[["x", "colour", "size"]].isna().any().any()
    if keep_empty_features:
        assert out["shade"].isna().all()


@pytest.mark.parametrize("keep_empty_features", [False, True])
def test_values_in_a_categorical_feature_empty_at_fit(keep_empty_features):
    # A text feature entirely missing at fit has no category: it is dropped,
    # or kept with its later values as read (observed cells are never
    # altered: they came out missing) and its holes missing, instead of an
    # unknown-category error; a column of missing cells that declares no
    # category at all (pd.Categorical([None])) is read, not an IndexError.
    rng = np.random.default_rng(0)
    fit = pd.DataFrame(
        {
            "a": rng.normal(size=20),
            "b": rng.normal(size=20),
            "s": pd.Series([None] * 20, dtype="string"),
        }
    )
    later = pd.DataFrame(
        {
            "a": [0.1, np.nan],
            "b": [np.nan, 0.2],
            "s": pd.Series(["x", None], dtype="string"),
        }
    )
    imputer = EMImputer(keep_empty_features=keep_empty_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the dropped feature
        imputer.fit(fit)
    out = imputer.transform(later)
    assert out.shape == (2, 3 if keep_empty_features else 2)
    assert not pd.isna(out[:, :2]).any()
    if keep_empty_features:
        assert out[0, 2] == "x" and pd.isna(out[1, 2])
        for container in ("pandas", "polars"):
            frame = imputer.set_output(transform=container).transform(later)
            assert frame["s"][0] == "x" and pd.isna(frame["s"][1])
            if container == "pandas":
                assert frame["s"].dtype == later["s"].dtype
        imputer.set_output(transform="default")
    mixed, _ = _latent_class_table(6)
    frame = pd.DataFrame(mixed, columns=["x", "colour", "size"]).astype(
        {"x": float, "colour": "category", "size": "category"}
    )
    mixture = EMMixture(2, random_state=0).fit(frame)
    row = pd.DataFrame(
        {"x": [0.3], "colour": pd.Categorical([None]), "size": pd.Categorical([None])}
    )
    np.testing.assert_allclose(mixture.predict_proba(row).sum(), 1.0)


def test_categorical_feature_empty_at_fit_keeps_its_column_type():
    # keep_empty_features: such a column was written back as a bare object
    # array, so pandas string, boolean and str columns came back object and
    # polars String, Boolean and Categorical ones as polars Object (which
    # write_parquet refuses), whether or not a value came later.
    n = 6
    x = [1.0, np.nan, 3.0, 4.0, np.nan, 6.0]
    dtypes = {
        "s": "string",
        "b": "boolean",
        "t": pd.StringDtype(na_value=np.nan),  # pandas 3's str
        "c": "category",
    }
    fit = pd.DataFrame(
        {"x": x, **{k: pd.Series([None] * n, dtype=d) for k, d in dtypes.items()}}
    )
    later = fit.copy()
    later.loc[0, ["s", "b", "t"]] = ["u", True, "v"]
    later["c"] = pd.Categorical(["w"] + [None] * (n - 1))
    imputer = EMImputer(keep_empty_features=True).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the empty features
        imputer.fit(fit)
    for frame in (fit, later):
        out = imputer.transform(frame)
        assert list(out.dtypes) == list(frame.dtypes)
        assert out.iloc[1:, 1:].isna().all().all()
    assert out.iloc[0, 1:].tolist() == ["u", True, "v", "w"]
    assert list(out["c"].cat.categories) == ["w"]
    # Text where the fit saw a boolean column: objects, the cell as read.
    text = later.astype({"b": object})
    text.loc[0, "b"] = "yes"
    assert imputer.transform(text)["b"].dtype == object
    assert imputer.transform(text).loc[0, "b"] == "yes"

    schema = {"s": pl.String, "b": pl.Boolean, "c": pl.Categorical}
    fit = pl.DataFrame(
        {"x": x, **{k: pl.Series([None] * n, dtype=d) for k, d in schema.items()}}
    )
    later = fit.with_columns(
        pl.Series("s", ["u"] + [None] * (n - 1), dtype=pl.String),
        pl.Series("b", [True] + [None] * (n - 1), dtype=pl.Boolean),
        pl.Series("c", ["w"] + [None] * (n - 1), dtype=pl.Categorical),
    )
    imputer = EMImputer(keep_empty_features=True).set_output(transform="polars")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        imputer.fit(fit)
    for frame in (fit, later):
        out = imputer.transform(frame)
        assert out.schema == frame.schema
        assert out.drop("x").rows() == frame.drop("x").rows()


def test_a_row_no_component_can_produce_is_an_error_not_category_zero():
    # Its responsibilities are NaN: the categorical hole took category 0
    # (argmax of NaN) and its probabilities were NaN, silently.
    X, _ = _latent_class_table(6)
    frame = pd.DataFrame(X, columns=["x", "colour", "size"]).astype(
        {"x": float, "colour": "category", "size": "category"}
    )
    imputer = EMImputer(n_components=2, random_state=0).fit(frame)
    row = frame.iloc[:1].copy()
    row["x"] = 1e200
    row["colour"] = np.nan
    for method in (imputer.transform, imputer.predict_category_proba):
        with pytest.raises(ValueError, match="produced 1 row.*far outside the range"):
            method(row)


def test_all_missing_object_column_is_numeric():
    # An object column with no value has no type to detect: it is numeric,
    # and kept empty features are filled with 0, as scikit-learn's imputers
    # do.
    X, _ = _latent_class_table(6)
    X = np.hstack([X, np.full((len(X), 1), None, dtype=object)])
    out = EMImputer(n_components=2, random_state=0, keep_empty_features=True)
    assert (out.fit_transform(X)[:, 3] == 0.0).all()


def test_indicator_and_std_on_a_mixed_frame(penguins):
    imputer = EMImputer(n_components=2, add_indicator=True, random_state=0)
    imputer.set_output(transform="pandas")
    out, std = imputer.fit(penguins).transform(penguins, return_std=True)
    names = list(imputer.get_feature_names_out())
    assert list(out.columns) == names
    assert names[7:] == [f"missingindicator_{c}" for c in penguins.columns[2:]]
    np.testing.assert_array_equal(
        out[names[7:]].to_numpy(), penguins.iloc[:, 2:].isna().to_numpy()
    )
    # std: a frame like the imputations (set_output's container); NaN for
    # the categorical features, 0 where observed, positive in the holes of
    # the measurements, 0 for the indicators.
    assert list(std.columns) == names and std.index.equals(out.index)
    std = std.to_numpy()
    assert np.isnan(std[:, [0, 1, 6]]).all()
    measured = penguins.iloc[:, 2:6].notna().to_numpy()
    assert (std[:, 2:6][measured] == 0).all() and (std[:, 2:6][~measured] > 0).all()
    assert (std[:, 7:] == 0).all()


def test_object_array_with_pandas_output():
    X, _ = _latent_class_table(7)
    imputer = EMImputer(n_components=2, random_state=0).set_output(transform="pandas")
    out = imputer.fit_transform(X)
    assert list(out.columns) == ["x0", "x1", "x2"]
    assert out["x0"].dtype == np.float64
    assert list(out["x1"].cat.categories) == ["blue", "red"]
    assert list(out["x2"].cat.categories) == ["large", "small"]
    assert out.notna().all().all()


@pytest.mark.parametrize("fitted_on", ["numpy", "polars"])
@pytest.mark.parametrize("add_indicator", [False, True])
def test_pandas_output_keeps_the_index_of_a_pandas_input(fitted_on, add_indicator):
    # Fitted on another kind of table, the frame was built without the
    # input's index (RangeIndex), and scikit-learn's wrapper adds it only to
    # an ndarray: SimpleImputer, and EMImputer on a numeric table, keep it.
    X, _ = _latent_class_table(7)
    frame = pd.DataFrame(
        X, columns=["x0", "x1", "x2"], index=10 + 3 * np.arange(len(X))
    )
    frame["x0"] = frame["x0"].astype(float)
    train = X if fitted_on == "numpy" else pl.from_pandas(frame)
    imputer = EMImputer(n_components=2, random_state=0, add_indicator=add_indicator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # names absent at fit
        out = imputer.set_output(transform="pandas").fit(train).transform(frame)
        expected = imputer.set_output(transform="default").transform(frame)
    pd.testing.assert_index_equal(out.index, frame.index)
    assert (out.to_numpy() == expected).all()


def test_pyarrow_dictionary_column_is_categorical(tmp_path):
    # A category column read back from parquet with pyarrow types is a
    # pyarrow dictionary: it was taken for a number, and fit failed.
    pytest.importorskip("pyarrow")
    X, _ = _latent_class_table(7)
    frame = pd.DataFrame(X, columns=["x", "colour", "size"]).astype(
        {"x": float, "colour": "category", "size": "category"}
    )
    frame.to_parquet(tmp_path / "frame.parquet")
    frame = pd.read_parquet(tmp_path / "frame.parquet", dtype_backend="pyarrow")
    assert str(frame["colour"].dtype).startswith("dictionary<values=string")
    # Numeric columns come back float64 (decode's rule): compared as such.
    frame["x"] = frame["x"].astype(float)
    imputer = EMImputer(n_components=2, random_state=0).set_output(transform="pandas")
    out = imputer.fit_transform(frame)
    np.testing.assert_array_equal(imputer.categorical_features_, [1, 2])
    assert list(out.dtypes) == list(frame.dtypes)
    assert out.notna().all().all()
    observed = frame.notna()
    pd.testing.assert_frame_equal(out.where(observed), frame.where(observed))


def test_given_means_decide_the_components_beside_categorical_columns():
    # The category probabilities of the start came from k-means' clusters,
    # numbered otherwise, so component k did not stay the one of
    # means_init[k] (fitted means 1.95, 0.08, 3.86 for a start at 4, 2, 0).
    rng = np.random.default_rng(0)
    z = np.repeat([0, 1, 2], 100)
    frame = pd.DataFrame({"x": rng.normal(z * 2.0, 1.0)})
    frame["c"] = pd.Categorical(np.array(["p", "q", "r"])[z])
    frame["d"] = pd.Categorical(np.array(["p", "q", "r"])[z])
    start = dict(
        means_init=[[4.0], [2.0], [0.0]],
        weights_init=[1 / 3] * 3,
        precisions_init=[[[1.0]]] * 3,
    )
    mixture = EMMixture(3, random_state=0, **start).fit(frame)
    assert np.all(np.diff(mixture.means_.ravel()) < 0)  # 4, 2, 0 kept in order
    # Component k holds category "r", "q", "p" (k = 0, 1, 2).
    np.testing.assert_array_equal(
        mixture.category_probabilities_[0].argmax(axis=1), [2, 1, 0]
    )


def test_initial_means_of_a_mixed_table_are_over_its_numeric_features():
    # means_init and precisions_init are of the numeric features, as means_
    # and covariances_ are; a shape counting the categorical column too is
    # refused with a message that says why.
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=40),
            "b": rng.normal(size=40),
            "c": rng.choice(["x", "y"], 40).astype(object),
        }
    )
    with pytest.raises(ValueError, match=r"\(2, 2\) \(of the 2 numeric features"):
        EMMixture(2, means_init=np.zeros((2, 3))).fit(X)
    with pytest.raises(ValueError, match=r"categorical ones \(1\) have no mean"):
        EMMixture(2, precisions_init=np.stack([np.eye(3)] * 2)).fit(X)
    means = [[-0.5, -0.5], [0.5, 0.5]]
    fitted = EMMixture(2, means_init=means, max_iter=0).fit(X)
    np.testing.assert_array_equal(fitted.means_.shape, (2, 2))


@pytest.mark.parametrize("keep_empty_features", [False, True])
def test_indicator_of_a_categorical_feature_empty_at_fit(keep_empty_features):
    # Its later values cannot be encoded (no category), so the engine reads
    # them as missing; the indicator follows the cells as read, as
    # MissingIndicator (and SimpleImputer's add_indicator) does: it said 1
    # on every observed cell. A numeric feature empty at fit beside it.
    rng = np.random.default_rng(0)
    fit = pd.DataFrame(
        {
            "a": rng.normal(size=20),
            "z": pd.Series([None] * 20, dtype=object),
            "w": np.full(20, np.nan),
        }
    )
    later = pd.DataFrame(
        {
            "a": [0.1, 0.2, 0.3],
            "z": pd.Series(["new", None, "other"], dtype=object),
            "w": [5.0, np.nan, 7.0],
        }
    )
    imputer = EMImputer(
        add_indicator=True,
        keep_empty_features=keep_empty_features,
        categorical_features=["z"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the empty features
        imputer.fit(fit)
    out = imputer.set_output(transform="pandas").transform(later)
    for name in ("missingindicator_z", "missingindicator_w"):
        np.testing.assert_array_equal(out[name], [0.0, 1.0, 0.0])


def test_text_read_as_numeric_names_its_column_and_the_option():
    # numpy's "could not convert string to float: 'male'" named neither the
    # column nor categorical_features, the option that decides it.
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, np.nan, 4.0], "sex": ["male", "female", None, "male"]}
    )
    with pytest.raises(
        ValueError,
        match=r"'male': feature 'sex' \(column 1\) is read as numeric.*"
        "categorical_features",
    ):
        EMImputer(categorical_features=None).fit(frame)
    values = frame.to_numpy()
    with pytest.raises(ValueError, match=r"column 1 is read as numeric"):
        EMImputer(categorical_features=[]).fit(values)
    # Beside a nullable column the conversion is pandas', in other words
    # ("Cannot cast str dtype to float64"): the same message.
    for extra in ("Int64", "boolean"):
        nullable = frame.assign(e=pd.array([1, 0, None, 1], dtype=extra))
        with pytest.raises(ValueError, match=r"feature 'sex' \(column 1\) is read"):
            EMImputer(categorical_features=None).fit(nullable)


def test_unlikely_categories_are_warned_about():
    # Text columns read as categorical from their dtype: numbers written as
    # text (a CSV's '?' replaced, the column left str) became one category
    # per value, imputed by the most frequent string, silently; an
    # identifier, one category per row, costs memory quadratic in the rows.
    # A declared category column, and columns named in categorical_features,
    # are the user's choice: no warning.
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "text_numbers": [f"{v:.3f}" for v in rng.normal(size=n)],
            "id": [f"row{i}" for i in range(n)],
            "colour": rng.choice(["red", "blue"], size=n),
        }
    )
    frame.loc[::7, "text_numbers"] = None
    with pytest.warns(UserWarning) as record:
        EMMixture(1).fit(frame)
    messages = [str(w.message) for w in record]
    assert any("'text_numbers' holds numbers written as text" in m for m in messages)
    assert any("'id' has 240 categories among its 240 observed" in m for m in messages)
    assert not any("'colour'" in m for m in messages)
    declared = frame.astype({"text_numbers": "category", "id": "category"})
    named = ["text_numbers", "id", "colour"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        EMMixture(1).fit(declared)
        EMMixture(1, categorical_features=named).fit(frame)
        # A category column read back from parquet is a pyarrow dictionary:
        # declared too.
        pa = pytest.importorskip("pyarrow")
        arrow = declared.astype(
            {
                name: pd.ArrowDtype(pa.dictionary(pa.int32(), pa.string()))
                for name in ("text_numbers", "id")
            }
        )
        EMMixture(1).fit(arrow)


def test_observed_counts_and_one_component_start_grow_linearly():
    # The first M-step's counts were one-hot products, an (n_categories,
    # rows) array, and the one-component start built k-means's one-hot
    # features it never clustered: both quadratic in the rows for an
    # identifier column (326 MB of peak memory at 6000 rows, now 18 MB).
    # The counts equal the one-hot reference to rounding (sums of the same
    # responsibilities in another order).
    from emimpute._em import _init_features
    from emimpute._em._categorical import observed_counts

    rng = np.random.default_rng(0)
    codes = rng.integers(-1, 4, size=(200, 2))
    resp = rng.dirichlet(np.ones(3), size=200)
    counts = observed_counts(codes, [4, 4], resp)
    for j in range(2):
        one_hot = codes[:, j][:, np.newaxis] == np.arange(4)
        np.testing.assert_allclose(counts.counts[j], (one_hot.T @ resp).T, atol=1e-12)
    frame = pd.DataFrame(
        {"x": rng.normal(size=300), "id": [f"r{i}" for i in range(300)]}
    )
    frame.loc[::4, "x"] = np.nan
    calls = []
    features = _init_features._kmeans_features

    def spy(*args, **kwargs):
        calls.append(kwargs.get("one_hot", True))
        return features(*args, **kwargs)

    complete = frame.assign(x=frame["x"].fillna(0.5))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_init_features, "_kmeans_features", spy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the identifier
            # Numeric holes: the one Gaussian starts from the observed
            # entries, with no k-means features at all.
            EMImputer().fit(frame)
            assert calls == []
            # No numeric hole: k-means's features, without the one-hot part.
            EMImputer().fit(complete)
    assert calls == [False]


def _unknown_colour(X, rows=(1, 2, 5)):
    """``X`` with a colour never seen in fit in ``rows``, and with those
    cells missing instead."""
    unknown, hidden = X.copy(), X.copy()
    unknown[list(rows), 1] = "green"
    hidden[list(rows), 1] = None
    return unknown, hidden


def test_handle_unknown_ignore_reads_an_unknown_category_as_missing():
    # A category not seen in fit raised, so a cross-validation fold holding
    # a rare category failed. With handle_unknown='ignore' the model reads
    # the cell as missing (everything computed equals the same rows with the
    # cell missing, bit for bit), while the output keeps the value as read.
    X, label = _latent_class_table(6)
    test, hidden = _unknown_colour(X[:10])
    options = dict(n_components=2, random_state=0, add_indicator=True)
    with pytest.raises(ValueError, match="handle_unknown='ignore'"):
        EMImputer(**options).fit(X).transform(test)
    imputer = EMImputer(handle_unknown="ignore", **options).fit(X)
    out, reference = imputer.transform(test), imputer.transform(hidden)
    # The unknown cells, and colour's indicator (column 4) on their rows,
    # which marks holes, not unknown values.
    unknown = np.zeros(out.shape, dtype=bool)
    unknown[[1, 2, 5], 1] = unknown[[1, 2, 5], 4] = True
    assert np.all(out[[1, 2, 5], 1] == "green")
    assert np.all(out[[1, 2, 5], 4] == 0.0) and np.all(reference[[1, 2, 5], 4] == 1.0)
    assert np.array_equal(out[~unknown], reference[~unknown])
    assert imputer.score(test) == imputer.score(hidden)
    probabilities = imputer.predict_category_proba(test)
    np.testing.assert_array_equal(probabilities[0][[1, 2, 5]], 0.0)
    np.testing.assert_array_equal(
        np.delete(probabilities[0], [1, 2, 5], axis=0),
        np.delete(imputer.predict_category_proba(hidden)[0], [1, 2, 5], axis=0),
    )
    mixture = EMMixture(2, random_state=0, handle_unknown="ignore").fit(X)
    np.testing.assert_array_equal(
        mixture.predict_proba(test), mixture.predict_proba(hidden)
    )
    from emimpute import EMClassifier

    classifier = EMClassifier(handle_unknown="ignore").fit(X, label)
    np.testing.assert_array_equal(
        classifier.predict_proba(test), classifier.predict_proba(hidden)
    )
    # A category in one row: the fold that holds it is scored, not NaN.
    from sklearn.model_selection import cross_val_score

    rare = X.copy()
    rare[0, 1] = "green"
    scores = cross_val_score(EMImputer(n_components=2, handle_unknown="ignore"), rare)
    assert np.all(np.isfinite(scores))


@pytest.mark.parametrize("container", ["pandas", "polars"])
def test_handle_unknown_ignore_keeps_the_column_type(container):
    # A pandas category column gains the value as a category after the
    # fitted ones (their order kept); polars keeps its Categorical.
    X, _ = _latent_class_table(6)
    test, hidden = _unknown_colour(X[:10])
    columns = ["x", "colour", "size"]
    frames = [
        pd.DataFrame(T, columns=columns).astype(
            {"x": float, "colour": "category", "size": "category"}
        )
        for T in (X, test, hidden)
    ]
    if container == "polars":
        frames = [
            pl.from_pandas(f.astype({"colour": object, "size": object})).with_columns(
                pl.col("colour", "size").cast(pl.Categorical)
            )
            for f in frames
        ]
    imputer = EMImputer(n_components=2, random_state=0, handle_unknown="ignore")
    imputer.set_output(transform=container).fit(frames[0])
    out, reference = imputer.transform(frames[1]), imputer.transform(frames[2])
    if container == "pandas":
        assert list(out["colour"].cat.categories) == ["blue", "red", "green"]
        colour, expected = (
            out["colour"].astype(object),
            reference["colour"].astype(object),
        )
        pd.testing.assert_frame_equal(out[["x", "size"]], reference[["x", "size"]])
    else:
        assert out.schema["colour"] == pl.Categorical
        colour, expected = out["colour"].to_list(), reference["colour"].to_list()
        assert out.select("x", "size").equals(reference.select("x", "size"))
    colour, expected = (
        np.asarray(colour, dtype=object),
        np.asarray(expected, dtype=object),
    )
    assert np.all(colour[[1, 2, 5]] == "green")
    keep = np.setdiff1d(np.arange(10), [1, 2, 5])
    assert np.array_equal(colour[keep], expected[keep])


@pytest.mark.parametrize("dtype", [object, "str"])
def test_handle_unknown_ignore_writes_back_into_a_text_column_of_pandas_output(dtype):
    # An object column's own array is read-only under pandas' copy-on-write:
    # writing the unknown value back into it raised (a cross-validation fold
    # with an unseen level failed with pandas output).
    train = pd.DataFrame(
        {
            "x": [1.0, 2.0, np.nan, 4.0],
            "c": pd.Series(["a", "b", "a", "b"], dtype=dtype),
        }
    )
    test = pd.DataFrame({"x": [np.nan, 3.0], "c": pd.Series(["z", None], dtype=dtype)})
    imputer = EMImputer(handle_unknown="ignore").set_output(transform="pandas")
    out = imputer.fit(train).transform(test)
    as_array = EMImputer(handle_unknown="ignore").fit(train).transform(test)
    assert out["c"].tolist() == ["z", as_array[1, 1]] and as_array[0, 1] == "z"
    np.testing.assert_array_equal(out["x"], as_array[:, 0].astype(float))
    assert test["c"].tolist()[0] == "z"  # the caller's frame untouched


def test_handle_unknown_ignore_writes_back_values_the_column_type_cannot_hold():
    # Numeric codes given text, a polars Enum, True beside the category 1:
    # written back as read, the column (or table) made objects where its
    # type cannot hold the value (it crashed), an Enum extended as a
    # pandas category is.
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=40), rng.integers(1, 3, 40).astype(float)])
    X[::9, 0] = np.nan
    imputer = EMImputer(categorical_features=[1], handle_unknown="ignore").fit(X)
    test = X[:4].astype(object)
    test[1, 1] = "green"
    test[2, 1] = True
    out = imputer.transform(test)
    assert out.dtype == object and out[1, 1] == "green" and out[2, 1] is True
    np.testing.assert_array_equal(
        out[[0, 3]].astype(float), imputer.transform(X[[0, 3]])
    )
    frame = pl.DataFrame(
        {"x": [0.1, None, 1.5, 2.0] * 5, "g": ["a", "b", "a", "b"] * 5},
        schema={"x": pl.Float64, "g": pl.Enum(["a", "b"])},
    )
    enum = EMImputer(handle_unknown="ignore").set_output(transform="polars").fit(frame)
    later = frame.head(3).with_columns(
        pl.Series("g", ["c", "b", "a"], dtype=pl.Enum(["a", "b", "c"]))
    )
    out = enum.transform(later)
    assert out.schema["g"] == pl.Enum(["a", "b", "c"])
    assert out["g"].to_list() == ["c", "b", "a"]
    codes = pd.DataFrame({"x": X[:, 0], "g": pd.Categorical(X[:, 1].astype(int))})
    coded = EMImputer(handle_unknown="ignore").set_output(transform="pandas").fit(codes)
    flagged = codes.head(3).astype({"g": object})
    flagged.loc[1, "g"] = True
    column = coded.transform(flagged)["g"]
    assert column.dtype == object and column[1] is True
