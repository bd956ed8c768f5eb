"""Thread limits for the small native computations EM runs.

threadpoolctl (a core dependency, scikit-learn's own) earns its place: it
finds the BLAS and OpenMP runtimes actually loaded (numpy's OpenBLAS,
scikit-learn's OpenMP) and limits them for the duration of a block, which
environment variables read at import time cannot do.
"""

import contextlib
import functools
import os
import queue
import sys
import threading


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    # Made once per process: inspecting the loaded libraries takes a few
    # milliseconds; entering and leaving a limit afterwards about 10 us.
    return ThreadpoolController()


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


@functools.cache
def _selection(filepaths):
    """A controller of the libraries at ``filepaths`` alone.

    A limiter restores every library its controller holds to what it read on
    entry: one made on the whole controller for OpenMP set the process's
    BLAS count back to the value it had read, 1 where another thread held
    the BLAS limit then.
    """
    return _controller().select(filepath=list(filepaths))


def _smallest_count(filepaths):
    counts = [
        lib.num_threads
        for lib in _selection(tuple(filepaths)).lib_controllers
        if lib.num_threads is not None
    ]
    return min(counts, default=None)


# Per thread, the count each one_thread of a per-thread library (OpenMP, a
# BLAS built on it) hides: {user_api: count}, set by the thread's outermost
# limit.
_hidden = threading.local()


def _at_one(filepath):
    # None: a count threadpoolctl cannot read, so cannot limit either.
    return _selection((filepath,)).lib_controllers[0].num_threads in (1, None)


# Who can set a process-wide count (measured with numpy 2.4's pthreads
# OpenBLAS 0.3.31 and threadpoolctl 3.8.0). OpenBLAS keeps it in one
# variable of the process (blas_cpu_number, not thread-local): its own
# openblas_set_num_threads from any thread is seen by every thread at once
# (a thread sets 1 and stays alive, another sets 2: 2 everywhere, 50 trials
# of 50). threadpoolctl 3.8 passes a set on to a pthreads OpenBLAS only from
# its "controlling thread": the first thread to set a count while no living
# thread controls, until that thread leaves the last ``with`` block of a
# limiter it entered, or ends; from any other thread a set silently does
# nothing (OpenBLASController.set_num_threads). The same two threads through
# threadpoolctl: 1 everywhere, 50 trials of 50. A limit set by the first
# thread to enter and restored by the last to leave (made without ``with``)
# had two faults from it:
#
# - the restore did nothing where the thread that had set the limit was
#   still alive: the process stayed at one BLAS thread (about 1 run in 3 of
#   two overlapping threads, as often as the first had not ended yet);
# - the thread that had set a limit kept control for as long as it lived:
#   after a fit on the main thread, every other thread's limit did nothing
#   (multiple_impute's threads and threaded predictions ran on all the BLAS
#   threads), a user's threadpool_limits on a thread too.
#
# So a limit is set and restored by one thread, in a ``with`` block, and
# restored when no thread holds it: by the limits thread below, which lives
# from the first holder's entry to the last one's exit whatever order the
# holders leave in, so that no holder runs unlimited meanwhile (from d = 60
# BLAS's count changes an E-step's last bits). Where its set does nothing
# (another thread controls: a user's threadpool_limits block on the
# holder's own thread, for one), the holder sets it on its own thread and
# restores it when it leaves, as threadpoolctl wants; holders left then run
# on the count the controlling thread chose, which no other thread can
# change. A set that did nothing took no control, so there is nothing to
# undo. Whether a set took effect is read back (the count is 1 after it):
# exact while only these threads set counts. Other code that changes a
# count from another thread while a limit is held is beyond repair here:
# its threadpool_limits block reads the held 1 as the setting to restore.
# A round trip to the limits thread costs about 30 us on a loaded 2-core
# machine, twice an E-step: one_thread went from 17 us to 55 us.
class _LimitsThread:
    """A thread that enters and leaves the process-wide limits."""

    def __init__(self):
        self._jobs = queue.SimpleQueue()
        self._results = queue.SimpleQueue()
        threading.Thread(
            target=self._serve, name="emimpute-thread-limits", daemon=True
        ).start()

    def _serve(self):
        while True:
            job = self._jobs.get()
            try:
                result = job(), None
            except BaseException as error:  # raised again on the caller's thread
                result = None, error
            self._results.put(result)

    def run(self, job, undo=None):
        """``job()`` on the limits thread; one caller at a time (``_LOCK``).

        Interrupted while the job runs (a KeyboardInterrupt in the wait),
        the caller still takes the job's reply, so that the next call does
        not get it instead, and has ``undo(value)`` run there for what the
        job did (a limit set that no holder would restore), before the
        interruption goes on.
        """
        self._jobs.put(job)
        try:
            value, error = self._results.get()
        except BaseException:
            value, error = self._results.get()
            if error is None and undo is not None:
                self._jobs.put(functools.partial(undo, value))
                self._results.get()
            raise
        if error is not None:
            raise error
        return value


def _enter_limits(filepaths):
    """One thread for each of ``filepaths``, set from this thread.

    ``{filepath: limiter}`` for those where the set took effect, each
    limiter entered (its ``with`` block, which ends this thread's control
    when it is left).
    """
    entered = {}
    for filepath in filepaths:
        limiter = _selection((filepath,)).limit(limits={filepath: 1})
        if _at_one(filepath):
            limiter.__enter__()
            entered[filepath] = limiter
    return entered


def _exit_limits(limiters):
    for limiter in limiters:
        limiter.__exit__(None, None, None)


def _exit_entered(entered):
    """Leave the limiters of :func:`_enter_limits`'s ``{filepath: limiter}``."""
    _exit_limits(entered.values())


_LIMITS_THREAD = "the limits thread"
_limits_thread_ = None


def _limits_thread():
    global _limits_thread_
    if _limits_thread_ is None:
        _limits_thread_ = _LimitsThread()
    return _limits_thread_


class _SharedLimit:
    """A process-wide limit: its holders, who set it library by library,
    and the count it hides (``before``: the smallest of its libraries'
    counts when the first holder entered, the setting of the process)."""

    def __init__(self, filepaths):
        self.filepaths = filepaths
        self.holders = {}  # thread id: how many times it holds the limit
        self.owners = {}  # filepath: (_LIMITS_THREAD or a thread id, limiter)
        self.before = _smallest_count(filepaths)

    def apply(self, *, here):
        """Limit the libraries no one has: from the limits thread, else here."""
        todo = [f for f in self.filepaths if f not in self.owners and not _at_one(f)]
        if todo:
            job = functools.partial(_enter_limits, tuple(todo))
            entered = _limits_thread().run(job, undo=_exit_entered)
            for filepath, limiter in entered.items():
                self.owners[filepath] = _LIMITS_THREAD, limiter
            todo = [f for f in todo if f not in self.owners]
        if todo and here:
            me = threading.get_ident()
            for filepath, limiter in _enter_limits(tuple(todo)).items():
                self.owners[filepath] = me, limiter

    def restore(self, owner):
        """Restore the caller's setting of the libraries ``owner`` limited."""
        limiters = [limiter for who, limiter in self.owners.values() if who == owner]
        if not limiters:
            return
        self.owners = {f: o for f, o in self.owners.items() if o[0] != owner}
        job = functools.partial(_exit_limits, limiters)
        if owner == _LIMITS_THREAD:
            if sys.is_finalizing():
                # The interpreter is shutting down: its daemon threads, the
                # limits thread among them, are frozen (waiting on one
                # hangs), and the process's setting ends with it.
                return
            _limits_thread().run(job)
        else:
            job()


# The process-wide limits held, per user_api; their entries and exits, one
# at a time.
_SHARED = {}
_LOCK = threading.Lock()


def _forget_limits():
    # A forked child has none of the parent's threads: not the limits
    # thread (waiting on it would hang) nor the holders; and the lock as it
    # was in the parent (possibly held by another thread).
    global _limits_thread_, _LOCK
    _limits_thread_ = None
    _SHARED.clear()
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_limits)


@contextlib.contextmanager
def _shared_limit(user_api, filepaths):
    """One thread for ``filepaths`` (process-wide counts), held together."""
    if sys.is_finalizing():
        # At shutdown (a __del__ running then) the limits thread is frozen:
        # no limit, rather than a wait that never ends.
        yield
        return
    me = threading.get_ident()
    with _LOCK:
        state = _SHARED.get(user_api)
        if state is None:
            state = _SHARED[user_api] = _SharedLimit(filepaths)
        state.holders[me] = state.holders.get(me, 0) + 1
        try:
            state.apply(here=True)
        except BaseException:
            _leave(user_api, state, me)
            raise
    try:
        yield
    finally:
        with _LOCK:
            _leave(user_api, state, me)


def _leave(user_api, state, me):
    # Under _LOCK.
    if state.holders[me] > 1:
        state.holders[me] -= 1
        return
    del state.holders[me]
    if any(who == me for who, _ in state.owners.values()):
        # Limited on this thread, as only it could: restored here, and the
        # limits thread tries for the holders left.
        state.restore(me)
        if state.holders:
            state.apply(here=False)
    if not state.holders:
        state.restore(_LIMITS_THREAD)
        if _SHARED.get(user_api) is state:
            del _SHARED[user_api]


@contextlib.contextmanager
def one_thread(user_api):
    """A context in which ``user_api`` ('blas' or 'openmp') runs one thread.

    A process-wide limit is shared by the threads that enter it together:
    set when the first enters and restored, to the caller's setting, when
    the last leaves, both from one thread that lives meanwhile (see
    ``_LimitsThread``: threadpoolctl takes a set of OpenBLAS's count only
    from the thread in control). A per-thread one (OpenMP, a BLAS built on
    it) is each thread's own, entered and restored by it.

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
            counts = getattr(_hidden, "counts", None)
            if counts is None:
                counts = _hidden.counts = {}
            if user_api not in counts:
                counts[user_api] = _smallest_count(per_thread)
                stack.callback(counts.pop, user_api)
            stack.enter_context(
                _selection(per_thread).limit(limits=dict.fromkeys(per_thread, 1))
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
    return _current_count("blas")


def _current_count(user_api):
    """The smallest current count of ``user_api``'s libraries, process-wide
    and per-thread alike; None if there is none."""
    return _smallest_count(sum(_libraries(user_api), ()))


def callers_thread_count(user_api):
    """The threads ``user_api`` ('blas' or 'openmp') runs at the caller's
    setting, through this module's own limits; None if threadpoolctl finds
    no library of it.

    While :func:`one_thread` holds ``user_api`` at one thread (a fit holds
    the BLAS from its start to its end), the count it hid: the setting of
    the process when its first holder entered (or of this thread, for a
    library whose count is per thread); else the current count. An
    E-step's pool of threads is sized by the BLAS's
    (``_parallel.block_threads``): read through the fit's own limit, it
    ran every E-step on one thread (a tied fit of 1e5 x 20 took 58-65 ms an
    iteration for 30-41).
    """
    hidden = getattr(_hidden, "counts", {}).get(user_api)
    held = _SHARED.get(user_api)
    if held is not None and held.before is not None:
        hidden = held.before if hidden is None else min(hidden, held.before)
    return _current_count(user_api) if hidden is None else hidden
