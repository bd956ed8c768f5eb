"""Thread limits for the small native computations EM runs.

threadpoolctl (a core dependency, scikit-learn's own) earns its place: it
finds the BLAS and OpenMP runtimes actually loaded (numpy's OpenBLAS,
scikit-learn's OpenMP) and limits them for the duration of a block, which
environment variables read at import time cannot do.
"""

import functools


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    # Made once per process: inspecting the loaded libraries takes a few
    # milliseconds; entering a limit afterwards about 0.1 ms.
    return ThreadpoolController()


def one_thread(user_api):
    """A context in which ``user_api`` ('blas' or 'openmp') runs one thread.

    Examples
    --------
    >>> import numpy as np
    >>> from emimpute._em._threads import one_thread
    >>> with one_thread("blas"):
    ...     float(np.ones((2, 2)) @ np.ones(2) @ np.ones(2))
    4.0
    """
    return _controller().limit(limits=1, user_api=user_api)


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
