"""Reading an estimator's input: numeric arrays, or mixed tables with categories.

Both estimators accept the same inputs: a numeric array (NaN, or
``missing_values``, where missing), or a table whose categorical columns
(chosen by ``categorical_features``, see :func:`emimpute._layout.categorical_mask`)
hold categories. A numeric input takes scikit-learn's usual validation, as
before categorical features existed, so its results are unchanged; a mixed
table is split by ``_encode`` into the float block and the category codes the
engine reads.
"""

import contextlib
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from emimpute._em._dask import is_dask_array, is_dask_collection
from emimpute._em._warnings import user_stacklevel
from emimpute._encode import encode
from emimpute._layout import categorical_mask, fit_layout, unlikely_categories
from emimpute._sklearn_compat import validate_data
from emimpute._table import as_table, first_text_cell, refuse_time_columns


@dataclass(frozen=True)
class TableInput:
    """A validated input, split for the engine.

    Attributes
    ----------
    table : ndarray or DataFrame
        The input: a float64 ndarray on the numeric path, else the raw table.
    numeric : ndarray of shape (n_samples, n_numeric)
        Float64 numeric columns; entries flagged in ``mask`` are not read.
    codes : ndarray of shape (n_samples, n_categorical)
        Category codes, -1 where missing.
    mask : ndarray of shape (n_samples, n_features)
        True where an entry is missing (or of an unknown category), over
        all input columns: what the model does not read.
    layout : TableLayout or None
        None for a numeric input.
    unknown : ndarray of shape (n_samples, n_categorical) or None
        The observed cells of a category not seen in fit (read as missing
        by the model, under ``handle_unknown='ignore'``); None when there
        are none.
    """

    table: object
    numeric: np.ndarray
    codes: np.ndarray
    mask: np.ndarray
    layout: object
    unknown: np.ndarray | None = None

    @property
    def numeric_columns(self):
        """Input indices of the numeric columns."""
        if self.layout is None:
            return np.arange(self.mask.shape[1])
        return self.layout.numeric

    @property
    def categorical_columns(self):
        """Input indices of the categorical columns."""
        if self.layout is None:
            return np.empty(0, dtype=np.intp)
        return self.layout.categorical


def refuse_dask_read_in_memory(X, estimator_name):
    """Refuse a dask collection that would be read into memory whole.

    The out-of-core paths (``EMMixture``, ``EMImputer`` and
    ``EMMixtureSelector`` on a row-chunked dask array) branch off before an
    estimator reads its input in memory; any other dask collection reaching
    that read (a dask DataFrame, or a dask array for ``EMClassifier``)
    would be computed whole on the client, twice, silently: out of memory
    where out of core was meant. The message says what to pass instead.
    """
    if not is_dask_collection(X):
        return
    if is_dask_array(X):
        raise TypeError(
            f"{estimator_name} reads X in memory, and X is a dask array, which "
            "would be computed whole: pass X.compute() (EMMixture, EMImputer and "
            "EMMixtureSelector fit row-chunked dask arrays out of core)."
        )
    raise TypeError(
        f"X is a dask {type(X).__name__}, which {estimator_name} would compute "
        "whole into memory. For a fit out of core, pass its numeric columns as "
        "a row-chunked dask array, X.to_dask_array(lengths=True) (EMMixture, "
        "EMImputer, EMMixtureSelector); for an in-memory fit (categorical "
        "columns need one), pass X.compute()."
    )


def read_input(
    estimator, X, *, reset, validate_numeric, missing_values=np.nan, min_fit_rows=1
):
    """Validate ``X`` for ``estimator`` and split it into numeric and codes.

    Parameters
    ----------
    estimator : EMImputer, EMMixture or EMClassifier
        Its ``categorical_features`` decides the columns at fit
        (``reset=True``); the layout fitted then (``estimator._layout``) is
        reused afterwards; its ``handle_unknown`` says whether a category
        not seen in fit is an error or read as missing.
    X : array-like or DataFrame
    reset : bool
        True in fit.
    validate_numeric : callable
        ``validate_numeric(X, reset=...) -> (X, mask)``: the estimator's
        scikit-learn validation of a numeric input.
    missing_values : float, int or str, default=np.nan
    min_fit_rows : int, default=1
        The rows a mixed table needs at fit (``validate_numeric`` checks a
        numeric one's): 2 for a mixture, as ``GaussianMixture``.

    Returns
    -------
    input : TableInput
    """
    refuse_dask_read_in_memory(X, type(estimator).__name__)
    refuse_time_columns(X, type(estimator).__name__)
    if reset:
        table = as_table(X)
        validate_data(estimator, table, skip_check_array=True, reset=True)
        is_categorical = categorical_mask(
            table,
            estimator.categorical_features,
            n_features=estimator.n_features_in_,
            feature_names_in=getattr(estimator, "feature_names_in_", None),
            missing_values=missing_values,
        )
        layout = (
            fit_layout(table, is_categorical, missing_values=missing_values)
            if is_categorical.any()
            else None
        )
    else:
        layout = estimator._layout
    if layout is None:
        with _naming_text_in_numbers(X, None, missing_values):
            X, mask = validate_numeric(_null_objects_as_nan(X), reset=reset)
        return TableInput(X, X, np.empty((len(X), 0), dtype=np.intp), mask, None)
    if not reset:
        table = as_table(X)
        validate_data(estimator, table, skip_check_array=True, reset=False)
    minimum = min_fit_rows if reset else 1
    if len(table) < minimum:
        raise ValueError(
            f"Found array with {len(table)} sample(s) (shape="
            f"{(len(table), layout.n_features)}) while a minimum of {minimum} is "
            f"required by {type(estimator).__name__}."
        )
    with _naming_text_in_numbers(table, layout.numeric, missing_values):
        numeric, codes, unknown = encode(
            table,
            layout,
            missing_values=missing_values,
            unknown_ok=estimator.handle_unknown == "ignore",
        )
    if reset and _inferred(estimator.categorical_features):
        for message in unlikely_categories(layout, codes):
            warnings.warn(message, UserWarning, stacklevel=user_stacklevel())
    mask = np.zeros((len(numeric), layout.n_features), dtype=bool)
    mask[:, layout.numeric] = np.isnan(numeric)
    mask[:, layout.categorical] = codes < 0
    return TableInput(
        table, numeric, codes, mask, layout, unknown if unknown.any() else None
    )


def _null_objects_as_nan(X):
    """``X`` with pandas' null objects (``pd.NA``, ``pd.NaT``) in object
    columns made NaN, which scikit-learn's validation reads as missing.

    A numeric column of object dtype (numbers beside ``pd.NA``: a
    DataFrame's ``astype(object)``, or a column built from a nullable one)
    is numeric to ``categorical_features``, and the mixed tables read
    ``pd.NA`` as missing; numpy's conversion to float refuses it ("float()
    argument must be ... not 'NAType'"). Anything else is returned as it
    is, so that numeric inputs take scikit-learn's validation unchanged.
    """
    pd = sys.modules.get("pandas")
    if pd is None:
        return X
    if isinstance(X, pd.DataFrame):
        objects = [j for j, dtype in enumerate(X.dtypes) if dtype.kind == "O"]
        if not len(objects):
            return X
        converted = X.copy(deep=False)
        for j in objects:
            column = X.iloc[:, j]
            converted.isetitem(j, column.where(column.notna(), np.nan))
        return converted
    if isinstance(X, np.ndarray) and X.dtype == object:
        return np.where(pd.isna(X), np.nan, X)
    return X


def _inferred(categorical_features):
    """Whether the categorical columns were read from the column types."""
    inferred = isinstance(categorical_features, str)
    return inferred and categorical_features == "from_dtype"


# The words of a failed conversion of text to floats: numpy's, and pandas'
# for a frame with a nullable (extension) column.
CONVERSION_FAILURES = ("could not convert string to float", "Cannot cast str dtype")


@contextlib.contextmanager
def _naming_text_in_numbers(X, columns, missing_values):
    """Say which column, on numpy's "could not convert string to float".

    A text column read as numeric (``categorical_features`` left it out, or
    it holds numbers and a stray string) fails in numpy's conversion, whose
    message names neither the column nor the option that decides it; beside
    a pandas nullable column (``Int64``, ``boolean``) the conversion is
    pandas', whose words ("Cannot cast str dtype to float64") differ.
    """
    try:
        yield
    except ValueError as exc:
        if not any(words in str(exc) for words in CONVERSION_FAILURES):
            raise
        if columns is None:
            columns = range(np.shape(X)[1]) if np.ndim(X) == 2 else ()
        found = first_text_cell(X, columns, missing_values=missing_values)
        if found is None:
            raise
        where, value = found
        # numpy's words first: they are what scikit-learn users search for.
        raise ValueError(
            f"could not convert string to float: {value!r}: {where} is read as "
            "numeric but holds text. Name it in categorical_features to model "
            "it as categories, convert it to numbers (pandas.to_numeric), or "
            "pass its missing-value marker as missing_values."
        ) from exc
