"""Rows grouped by their missingness pattern, built once per data set.

The E-step of a full or tied Gaussian needs, for every row, the blocks of the
precision matrix that belong to the row's missing coordinates. Rows that share
a pattern share those blocks, and rows that share only their *number* of
missing coordinates ``r`` share the block *size*, so the blocks of all their
patterns can be stacked into one batched ``numpy.linalg`` call. This module
computes that grouping once: rows sorted by ``(r, pattern)``, one
:class:`PatternGroup` per distinct ``r``.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class PatternGroup:
    """Rows that have the same number of missing coordinates.

    Attributes
    ----------
    n_missing : int
        Number of missing coordinates ``r`` of every row in the group.
    rows : ndarray of shape (n_rows,)
        Row indices into the data, sorted by pattern.
    row_pattern : ndarray of shape (n_rows,)
        For each row, the index of its pattern in ``missing`` (non-decreasing).
    missing : ndarray of shape (n_patterns, n_missing)
        Missing coordinates of each distinct pattern, in increasing order.
    """

    n_missing: int
    rows: np.ndarray
    row_pattern: np.ndarray
    missing: np.ndarray

    def chunks(self, chunk_size):
        """Yield ``(rows, row_pattern, missing)`` for consecutive row slices.

        Each chunk carries only the patterns its rows use, re-indexed from 0,
        so that per-pattern work and memory stay proportional to the chunk.
        """
        for start in range(0, len(self.rows), chunk_size):
            stop = start + chunk_size
            row_pattern = self.row_pattern[start:stop]
            first, last = row_pattern[0], row_pattern[-1]
            yield (
                self.rows[start:stop],
                row_pattern - first,
                self.missing[first : last + 1],
            )


@dataclass(frozen=True)
class MissingPatterns:
    """The missingness structure of a data set.

    Attributes
    ----------
    mask : ndarray of shape (n_samples, n_features)
        True where an entry is missing.
    groups : list of PatternGroup
        One group per distinct number of missing coordinates, in increasing
        order of ``n_missing``. A group with ``n_missing == 0`` holds the
        complete rows; one with ``n_missing == n_features`` the rows with
        nothing observed.
    """

    mask: np.ndarray
    groups: list
    observed_elsewhere: np.ndarray = None

    @property
    def n_samples(self):
        return self.mask.shape[0]

    @property
    def n_features(self):
        return self.mask.shape[1]

    @cached_property
    def informative_groups(self):
        """The groups of rows with at least one observed entry.

        Rows with nothing observed carry no information about the parameters:
        the observed-data likelihood does not depend on them. A row whose
        numeric entries are all missing is informative when
        ``observed_elsewhere`` flags it (a categorical cell is observed).
        Made once (``O(n)`` indexing for that group), then kept: the E-step
        and the pattern sums read it at every pass.
        """
        groups = []
        for group in self.groups:
            if group.n_missing < self.n_features:
                groups.append(group)
            elif self.observed_elsewhere is not None:
                # One pattern (everything missing): any subset of its rows
                # is a valid group.
                rows = group.rows[self.observed_elsewhere[group.rows]]
                if len(rows):
                    groups.append(
                        PatternGroup(
                            n_missing=group.n_missing,
                            rows=rows,
                            row_pattern=np.zeros(len(rows), dtype=np.intp),
                            missing=group.missing,
                        )
                    )
        return groups

    @property
    def empty_rows(self):
        """Indices of the rows with no observed entry."""
        for group in self.groups:
            if group.n_missing == self.n_features:
                rows = group.rows
                if self.observed_elsewhere is not None:
                    rows = rows[~self.observed_elsewhere[rows]]
                return np.sort(rows)
        return np.empty(0, dtype=np.intp)

    def subset(self, keep):
        """The structure of the rows where ``keep`` is True, renumbered.

        What :func:`find_patterns` gives on ``mask[keep]``, without its sort:
        every group keeps its patterns in order and its rows sorted by
        pattern, so dropping rows only renumbers them and the patterns left.
        Cost ``O(n)`` (a bootstrap sample drops a third of the rows at every
        draw).

        Parameters
        ----------
        keep : ndarray of shape (n_samples,) of bool

        Returns
        -------
        patterns : MissingPatterns
        """
        keep = np.asarray(keep, dtype=bool)
        new_index = np.cumsum(keep) - 1
        groups = []
        for group in self.groups:
            kept = keep[group.rows]
            if not kept.any():
                continue
            # row_pattern is non-decreasing: np.unique keeps the patterns'
            # order and numbers the ones left from 0.
            used, row_pattern = np.unique(group.row_pattern[kept], return_inverse=True)
            groups.append(
                PatternGroup(
                    n_missing=group.n_missing,
                    rows=new_index[group.rows[kept]],
                    row_pattern=row_pattern.reshape(-1),
                    missing=group.missing[used],
                )
            )
        return MissingPatterns(
            mask=self.mask[keep],
            groups=groups,
            observed_elsewhere=(
                None
                if self.observed_elsewhere is None
                else self.observed_elsewhere[keep]
            ),
        )

    def joint_counts(self, row_weights=None):
        """Rows observing each pair of features: ``(d, d)``, the diagonal each
        feature's observed rows (each row counted by ``row_weights``).

        From the patterns, not the rows: each pattern's observed indicator
        weighed by its rows, ``O(P d^2)`` for ``P`` patterns (``O(n)`` more
        with ``row_weights``).

        Examples
        --------
        >>> import numpy as np
        >>> from emimpute._em._patterns import find_patterns
        >>> mask = np.array([[False, True], [True, False], [False, False]])
        >>> find_patterns(mask).joint_counts().tolist()
        [[2.0, 1.0], [1.0, 2.0]]
        """
        d = self.n_features
        counts = np.zeros((d, d))
        for group in self.groups:
            n_patterns = len(group.missing)
            if row_weights is None:
                rows = np.bincount(group.row_pattern, minlength=n_patterns)
            else:
                rows = np.bincount(
                    group.row_pattern,
                    weights=row_weights[group.rows],
                    minlength=n_patterns,
                )
            observed = np.ones((n_patterns, d))
            observed[np.arange(n_patterns)[:, np.newaxis], group.missing] = 0.0
            counts += (observed * rows[:, np.newaxis]).T @ observed
        return counts

    @property
    def observed_rows(self):
        """Indices of the rows with at least one observed coordinate."""
        rows = [group.rows for group in self.informative_groups]
        return np.sort(np.concatenate(rows)) if rows else np.empty(0, np.intp)


def rows_in_order(groups, numeric, mask, centre):
    """The rows of ``groups``, one group after another, centred, with their patterns.

    Each group's rows come sorted by pattern, so the patterns' rows are
    consecutive: what a pass that works pattern by pattern reads.

    Parameters
    ----------
    groups : list of PatternGroup
    numeric : ndarray of shape (n_samples, n_features)
    mask : ndarray of shape (n_samples, n_features)
        True where missing.
    centre : ndarray of shape (n_features,)

    Returns
    -------
    rows : ndarray of shape (n_rows,) of intp
        Rows of the data, in order.
    row_pattern : ndarray of shape (n_rows,) of intp
        Each row's pattern, numbered group after group (non-decreasing).
    values : ndarray of shape (n_rows, n_features)
        The rows minus ``centre``, 0 where missing, C-ordered float64.
    """
    empty = [np.empty(0, dtype=np.intp)]
    rows = np.concatenate([group.rows for group in groups] or empty).astype(np.intp)
    offsets = np.cumsum([0] + [len(group.missing) for group in groups])
    row_pattern = np.concatenate(
        [
            group.row_pattern + offset
            for group, offset in zip(groups, offsets[:-1], strict=True)
        ]
        or empty
    ).astype(np.intp)
    values = np.asarray(numeric[rows], dtype=float) - centre
    values[mask[rows]] = 0.0
    return rows, row_pattern, np.ascontiguousarray(values)


def _unique_rows(mask):
    """Distinct rows of a boolean mask and each row's index among them.

    Rows are packed into bytes first: sorting short byte keys is much
    faster than ``np.unique(mask, axis=0)`` on the boolean rows.
    """
    n_samples, n_features = mask.shape
    if not mask.any():
        return mask[:1], np.zeros(n_samples, dtype=np.intp)
    packed = np.packbits(mask, axis=1)
    width = packed.shape[1]
    if width <= 8:
        keys = np.zeros((n_samples, 8), dtype=np.uint8)
        keys[:, :width] = packed
        keys = keys.view(np.uint64).ravel()
        _, first, row_pattern = np.unique(keys, return_index=True, return_inverse=True)
    else:
        _, first, row_pattern = np.unique(
            packed, axis=0, return_index=True, return_inverse=True
        )
    return mask[first], row_pattern.reshape(-1)


def find_patterns(mask, observed_elsewhere=None):
    """Group the rows of a missingness mask by pattern.

    Parameters
    ----------
    mask : array-like of shape (n_samples, n_features)
        True where an entry is missing.
    observed_elsewhere : ndarray of shape (n_samples,) of bool, default=None
        Rows with an observed entry outside ``mask`` (a categorical cell);
        they count as informative even when all their entries in ``mask``
        are missing.

    Returns
    -------
    patterns : MissingPatterns

    Notes
    -----
    Cost: one ``numpy.unique`` over the rows, ``O(n d log n)``, done once per
    data set; no Python loop runs per row or per pattern.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._patterns import find_patterns
    >>> mask = np.array([[False, True], [False, False], [False, True]])
    >>> patterns = find_patterns(mask)
    >>> [(g.n_missing, g.rows.tolist()) for g in patterns.groups]
    [(0, [1]), (1, [0, 2])]
    >>> patterns.groups[1].missing.tolist()
    [[1]]
    """
    mask = np.asarray(mask, dtype=bool)
    n_samples, n_features = mask.shape
    if n_samples == 0:
        return MissingPatterns(mask, [], observed_elsewhere)
    unique, row_pattern = _unique_rows(mask)
    pattern_size = unique.sum(axis=1)
    # Sort patterns by their number of missing entries so that each group's
    # patterns are contiguous and each group's rows are sorted by pattern.
    pattern_order = np.argsort(pattern_size, kind="stable")
    rank = np.empty_like(pattern_order)
    rank[pattern_order] = np.arange(len(pattern_order))
    row_rank = rank[row_pattern]
    row_order = np.argsort(row_rank, kind="stable")
    sorted_rank = row_rank[row_order]
    sorted_sizes = pattern_size[pattern_order]

    groups = []
    for n_missing in np.unique(sorted_sizes):
        first, last = (
            np.searchsorted(sorted_sizes, n_missing, side="left"),
            (np.searchsorted(sorted_sizes, n_missing, side="right")),
        )
        lo, hi = np.searchsorted(sorted_rank, [first, last])
        rows = row_order[lo:hi]
        group_patterns = unique[pattern_order[first:last]]
        # np.nonzero on a 2-D boolean array walks row-major, so reshaping its
        # column indices gives each pattern's missing coordinates in order.
        missing = np.nonzero(group_patterns)[1].reshape(last - first, n_missing)
        groups.append(
            PatternGroup(
                n_missing=int(n_missing),
                rows=rows,
                row_pattern=sorted_rank[lo:hi] - first,
                missing=missing,
            )
        )
    return MissingPatterns(
        mask=mask, groups=groups, observed_elsewhere=observed_elsewhere
    )
