"""The categorical family's E-step in compiled code, one pass per block.

The arithmetic of ``_categorical`` (a row's log-density under component
``k`` is the sum of ``log theta[j][k, x_ij]`` over its observed cells; the
expected counts add each row's responsibilities at its observed categories,
and spread a missing cell's over the completions by ``theta``), without the
sparse one-hot matrix: the kernels read each row's codes in the flat table
(``EMData.flat_codes``: column ``j``'s category ``c`` at ``offset_j + c``, a
missing cell of column ``j`` at ``L + j``) straight from the data, through
the block's row indices.

- :func:`log_density`: per row, gathers the ``K`` log-probabilities of each
  cell's row of the flat ``(L + m, K)`` table and adds them, column by
  column (a missing cell's row is zeros).
- :func:`flat_totals`: per row, adds its responsibilities into the ``(L +
  m, K)`` accumulator at each cell's row. The rows of a missing cell of
  column ``j`` gather that column's missing mass ``sum_i r_ik``, which
  ``_categorical`` spreads over the completions as ``mass_k theta[j][k,
  c]`` once per column (``sum_i r_ik theta_kc = theta_kc sum_i r_ik``):
  what a per-row spread would give, in ``O(K L)`` instead of ``O(n_missing
  K L_j)``.

Why compiled: with scipy's sparse one-hot rows (kept per block), each of the
two products costs a few nanoseconds per cell and component, several times
the gathers and adds themselves (measured at 1e5 rows, 10 columns of 5
categories, K = 5: 4.2 ms for the log-density and 5.3 ms for the counts per
E-step, against about 1 ms each compiled), and the one-hot rows are 12
bytes per cell kept in memory. numba is already the engine's compiler
(``_fused``: why it earns its place there); the numpy path stays as the
reference the kernels are tested against, and runs without numba or with
``EMIMPUTE_KERNEL=numpy``.

Cost per E-step, for ``n`` rows, ``m`` categorical columns with ``L``
categories in all and ``K`` components: ``O(n m K)`` adds in each kernel
(every cell, observed or missing, reads or writes one row of ``K``), plus
``O(T (L + m) K)`` to add the tasks' accumulators (``T`` row tasks, see
``_fused.n_tasks``) and ``O(K L)`` to spread the missing mass; independent
of how many cells are missing and of the number of categories per column,
except through the table's size, ``(L + m) K`` floats, which stays in the
first-level cache up to a few hundred categories.

Reproducibility: each row's sum runs over its columns in order, and each
task sums its rows in order into its own accumulator, the tasks' added in
task order by the caller: the same bits on any number of threads (the
``_fused`` compiler options).
"""

import numpy as np

from emimpute._em._fused import ParallelKernel, jit, n_tasks, prange


def gather(flat_codes, rows):
    """``flat_codes[rows]`` as a new contiguous array, in one compiled pass.

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
    out = np.empty((len(rows), flat_codes.shape[1]), dtype=flat_codes.dtype)
    _gather(flat_codes, rows, out)
    return out


def log_density(flat_codes, log_table):
    """``sum_j log_table[flat_codes[t, j]]`` for each row ``t``.

    Parameters
    ----------
    flat_codes : ndarray of shape (n_rows, m) of int32
        Each cell's row in ``log_table`` (a block's rows, gathered).
    log_table : ndarray of shape (L + m, K)
        Log-probabilities of each category, then a row of zeros per column.

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
    out = np.empty((len(flat_codes), n_components))
    _log_density(
        flat_codes,
        np.ascontiguousarray(log_table.T, dtype=float),
        out,
        n_tasks(len(flat_codes), flat_codes.shape[1] * n_components),
    )
    return out


def flat_totals(flat_codes, resp, n_flat):
    """``sum_t resp[t]`` at each cell's row of the flat table, ``(n_flat, K)``.

    Parameters
    ----------
    flat_codes : ndarray of shape (n_rows, m) of int32
    resp : ndarray of shape (n_rows, K)
        The rows' (weighted) responsibilities.
    n_flat : int
        Rows of the flat table, ``L + m``.

    Returns
    -------
    totals : ndarray of shape (n_flat, K)

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._fused_categorical import flat_totals
    >>> resp = np.array([[1.0, 0.0], [0.25, 0.75]])
    >>> flat_totals(np.array([[1], [2]], dtype=np.int32), resp, 3)
    array([[0.  , 0.  ],
           [1.  , 0.  ],
           [0.25, 0.75]])
    """
    n_components = resp.shape[1]
    tasks = n_tasks(len(flat_codes), flat_codes.shape[1] * n_components)
    parts = np.zeros((tasks, n_flat, n_components))
    _flat_totals(flat_codes, np.ascontiguousarray(resp, dtype=float), parts, tasks)
    if tasks == 1:
        return parts[0]
    # In task order, whatever thread ran each task.
    return parts.sum(axis=0)


@jit
def _gather(flat_codes, rows, out):
    for t in range(rows.shape[0]):
        i = rows[t]
        for j in range(flat_codes.shape[1]):
            out[t, j] = flat_codes[i, j]


@ParallelKernel
def _log_density(flat_codes, log_table_t, out, tasks):
    """``out[t, k] = sum_j log_table_t[k, flat_codes[t, j]]``.

    Component by component, each sum in one register over the row's columns
    (in column order): 1.6x faster than adding each column's ``K`` entries
    into the output row, which the compiler must store and load again at
    every column (it cannot tell the two arrays apart).
    """
    n_rows, n_columns = flat_codes.shape
    n_components = log_table_t.shape[0]
    for task in prange(tasks):
        for t in range(task * n_rows // tasks, (task + 1) * n_rows // tasks):
            for k in range(n_components):
                total = 0.0
                for j in range(n_columns):
                    total += log_table_t[k, flat_codes[t, j]]
                out[t, k] = total


@ParallelKernel
def _flat_totals(flat_codes, resp, parts, tasks):
    n_rows, n_columns = flat_codes.shape
    n_components = resp.shape[1]
    for task in prange(tasks):
        for t in range(task * n_rows // tasks, (task + 1) * n_rows // tasks):
            for j in range(n_columns):
                code = flat_codes[t, j]
                for k in range(n_components):
                    parts[task, code, k] += resp[t, k]
