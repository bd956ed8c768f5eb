"""The categorical family's E-step in compiled code, one pass per block.

The arithmetic of ``_categorical`` (a row's log-density under component
``k`` is the sum of ``log theta[j][k, x_ij]`` over its observed cells; the
expected counts add each row's responsibilities at its observed categories,
and spread a missing cell's over the completions by ``theta``), without the
sparse one-hot matrix, on a table of consecutive columns taken together
(:class:`ColumnGroups`): a group's cells in a row are one code in the
group's joint table, whose row ``(c1, c2, ...)`` holds ``log theta[j1][k,
c1] + log theta[j2][k, c2] + ...`` (a missing cell's term is 0). Pairs of
5-category columns (36 rows) halve the gathers and adds per row.

- :func:`gather`: a block's rows of the group codes, once per kept block
  (read in place through the block's rows, which are spread over the data
  set, the kernels took 3x as long).
- :func:`log_density`: per row and component, the sum of the ``K``
  log-probabilities at each group's code, over the groups.
- :func:`totals`: per row, its responsibilities added into the joint tables'
  ``(rows, K)`` accumulator at each group's code. Their margins are the flat
  totals of ``_categorical.FlatCounts`` (the missing rows gather each
  column's missing mass ``sum_i r_ik``, spread over the completions as
  ``mass_k theta[j][k, c]`` once per E-step: ``sum_i r_ik theta_kc =
  theta_kc sum_i r_ik``, in ``O(K L)`` instead of ``O(n_missing K L_j)``).

Why compiled: with scipy's sparse one-hot rows (kept per block), each of the
two products costs a few nanoseconds per cell and component, and every
block's call and result many small numpy calls (measured at 1e5 rows, 10
columns of 5 categories, 20% missing, K = 5, on one thread: 4.4 ms for the
log-densities and 5.4 ms for the counts per E-step, against 1.8 and 1.4 ms
here), and the one-hot rows keep 12 bytes per cell in memory (4 bytes per
group here). numba is already the engine's compiler (``_fused``: why it
earns its place there); the numpy path stays as the reference the kernels
are tested against, and runs without numba or with
``EMIMPUTE_KERNEL=numpy``.

Cost per E-step, for ``n`` rows, ``m`` categorical columns with ``L``
categories in all, ``G`` groups (``m / 2`` for 5-category columns, at most
``m``) and ``K`` components: ``O(n G K)`` adds in each kernel (every
group's code reads or writes one row of ``K``, however many of its cells
are missing), plus ``O(T P K)`` per block to add the tasks' accumulators
(``T`` row tasks, see ``_fused.n_tasks``; ``P <= GROUP_ROWS G + L + m`` rows in the
joint tables) and, once per E-step, ``O(P K)`` for the tables and their
margins and ``O(K L)`` to spread the missing mass. Memory: ``4 G`` bytes
per row, kept with the data set's blocks (twice: in row order and
gathered per block), and the tables' ``P K`` floats, which stay in the
first-level cache.

Reproducibility: each row's sum runs over its groups in order, and each
task sums its rows in order into its own accumulator, the tasks' added in
task order by the caller: the same bits on any number of threads (the
``_fused`` compiler options). The sums are associated differently from the
numpy path's (a group's terms are added first), so the two agree to
rounding, not to the bit.
"""

import math

import numpy as np

from emimpute._em._fused import ParallelKernel, jit, n_tasks, prange

# Rows of the joint table of a group of columns, at most: consecutive columns
# share a table while the product of their (categories + 1) stays below it.
# 64 rows of K floats per group: the tables of 10 columns of 5 categories
# (pairs, 36 rows) take 7 KB at K = 5, in the first-level cache.
GROUP_ROWS = 64


class ColumnGroups:
    """Consecutive categorical columns read as one cell of their joint table.

    A row's cells in a group of columns ``j1, j2, ...`` are one code in the
    group's joint table, ``(L_j1 + 1) (L_j2 + 1) ...`` rows in C order (the
    last row of each column's ``L_j + 1`` is its missing cell): the joint
    table's row holds ``log theta[j1][k, c1] + log theta[j2][k, c2] + ...``
    (0 for a missing cell), so a row's log-density is a sum over the groups,
    and the counts of a group's columns are the margins of its joint totals.
    Pairs of 5-category columns halve the kernels' gathers and adds per row
    (measured at 1e5 rows, 10 columns, K = 5, one thread: 3.0 -> 1.8 ms
    for the log-densities per E-step; the totals' 3.5 -> 1.4 ms also take
    their margins once per E-step, not per block).

    Parameters
    ----------
    n_categories : sequence of int
        Categories of each column.
    max_rows : int, default=GROUP_ROWS

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._fused_categorical import ColumnGroups
    >>> groups = ColumnGroups((2, 3, 9))
    >>> groups.groups, groups.sizes
    ([[0, 1], [2]], [12, 10])
    >>> groups.codes(np.array([[1, -1, 0]])).tolist()  # 1 * 4 + 3, 12 + 0
    [[7, 12]]
    """

    def __init__(self, n_categories, max_rows=GROUP_ROWS):
        self.n_categories = tuple(int(n) for n in n_categories)
        self.groups = []
        rows = max_rows + 1
        for j, n in enumerate(self.n_categories):
            if rows * (n + 1) > max_rows:
                self.groups.append([])
                rows = 1
            self.groups[-1].append(j)
            rows *= n + 1
        self.sizes = [
            math.prod(self.n_categories[j] + 1 for j in group) for group in self.groups
        ]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.n_rows = int(sum(self.sizes))

    def codes(self, codes):
        """Each row's code in each group's table, offset: ``(n, groups)`` int32.

        ``codes``: ``(n, m)`` category codes, -1 where missing.
        """
        out = np.empty((len(codes), len(self.groups)), dtype=np.int32)
        for g, group in enumerate(self.groups):
            code = np.zeros(len(codes), dtype=np.intp)
            for j in group:
                n = self.n_categories[j]
                code *= n + 1
                code += np.where(codes[:, j] >= 0, codes[:, j], n)
            out[:, g] = code + self.offsets[g]
        return out

    def log_table(self, probabilities):
        """The groups' joint tables of log-probabilities, stacked: ``(rows, K)``.

        ``probabilities``: each column's ``(K, L_j)`` category probabilities
        (``log 0 = -inf`` stays ``-inf`` in every sum).
        """
        tables = []
        for group in self.groups:
            table = np.zeros((1, probabilities[0].shape[0]))
            for j in group:
                with np.errstate(divide="ignore"):
                    column = np.log(probabilities[j].T)
                column = np.concatenate([column, np.zeros((1, column.shape[1]))])
                table = (table[:, np.newaxis] + column[np.newaxis]).reshape(
                    -1, column.shape[1]
                )
            tables.append(table)
        return np.concatenate(tables)

    def flat_totals(self, totals):
        """The groups' joint totals ``(rows, K)`` as ``FlatCounts`` totals.

        Each column's margin: its categories' rows (``L`` in all, column by
        column), then each column's missing row (``L + j``).
        """
        n_components = totals.shape[1]
        n_flat = sum(self.n_categories)
        out = np.empty((n_flat + len(self.n_categories), n_components))
        column_offsets = np.concatenate([[0], np.cumsum(self.n_categories)[:-1]])
        for g, group in enumerate(self.groups):
            shape = [self.n_categories[j] + 1 for j in group]
            joint = totals[self.offsets[g] : self.offsets[g] + self.sizes[g]]
            joint = joint.reshape(*shape, n_components)
            for axis, j in enumerate(group):
                others = tuple(a for a in range(len(group)) if a != axis)
                margin = joint.sum(axis=others) if others else joint
                n = self.n_categories[j]
                out[column_offsets[j] : column_offsets[j] + n] = margin[:n]
                out[n_flat + j] = margin[n]
        return out


def gather(codes, rows):
    """``codes[rows]`` as a new contiguous array, in one compiled pass.

    For a block's rows, spread over the whole data set: numpy's ``take``
    along the rows costs 2.5x as much (measured on 1e6 rows of 10 int32
    codes, blocks of 9000 rows: 34 ms against 13 per E-step).

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._fused_categorical import gather
    >>> gather(np.arange(6, dtype=np.int32).reshape(3, 2), np.array([2, 0]))
    array([[4, 5],
           [0, 1]], dtype=int32)
    """
    out = np.empty((len(rows), codes.shape[1]), dtype=codes.dtype)
    _gather(codes, rows, out)
    return out


def log_density(cells, log_table):
    """``sum_g log_table[cells[t, g]]`` for each row ``t``.

    Parameters
    ----------
    cells : ndarray of shape (n_rows, n_groups) of int32
        Each row's code in each group's table, offset into ``log_table``
        (:meth:`ColumnGroups.codes`, a block's rows gathered).
    log_table : ndarray of shape (n_table, K)
        The groups' joint tables of log-probabilities, stacked
        (:meth:`ColumnGroups.log_table`).

    Returns
    -------
    log_density : ndarray of shape (n_rows, K)

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._fused_categorical import log_density
    >>> table = np.log([[0.5, 0.9], [0.5, 0.1], [1.0, 1.0]])
    >>> log_density(np.array([[2], [1]], dtype=np.int32), table).round(4)
    array([[ 0.    ,  0.    ],
           [-0.6931, -2.3026]])
    """
    n_components = log_table.shape[1]
    out = np.empty((len(cells), n_components))
    _log_density(
        cells,
        np.ascontiguousarray(log_table.T, dtype=float),
        out,
        n_tasks(len(cells), cells.shape[1] * n_components),
    )
    return out


def totals(cells, resp, n_table):
    """``sum_t resp[t]`` at each of the rows' cells: ``(n_table, K)``.

    Parameters
    ----------
    cells : ndarray of shape (n_rows, n_groups) of int32
        As in :func:`log_density`.
    resp : ndarray of shape (n_rows, K)
        The rows' (weighted) responsibilities.
    n_table : int
        Rows of the stacked tables (:attr:`ColumnGroups.n_rows`).

    Returns
    -------
    totals : ndarray of shape (n_table, K)

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._fused_categorical import totals
    >>> resp = np.array([[1.0, 0.0], [0.25, 0.75]])
    >>> totals(np.array([[1], [2]], dtype=np.int32), resp, 3)
    array([[0.  , 0.  ],
           [1.  , 0.  ],
           [0.25, 0.75]])
    """
    n_components = resp.shape[1]
    tasks = n_tasks(len(cells), cells.shape[1] * n_components)
    parts = np.zeros((tasks, n_table, n_components))
    _totals(cells, np.ascontiguousarray(resp, dtype=float), parts, tasks)
    if tasks == 1:
        return parts[0]
    # In task order, whatever thread ran each task.
    return parts.sum(axis=0)


@jit
def _gather(codes, rows, out):
    for t in range(rows.shape[0]):
        i = rows[t]
        for g in range(codes.shape[1]):
            out[t, g] = codes[i, g]


@ParallelKernel
def _log_density(cells, log_table_t, out, tasks):
    """``out[t, k] = sum_g log_table_t[k, cells[t, g]]``.

    Component by component, each sum in one register over the row's groups
    (in order): 1.6x faster than adding each group's ``K`` entries into the
    output row, which the compiler must store and load again at every group
    (it cannot tell the two arrays apart).
    """
    n_rows, n_groups = cells.shape
    n_components = log_table_t.shape[0]
    for task in prange(tasks):
        for t in range(task * n_rows // tasks, (task + 1) * n_rows // tasks):
            for k in range(n_components):
                total = 0.0
                for g in range(n_groups):
                    total += log_table_t[k, cells[t, g]]
                out[t, k] = total


@ParallelKernel
def _totals(cells, resp, parts, tasks):
    """``parts[task, cells[t, g]] += resp[t]`` over the task's rows, in order."""
    n_rows, n_groups = cells.shape
    n_components = resp.shape[1]
    for task in prange(tasks):
        for t in range(task * n_rows // tasks, (task + 1) * n_rows // tasks):
            for g in range(n_groups):
                cell = cells[t, g]
                for k in range(n_components):
                    parts[task, cell, k] += resp[t, k]
