"""Blocks of rows on several threads: the E-step's parallelism.

An E-step is a sum over blocks of rows (``_blocks``) of values each block
computes on its own. The compiled kernels release the GIL (``nogil``), and so
do BLAS and numpy's operations on large arrays, so blocks handed to a pool of
threads run at the same time; the caller adds their values in block order,
as one thread would, so the result has the same bits at any number of
threads (each block's arithmetic does not depend on the thread that runs
it).

Why threads over blocks and not the compiled loops' own parallel regions
(numba's ``prange`` on its OpenMP layer): GNU OpenMP's waiting threads spin
(``OMP_WAIT_POLICY=active`` is its default), and where another process keeps
a core busy, every parallel region waits for a descheduled thread. Measured
on 2 cores with one of them busy, E-step at 1e5 x 10, K = 5, 20% missing:
2 OpenMP threads 3.6x *slower* than 1; with passive waiting 0.87x, which
only the user's environment can ask for. Threads of a pool wait on locks and
never spin: measured the same way, on 2 cores, the pool's E-step took
0.54x to 0.73x one thread's wall time when the other core was free (1e5
rows, d = 10 to 50, 20% and 50% missing, K = 5; ``bench_speed``'s default
against 1 thread: 0.57x to 0.81x), and 1.00x to 1.06x (1% to 10% more CPU
time for the hand-offs) when another process kept it busy. Why
:class:`concurrent.futures.ThreadPoolExecutor`: the standard library's
pool, nothing to install; joblib's threading backend adds a dispatch cost
per call that a block of a few hundred microseconds would feel.

How many threads: :func:`block_threads`, the smaller of numba's thread
count (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``) and BLAS's
(``OMP_NUM_THREADS``, ``threadpoolctl.threadpool_limits``), so that the
usual ways of asking for one thread give one. Inside the pool the compiled
kernels run their serial versions (numba's count is 1 on those threads) and
BLAS one thread per call, the parallelism being the blocks'.
"""

import collections
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from emimpute._em._fused import numba
from emimpute._em._threads import callers_thread_count

# Blocks handed to the pool ahead of the one the caller is adding, per
# thread: enough that no thread waits for work, few enough that the
# blocks' results (and, for a data set too large to keep its blocks, their
# index arrays) held at once stay a small multiple of one block's.
BLOCKS_AHEAD_PER_THREAD = 2

# Multiply-adds of an E-step (``n K (d^2 + c)``, see :func:`e_step_threads`)
# below which it runs on one thread: handing a block to the pool costs tens
# of microseconds, which a small E-step's blocks of a few hundred
# microseconds feel (measured at 1e4 x 10, K = 1, 9 blocks: 13% more CPU
# time on the pool), and on a machine whose cores are busy the pool gains
# nothing to pay it back with. 1e4 x 20 at K = 5 (2e7) is above.
POOL_MIN_WORK = 10_000_000

_pools = {}
_pools_lock = threading.Lock()


def block_threads():
    """Threads an E-step may use: ``min(numba's count, BLAS's count)``.

    BLAS's at the caller's setting (:func:`callers_thread_count`), not
    at the fit's own one-thread limit.

    numba's count alone where threadpoolctl finds no BLAS it can limit; 1
    without numba (the numpy kernels hold the GIL for much of a block).

    Examples
    --------
    >>> from emimpute._em._parallel import block_threads
    >>> block_threads() >= 1
    True
    """
    if numba is None:  # pragma: no cover - exercised where numba is absent
        return 1
    threads = numba.get_num_threads()
    blas = callers_thread_count("blas")
    return max(1, threads if blas is None else min(threads, blas))


def e_step_threads(data, n_components):
    """Threads for an E-step of ``n_components`` on ``data``.

    1 below ``POOL_MIN_WORK`` multiply-adds, ``n K (d^2 + c)`` with ``d``
    numeric and ``c`` categorical columns (the complete-data products, a
    rough but monotone measure of a block's work); :func:`block_threads`
    above.
    """
    work = data.n_samples * n_components * (data.n_numeric**2 + data.n_categorical)
    return 1 if work < POOL_MIN_WORK else block_threads()


def _serial_kernels():
    # numba's thread count is per thread: the pool's threads run the
    # kernels' serial versions (see _fused.ParallelKernel).
    numba.set_num_threads(1)


@contextlib.contextmanager
def serial_engine():
    """A context in which this thread runs the engine on one thread.

    For a caller that runs several fits or draws at once on its own
    threads (``multiple_impute``'s bootstrap on joblib's threads): numba's
    thread count, which is per thread, set to 1 (the compiled kernels' serial
    versions, no block pool, see :func:`block_threads`) and restored after.
    BLAS's limit is per process and left alone.

    Examples
    --------
    >>> from emimpute._em._parallel import block_threads, serial_engine
    >>> with serial_engine():
    ...     block_threads()
    1
    """
    if numba is None:  # pragma: no cover - without numba, nothing to limit
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _pool(threads):
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(
                max_workers=threads,
                thread_name_prefix="emimpute-block",
                initializer=_serial_kernels,
            )
        return pool


def _forget_pools():
    # A forked child has the pools' objects but none of their threads, and
    # the lock as it was in the parent (possibly held by another thread).
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def map_blocks(function, blocks, threads=None):
    """``function(block)`` for every block, in the blocks' order.

    Parameters
    ----------
    function : callable
        Computes a block's values; it must not use state that another block's
        call writes (each thread has its own scratch arrays, see
        ``_blocks.BlockMemo.scratch``) and must set its own numpy error
        state (a thread does not inherit the caller's).
    blocks : iterable of RowBlock
    threads : int, default=None
        ``None``: :func:`block_threads`. 1 runs every call on the caller's
        thread.

    Yields
    ------
    value
        ``function(block)``, in the order of ``blocks``.
    """
    threads = block_threads() if threads is None else threads
    blocks = iter(blocks)
    if threads <= 1:
        yield from map(function, blocks)
        return
    first = next(blocks, None)
    second = next(blocks, None)
    if second is None:
        # One block: nothing to share out.
        if first is not None:
            yield function(first)
        return
    pool = _pool(threads)
    pending = collections.deque(pool.submit(function, b) for b in (first, second))
    ahead = BLOCKS_AHEAD_PER_THREAD * threads
    try:
        for block in blocks:
            pending.append(pool.submit(function, block))
            while len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        # An error (or a caller that stops early): no block left running.
        for future in pending:
            future.cancel()
