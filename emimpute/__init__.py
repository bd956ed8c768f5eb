"""emimpute: Gaussian and Gaussian-mixture models fit by EM on incomplete data.

- :class:`EMImputer`: an imputation step that fills each missing entry with
  its conditional expectation (or a posterior draw) under a Gaussian or
  Gaussian mixture fit to the observed entries.
- :class:`EMMixture`: scikit-learn's ``GaussianMixture`` with NaN allowed
  everywhere; missing coordinates are marginalised.
- :class:`EMClassifier`: a Gaussian (QDA/LDA-like) classifier that learns
  from unlabelled rows too, with NaN allowed everywhere.
- :func:`multiple_impute`, :func:`pool`, :func:`fit_and_pool`,
  :func:`pool_chi2`, :func:`pool_likelihood_ratio`: proper multiple
  imputation, Rubin's rules and the pooling of test statistics.
"""

import importlib as _importlib

__version__ = "0.1.0"

# The estimators import scikit-learn and scipy (over a second); they are
# imported on first use (PEP 562), so that the command line's --help and
# --version, which import this package, answer at once.
_PUBLIC_MODULES = {
    "ConjugatePrior": "emimpute._prior",
    "EMClassifier": "emimpute._classifier",
    "EMImputer": "emimpute._imputer",
    "EMMixture": "emimpute._mixture",
    "EMMixtureSelector": "emimpute._selection",
    "PoolTable": "emimpute._pool_report",
    "PooledResult": "emimpute._pool_report",
    "PooledTest": "emimpute._pooled_tests",
    "WaldTest": "emimpute._pool_report",
    "fit_and_pool": "emimpute._fit_and_pool",
    "multiple_impute": "emimpute._multiple",
    "pool": "emimpute._pool",
    "pool_chi2": "emimpute._pooled_tests",
    "pool_likelihood_ratio": "emimpute._pooled_tests",
}

__all__ = [
    "ConjugatePrior",
    "EMClassifier",
    "EMImputer",
    "EMMixture",
    "EMMixtureSelector",
    "PoolTable",
    "PooledResult",
    "PooledTest",
    "WaldTest",
    "__version__",
    "fit_and_pool",
    "multiple_impute",
    "pool",
    "pool_chi2",
    "pool_likelihood_ratio",
]


def __getattr__(name):
    if name in _PUBLIC_MODULES:
        value = getattr(_importlib.import_module(_PUBLIC_MODULES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emimpute' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
