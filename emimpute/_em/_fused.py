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
(tests run both).
"""

import math
import os

try:
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

ENGINES = ("auto", "numba", "numpy")
ENVIRONMENT_VARIABLE = "EMIMPUTE_KERNEL"

# Rows per task of the parallel loops: enough that a task's fixed cost
# (scratch space, scheduling) is small against its rows' work, few enough
# that a chunk of a few thousand rows still splits over the threads.
ROWS_PER_TASK = 256


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


def jit(*, parallel=False):
    """``numba.njit(cache=True, nogil=True)``, or no-op without numba."""
    if numba is None:  # pragma: no cover
        return lambda function: function
    return numba.njit(cache=True, nogil=True, parallel=parallel)


# numba.prange runs its loop on threads in a parallel kernel; range otherwise.
prange = range if numba is None else numba.prange


def n_tasks(n_rows):
    """Row tasks of a parallel loop: at most one per thread."""
    threads = numba.get_num_threads() if numba is not None else 1
    return max(1, min(threads, math.ceil(n_rows / ROWS_PER_TASK)))


# The helpers below work on matrix j of a stack, indexed in place: taking a
# view (``stack[j]``) in a compiled loop costs a reference count update,
# which in these loops over small blocks costs more than the arithmetic.


@jit()
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


@jit()
def forward_solve(factors, reciprocals, j, b, n):
    """``b[:n] = inv(L) b[:n]`` in place, ``L`` from :func:`cholesky`."""
    for i in range(n):
        total = b[i]
        for p in range(i):
            total -= factors[j, i, p] * b[p]
        b[i] = total * reciprocals[j, i]


@jit()
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


@jit()
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


@jit()
def inverse_from_cholesky(factors, reciprocals, j, inverses, n):
    """Lower triangle of ``inv(L L^T)`` into ``inverses[j, :n, :n]``.

    ``W = inv(L)`` by forward substitution, overwriting the factor's strict
    lower triangle (W's diagonal is ``reciprocals[j]``), then ``inv(A) = W^T
    W``.
    """
    for col in range(n):
        for i in range(col + 1, n):
            total = -factors[j, i, col] * reciprocals[j, col]
            for p in range(col + 1, i):
                total -= factors[j, i, p] * factors[j, p, col]
            factors[j, i, col] = total * reciprocals[j, i]
    for a in range(n):
        for b in range(a + 1):
            if a == b:
                total = reciprocals[j, a] * reciprocals[j, a]
            else:
                total = reciprocals[j, a] * factors[j, a, b]
            for p in range(a + 1, n):
                total += factors[j, p, a] * factors[j, p, b]
            inverses[j, a, b] = total
