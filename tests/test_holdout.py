"""Held-out cells: the folds, their errors against a per-row reference, the choice."""

import itertools
import warnings

import numpy as np
import pytest
from _reference import random_params
from scipy.stats import multivariate_normal

from emimpute import EMImputer
from emimpute._em._categorical import CategoricalFamily
from emimpute._em._data import EMData
from emimpute._em._holdout import (
    MIN_KEPT_PER_COLUMN,
    column_baseline_errors,
    held_out_errors,
    held_out_folds,
    one_standard_error_choice,
)
from emimpute._em._params import MixtureParams


def _mixed_data(rng, n_samples=60, n_numeric=3, levels=(3, 2), rate=0.2):
    numeric = rng.standard_normal((n_samples, n_numeric))
    numeric[rng.uniform(size=numeric.shape) < rate] = np.nan
    codes = np.column_stack([rng.integers(n, size=n_samples) for n in levels])
    codes[rng.uniform(size=codes.shape) < rate] = -1
    return EMData.build(numeric, codes=codes, n_categories=levels)


def test_folds_hide_disjoint_observed_cells_and_cover_a_small_table():
    data = _mixed_data(np.random.default_rng(0))
    folds = held_out_folds(data, 0.25, np.random.RandomState(0))
    # 60 rows hold about 300 observed cells, far below MIN_HELD_OUT_CELLS:
    # every group is used, so every observed cell is hidden exactly once
    # (apart from cells spared to keep a column from thinning out).
    assert len(folds) == 4
    numeric = sum(fold.numeric.astype(int) for fold in folds)
    codes = sum(fold.codes.astype(int) for fold in folds)
    assert numeric.max() == 1 and codes.max() == 1
    np.testing.assert_array_equal(numeric.astype(bool), ~data.mask)
    np.testing.assert_array_equal(codes.astype(bool), data.codes >= 0)
    for fold in folds:
        np.testing.assert_array_equal(fold.data.mask, data.mask | fold.numeric)
        np.testing.assert_array_equal(
            fold.data.codes < 0, (data.codes < 0) | fold.codes
        )
        # The values stay in place: only the mask marks them hidden.
        np.testing.assert_array_equal(fold.data.numeric, data.numeric)
        assert fold.cell_weights.shape == (fold.n_hidden,)


def test_folds_never_hide_cells_of_rows_of_weight_zero():
    # Their errors would be weighed by 0: hiding them would only spend the
    # held-out budget; every other observed cell is still hidden once.
    data = _mixed_data(np.random.default_rng(3))
    weights = np.ones(data.n_samples)
    weights[::4] = 0.0
    weighted = EMData.build(
        data.numeric,
        data.mask,
        data.codes,
        data.n_categories,
        sample_weight=weights,
    )
    folds = held_out_folds(weighted, 0.25, np.random.RandomState(0))
    numeric = sum(fold.numeric.astype(int) for fold in folds)
    codes = sum(fold.codes.astype(int) for fold in folds)
    counted = (weights > 0)[:, np.newaxis]
    np.testing.assert_array_equal(numeric.astype(bool), ~data.mask & counted)
    np.testing.assert_array_equal(codes.astype(bool), (data.codes >= 0) & counted)
    assert all((fold.cell_weights > 0).all() for fold in folds)


def test_folds_of_a_large_table_and_thin_columns():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5000, 4))
    X[:, 3] = np.nan
    X[:3, 3] = 1.0  # three observed cells: hiding any would leave < 2 some fold
    folds = held_out_folds(EMData.build(X), 0.1, np.random.RandomState(1))
    # 15003 observed cells: one group of ~1500 holds out too few, two do.
    assert len(folds) == 2
    for fold in folds:
        kept = (~fold.data.mask).sum(axis=0)
        assert kept.min() >= MIN_KEPT_PER_COLUMN
        assert 0.08 < fold.numeric[:, :3].mean() < 0.12


def _reference_errors(fold, params):
    """Each hidden cell's squared error, row by row with scipy and enumeration.

    The row's posterior over components given its observed cells is
    computed from scipy's Gaussian density of the observed numeric part
    times the observed categories' probabilities; a hidden numeric cell's
    prediction is the responsibility-weighted Gaussian conditional mean
    (explicit inverse of S_OO), a hidden category's probabilities are
    obtained by enumerating every completion of the row's missing
    categorical cells.
    """
    data, truth = fold.data, fold.truth
    gaussian, categorical = params.gaussian, params.categorical
    covariances = gaussian.covariances
    observed_numeric = data.numeric[~data.mask]
    columns = np.nonzero(~data.mask)[1]
    spread = np.array(
        [observed_numeric[columns == j].std() for j in range(data.n_numeric)]
    )
    numeric_errors, category_errors = {}, {}
    for i in range(data.n_samples):
        o = np.flatnonzero(~data.mask[i])
        log_joint = np.log(params.weights).copy()
        for k in range(params.n_components):
            if len(o):
                log_joint[k] += multivariate_normal(
                    gaussian.means[k, o], covariances[k][np.ix_(o, o)]
                ).logpdf(data.numeric[i, o])
            for j, code in enumerate(data.codes[i]):
                if code >= 0:
                    log_joint[k] += np.log(categorical.probabilities[j][k, code])
        resp = np.exp(log_joint - log_joint.max())
        resp /= resp.sum()
        for c in np.flatnonzero(fold.numeric[i]):
            prediction = 0.0
            for k in range(params.n_components):
                s = covariances[k]
                mean = gaussian.means[k, c]
                if len(o):
                    mean += (
                        s[c, o]
                        @ np.linalg.inv(s[np.ix_(o, o)])
                        @ (data.numeric[i, o] - gaussian.means[k, o])
                    )
                prediction += resp[k] * mean
            numeric_errors[i, c] = ((prediction - truth.numeric[i, c]) / spread[c]) ** 2
        missing = [j for j, code in enumerate(data.codes[i]) if code < 0]
        for j in np.flatnonzero(fold.codes[i]):
            probabilities = np.zeros(data.n_categories[j])
            for completion in itertools.product(
                *[range(data.n_categories[jj]) for jj in missing]
            ):
                for k in range(params.n_components):
                    mass = resp[k]
                    for jj, level in zip(missing, completion, strict=True):
                        mass *= categorical.probabilities[jj][k, level]
                    probabilities[completion[missing.index(j)]] += mass
            onehot = np.eye(data.n_categories[j])[truth.codes[i, j]]
            category_errors[i, j] = ((probabilities - onehot) ** 2).sum()
    rows, cols = np.nonzero(fold.numeric)
    ordered = [numeric_errors[i, c] for i, c in zip(rows, cols, strict=True)]
    for j in range(data.n_categorical):
        ordered += [category_errors[i, j] for i in np.flatnonzero(fold.codes[:, j])]
    return np.array(ordered)


def test_errors_equal_a_per_row_reference():
    rng = np.random.default_rng(2)
    data = _mixed_data(rng, n_samples=40)
    gaussian = random_params(rng, 2, data.n_numeric, "full")
    categorical = CategoricalFamily(
        tuple(rng.dirichlet(np.ones(n), size=2) for n in data.n_categories)
    )
    params = MixtureParams(gaussian.weights, (gaussian.gaussian, categorical))
    fold = held_out_folds(data, 0.2, np.random.RandomState(2))[0]
    assert fold.numeric.any() and fold.codes.any()
    # Same quantities by independent arithmetic (explicit inverses and
    # enumeration against Cholesky solves and closed forms): equal to
    # rounding of numbers of order 1.
    np.testing.assert_allclose(
        held_out_errors(fold, params), _reference_errors(fold, params), rtol=1e-10
    )


def test_baseline_errors_by_hand_with_weights():
    # A numeric and a categorical column of 3 levels; fold 0 of 2 at this
    # seed hides numeric row 0 and categorical rows 1 and 2 (checked).
    numeric = np.array([[0.0], [2.0], [4.0], [6.0], [np.nan]])
    codes = np.array([[0], [1], [1], [2], [0]])
    weights = np.array([1.0, 1.0, 3.0, 1.0, 2.0])
    data = EMData.build(numeric, np.isnan(numeric), codes, (3,), sample_weight=weights)
    fold = held_out_folds(data, 0.5, np.random.RandomState(44))[0]
    assert np.flatnonzero(fold.numeric[:, 0]).tolist() == [0]
    assert np.flatnonzero(fold.codes[:, 0]).tolist() == [1, 2]
    # Kept numeric cells 2, 4, 6 weighted 1, 3, 1: mean 4, standard
    # deviation sqrt((4 + 0 + 4) / 5) = sqrt(1.6); the hidden 0 errs by 4.
    # Kept codes 0, 2, 0 weighted 1, 1, 2: frequencies (3/4, 0, 1/4); a
    # hidden 1 scores 1 - 2 * 0 + 9/16 + 1/16 = 1.625.
    np.testing.assert_allclose(
        column_baseline_errors(fold), [16 / 1.6, 1.625, 1.625], rtol=1e-14
    )


def test_one_standard_error_choice_by_hand():
    # Candidate 1 is best on average (mean 1.0 vs 1.1 and 2.0). Excess of
    # candidate 0 over it, cell by cell: (0.3, -0.1, 0.1, 0.1), mean 0.1,
    # standard error sqrt(sum (e - 0.1)^2) / 4 = sqrt(0.08) / 4 = 0.0707:
    # 0.1 > 0.0707, so candidate 0 is not within one standard error.
    errors = [
        np.array([1.3, 0.9, 1.1, 1.1]),
        np.array([1.0, 1.0, 1.0, 1.0]),
        np.array([2.0, 2.0, 2.0, 2.0]),
    ]
    assert one_standard_error_choice(errors, np.ones(4)) == 1
    # A noisier excess of the same mean is within one standard error, and
    # the simpler candidate is chosen: excess (0.6, -0.4, 0.2, 0), mean 0.1,
    # standard error sqrt(0.52) / 4 = 0.180.
    errors[0] = np.array([1.6, 0.6, 1.2, 1.0])
    assert one_standard_error_choice(errors, np.ones(4)) == 0
    # Weights count a cell as that many copies of it. Excess (0.4, -0.2):
    # with weights (1, 3) its mean is -0.05, so candidate 0 is the best;
    # with weights (3, 1) the mean is 0.25 and the standard error
    # sqrt(3 * 0.15**2 + 0.45**2) / 4 = 0.130, so candidate 1 is the best
    # and candidate 0 is not within one standard error of it.
    pair = [np.array([1.4, 0.8]), np.array([1.0, 1.0])]
    assert one_standard_error_choice(pair, np.array([1.0, 3.0])) == 0
    assert one_standard_error_choice(pair, np.array([3.0, 1.0])) == 1
    assert one_standard_error_choice([np.array([])], np.array([])) == 0
    # A gain below TIE_SHARE (0.1%) of the best error is a tie, however
    # small its standard error: candidates that predict alike (errors 1e-5
    # apart, consistently) leave the simplest.
    alike = [np.full(4, 1.00002) + [0, 1e-7, 0, 1e-7], np.full(4, 1.0)]
    assert one_standard_error_choice(alike, np.ones(4)) == 0


def test_auto_keeps_one_component_on_one_column():
    # With one column every mixture imputes the data's mean: held-out
    # errors 1e-6 to 2e-5 apart chose 2 or 3 components in half the seeds.
    for seed in range(4):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(300, 1))
        X[rng.random(300) < 0.2] = np.nan
        imputer = EMImputer(n_components="auto", random_state=seed).fit(X)
        assert imputer.n_components_ == 1


def _two_groups(seed, n_per=80):
    rng = np.random.RandomState(seed)
    numeric = np.vstack([rng.normal(0, 1, (n_per, 2)), rng.normal(5, 1, (n_per, 2))])
    labels = np.repeat(np.array(["a", "b"], dtype=object), n_per)
    flip = rng.uniform(size=2 * n_per) < 0.05
    labels[flip] = np.where(labels[flip] == "a", "b", "a")
    X = np.column_stack([numeric, labels]).astype(object)
    holes = rng.uniform(size=X.shape) < 0.15
    X[holes] = np.nan
    return X


def test_auto_on_a_mixed_table_refits_the_choice_on_all_data():
    X = _two_groups(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = EMImputer(
            n_components="auto", categorical_features=[2], random_state=0
        ).fit(X)
        assert auto.n_components_ == 2
        chosen = EMImputer(
            n_components=2, prior="default", categorical_features=[2], random_state=0
        ).fit(X)
    # The chosen number of components is fit again on every observed cell,
    # by the same settings: the same computation, bit for bit.
    np.testing.assert_array_equal(auto.means_, chosen.means_)
    np.testing.assert_array_equal(auto.transform(X), chosen.transform(X))


@pytest.mark.parametrize("random_state", [0, 1])
def test_auto_is_reproducible(random_state):
    X = _two_groups(4)
    fits = [
        EMImputer(
            n_components="auto", categorical_features=[2], random_state=random_state
        ).fit(X)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)


def test_auto_hides_cells_of_the_weighted_rows_only():
    # Weight only on a 10-row domain of a large table: the held-out cells
    # are that domain's, so the candidates are compared on them (a random
    # group of the whole table's cells held none of them: nothing was
    # compared, and one component was fit by default).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12000, 2))
    X[:, 1] += X[:, 0]
    X[rng.random(X.shape) < 0.05] = np.nan
    weights = np.zeros(len(X))
    weights[:10] = 1.0
    imputer = EMImputer(n_components="auto", random_state=2)
    imputer.fit(X, sample_weight=weights)
    errors = imputer.held_out_errors_
    assert len(errors) > 1 and np.isfinite(list(errors.values())).all()
    # One Gaussian made the data: the one-standard-error choice keeps it.
    assert imputer.n_components_ == 1


def test_one_standard_error_choice_reads_weights_as_copies_or_not():
    # Whole weights are copies: the choice equals that over the cells
    # repeated. Other weights count no copies: the standard error is that
    # of a weighted mean, so the choice does not change with their scale
    # (weights summing to 1 once made every standard error huge, and the
    # simplest candidate always won).
    from emimpute._em._holdout import one_standard_error_choice

    rng = np.random.default_rng(0)
    best = rng.uniform(0.5, 1.5, size=200)
    errors = [best + rng.normal(0.04, 0.1, size=200), best]
    copies = rng.integers(1, 4, size=200)
    repeated = [np.repeat(e, copies) for e in errors]
    assert one_standard_error_choice(errors, copies.astype(float)) == (
        one_standard_error_choice(repeated, np.ones(copies.sum()))
    )
    survey = rng.uniform(0.5, 2.0, size=200)
    choices = {
        one_standard_error_choice(errors, survey * scale) for scale in (1.0, 1e-3, 1e3)
    }
    assert choices == {1}
