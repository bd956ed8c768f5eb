"""Warm starts and the scale of ``reg_covar`` (issue 13's fixes).

The first two tests are scikit-learn's ``test_convergence_detected_with_warm_start``
and ``test_monotonic_likelihood`` (sklearn/mixture/tests/test_gaussian_mixture.py)
written for :class:`EMMixture`: the same data generator (``RandomData``: 500
rows, 2 features, 2 components, means uniform in ``[0, scale)``), the same
loops and assertions.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_spd_matrix
from sklearn.exceptions import ConvergenceWarning

from emimpute import EMMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class RandomData:
    """scikit-learn's test data: one sample per covariance type."""

    def __init__(self, rng, n_samples=500, n_components=2, n_features=2, scale=50):
        self.n_components = n_components
        weights = rng.rand(n_components)
        weights /= weights.sum()
        means = rng.rand(n_components, n_features) * scale
        covariances = {
            "spherical": 0.5 + rng.rand(n_components),
            "diag": (0.5 + rng.rand(n_components, n_features)) ** 2,
            "tied": make_spd_matrix(n_features, random_state=rng),
            "full": np.array(
                [
                    make_spd_matrix(n_features, random_state=rng) * 0.5
                    for _ in range(n_components)
                ]
            ),
        }
        counts = np.round(weights * n_samples).astype(int)
        self.X = {}
        for covariance_type, covariance in covariances.items():
            blocks = []
            for k in range(n_components):
                if covariance_type == "spherical":
                    matrix = covariance[k] * np.eye(n_features)
                elif covariance_type == "diag":
                    matrix = np.diag(covariance[k])
                elif covariance_type == "tied":
                    matrix = covariance
                else:
                    matrix = covariance[k]
                blocks.append(rng.multivariate_normal(means[k], matrix, counts[k]))
            self.X[covariance_type] = np.vstack(blocks)


def test_convergence_detected_with_warm_start():
    # Each warm fit continues from the previous lower bound, so that fits of
    # one iteration each end up converged (they restarted at -inf before).
    rng = np.random.RandomState(0)
    rand_data = RandomData(rng)
    X = rand_data.X["full"]
    for max_iter in (1, 2, 50):
        gmm = EMMixture(
            n_components=rand_data.n_components,
            warm_start=True,
            max_iter=max_iter,
            random_state=rng,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for _ in range(100):
                gmm.fit(X)
                if gmm.converged_:
                    break
        assert gmm.converged_
        assert max_iter >= gmm.n_iter_


def test_monotonic_likelihood():
    # Each step of EM without regularisation raises the training likelihood,
    # and convergence is detected before rounding can show a "decrease".
    rng = np.random.RandomState(0)
    rand_data = RandomData(rng, scale=7)
    for covariance_type in COVARIANCE_TYPES:
        X = rand_data.X[covariance_type]
        gmm = EMMixture(
            n_components=rand_data.n_components,
            covariance_type=covariance_type,
            reg_covar=0,
            warm_start=True,
            max_iter=1,
            random_state=rng,
            tol=1e-7,
        )
        current = -np.inf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for _ in range(600):
                previous = current
                current = gmm.fit(X).score(X)
                assert current >= previous
                if gmm.converged_:
                    break
            assert gmm.converged_


def test_warm_start_lower_bounds_continue_with_holes():
    # With holes as without: the second warm fit's first change is measured
    # from the first fit's lower bound, so tol is reached across fits.
    rng = np.random.RandomState(1)
    X = RandomData(rng).X["diag"].copy()
    X[rng.rand(*X.shape) < 0.1] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.0
    cold = EMMixture(2, max_iter=200, tol=1e-6, random_state=0).fit(X)
    warm = EMMixture(2, warm_start=True, max_iter=1, tol=1e-6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        n_fits = 0
        while not warm.fit(X).converged_:
            n_fits += 1
            assert n_fits < 200
    # The warm fits take the same EM steps as the cold fit (same start), one
    # per fit: the same number in all (plus at most the first fit, which
    # cannot converge from -inf).
    assert abs((n_fits + 1) - cold.n_iter_) <= 1
    np.testing.assert_allclose(warm.means_, cold.means_, rtol=1e-5)


def _tiny_clusters(seed):
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(6, 1, (200, 2))]) * 1e-8
    labels = np.repeat([0, 1], 200)
    holes = rng.rand(*X.shape) < 0.1
    holes[:, 1] &= ~holes[:, 0]
    X[holes] = np.nan
    return X, labels


def _agreement(labels, predicted):
    return max(np.mean(labels == predicted), np.mean(labels != predicted))


def test_absolute_reg_covar_on_tiny_scale_warns_with_the_fix():
    X, labels = _tiny_clusters(0)
    with pytest.warns(UserWarning, match=r"reg_covar=1e-06 is .* set reg_covar to"):
        merged = EMMixture(2, random_state=0).fit(X)
    # The ridge swamps the variance: the two clusters are not told apart.
    assert _agreement(labels, merged.predict(X)) < 0.9
    message = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        EMMixture(2, random_state=0).fit(X)
        message = str(caught[0].message)
    suggested = float(message.rsplit("reg_covar=", 1)[1].rstrip(")."))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        separated = EMMixture(2, reg_covar=suggested, random_state=0).fit(X)
    assert _agreement(labels, separated.predict(X)) > 0.99


def test_no_reg_covar_warning_at_ordinary_scale():
    X, _ = _tiny_clusters(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        EMMixture(2, random_state=0).fit(X * 1e8)


def test_warm_start_refuses_parameters_of_other_settings_or_columns():
    # Parameters of 3 features, 'full', 2 components cannot go on with
    # fewer features, another covariance type or another number of
    # components: a message naming what changed, not a broadcasting error.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 3))
    mixture = EMMixture(n_components=2, warm_start=True, random_state=0).fit(X)
    cases = [
        ({}, X[:, :2], r"numeric features 3 \(now 2\)"),
        ({"covariance_type": "diag"}, X, r"covariance_type full \(now diag\)"),
        ({"n_components": 3}, X, r"n_components 2 \(now 3\)"),
    ]
    for params, data, message in cases:
        refit = EMMixture(n_components=2, warm_start=True, random_state=0).fit(X)
        refit.set_params(**params)
        with pytest.raises(ValueError, match=message):
            refit.fit(data)
    # The same settings and columns go on.
    mixture.fit(X + 0.01)


def test_a_component_left_without_rows_is_warned_about():
    # A warm start from a fit near 0, on the data moved by 100 with holes:
    # one component ends with 2e-11 of the weight (1e-9 rows), its mean and
    # variances far off the data (-674 and 1e5 for data near 100), which had
    # come silently. A fresh fit of the same data keeps both components.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) @ rng.normal(size=(3, 3))
    X[:30] += 3
    X[rng.random(X.shape) < 0.2] = np.nan
    mixture = EMMixture(n_components=2, warm_start=True, random_state=0).fit(X)
    with pytest.warns(
        UserWarning,
        match=r"Component\(s\) 0 \(.* rows\) hold less than one of the 60 .*arbitrary",
    ):
        mixture.fit(X + 100)
    assert mixture.weights_.min() * 60 < 1
    with pytest.warns(UserWarning, match="warm_start=False"):
        mixture.fit_predict(X + 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fresh = EMMixture(n_components=2, random_state=0).fit(X + 100)
    assert fresh.weights_.min() > 0.3


def test_every_empty_component_is_named_and_a_prior_gives_their_values():
    # Nine components on iris with holes under a prior: three hold less
    # than a row, all named, and their means are the prior's (the observed
    # means), not arbitrary numbers.
    from sklearn.datasets import load_iris

    from emimpute import ConjugatePrior

    X = load_iris().data.copy()
    X[np.random.default_rng(0).random(X.shape) < 0.2] = np.nan
    mixture = EMMixture(9, prior=ConjugatePrior(), random_state=0)
    with pytest.warns(UserWarning, match="hold less than one") as record:
        mixture.fit(X)
    [message] = [str(w.message) for w in record if "hold less" in str(w.message)]
    empty = np.flatnonzero(mixture.weights_ * len(X) < 1)
    assert len(empty) > 1
    assert all(f"{k} (" in message for k in empty)
    assert "which are the prior's" in message
