"""The one module that imports scikit-learn names that are private or new.

A scikit-learn upgrade that moves one of these touches this file only.
"""

from sklearn.base import _fit_context
from sklearn.utils._missing import is_pandas_na, is_scalar_nan
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    MissingValues,
    StrOptions,
)
from sklearn.utils._set_output import _get_output_config, _wrap_data_with_container
from sklearn.utils.validation import (
    _check_feature_names_in,
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

__all__ = [
    "Interval",
    "InvalidParameterError",
    "MissingValues",
    "StrOptions",
    "_check_feature_names_in",
    "_check_sample_weight",
    "_fit_context",
    "_get_output_config",
    "_wrap_data_with_container",
    "check_is_fitted",
    "is_pandas_na",
    "is_scalar_nan",
    "validate_data",
]
