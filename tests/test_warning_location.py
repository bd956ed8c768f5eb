"""Warnings name the caller's line, through scikit-learn's wrappers too."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from emimpute import EMClassifier, EMImputer, EMMixture


def _caught(fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    assert caught, "expected a warning"
    return caught


def test_warnings_point_at_the_line_that_called_fit():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    tiny = np.vstack([rng.normal(0, 1e-8, (100, 2)), rng.normal(5e-8, 1e-8, (100, 2))])
    cases = [
        (lambda: EMMixture(2, max_iter=1, random_state=0).fit(X), ConvergenceWarning),
        (lambda: EMImputer(max_iter=1, random_state=0).fit(X), ConvergenceWarning),
        (lambda: EMMixture(2, random_state=0).fit(tiny), UserWarning),
        (
            lambda: make_pipeline(StandardScaler(), EMImputer(max_iter=1)).fit(X),
            ConvergenceWarning,
        ),
        (
            lambda: EMClassifier(priors=[0.5, 0.6]).fit(X, np.arange(60) % 2),
            UserWarning,
        ),
    ]
    for fit, category in cases:
        caught = [w for w in _caught(fit) if issubclass(w.category, category)]
        assert caught
        # The lambda's line in this file: the first frame outside emimpute
        # and scikit-learn (whose _fit_context and Pipeline wrap fit).
        assert {w.filename for w in caught} == {__file__}
