"""Chunks of rows, the unit of work of every E-step.

Rows are taken group by group (a group: the rows with the same number ``r``
of missing numeric entries, see ``_patterns``) and chunk by chunk within a
group, so that the Gaussian family can stack the blocks of a chunk's patterns
into batched linear algebra, while every family sees the same rows in the
same order. A chunk holds as many rows as keep the families' scratch space
near a fixed budget (about 16 MiB), whatever ``n``.

The blocks of a data set are the same at every E-step of a fit (unless a
kernel's scratch space per row, hence the chunk size, changes): they are made
once and kept (:class:`BlockMemo`), with the scratch arrays they lend their
kernels. For a data set of at most ``MEMO_FLOATS`` numeric entries each
block also has a ``memo`` dictionary in which the families keep what they
gather from the data for the block (the Gaussian family: its rows of ``X``
and of the mask, the flat indices of its missing entries; the sample weights
of its rows), so that an E-step pays neither for the blocks' index arrays
nor for the gathers again.

**Cost.** An E-step visits ``sum_r ceil(n_r / c_r)`` blocks (``n_r`` rows
with ``r`` missing numeric entries, ``c_r`` rows per chunk): one per distinct
``r`` (at most ``d + 1``) while the groups fit in a chunk, then growing as
``n / c``. Each block costs a fixed amount of Python and numpy calls (about
35 us on the fused path at K = 1, d = 10, measured on a 2-core machine; 75
us before the blocks were kept) besides its rows' arithmetic: that fixed
part is what weighs at small ``n`` (9 blocks for 1e4 x 10 at 20% missing:
0.3 ms of a 2.0 ms E-step). Memory kept: about ``9 + 16 m + 16 / d`` bytes
per numeric entry, ``m`` the missing fraction and ``d`` the numeric features
(float64 rows, mask, indices): 13 MiB measured for a data set of
``MEMO_FLOATS`` entries at 20% missing and d = 10; plus the blocks' scratch
arrays (:meth:`BlockMemo.scratch`), those of the largest block, at most a
chunk's scratch space. A larger data set, up to ``BLOCKS_FLOATS`` entries,
keeps only its blocks' index arrays (``16 + 8 r`` bytes per row with ``r``
missing entries: 1.6 bytes per entry at 20% missing, a fifth of the float64
data) and gathers its rows at each E-step, in one compiled pass
(``_gaussian_block``): making its blocks again at each E-step cost 3% of one
at 1e5 x 50, K = 5, and fresh scratch arrays their page faults. Beyond it,
the blocks are made at each E-step: there the index arrays would add tens
of MiB (measured at 1e6 x 20, 20% missing: the fit's peak RSS from 189 to
270 MiB) for a few percent of the time.
"""

import math
import threading
from dataclasses import dataclass, field

import numpy as np

# Floats of scratch space per chunk; sets the number of rows per chunk.
_CHUNK_FLOATS = 2**21

# Numeric entries up to which a data set keeps its blocks between E-steps
# with what the families gather for them (1e5 x 10, 5e4 x 20).
MEMO_FLOATS = 2**20

# Numeric entries up to which a data set keeps its blocks (their index
# arrays) between E-steps at all (1e5 x 80, 4e5 x 20).
BLOCKS_FLOATS = 2**23


@dataclass(frozen=True, eq=False)
class RowBlock:
    """A chunk of rows that all have ``r`` missing numeric entries.

    Attributes
    ----------
    rows : ndarray of shape (n_rows,)
        Indices of the rows in the data.
    missing : ndarray of shape (n_rows, r)
        Missing numeric coordinates of each row.
    row_pattern : ndarray of shape (n_rows,)
        Index of each row's pattern in ``pattern_missing``.
    pattern_missing : ndarray of shape (n_patterns, r)
        Missing numeric coordinates of each pattern present in the chunk.
    memo : dict or None
        Arrays the families gathered for this block from the data set that
        keeps it (see :class:`BlockMemo`), by name; None for a block made for
        one pass, whose gathers are not kept.
    kept_by : BlockMemo or None
        The blocks' keeper, which also lends them scratch arrays
        (:meth:`scratch`); None for a block made for one pass.
    """

    rows: np.ndarray
    missing: np.ndarray
    row_pattern: np.ndarray
    pattern_missing: np.ndarray
    memo: dict | None = field(default=None, kw_only=True, repr=False)
    kept_by: object = field(default=None, kw_only=True, repr=False)

    @property
    def n_missing(self):
        return self.missing.shape[1]

    def kept(self, name, make):
        """``make()``, kept under ``name`` in the block's memo when it has one.

        A block made for one pass (no memo) makes it at every call.
        """
        if self.memo is None:
            return make()
        return _kept_in(self.memo, name, make)

    def scratch(self, name, shape):
        """An uninitialised float64 array of ``shape`` for this block's work.

        A kept block borrows it from its keeper (:meth:`BlockMemo.scratch`):
        valid until the next block asks for ``name``. Else a new array.
        """
        if self.kept_by is None:
            return np.empty(shape)
        return self.kept_by.scratch(name, shape)


def _kept_in(store, name, make):
    """``store[name]``, made by ``make()`` and stored the first time."""
    value = store.get(name)
    if value is None:
        value = store[name] = make()
    return value


def rows_per_chunk(floats_per_row):
    """Rows per chunk so that the scratch space stays near 16 MiB."""
    return max(64, _CHUNK_FLOATS // max(int(floats_per_row), 1))


class BlockMemo:
    """The blocks of one data set, kept between its E-steps.

    One entry per group (its number of missing entries and of rows identify
    it within a data set): the chunk size the blocks were cut at and the
    blocks. A group cut at a new size replaces its old blocks, so at most
    one set of blocks per group is kept.

    Parameters
    ----------
    keep_gathers : bool, default=True
        Whether the blocks get a ``memo`` for what the families gather from
        the data (else ``memo=None``: gathered at each pass).
    """

    def __init__(self, keep_gathers=True):
        self.keep_gathers = keep_gathers
        self._groups = {}
        self._kept = {}
        self._scratch = threading.local()

    def kept(self, name, make):
        """``make()``, kept under ``name`` for the data set's later passes.

        For what a pass makes from the data alone (as :meth:`RowBlock.kept`
        for a block's), dropped with the blocks.
        """
        return _kept_in(self._kept, name, make)

    def scratch(self, name, shape):
        """A float64 array of ``shape``, one per ``name`` for all the blocks.

        The blocks' large temporaries (the centred rows, the products with
        the precisions, the completed rows) are the same arrays at every
        block and E-step, grown to the largest block (at most a chunk's
        scratch space), instead of fresh ones: fresh arrays of a few MiB
        are given back to the system at every E-step (the C library trims
        its heap) and paid for again in page faults (measured at 1e4 x 20,
        K = 5: 800 faults, about 1.5 ms of a 13 ms E-step). One set per
        thread: a data set's E-steps may run on several.
        """
        buffers = self._scratch.__dict__
        size = math.prod(shape)
        buffer = buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = buffers[name] = np.empty(size)
        return buffer[:size].reshape(shape)

    def __getstate__(self):
        # A cache: a pickled or copied data set (an estimator keeps its fit
        # data for parameter draws) carries none of it, and no thread-local.
        return {"keep_gathers": self.keep_gathers}

    def __setstate__(self, state):
        self.__init__(**state)

    def blocks(self, group, size):
        """The :class:`RowBlock` s of ``group`` in chunks of ``size`` rows."""
        key = (group.n_missing, len(group.rows))
        # A size beyond the group's rows cuts the same single block.
        size = min(size, max(len(group.rows), 1))
        kept = self._groups.get(key)
        if kept is None or kept[0] != size:
            kept = (size, tuple(_cut(group, size, kept_by=self)))
            self._groups[key] = kept
        return kept[1]


def _cut(group, size, *, kept_by=None):
    """Yield the blocks of ``group`` in chunks of ``size`` rows."""
    for rows, row_pattern, pattern_missing in group.chunks(size):
        yield RowBlock(
            rows=rows,
            missing=pattern_missing[row_pattern],
            row_pattern=row_pattern,
            pattern_missing=pattern_missing,
            memo={} if kept_by is not None and kept_by.keep_gathers else None,
            kept_by=kept_by,
        )


def iter_blocks(patterns, kernels, *, chunk_size=None, groups=None, memo=None):
    """Yield the :class:`RowBlock` s of a data set, group by group.

    Parameters
    ----------
    patterns : MissingPatterns
        The numeric missingness structure of the data.
    kernels : sequence of kernels
        Their ``floats_per_row(n_missing)`` summed sets the chunk size.
    chunk_size : int, default=None
        Rows per chunk; ``None`` picks, per group, the rows whose scratch
        space in the kernels fits a budget of about 16 MiB.
    groups : list of PatternGroup, default=None
        The groups to visit; all of ``patterns.groups`` by default.
    memo : BlockMemo, default=None
        The data set's kept blocks (``EMData.block_memo``): taken from there,
        or made and kept there; None makes them for this pass only.
    """
    for group in patterns.groups if groups is None else groups:
        size = chunk_size or rows_per_chunk(
            sum(kernel.floats_per_row(group.n_missing) for kernel in kernels)
        )
        if memo is None:
            yield from _cut(group, size)
        else:
            yield from memo.blocks(group, size)
