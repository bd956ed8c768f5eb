"""scikit-learn's estimator checks on every public estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import emimpute
from emimpute import EMClassifier, EMMixture, EMMixtureSelector


def _estimators():
    estimators = [EMMixture(n_init=2, max_iter=5)]
    if hasattr(emimpute, "EMImputer"):
        estimators.append(emimpute.EMImputer(max_iter=5))
    estimators.append(EMClassifier())
    estimators.append(
        EMMixtureSelector(
            n_components=2, covariance_type=("full", "diag"), max_iter=5, n_init=2
        )
    )
    return estimators


def _expected_failed_checks(estimator):
    # Any xfail must be listed here with its reason.
    if isinstance(estimator, EMClassifier):
        return {
            "check_classifiers_classes": (
                "-1 marks an unlabelled row (scikit-learn's semi-supervised "
                "convention), so the check's binary target {-1, 1} has one "
                "class; scikit-learn exempts its own semi-supervised "
                "classifiers from that case by name."
            ),
        }
    return {}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(_estimators(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
