"""Thread limits for the small native computations EM runs.

threadpoolctl (a core dependency, scikit-learn's own) earns its place: it
finds the BLAS and OpenMP runtimes actually loaded (numpy's OpenBLAS,
scikit-learn's OpenMP) and limits them for the duration of a block, which
environment variables read at import time cannot do.
"""

import contextlib
import functools
import threading


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    # Made once per process: inspecting the loaded libraries takes a few
    # milliseconds; entering a limit afterwards about 0.1 ms.
    return ThreadpoolController()


# The process-wide limits entered and not yet left, per user_api:
# [holders, limiter]. The first holder enters the limit and the last one to
# leave restores what the first saw: a thread that entered while another
# held it saw 1 thread, and restoring that left the process at 1 for good
# (four threads' predict_proba did, and multiple_impute's n_jobs=2).
_HELD = {}
_HELD_LOCK = threading.Lock()


@functools.cache
def _libraries(user_api):
    """``user_api``'s loaded libraries, by how their thread count is kept:
    ``(process_wide, per_thread)``, tuples of file paths.

    OpenMP's is per thread (``omp_set_num_threads``), and so is that of a
    BLAS built on OpenMP; pthreads OpenBLAS's and MKL's are the process's.
    Decided library by library: a process can load several BLAS (numpy's
    and scipy's OpenBLAS, MKL beside them).
    """
    libraries = _controller().select(user_api=user_api).lib_controllers
    per_thread = tuple(
        lib.filepath
        for lib in libraries
        if user_api == "openmp" or getattr(lib, "threading_layer", None) == "openmp"
    )
    process_wide = tuple(
        lib.filepath for lib in libraries if lib.filepath not in per_thread
    )
    return process_wide, per_thread


@contextlib.contextmanager
def _shared_limit(user_api, filepaths):
    """One thread for ``filepaths`` (process-wide counts), held together."""
    with _HELD_LOCK:
        held = _HELD.get(user_api)
        if held is None:
            limiter = _controller().limit(limits=dict.fromkeys(filepaths, 1))
            held = _HELD[user_api] = [0, limiter]
        held[0] += 1
    try:
        yield
    finally:
        with _HELD_LOCK:
            held[0] -= 1
            if held[0] == 0:
                del _HELD[user_api]
                held[1].restore_original_limits()


@contextlib.contextmanager
def one_thread(user_api):
    """A context in which ``user_api`` ('blas' or 'openmp') runs one thread.

    A process-wide limit is shared by the threads that enter it together:
    the caller's setting comes back when the last of them leaves. A
    per-thread one (OpenMP, a BLAS built on it) is each thread's own,
    entered and restored by it.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._threads import one_thread
    >>> with one_thread("blas"):
    ...     float(np.ones((2, 2)) @ np.ones(2) @ np.ones(2))
    4.0
    """
    process_wide, per_thread = _libraries(user_api)
    with contextlib.ExitStack() as stack:
        if per_thread:
            stack.enter_context(
                _controller().limit(limits=dict.fromkeys(per_thread, 1))
            )
        if process_wide:
            stack.enter_context(_shared_limit(user_api, process_wide))
        yield


def blas_thread_count():
    """The threads the loaded BLAS runs now; None if threadpoolctl finds none.

    Reads the current setting, so it sees ``threadpoolctl.threadpool_limits``
    as well as ``OMP_NUM_THREADS`` and friends (about 10 us). None where the
    BLAS is one threadpoolctl cannot control (Apple's Accelerate, for one).
    """
    counts = [
        library.num_threads
        for library in _controller().select(user_api="blas").lib_controllers
    ]
    return min(counts, default=None)
