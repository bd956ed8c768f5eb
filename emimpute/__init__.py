"""emimpute: Gaussian and Gaussian-mixture models fit by EM on incomplete data.

- :class:`EMImputer`: an imputation step that fills each missing entry with
  its conditional expectation (or a posterior draw) under a Gaussian or
  Gaussian mixture fit to the observed entries.
- :class:`EMMixture`: scikit-learn's ``GaussianMixture`` with NaN allowed
  everywhere; missing coordinates are marginalised.
- :class:`EMClassifier`: a Gaussian (QDA/LDA-like) classifier that learns
  from unlabelled rows too, with NaN allowed everywhere.
- :func:`multiple_impute`, :func:`pool`, :func:`fit_and_pool`: proper
  multiple imputation and Rubin's rules.
"""

from emimpute._classifier import EMClassifier
from emimpute._imputer import EMImputer
from emimpute._mixture import EMMixture
from emimpute._multiple import multiple_impute
from emimpute._pool import PooledResult, fit_and_pool, pool

__version__ = "0.1.0"

__all__ = [
    "EMClassifier",
    "EMImputer",
    "EMMixture",
    "PooledResult",
    "__version__",
    "fit_and_pool",
    "multiple_impute",
    "pool",
]
