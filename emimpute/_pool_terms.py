"""Terms matched by name across imputations.

One job: line up each imputation's terms with the first imputation's by
their names (pandas labels, statsmodels' ``params`` and ``cov_params()``,
a fitted estimator's feature names), refuse imputations whose terms differ
(naming the missing and extra terms and what to do), and apply the names
``pool`` is given. It needs :mod:`emimpute._pool_report` only for
``_listed``, the way messages list names.
"""

import numpy as np

from emimpute._pool_report import _listed

# What to do about a level or class that some completed tables lack: its
# term cannot be estimated from them, whether it is dropped (other terms)
# or kept as a column of zeros (a variance of 0).
UNESTIMATED_REMEDY = (
    "A level (or class) too rare to appear in every completed table cannot "
    "be estimated from each: merge it with another before imputing, or "
    "leave its term out of the model (R's lm gives NA there, and mice does "
    "not pool it)."
)
TERMS_DIFFER_REMEDY = (
    "Terms are pooled by name, and a completed table gives other terms when a "
    "category or a class is absent from it (a rare level or class imputed "
    "differently in each table), or when an encoder or a feature selector "
    f"makes other columns from it. {UNESTIMATED_REMEDY} Select features once, "
    "not in each table."
)


def _term_order(first, names, index, source):
    """Where each of ``first``'s terms (imputation 0's names) is among
    ``names`` (imputation ``index``'s): the permutation that puts imputation
    ``index``'s terms in ``first``'s order, or None when they are in it
    already (or either has no names: then terms go by position).

    ``source`` names an imputation's terms in messages, ``{}`` its index:
    ``"estimates[{}]"``, ``"the fit on imputations[{}]"``.

    Raises
    ------
    ValueError
        If the two have different sets of names (naming the missing and the
        extra terms, why, and what to do), or repeat a name while their
        orders differ (then no order by name exists).
    """
    if first is None or names is None or names == first:
        return None
    present, wanted = set(names), set(first)
    missing = [n for n in first if n not in present]
    extra = [n for n in names if n not in wanted]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {_listed(missing)}")
        if extra:
            parts.append(f"has {_listed(extra)} besides")
        raise ValueError(
            f"The terms differ between imputations: {source.format(index)} "
            f"{' and '.join(parts)}, compared with {source.format(0)}. "
            f"{TERMS_DIFFER_REMEDY}"
        )
    if len(present) < len(names) or len(wanted) < len(first):
        raise ValueError(
            f"The terms of {source.format(index)} are those of "
            f"{source.format(0)} in another order, and a name repeats, so they "
            "cannot be matched by name; give every term its own name."
        )
    position = {name: j for j, name in enumerate(names)}
    return np.array([position[name] for name in first])


def _reorder(values, order):
    """An estimate, a variance vector or a covariance matrix with its terms
    taken in ``order`` (unchanged when ``order`` is None, or when its shape
    does not fit: the shape checks of :func:`pool` then say so)."""
    if order is None:
        return values
    values = np.asarray(values)
    n = len(order)
    if values.shape == (n,):
        return values[order]
    if values.shape == (n, n):
        return values[np.ix_(order, order)]
    return values


def _by_labels(variance, first, index, source, *, columns=False):
    """A variance given as a pandas DataFrame (a covariance matrix, as
    statsmodels' ``cov_params()``) or Series (variances), its rows and
    columns taken by their labels in the order of the terms ``first``;
    None for other input. ``columns``: a DataFrame of a row of variances
    per imputation, taken by its columns' labels alone (``index`` None)."""
    if columns:
        axes = [list(variance.columns)]
    elif hasattr(variance, "columns") and hasattr(variance, "index"):
        axes = [variance.index, variance.columns]
    elif _pandas_labels(variance) is not None:
        axes = [variance.index]
    else:
        return None
    # A DataFrame of rows per imputation: every row, its columns by label.
    positions = [list(range(len(variance)))] if columns else []
    whose = "The variances" if columns else f"The variances of {source.format(index)}"
    for axis in axes:
        labels = [str(label) for label in axis]
        if sorted(labels) != sorted(first) or len(set(labels)) < len(labels):
            raise ValueError(
                f"{whose} are labelled "
                f"{_listed(labels)}, not by the terms of its estimate "
                f"({_listed(first)}); label them as the estimate, or pass "
                "arrays in the estimate's order."
            )
        position = {label: j for j, label in enumerate(labels)}
        positions.append([position[name] for name in first])
    return np.asarray(variance.to_numpy(), dtype=float)[np.ix_(*positions)]


def _align_terms(estimates, variances, term_names, source):
    """Every imputation's estimate and variance with its terms in the first
    imputation's order, matched by name.

    ``term_names`` holds each imputation's names (None where it has none:
    then its terms go by position). A variance that is a pandas DataFrame
    or Series is taken by its labels; any other goes with its estimate's
    order. Returns the estimates, the variances and the first imputation's
    names (None without them).

    Raises
    ------
    ValueError
        See :func:`_term_order`.
    """
    first = term_names[0] if len(term_names) else None
    if first is None:
        return estimates, variances, None
    orders = [
        _term_order(first, names, index, source)
        for index, names in enumerate(term_names)
    ]
    estimates = [
        _reorder(np.asarray(e), order)
        for e, order in zip(estimates, orders, strict=True)
    ]
    if hasattr(variances, "columns"):
        # One DataFrame (pandas or polars), a row of variances per
        # imputation: its rows are lined up by their labels (the columns)
        # already, so it is taken by them, not reordered again row by row.
        return (
            estimates,
            _by_labels(variances, first, None, source, columns=True),
            first,
        )
    if variances is not None and not isinstance(variances, list | tuple):
        # One array for every imputation: its rows by imputation, each in
        # the order of that imputation's estimate.
        variances = np.asarray(variances)
    per_imputation = variances is not None and (
        isinstance(variances, list | tuple) or variances.ndim > 0
    )
    if per_imputation and len(variances) == len(orders):
        aligned = []
        for index, (variance, order) in enumerate(zip(variances, orders, strict=True)):
            labelled = _by_labels(variance, first, index, source)
            aligned.append(_reorder(variance, order) if labelled is None else labelled)
        variances = aligned
    return estimates, variances, first


def _renamed(labels, names):
    """The terms' names: ``names`` when given (renaming the terms in their
    order), else the estimates' own ``labels`` (None without them).

    Raises
    ------
    ValueError
        If ``names`` lists one of the labels at another position: names
        rename terms by position, they do not reorder them.
    """
    if names is None:
        return labels
    names = [str(n) for n in names]
    if labels is None:
        return names
    moved = [n for j, n in enumerate(names) if n in labels and labels.index(n) != j]
    if moved:
        raise ValueError(
            f"names: {_listed(moved)} name{'s' if len(moved) == 1 else ''} "
            "other terms of the estimates than the ones at "
            f"{'its' if len(moved) == 1 else 'their'} position (the estimates' "
            f"terms are {_listed(labels)}). names renames the terms in their "
            "order, and does not reorder them: leave it out to keep the "
            "estimates' labels."
        )
    return names


def _pandas_labels(values):
    """The labels of a pandas Series (its index), as strings; None for other
    input (arrays, lists, polars: their values go by position)."""
    if hasattr(values, "to_numpy") and hasattr(values, "index"):
        return [str(label) for label in values.index]
    return None
