"""Dask arrays as EM data: every E-step one pass of tasks over the row chunks.

Dask (the optional extra ``emimpute[dask]``) earns its place as the
scheduler: the same task graph runs on local threads or on a ``distributed``
cluster of many machines (whichever ``dask.compute`` finds: an active
``distributed.Client`` first), with out-of-core chunks read where they are
stored. Nothing here schedules work itself. Dask's ``'processes'``
scheduler runs it too, but starts a new pool of processes at every
``dask.compute``, one per pass, and each new process compiles (or loads)
the numba kernels again: seconds per EM iteration (the user guide gives
the measures); a ``distributed`` cluster keeps its worker processes.

The engine's statistics are additive over rows (``_stats``), so an E-step is
a map and a reduction: one task per chunk runs the in-memory :func:`e_step`
on it and returns its summed log-likelihood, its number of rows and its
statistics (``K (1 + d + d^2)`` floats for full covariances, whatever the
chunk's size); they are summed as a tree of ``SPLIT_EVERY``-way additions,
and the tiny M-step runs on the client. The parameters enter each
iteration's graph as a single key, so they travel to each worker once per
iteration; what travels back per chunk is its statistics. Per iteration:
the in-memory E-step's cost on every chunk, plus finding each chunk's
missingness patterns again (``O(rows d)`` and a sort of the chunk's
patterns), since an out-of-core chunk is read anew every pass; memory per
worker: one chunk and its E-step scratch (bounded by ``chunk_size``).

The start is computed in memory on a row sample of at most
``INITIALISATION_ROWS`` rows (all rows when there are fewer): row indices
drawn uniformly with replacement by the fit's ``random_state``, duplicates
removed, in row order; one sample for all ``n_init`` runs (each run's start
draws its own clusters from it), as reading it costs a pass over the data.
"""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from emimpute._em._data import EMData
from emimpute._em._estep import e_step

SPLIT_EVERY = 8
INITIALISATION_ROWS = 100_000


def is_dask_collection(X):
    """Whether ``X`` is a dask collection: an array, a DataFrame, a Series...
    (without importing Dask)."""
    return type(X).__module__.startswith("dask.")


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array`` (without importing Dask)."""
    return is_dask_collection(X) and type(X).__name__ == "Array"


def check_row_chunks(X, name="X"):
    """Raise a clear error unless ``X`` is 2-D and chunked along rows only."""
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array for {name}, got {X.ndim}-D.")
    if len(X.chunks[1]) != 1:
        raise ValueError(
            f"The dask array {name} is chunked along its columns "
            f"(column chunks {X.chunks[1]}); EM needs whole rows in every "
            f"chunk: pass {name}.rechunk({{1: -1}})."
        )


def check_known_chunks(X, what, name="X"):
    """Raise a clear error if the row chunks of ``X`` have unknown sizes.

    Boolean indexing and a dask DataFrame's ``to_dask_array()`` leave the
    sizes NaN; ``what`` (a fit, ``bic``) needs the number of rows.
    """
    if np.isnan(X.shape[0]):
        raise ValueError(
            f"The dask array {name} has unknown chunk sizes (NaN in "
            f"{name}.chunks, as boolean indexing or a dask DataFrame's "
            f"to_dask_array() leave them); {what} needs the number of rows. "
            f"Call {name} = {name}.compute_chunk_sizes() first (or "
            "ddf.to_dask_array(lengths=True))."
        )


def check_numeric_dtype(X, what, name="X"):
    """Raise a clear error unless the dask array ``X`` has a numeric dtype.

    Dask data are numeric columns only, read chunk by chunk as floats. A
    dask DataFrame's ``to_dask_array()`` gives dtype object when a column
    is categorical or text, or of a pandas nullable type (``Float64``,
    ``Int64``, ``boolean``, whose holes are ``pd.NA``): its chunks would
    fail inside a task, with numpy's conversion error. ``what`` (a fit,
    or a method of a model of numeric features: ``predict``, ``bic``...)
    says what reads ``X``. Complex numbers are left to the validation,
    which refuses them with scikit-learn's message.
    """
    if X.dtype.kind in "biufc":
        return
    raise ValueError(
        f"The dask array {name} has dtype {X.dtype}, but {what} reads a dask "
        f"array as numeric columns only (bool, integer or float). A dask "
        "DataFrame's to_dask_array() gives dtype object for categorical or "
        "text columns and for pandas nullable ones (Float64, Int64, "
        "boolean): convert those to numbers first, for example "
        "ddf.astype(float) for nullable columns (pd.NA becomes NaN). "
        f"Categorical columns are not supported with a dask array {name} "
        "yet: compute the data in memory (a dask DataFrame's compute() gives "
        "a pandas DataFrame, whose category columns are modelled as "
        "categories) or drop those columns."
    )


def refuse_unsupported(options):
    """Raise a clear error for the first option used that dask data lacks.

    ``options`` maps each option's description to whether it is used.
    """
    for what, used in options.items():
        if used:
            raise ValueError(
                f"{what} is not supported with a dask array X yet; compute X "
                "(X.compute()) to use it."
            )


def map_rows(X, function, dtype, n_columns=None, per_chunk=None):
    """``function`` applied lazily to every row chunk of ``X``.

    One task per chunk; the result has ``X``'s row chunks and either one
    value per row (``n_columns`` None) or ``n_columns`` per row, in
    ``dtype``. With ``per_chunk`` (one value per row chunk, such as a seed),
    the task of row chunk ``i`` computes ``function(chunk, per_chunk[i])``.
    An empty chunk (boolean indexing leaves them) gives an empty block
    without calling ``function``, whose validation would refuse 0 rows.
    """
    import dask

    check_row_chunks(X)
    dtype = np.dtype(dtype)
    row_shape = () if n_columns is None else (n_columns,)
    if per_chunk is None:
        shared = None
    else:
        if len(per_chunk) != len(X.chunks[0]):
            raise ValueError(
                f"Expected one value per row chunk ({len(X.chunks[0])}), got "
                f"{len(per_chunk)}."
            )
        # One key for all the values: each worker receives them once, not
        # every task all of them.
        shared = dask.delayed(list(per_chunk), pure=True)

    def task(chunk, values=None, block_id=None):
        if len(chunk) == 0:
            return np.empty((0, *row_shape), dtype=dtype)
        if values is None:
            return function(chunk)
        return function(chunk, values[block_id[0]])

    # The output's meta given, so that dask does not call function on a
    # 0-row array to find it.
    meta = np.empty((0, *row_shape), dtype=dtype)
    args = () if shared is None else (shared,)
    if n_columns is None:
        return X.map_blocks(task, *args, drop_axis=1, meta=meta)
    return X.map_blocks(task, *args, chunks=(X.chunks[0], row_shape), meta=meta)


def _chunk_expectation(chunk, params, chunk_size):
    data = EMData.build(chunk)
    log_prob_norm, stats = e_step(data, params, chunk_size=chunk_size)
    return float(log_prob_norm.sum()), len(chunk), stats


def _add_expectations(*parts):
    log_likelihood = sum(part[0] for part in parts)
    n_rows = sum(part[1] for part in parts)
    stats = None
    for part in parts:
        if part[2] is not None:
            stats = part[2] if stats is None else stats + part[2]
    return log_likelihood, n_rows, stats


def _chunk_summary(chunk):
    missing = np.isnan(chunk)
    informative = int((~missing.all(axis=1)).sum())
    # Each column's least and largest observed value (NaN skipped by
    # fmin/fmax without a copy of the chunk; inf and -inf for none), and
    # the largest magnitude from them (inf for an infinite entry; 0 for no
    # number at all).
    lowest = np.fmin.reduce(chunk, axis=0, initial=np.inf)
    highest = np.fmax.reduce(chunk, axis=0, initial=-np.inf)
    reach = max(
        float(np.max(highest, initial=-np.inf)),
        -float(np.min(lowest, initial=np.inf)),
        0.0,
    )
    return len(chunk), informative, (~missing).sum(axis=0), reach, lowest, highest


def _add_summaries(*parts):
    return (
        sum(part[0] for part in parts),
        sum(part[1] for part in parts),
        sum(part[2] for part in parts),
        max(part[3] for part in parts),
        np.minimum.reduce([part[4] for part in parts]),
        np.maximum.reduce([part[5] for part in parts]),
    )


def tree_sum(parts, add):
    """One delayed value: ``add`` applied over ``parts`` as a tree.

    ``SPLIT_EVERY`` values per addition, so the client receives one value
    and no task holds more than ``SPLIT_EVERY`` partial sums.
    """
    import dask

    combine = dask.delayed(add, pure=True)
    while len(parts) > 1:
        parts = [
            combine(*parts[i : i + SPLIT_EVERY])
            for i in range(0, len(parts), SPLIT_EVERY)
        ]
    return parts[0]


def map_reduce(array, function, add, *args):
    """``function(chunk, *args)`` of every row chunk of ``array``, added by
    ``add`` as a tree (:func:`tree_sum`) and computed: one pass of tasks."""
    import dask

    delayed = dask.delayed(function, pure=True)
    parts = [delayed(chunk, *args) for chunk in array.to_delayed().ravel()]
    return dask.compute(tree_sum(parts, add))[0]


def add_counts(*parts):
    """The entrywise sum of tuples of numbers (a :func:`map_reduce` ``add``)."""
    return tuple(sum(values) for values in zip(*parts, strict=True))


@dataclass(frozen=True)
class DaskData:
    """Numeric data in a row-chunked ``dask.array.Array``; NaN marks a hole.

    The data-source protocol of :func:`~emimpute._em._loop.run_em`, as
    :class:`~emimpute._em._data.EMData`: ``initialisation_data`` and
    ``expectation``; ``summary``, ``largest_magnitude`` and the column
    layout (``n_numeric``, ``n_categories``) for the fit's checks, a warm
    start's included.
    """

    array: object
    # The summary's counts (rows, rows with an observed entry, observed
    # entries per feature) when known without a pass: those of the data
    # this was derived from by a map that keeps holes and numbers
    # (:meth:`standardised`).
    counts: tuple = field(default=None, compare=False, repr=False)

    @classmethod
    def build(cls, array, what="a fit"):
        """Check the chunks and the dtype (numeric: ``what`` reads ``array``,
        see :func:`check_numeric_dtype`); any dtype but float32 becomes
        float64 (lazily).

        Empty row chunks (boolean indexing leaves them) are left out: they
        hold nothing, and dask's reductions (the scaling's min and max)
        fail on them.
        """
        check_row_chunks(array)
        check_numeric_dtype(array, what)
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64)
        empty = np.asarray(array.chunks[0]) == 0
        if empty.any() and not empty.all():
            array = array.blocks[np.flatnonzero(~empty)]
        return cls(array)

    @property
    def n_samples(self):
        return self.array.shape[0]

    @property
    def n_numeric(self):
        return self.array.shape[1]

    @property
    def dtype(self):
        return self.array.dtype

    # Numeric only: no categorical columns, and unit weights (a dask fit
    # refuses sample_weight).
    n_categorical = 0
    n_categories = ()
    sample_weight = None

    @property
    def total_weight(self):
        return self.n_samples

    @property
    def informative_share(self):
        """The share of rows with an observed entry (see ``EMData``)."""
        n_samples, n_informative, _ = self.summary()
        return n_informative / n_samples

    @cached_property
    def _summary(self):
        """:meth:`summary` and the largest magnitude: one pass, kept.

        Finiteness is checked here, in the pass the fit makes anyway, with
        the error the in-memory validation gives.
        """
        summary = map_reduce(self.array, _chunk_summary, _add_summaries)
        if not np.isfinite(summary[3]):
            raise ValueError(
                f"Input X contains infinity or a value too large for {self.dtype!r}."
            )
        return summary

    def summary(self):
        """Rows, rows with an observed entry, observed entries per feature."""
        if self.counts is not None:
            return self.counts
        return self._summary[:3]

    def largest_magnitude(self):
        """The largest absolute value in the data (from the summary's pass)."""
        return self._summary[3]

    def constant_features(self):
        """Whether each feature's observed values are all equal (True for one
        with none), from the summary's pass: each chunk's least and largest
        value, ``O(d)`` numbers a task (``_collapse.constant_features``
        reads an in-memory fit's)."""
        _, _, _, _, lowest, highest = self._summary
        return ~(lowest < highest)

    def initialisation_data(self, random_state):
        """The in-memory row sample the start is computed on (module doc)."""
        if self.n_samples <= INITIALISATION_ROWS:
            sample = self.array
        else:
            draws = random_state.randint(self.n_samples, size=INITIALISATION_ROWS)
            rows = np.unique(draws)
            sample = self.array[rows]
        return EMData.build(np.asarray(sample.compute()))

    def fit_scaling(self):
        """The observed mean and spread of each column (three passes)."""
        import dask
        import dask.array as da

        from emimpute._em._scaling import Scaling

        return Scaling.fit_columns(
            self.array, da.isnan(self.array), compute=dask.compute
        )

    def mean_log_jacobian(self, scaling):
        """The mean over rows of ``scaling``'s log-Jacobian (the summary's pass)."""
        n_samples, _, observed_counts = self.summary()
        return float(observed_counts @ np.log(scaling.scale)) / n_samples

    def standardised(self, scaling):
        """The data with its columns standardised, lazily (holes stay NaN).

        Its summary's counts are this data's, without another pass over
        the rows: the map keeps every hole NaN and makes no observed entry
        NaN (``x - centre`` over a positive scale, of finite ``x``), so the
        rows, the rows with an observed entry and the observed entries per
        feature are the same integers, as the in-memory standardised data
        keeps its data's mask. (Its largest magnitude is not carried over:
        the fit checks the standardised data's range by the scales, and
        :meth:`largest_magnitude` would make a pass.)
        """
        array = (self.array - scaling.centre) / scaling.scale
        return DaskData(array.astype(self.dtype, copy=False), counts=self.summary())

    def expectation(self, params, chunk_size=None):
        """Per-sample log-likelihood and summed statistics of one E-step."""
        import dask

        # One key for the parameters: each worker receives them once.
        shared = dask.delayed(params, pure=True)
        log_likelihood, n_rows, stats = map_reduce(
            self.array, _chunk_expectation, _add_expectations, shared, chunk_size
        )
        return log_likelihood / n_rows, stats
