"""Chunks of rows, the unit of work of every E-step.

Rows are taken group by group (a group: the rows with the same number ``r``
of missing numeric entries, see ``_patterns``) and chunk by chunk within a
group, so that the Gaussian family can stack the blocks of a chunk's patterns
into batched linear algebra, while every family sees the same rows in the
same order. A chunk holds as many rows as keep the families' scratch space
near a fixed budget (about 16 MiB), whatever ``n``.
"""

from dataclasses import dataclass

import numpy as np

# Floats of scratch space per chunk; sets the number of rows per chunk.
_CHUNK_FLOATS = 2**21


@dataclass(frozen=True)
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
    """

    rows: np.ndarray
    missing: np.ndarray
    row_pattern: np.ndarray
    pattern_missing: np.ndarray

    @property
    def n_missing(self):
        return self.missing.shape[1]


def rows_per_chunk(floats_per_row):
    """Rows per chunk so that the scratch space stays near 16 MiB."""
    return max(64, _CHUNK_FLOATS // max(int(floats_per_row), 1))


def iter_blocks(patterns, kernels, *, chunk_size=None, groups=None):
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
    """
    for group in patterns.groups if groups is None else groups:
        size = chunk_size or rows_per_chunk(
            sum(kernel.floats_per_row(group.n_missing) for kernel in kernels)
        )
        for rows, row_pattern, pattern_missing in group.chunks(size):
            yield RowBlock(
                rows=rows,
                missing=pattern_missing[row_pattern],
                row_pattern=row_pattern,
                pattern_missing=pattern_missing,
            )
