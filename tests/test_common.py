"""scikit-learn's estimator checks on every public estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import emimpute
from emimpute import EMMixture


def _estimators():
    estimators = [EMMixture(n_init=2, max_iter=5)]
    if hasattr(emimpute, "EMImputer"):
        estimators.append(emimpute.EMImputer(max_iter=5))
    return estimators


def _expected_failed_checks(estimator):
    # No check is expected to fail; any xfail must be listed here with its
    # reason.
    return {}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(_estimators(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
