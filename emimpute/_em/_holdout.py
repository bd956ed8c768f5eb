"""Observed cells held out, and how well a fit predicts them back.

An imputer's model is chosen best by how well it fills holes, and the only
holes whose truth is known are observed cells hidden on purpose: the
held-out cells are removed, a candidate is fit on what remains, and each
hidden cell is predicted from the rest of its row by its conditional
expectation, as ``EMImputer.transform`` would fill it. This scores the
imputation itself, which an information criterion such as BIC does not: BIC
rewards any gain in the density of the observed data, and a mixture that
splits a table along a binary column (the ``sex`` column of scikit-learn's
diabetes data) gains much density and no accuracy on the other columns.
"""

from dataclasses import dataclass

import numpy as np

from emimpute._em._data import EMData, weights_count_copies
from emimpute._em._impute import complete

# Each column keeps at least this many observed cells after the hiding, so
# that every candidate can still estimate its mean and spread.
MIN_KEPT_PER_COLUMN = 2
# Enough held-out cells that a difference of a few percent in their mean
# squared error between two candidates stands out of the noise of the split.
MIN_HELD_OUT_CELLS = 2000


@dataclass(frozen=True)
class HeldOutCells:
    """A data set with some observed cells hidden, and their true values.

    Attributes
    ----------
    data : EMData
        The data with the hidden cells marked missing.
    numeric : ndarray of shape (n_samples, n_numeric) of bool
        The hidden numeric cells.
    codes : ndarray of shape (n_samples, n_categorical) of bool
        The hidden categorical cells.
    truth : EMData
        The data before hiding (the hidden cells' values).
    centre : ndarray of shape (n_numeric,)
        Each numeric column's observed (weighted) mean in ``data``.
    spread : ndarray of shape (n_numeric,)
        Each numeric column's observed standard deviation in ``data``: the
        unit of the hidden numeric cells' errors.
    """

    data: EMData
    numeric: np.ndarray
    codes: np.ndarray
    truth: EMData
    centre: np.ndarray
    spread: np.ndarray

    @property
    def n_hidden(self):
        return int(self.numeric.sum() + self.codes.sum())

    def cells(self):
        """Rows and columns of the hidden cells, in the order of the errors.

        Numeric cells first (row-major), then each categorical column's;
        yields ``(None, rows, columns)`` for the numeric cells and
        ``(j, rows, None)`` for categorical column ``j``.
        """
        rows, columns = np.nonzero(self.numeric)
        yield None, rows, columns
        for j in range(self.codes.shape[1]):
            yield j, np.flatnonzero(self.codes[:, j]), None

    @property
    def cell_weights(self):
        """The sample weight of each hidden cell's row (ones without weights)."""
        weights = self.data.sample_weight
        return np.concatenate(
            [
                np.ones(len(rows)) if weights is None else weights[rows]
                for _, rows, _ in self.cells()
            ]
        )


def _fold_of_each_cell(observed, n_groups, random_state):
    """A group in ``0..n_groups-1`` for every observed cell, -1 elsewhere."""
    groups = random_state.randint(n_groups, size=observed.shape)
    return np.where(observed, groups, -1)


def _hide(groups, group):
    """The cells of ``group``, sparing the columns it would leave too thin."""
    hidden = groups == group
    kept = (groups >= 0).sum(axis=0) - hidden.sum(axis=0)
    hidden[:, kept < MIN_KEPT_PER_COLUMN] = False
    return hidden


def held_out_folds(data, fraction, random_state, *, min_cells=MIN_HELD_OUT_CELLS):
    """Disjoint sets of observed cells of ``data``, each hidden in turn.

    The observed cells, numeric and categorical, are split at random into
    ``round(1 / fraction)`` groups (each cell's group drawn uniformly, so
    each group hides about ``fraction`` of them, missing completely at
    random on top of the data's own holes). As many groups are returned as
    it takes to hold out ``min_cells`` cells in all (at least one, at most
    every group): on a small table one split hides too few cells to tell
    the candidates apart, while on a large one a single split is plenty.
    Within a group, a column that would keep fewer than two observed cells
    keeps all of them. Labels and sample weights are kept; the cells of
    rows of weight 0 are never hidden.

    Parameters
    ----------
    data : EMData
    fraction : float in (0, 1)
    random_state : numpy.random.RandomState
    min_cells : int, default=MIN_HELD_OUT_CELLS

    Returns
    -------
    folds : list of HeldOutCells

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._data import EMData
    >>> from emimpute._em._holdout import held_out_folds
    >>> X = np.arange(40.0).reshape(20, 2)
    >>> folds = held_out_folds(EMData.build(X), 0.25, np.random.RandomState(0))
    >>> len(folds), sum(fold.n_hidden for fold in folds)
    (4, 40)
    """
    n_groups = max(1, round(1.0 / fraction))
    # A row of weight 0 counts for nothing in a fit or in a score: hiding
    # its cells would spend the held-out budget on errors weighed by 0.
    counted = (
        np.ones((data.n_samples, 1), dtype=bool)
        if data.sample_weight is None
        else (data.sample_weight > 0)[:, np.newaxis]
    )
    numeric = _fold_of_each_cell(~data.mask & counted, n_groups, random_state)
    codes = _fold_of_each_cell((data.codes >= 0) & counted, n_groups, random_state)
    n_observed = (numeric >= 0).sum() + (codes >= 0).sum()
    n_folds = int(
        np.clip(np.ceil(min_cells * n_groups / max(n_observed, 1)), 1, n_groups)
    )
    folds = []
    for group in range(n_folds):
        hidden_numeric, hidden_codes = _hide(numeric, group), _hide(codes, group)
        hidden = EMData.build(
            data.numeric,
            data.mask | hidden_numeric,
            np.where(hidden_codes, -1, data.codes),
            data.n_categories,
            data.labels,
            data.sample_weight,
        )
        scaling = hidden.fit_scaling()
        folds.append(
            HeldOutCells(
                hidden,
                hidden_numeric,
                hidden_codes,
                data,
                scaling.centre,
                scaling.scale,
            )
        )
    return folds


def held_out_errors(held_out, params, *, scaling=None):
    """Squared error of the conditional expectation of each hidden cell.

    A numeric cell's error is its conditional mean's, in units of the
    column's observed standard deviation (on the data with the cells
    hidden); a categorical cell's is the Brier score of its predicted
    probabilities (the squared error of the expected one-hot vector, the
    same quantity for a category's indicators), so that a constant
    prediction scores about 1 on either kind.

    Parameters
    ----------
    held_out : HeldOutCells
    params : MixtureParams
        Fit on ``held_out.data`` (standardised by ``scaling`` if given).
    scaling : Scaling, default=None

    Returns
    -------
    errors : ndarray of shape (n_hidden,)
        In the order of ``held_out.cells()``.

    Notes
    -----
    Cost: one imputation pass (an E-step) over the rows with a hole.
    """
    data = held_out.data
    completion = complete(
        data, params, scaling=scaling, return_proba=data.n_categorical > 0
    )
    return _errors(held_out, completion.numeric, completion.probabilities)


def column_baseline_errors(held_out):
    """:func:`held_out_errors` of each column's own observed distribution.

    A numeric hidden cell is predicted by its column's observed mean, a
    categorical one by its column's observed frequencies (both weighted by
    the sample weights, on the data with the cells hidden): the prediction
    of a model that knows no relation between the columns, as
    :class:`~sklearn.impute.SimpleImputer` fills holes. A model that scores
    worse has fit noise (covariances estimated from too few rows for the
    features).

    Parameters
    ----------
    held_out : HeldOutCells

    Returns
    -------
    errors : ndarray of shape (n_hidden,)
        In the order of ``held_out.cells()``.

    Notes
    -----
    Cost: ``O(n d)``, plus ``O(n L)`` for a categorical column of ``L``
    categories.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._data import EMData
    >>> from emimpute._em._holdout import column_baseline_errors, held_out_folds
    >>> X = np.array([[0.0], [2.0], [4.0], [6.0]])
    >>> fold = held_out_folds(EMData.build(X), 0.5, np.random.RandomState(0))[0]
    >>> fold.numeric.ravel().tolist(), column_baseline_errors(fold).tolist()
    ([True, False, False, True], [9.0, 9.0])
    """
    data = held_out.data
    numeric = np.broadcast_to(held_out.centre, data.numeric.shape)
    weights = data.row_weights(slice(None))
    probabilities = []
    for j, n_categories in enumerate(data.n_categories):
        seen = data.codes[:, j] >= 0
        counts = np.bincount(
            data.codes[seen, j],
            weights=None if weights is None else weights[seen, 0],
            minlength=n_categories,
        )
        frequencies = counts / max(counts.sum(), np.finfo(float).tiny)
        probabilities.append(
            np.broadcast_to(frequencies, (data.n_samples, n_categories))
        )
    return _errors(held_out, numeric, probabilities)


def _errors(held_out, numeric, probabilities):
    """The squared errors of predictions of the hidden cells: ``numeric``
    values, and each categorical column's ``probabilities`` (per row)."""
    truth = held_out.truth
    errors = []
    for j, rows, columns in held_out.cells():
        if j is None:
            residual = (numeric - truth.numeric)[rows, columns]
            errors.append((residual / held_out.spread[columns]) ** 2)
        else:
            p = probabilities[j][rows]
            true = p[np.arange(len(rows)), truth.codes[rows, j]]
            errors.append(1.0 - 2.0 * true + (p**2).sum(axis=1))
    return np.concatenate(errors)


# Relative gains in held-out error below this are ties (see
# one_standard_error_choice).
TIE_SHARE = 1e-3


def one_standard_error_choice(errors, weights):
    """The first candidate within one standard error of the best.

    Breiman's one-standard-error rule on paired errors: ``errors[c]`` are
    candidate ``c``'s errors on the same cells, candidates ordered from the
    simplest. The candidate of lowest (weighted) mean error is the best;
    the simplest candidate whose mean excess over the best, cell by cell,
    is at most the standard error of that excess (or ``TIE_SHARE`` of the
    best error, a gain too small to pay for components) is chosen, since a
    smaller difference is within what another draw of the hidden cells
    would change.

    Parameters
    ----------
    errors : list of ndarray of shape (n_hidden,)
    weights : ndarray of shape (n_hidden,)
        The cells' row weights (whole ones count copies of the cells, see
        :func:`~emimpute._em._data.weights_count_copies`).

    Returns
    -------
    index : int

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._holdout import one_standard_error_choice
    >>> best = np.array([1.0, 1.0, 1.0, 1.0])
    >>> one_standard_error_choice([best + [0.3, -0.1, 0.1, 0.1], best], np.ones(4))
    1
    >>> one_standard_error_choice([best + [0.6, -0.4, 0.2, 0.0], best], np.ones(4))
    0
    """
    if len(errors) == 1:
        return 0
    errors = np.asarray(errors)
    means = errors @ weights / weights.sum()
    best = int(np.argmin(means))
    excess = errors - errors[best]
    # Whole weights are frequencies (a row of weight 2 is two copies of
    # it), as sample_weight is everywhere in the package: the standard
    # error of a mean over sum(w) cells. Other weights count no copies:
    # that of a weighted mean of the cells (sum w^2 d^2), which does not
    # depend on the weights' scale.
    total = weights.sum()
    deviations = excess - (excess @ weights / total)[:, None]
    copies = weights if weights_count_copies(weights) else weights**2
    spread = np.sqrt((deviations**2) @ copies) / total
    # A gain below TIE_SHARE of the best error is a tie whatever its
    # standard error: when candidates predict alike (one column: every
    # mixture's marginal mean is the data's), both shrink to the fits'
    # convergence noise and the rule alone would choose by it.
    margin = np.maximum(spread, TIE_SHARE * abs(means[best]))
    return int(np.flatnonzero(means - means[best] <= margin)[0])
