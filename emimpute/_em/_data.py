"""A data set as the engine reads it: numeric columns, category codes, labels."""

import functools
from dataclasses import dataclass

import numpy as np

from emimpute._em._blocks import BLOCKS_FLOATS, MEMO_FLOATS, BlockMemo
from emimpute._em._patterns import find_patterns

# How far from a whole number a weight may be and still count copies: a
# few ulps of arithmetic (counts divided by their sum and multiplied back
# land 1 ulp off in a fifth of the rows), far below any real fraction.
WHOLE_WEIGHT_TOLERANCE = 1e-9


def weights_as_counts(weights):
    """Sample weights as the numbers of rows they stand for, for a count of
    rows (an information criterion's ``n``, a component's rows).

    Whole weights count copies (:func:`weights_count_copies`) and are
    returned as they are; other weights (survey weights, weights normalised
    to sum to 1) count no copies, and are rescaled to sum to the number of
    rows of positive weight, so that such a count does not depend on their
    scale. None stays None (every row counts once).

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._data import weights_as_counts
    >>> weights_as_counts(np.array([2.0, 0.0, 1.0])).tolist()
    [2.0, 0.0, 1.0]
    >>> weights_as_counts(np.array([0.25, 0.0, 0.25])).tolist()
    [1.0, 0.0, 1.0]
    """
    if weights is None or weights_count_copies(weights):
        return weights
    return weights * (np.count_nonzero(weights) / weights.sum())


def weights_count_copies(weights):
    """Whether sample weights count copies of rows: all whole numbers.

    A row of whole weight ``w`` is ``w`` copies of it (frequency weights),
    the reading every fit gives them; other weights (survey weights,
    weights normalised to sum to 1) count no copies, which matters where
    the number of rows does (a bootstrap's draws, a standard error) and
    must not come from the weights' scale. Whole to within
    ``WHOLE_WEIGHT_TOLERANCE`` of the weight (rounding of their arithmetic);
    whoever uses them as counts rounds them.
    """
    whole = np.round(weights)
    tolerance = WHOLE_WEIGHT_TOLERANCE * np.maximum(whole, 1.0)
    near = np.abs(weights - whole) <= tolerance
    # A positive weight that rounds to 0 (1e-10) is a fraction, not no copy.
    return bool(np.all(near & ((whole > 0) | (weights == 0))))


@dataclass(frozen=True)
class EMData:
    """Numeric entries, category codes and the missingness structure.

    Attributes
    ----------
    numeric : ndarray of shape (n_samples, n_numeric)
        Float64 numeric columns, or float32 ones kept as given (half the
        memory; every row block is computed in float64); entries flagged in
        ``patterns.mask`` are never read.
    codes : ndarray of shape (n_samples, n_categorical) of intp
        Index of each categorical cell's category; -1 where missing.
    n_categories : tuple of int
        Number of categories of each categorical column.
    patterns : MissingPatterns
        Rows grouped by their numeric missingness pattern; rows with a
        category or a label observed count as informative even when all
        their numeric entries are missing.
    labels : ndarray of shape (n_samples,) of intp or None
        Class code of each row, -1 where unlabelled (read by the label
        family, ``_labels``); None for data without labels.
    sample_weight : ndarray of shape (n_samples,) or None
        Positive weight of each row: a row of integer weight ``w`` counts as
        ``w`` copies of it in every statistic and in the log-likelihood.
        None for unit weights.
    """

    numeric: np.ndarray
    codes: np.ndarray
    n_categories: tuple
    patterns: object
    labels: np.ndarray | None = None
    sample_weight: np.ndarray | None = None

    @classmethod
    def build(
        cls,
        numeric,
        mask=None,
        codes=None,
        n_categories=(),
        labels=None,
        sample_weight=None,
    ):
        """Group the rows by pattern; ``mask`` defaults to ``isnan(numeric)``.

        Examples
        --------
        >>> import numpy as np
        >>> from emimpute._em._data import EMData
        >>> data = EMData.build(
        ...     np.array([[1.0, np.nan], [np.nan, np.nan]]),
        ...     codes=np.array([[0], [-1]]), n_categories=(2,))
        >>> data.patterns.empty_rows.tolist()
        [1]
        """
        # C order: sums over rows (column means, the initialisation) round
        # differently on a Fortran-ordered copy of the same values. float32
        # stays float32 (half the memory; blocks are computed in float64).
        numeric = np.asarray(numeric)
        dtype = np.float32 if numeric.dtype == np.float32 else np.float64
        numeric = np.ascontiguousarray(numeric, dtype=dtype)
        # The mask and codes in C order too: a column selection by an index
        # array (engine_data's mask[:, numeric]) gives Fortran order, on
        # which every block's rows were a copy of the whole mask (np.take
        # along rows: 1.8 ms a block, half a transform's time at d = 640).
        if mask is None:
            mask = np.isnan(numeric)
        mask = np.ascontiguousarray(mask, dtype=bool)
        if codes is None:
            codes = np.empty((len(numeric), 0), dtype=np.intp)
        codes = np.ascontiguousarray(codes, dtype=np.intp)
        observed_elsewhere = (codes >= 0).any(axis=1) if codes.shape[1] else None
        if labels is not None:
            labels = np.asarray(labels, dtype=np.intp)
            labelled = labels >= 0
            if observed_elsewhere is not None:
                labelled |= observed_elsewhere
            observed_elsewhere = labelled
        return cls(
            numeric=numeric,
            codes=codes,
            n_categories=tuple(int(n) for n in n_categories),
            patterns=find_patterns(mask, observed_elsewhere),
            labels=labels,
            sample_weight=(
                None
                if sample_weight is None
                else np.asarray(sample_weight, dtype=float)
            ),
        )

    @property
    def n_samples(self):
        return self.numeric.shape[0]

    @property
    def n_numeric(self):
        return self.numeric.shape[1]

    @property
    def dtype(self):
        """The numeric columns' dtype: float64, or float32 as given."""
        return self.numeric.dtype

    @property
    def n_categorical(self):
        return self.codes.shape[1]

    @property
    def mask(self):
        return self.patterns.mask

    @functools.cached_property
    def flat_codes(self):
        """Each categorical cell's row in the columns' stacked categories.

        ndarray of shape (n_samples, n_categorical) of intp: column ``j``'s
        category ``c`` is row ``offset_j + c`` of the categories of all
        columns stacked (``offset_j`` the categories of the columns before
        it), and a missing cell of column ``j`` is row ``L + j`` (``L`` the
        categories in all). Computed once per data set: the numpy path of
        the categorical family reads it at every E-step (its flat table,
        ``_categorical``).
        """
        n_categories = np.asarray(self.n_categories, dtype=np.intp)
        offsets = np.concatenate([[0], np.cumsum(n_categories)[:-1]]).astype(np.intp)
        missing = n_categories.sum() + np.arange(len(n_categories), dtype=np.intp)
        return np.where(self.codes >= 0, self.codes + offsets, missing)

    @functools.cached_property
    def missing_entries(self):
        """Flat indices of the missing numeric entries, in C order.

        ndarray of intp. Computed once per data set: every completion of it
        (each draw of multiple imputation) reads and writes them, and at 20%
        missing they are a fifth of the entries, where a boolean mask would
        read them all.
        """
        return np.flatnonzero(self.mask)

    @functools.cached_property
    def missing_columns(self):
        """The column of each of :attr:`missing_entries` (ndarray of intp)."""
        return self.missing_entries % self.n_numeric

    @functools.cached_property
    def block_memo(self):
        """The data set's row blocks, kept between E-steps, or None.

        A :class:`~emimpute._em._blocks.BlockMemo` for a data set of at most
        ``BLOCKS_FLOATS`` numeric entries, which also keeps what the families
        gather for each block up to ``MEMO_FLOATS`` (see ``_blocks``); else
        None: the E-steps of a fit then make their blocks each time.
        """
        if self.numeric.size > BLOCKS_FLOATS:
            return None
        return BlockMemo(keep_gathers=self.numeric.size <= MEMO_FLOATS)

    def release_blocks(self):
        """Drop the kept blocks and their scratch arrays (the fit is over).

        An estimator may keep its fit data (for parameter draws), which
        should not hold the blocks' memory; they are made again if needed.
        Also drops the rows the bootstrap refits keep sorted by pattern
        (``_bootstrap._pattern_rows``).
        """
        self.__dict__.pop("block_memo", None)
        self.__dict__.pop("_pattern_rows", None)

    def take(self, rows):
        """The data of ``rows`` only (patterns rebuilt).

        ``rows`` a boolean mask keeps the rows in order, and their patterns
        are then taken from the data's own (``MissingPatterns.subset``).
        """
        rows = np.asarray(rows)
        if rows.dtype == bool:
            return EMData(
                numeric=self.numeric[rows],
                codes=self.codes[rows],
                n_categories=self.n_categories,
                patterns=self.patterns.subset(rows),
                labels=None if self.labels is None else self.labels[rows],
                sample_weight=(
                    None if self.sample_weight is None else self.sample_weight[rows]
                ),
            )
        return EMData.build(
            self.numeric[rows],
            self.mask[rows],
            self.codes[rows],
            self.n_categories,
            None if self.labels is None else self.labels[rows],
            None if self.sample_weight is None else self.sample_weight[rows],
        )

    def row_weights(self, rows):
        """The weights of ``rows`` as a column to scale ``(rows, K)`` arrays.

        None without sample weights (unit weights need no product).
        """
        if self.sample_weight is None:
            return None
        return self.sample_weight[rows, np.newaxis]

    def block_weights(self, block):
        """:meth:`row_weights` of a block's rows, kept in a kept block's memo."""
        if self.sample_weight is None:
            return None
        return block.kept("row_weights", lambda: self.row_weights(block.rows))

    @property
    def total_weight(self):
        """The sum of the rows' weights: the number of rows without weights."""
        if self.sample_weight is None:
            return self.n_samples
        return float(self.sample_weight.sum())

    @property
    def informative_share(self):
        """The share of the rows' weight on rows with an observed entry.

        A row with nothing observed has log-density 0 under any parameters:
        it dilutes the per-row log-likelihood, and its changes, by this
        share (``run_em`` scales ``tol`` by it).
        """
        empty = self.patterns.empty_rows
        if len(empty) == 0:
            return 1.0
        if self.sample_weight is None:
            return 1.0 - len(empty) / self.n_samples
        return 1.0 - float(self.sample_weight[empty].sum()) / self.total_weight

    def average(self, values):
        """The mean of per-row ``values``, weighted by the sample weights."""
        return np.average(values, weights=self.sample_weight)

    # The data-source protocol of run_em (shared with _dask.DaskData).

    def summary(self):
        """Rows, rows with an observed entry, observed entries per feature."""
        return (
            self.n_samples,
            len(self.patterns.observed_rows),
            (~self.mask).sum(axis=0),
        )

    def initialisation_data(self, random_state):
        """The rows the start is computed on: all of them."""
        return self

    def fit_scaling(self):
        """The observed mean and spread of each numeric column (``Scaling``)."""
        from emimpute._em._scaling import Scaling

        return Scaling.fit(self)

    def mean_log_jacobian(self, scaling):
        """The mean over rows of ``scaling``'s log-Jacobian."""
        return self.average(scaling.log_jacobian(self.mask))

    def standardised(self, scaling):
        """The data with its numeric columns standardised (a copy)."""
        return scaling.apply(self)

    def expectation(self, params, chunk_size=None):
        """Per-sample log-likelihood and summed statistics of one E-step."""
        from emimpute._em._estep import e_step

        log_prob_norm, stats = e_step(self, params, chunk_size=chunk_size)
        return self.average(log_prob_norm), stats
