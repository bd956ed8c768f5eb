"""Which E-step kernels run, and the compiled helpers they share.

The Gaussian family's E-step on rows with missing entries needs, per row
and component, a factorisation of a small block (``r x r`` with ``r`` the
missing entries, or ``|O| x |O|``), a few solves and a few sums. In numpy
that work is vectorised over a chunk of rows through stacks of
``(K, rows, r, r)`` arrays: most of the time goes to making, gathering and
scattering those temporaries, not to arithmetic. The fused kernels
(``_fused_dense``, ``_fused_diagonal``) do it row by row in compiled code,
while the row is in cache, and keep the products every row needs (with the
full precision matrices, the cost of complete data) in BLAS.

Why numba: it compiles these loops from plain Python over numpy arrays, is
kept alongside numpy and used by the scientific Python stack, caches the
machine code on disk (``cache=True``: compiled once per installation, not
per fit or process) and runs loops over row blocks on several threads
(``prange``) with the GIL released. It is a core dependency (see
``pyproject.toml``) on the platforms where it ships wheels; where it cannot
be imported, the plain-numpy kernels (``_dense``, ``_diagonal``), which are
also the reference the fused ones are tested against, run instead.

Which kernels run: ``engine='auto'`` (the default) takes the fused kernels
when numba is importable; the environment variable ``EMIMPUTE_KERNEL`` set
to ``numpy`` forces the numpy kernels (``numba`` forces the fused ones and
fails without numba), and so does ``engine='numpy'`` where a kernel is made
(tests run both). The same switch selects the compiled log-sum-exp of the
responsibilities (:func:`softmax_rows`).
"""

import contextlib
import math
import os
import types

import numpy as np

from emimpute._em._forms import SINGULAR_PIVOT
from emimpute._em._threads import one_thread

try:
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

ENGINES = ("auto", "numba", "numpy")
ENVIRONMENT_VARIABLE = "EMIMPUTE_KERNEL"

# Work (multiply-adds) below which a block's compiled loops run on one
# thread: waking and joining threads costs tens of microseconds, and on a
# machine whose cores are busy with other work, a parallel loop waits for its
# slowest thread (measured: 2 threads 2x slower than 1 on a small block of a
# loaded 2-core machine). A block this large takes milliseconds per thread.
PARALLEL_MIN_WORK = 2_000_000

# Up to this many features, the E-step's BLAS products run on one thread:
# each is a chunk of rows (at most ~16 MiB of scratch) times a d x (K d)
# matrix, memory-bound at small d, and a multi-threaded BLAS splitting it
# gains little and loses much when the cores are shared (measured at d=20,
# 1e5 rows: 0.37 s with 2 OpenBLAS threads, 0.13 s with 1).
BLAS_SINGLE_THREAD_MAX_FEATURES = 64


def numba_available():
    """Whether the compiled kernels can run."""
    return numba is not None


def use_fused(engine="auto"):
    """Whether to run the fused kernels.

    Parameters
    ----------
    engine : {'auto', 'numba', 'numpy'}, default='auto'
        'auto' defers to the ``EMIMPUTE_KERNEL`` environment variable (same
        values), then takes numba when it is importable.

    Examples
    --------
    >>> from emimpute._em._fused import use_fused
    >>> use_fused("numpy")
    False
    """
    if engine == "auto":
        engine = os.environ.get(ENVIRONMENT_VARIABLE, "auto").strip().lower() or "auto"
    if engine not in ENGINES:
        raise ValueError(
            f"{ENVIRONMENT_VARIABLE} (or engine) must be one of {ENGINES}, "
            f"got {engine!r}."
        )
    if engine == "numba" and numba is None:
        raise ImportError(
            f"{ENVIRONMENT_VARIABLE}=numba asks for the compiled kernels, but "
            "numba is not installed; pip install numba, or unset it."
        )
    return engine == "numba" or (engine == "auto" and numba is not None)


# Compiler options of every kernel. Of fastmath, only ``contract``: a
# multiply and an add may become one fused multiply-add (one rounding
# instead of two; the machines numba targets have the instruction), but no
# reassociation, no approximate functions, no assumptions on NaN or inf.
# Every sum is still taken in the order the source writes it, and each
# element of a vectorised loop is a fixed sequence of operations, the same in
# the vector body and the scalar remainder and whatever the arrays'
# alignment: the same fit gives the same bits (checked in
# tests/test_fused_reproducible.py and tests/test_parallel.py: data at
# misaligned offsets, rows in other vector lanes, the serial and parallel
# builds, 1 and 2 threads). Reassociation is kept off: it lets the compiler
# reorder a sum, hence its rounding, by how it vectorised it.
# ``error_model='numpy'``: a division by zero gives inf or NaN (as in numpy)
# instead of raising, so that loops with a division or a square root (the
# Cholesky factors' diagonals) are vectorised, not run element by element
# behind a zero test; every division in the kernels is guarded.
# numba's on-disk cache is keyed on each kernel's source file, not on these
# options: after changing them, the modules that compile with them
# (_fused, _fused_dense, _fused_runs, _fused_batched, _fused_weighing,
# _lanes, _fused_diagonal, _fused_categorical, _conditional_draws,
# _gaussian, _gaussian_block, _pattern_sums, _augmentation) must change
# too, or their __pycache__ be cleared, to be compiled again.
_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": {"contract"},
    "error_model": "numpy",
}


def jit(function):
    """``numba.njit(**_OPTIONS)``, or no-op without numba."""
    if numba is None:  # pragma: no cover
        return function
    return numba.njit(**_OPTIONS)(function)


class ParallelKernel:
    """A kernel compiled twice: serial, and parallel over its row tasks.

    Called with ``tasks`` as its last argument, it runs the serial version
    for one task, and for any number of tasks where numba's thread count is
    1 (a thread of the E-step's own pool, ``_parallel``, or a user's
    ``numba.set_num_threads(1)``): entering a parallel region wakes the
    OpenMP threads, which then spin for a while, which on a machine whose
    cores are busy costs milliseconds per call (measured: 3x the kernel's
    time on a loaded 2-core machine) even when one thread does all the work.
    The serial version runs the same tasks in order, so the result has the
    same bits either way.
    """

    def __init__(self, function):
        self.function = function
        if numba is None:  # pragma: no cover
            self.serial = self.parallel = function
            return
        # A copy under its own name, so that the two versions have their
        # own entries in numba's on-disk cache.
        serial = types.FunctionType(
            function.__code__, function.__globals__, function.__name__ + "_serial"
        )
        serial.__qualname__ = function.__qualname__ + "_serial"
        self.serial = numba.njit(**_OPTIONS)(serial)
        self.parallel = numba.njit(parallel=True, **_OPTIONS)(function)

    def __call__(self, *args):
        parallel = args[-1] > 1 and numba.get_num_threads() > 1
        return (self.parallel if parallel else self.serial)(*args)


# numba.prange runs its loop on threads in a parallel kernel; range otherwise.
prange = range if numba is None else numba.prange


# Tasks of a parallel loop, whatever the number of threads: each task sums
# its own statistics, and the tasks' sums are added in order, so that the
# result does not depend on the machine's number of cores.
PARALLEL_TASKS = 8


def n_tasks(n_rows, work_per_row):
    """Row tasks of a compiled loop: 1 for a small block, else PARALLEL_TASKS."""
    if numba is None or n_rows * work_per_row < PARALLEL_MIN_WORK:
        return 1
    return max(1, min(PARALLEL_TASKS, n_rows // 64))


def blas_threads_for(n_features, *, shared=False):
    """A context in which the E-step's BLAS products run.

    One BLAS thread up to ``BLAS_SINGLE_THREAD_MAX_FEATURES`` features (see
    there why), or when the blocks are ``shared`` out to several threads
    (``_parallel``: the parallelism is then theirs); the caller's settings
    otherwise. The controller is made once per process (a few
    milliseconds); entering the limit costs about 0.1 ms, once per E-step.
    """
    if n_features > BLAS_SINGLE_THREAD_MAX_FEATURES and not shared:
        return contextlib.nullcontext()
    return one_thread("blas")


# The helpers below work on matrix j of a stack, indexed in place: taking a
# view (``stack[j]``) in a compiled loop costs a reference count update,
# which in these loops over small blocks costs more than the arithmetic.


@jit
def cholesky(factors, reciprocals, j, n):
    """Lower Cholesky factor of ``factors[j, :n, :n]`` in place; False if not SPD.

    Only the lower triangle is read and written; ``reciprocals[j, i] = 1 /
    L_ii``, so that the solves multiply rather than divide (a division costs
    several multiplications' time). Row by row (C order), no pivoting:
    Cholesky is backward stable for positive-definite matrices.
    """
    for col in range(n):
        for i in range(col, n):
            total = factors[j, i, col]
            for p in range(col):
                total -= factors[j, i, p] * factors[j, col, p]
            if i == col:
                if not total > 0.0:
                    return False
                factors[j, col, col] = math.sqrt(total)
                reciprocals[j, col] = 1.0 / factors[j, col, col]
            else:
                factors[j, i, col] = total * reciprocals[j, col]
    return True


@jit
def forward_solve(factors, reciprocals, j, b, n):
    """``b[:n] = inv(L) b[:n]`` in place, ``L`` from :func:`cholesky`."""
    for i in range(n):
        total = b[i]
        for p in range(i):
            total -= factors[j, i, p] * b[p]
        b[i] = total * reciprocals[j, i]


@jit
def backward_solve(factors, reciprocals, j, b, n):
    """``b[:n] = inv(L^T) b[:n]`` in place."""
    for i in range(n - 1, -1, -1):
        total = b[i]
        for p in range(i + 1, n):
            total -= factors[j, p, i] * b[p]
        b[i] = total * reciprocals[j, i]


# Bounds of a running product of diagonal entries before it is moved into
# the logarithm: far from overflow and underflow.
_PRODUCT_RANGE = 1e150


@jit
def log_det_from_cholesky(factors, j, n):
    """``log det A = 2 sum log L_ii``, with about one ``log`` per factor.

    A logarithm costs tens of multiplications' time: the entries are
    multiplied, and the running product moved into the logarithm only when
    it leaves ``[1e-150, 1e150]``. The product's relative rounding, ``n
    eps``, is an absolute error of ``2 n eps`` in the result.
    """
    total = 0.0
    product = 1.0
    for i in range(n):
        product *= factors[j, i, i]
        if product > _PRODUCT_RANGE or product < 1.0 / _PRODUCT_RANGE:
            total += math.log(product)
            product = 1.0
    return 2.0 * (total + math.log(product))


@jit
def inverse_from_cholesky(factors, reciprocals, j, inverses, n):
    """Lower triangle of ``inv(L L^T)`` into ``inverses[j, :n, :n]``.

    ``W = inv(L)`` by forward substitution, stored transposed in the factor's
    strict upper triangle (unused by the factor, which is kept; W's diagonal
    is ``reciprocals[j]``), then ``inv(A) = W^T W``. Transposed, every inner
    loop runs along a row: contiguous, and vectorised by the compiler.
    """
    for col in range(n):
        for i in range(col + 1, n):
            total = factors[j, i, col] * reciprocals[j, col]
            for p in range(col + 1, i):
                total += factors[j, i, p] * factors[j, col, p]
            factors[j, col, i] = -total * reciprocals[j, i]
    for a in range(n):
        for b in range(a + 1):
            if a == b:
                total = reciprocals[j, a] * reciprocals[j, a]
            else:
                total = reciprocals[j, a] * factors[j, b, a]
            for p in range(a + 1, n):
                total += factors[j, a, p] * factors[j, b, p]
            inverses[j, a, b] = total


@jit
def factor_covariance(covariance, precision, inverse):
    """Factor a covariance ``S = R R^T``: ``inverse = inv(R)``, the precision.

    ``R`` lower triangular; ``inverse`` (lower triangular) is the transpose
    of the precision's Cholesky factor in scikit-learn's convention, and
    ``precision = inv(R)^T inv(R)``. Returns ``log det S``, or NaN where
    ``_forms._cholesky_lower`` raises: a non-finite entry, or a pivot
    ``R_ii^2`` not above ``SINGULAR_PIVOT d S_ii``. ``O(d^3)``, for the
    one-Gaussian M-steps and parameter draws that run many times on small
    matrices (a dozen numpy calls otherwise).
    """
    d = covariance.shape[0]
    floor = SINGULAR_PIVOT * d
    chol = np.zeros((d, d))
    log_det = 0.0
    for i in range(d):
        for j in range(d):
            if not np.isfinite(covariance[i, j]):
                return np.nan
        for j in range(i + 1):
            value = covariance[i, j]
            for k in range(j):
                value -= chol[i, k] * chol[j, k]
            if i == j:
                if not value > floor * covariance[i, i]:
                    return np.nan
                chol[i, i] = np.sqrt(value)
                log_det += 2.0 * np.log(chol[i, i])
            else:
                chol[i, j] = value / chol[j, j]
    # W = inv(R), lower triangular, column by column.
    inverse[:] = 0.0
    for j in range(d):
        inverse[j, j] = 1.0 / chol[j, j]
        for i in range(j + 1, d):
            value = 0.0
            for k in range(j, i):
                value -= chol[i, k] * inverse[k, j]
            inverse[i, j] = value / chol[i, i]
    for a in range(d):
        for b in range(a + 1):
            value = 0.0
            for k in range(a, d):
                value += inverse[k, a] * inverse[k, b]
            precision[a, b] = value
            precision[b, a] = value
    return log_det


def softmax_rows(log_density, log_weights):
    """``log sum_k exp(w_ik)`` and ``exp(w_ik) / sum_k exp(w_ik)`` per row.

    ``w = log_density + log_weights``; the numpy version in
    ``_estep.responsibilities``, in one compiled pass per row (same
    operations in the same order; only ``exp`` and ``log`` may differ from
    numpy's in the last bit). A row whose maximum is not finite is taken
    about 0, as there: ``-inf`` everywhere gives ``-inf`` and NaN
    responsibilities, which the caller reports. Responsibilities below
    ``exp(NEGLIGIBLE_LOG_RATIO)`` (1e-304) times the row's largest are 0.

    Parameters
    ----------
    log_density : ndarray of shape (n_rows, n_components)
    log_weights : float or ndarray of shape (n_components,)

    Returns
    -------
    log_prob_norm : ndarray of shape (n_rows,)
    resp : ndarray of shape (n_rows, n_components)

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._fused import softmax_rows
    >>> norm, resp = softmax_rows(np.log([[1.0, 3.0]]), 0.0)
    >>> round(float(norm[0]), 6), resp.tolist()
    (1.386294, [[0.25, 0.75]])
    """
    log_density = np.ascontiguousarray(log_density, dtype=float)
    n_rows, n_components = log_density.shape
    weights = np.zeros(n_components) + log_weights
    log_prob_norm = np.empty(n_rows)
    resp = np.empty((n_rows, n_components))
    _softmax_rows(log_density, weights, log_prob_norm, resp)
    return log_prob_norm, resp


# Below this, a weighted density's ratio to its row's largest, exp(argument),
# is taken as 0 (exp(-700) ~ 1e-304, which no sum of responsibilities, at
# least 1 per row, can register): the responsibilities are then never
# subnormal (below 2.2e-308), which the processor multiplies a hundred times
# slower than other numbers, in every product and sum that reads them (6%
# of the entries at 1e5 x 50, K = 5). exp's slow path for underflow is
# skipped too (measured 6.8 to 4.2 ms for 1e5 x 5 when skipping only where
# exp is 0). NaN compares false and takes exp.
NEGLIGIBLE_LOG_RATIO = -700.0


# Serial: a few nanoseconds per entry (25 ms for 1e6 x 5), less than a
# parallel region's start on a busy machine, and half the compile time.
@jit
def _softmax_rows(log_density, log_weights, log_prob_norm, resp):
    n_rows, n_components = log_density.shape
    for i in range(n_rows):
        top = -np.inf
        for k in range(n_components):
            weighted = log_density[i, k] + log_weights[k]
            resp[i, k] = weighted
            # NaN compares false: a NaN is not the maximum, as in numpy
            # it makes the maximum NaN, then 0; both give NaN below.
            if weighted > top or weighted != weighted:
                top = weighted
        if not (top - top == 0.0):
            top = 0.0
        total = 0.0
        for k in range(n_components):
            # See NEGLIGIBLE_LOG_RATIO.
            argument = resp[i, k] - top
            shifted = 0.0 if argument < NEGLIGIBLE_LOG_RATIO else math.exp(argument)
            resp[i, k] = shifted
            total += shifted
        # As numpy's log(0) and 0 / 0, without numba's division error.
        if total == 0.0:
            log_prob_norm[i] = -np.inf
            for k in range(n_components):
                resp[i, k] = np.nan
            continue
        log_prob_norm[i] = math.log(total) + top
        for k in range(n_components):
            resp[i, k] = resp[i, k] / total
