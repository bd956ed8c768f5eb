"""Blocks of an E-step on several threads (``_em._parallel``).

The blocks' values are added in block order whatever thread computed them,
and a block's arithmetic does not depend on its thread, so an E-step on a
pool of threads must give *the same bits* as on one: the comparisons below
are exact (``array_equal``), not to a tolerance. The data sets are cut into
many small blocks (``chunk_size``) so that the pool has blocks to share, and
hold rows with every number of missing entries.
"""

import os
import queue
import signal
import threading
import warnings

import numba
import numpy as np
import pytest
from _mixed_reference import punch_holes, random_mixed_params, sample_mixed
from _reference import COVARIANCE_TYPES
from threadpoolctl import threadpool_limits

from emimpute import EMMixture
from emimpute._em import _parallel, _threads
from emimpute._em._data import EMData
from emimpute._em._estep import e_step, weighted_log_prob
from emimpute._em._impute import complete
from emimpute._em._threads import blas_thread_count, one_thread

N_CATEGORIES = (3, 2)


def _data_and_params(covariance_type, *, categorical, seed=0, n_samples=600):
    rng = np.random.default_rng([seed, COVARIANCE_TYPES.index(covariance_type)])
    n_categories = N_CATEGORIES if categorical else ()
    params = random_mixed_params(rng, 3, 5, n_categories, covariance_type)
    numeric, codes, _ = sample_mixed(rng, n_samples, params, 5)
    numeric, codes = punch_holes(rng, numeric, codes, 0.3)
    data = EMData.build(numeric, codes=codes, n_categories=n_categories)
    return data, params


def _stats_arrays(stats):
    arrays = [stats.nk]
    for family in stats.families:
        for value in vars(family).values():
            arrays.extend(value if isinstance(value, tuple) else [value])
    return arrays


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("categorical", [False, True])
def test_e_step_on_threads_has_the_same_bits(covariance_type, categorical):
    data, params = _data_and_params(covariance_type, categorical=categorical)
    one_norm, one_stats = e_step(data, params, chunk_size=16, threads=1)
    for threads in (2, 3):
        norm, stats = e_step(data, params, chunk_size=16, threads=threads)
        assert np.array_equal(norm, one_norm)
        for got, expected in zip(
            _stats_arrays(stats), _stats_arrays(one_stats), strict=True
        ):
            assert np.array_equal(got, expected)
    expected = weighted_log_prob(data, params, chunk_size=16, threads=1)
    got = weighted_log_prob(data, params, chunk_size=16, threads=2)
    assert np.array_equal(got, expected)


def test_fit_is_the_same_on_one_thread_and_on_the_default(monkeypatch):
    # Every E-step on the pool (this one is below the size that needs it).
    monkeypatch.setattr(_parallel, "POOL_MIN_WORK", 0)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3000, 6)) @ rng.standard_normal((6, 6))
    X[rng.uniform(size=X.shape) < 0.25] = np.nan
    # Rows with 0 to 6 missing entries: several blocks per E-step, which the
    # default shares out on a machine with more than one core.
    model = EMMixture(n_components=3, random_state=0, max_iter=20)
    default = model.fit(X).score_samples(X)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        with threadpool_limits(limits=1):
            assert _parallel.block_threads() == 1
            single = model.fit(X).score_samples(X)
    finally:
        numba.set_num_threads(previous)
    assert np.array_equal(default, single)


def test_block_threads_follows_numba_and_blas_limits():
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert _parallel.block_threads() == 1
    finally:
        numba.set_num_threads(previous)
    with threadpool_limits(limits=1, user_api="blas"):
        assert _parallel.block_threads() == 1


def test_map_blocks_keeps_order_and_reads_blocks_lazily():
    taken = []

    def blocks():
        for i in range(40):
            taken.append(i)
            yield i

    values = _parallel.map_blocks(
        lambda i: (i, threading.current_thread().name), blocks(), 2
    )
    first = next(values)
    assert first[0] == 0
    # Only a bounded number of blocks is handed out ahead of the caller.
    assert len(taken) <= 2 * _parallel.BLOCKS_AHEAD_PER_THREAD + 1
    rest = list(values)
    assert [value for value, _ in [first] + rest] == list(range(40))
    assert all(name.startswith("emimpute-block") for _, name in [first] + rest)


def test_map_blocks_runs_a_single_block_on_the_callers_thread():
    names = list(
        _parallel.map_blocks(lambda _: threading.current_thread().name, [0], 2)
    )
    assert names == [threading.current_thread().name]


def test_map_blocks_raises_a_blocks_error():
    def fail_at_five(i):
        if i == 5:
            raise ValueError("block 5")
        return i

    with pytest.raises(ValueError, match="block 5"):
        list(_parallel.map_blocks(fail_at_five, range(20), 2))


def test_a_small_e_step_runs_on_one_thread(monkeypatch):
    data, _ = _data_and_params("full", categorical=True, n_samples=50)
    assert _parallel.e_step_threads(data, 2) == 1
    monkeypatch.setattr(_parallel, "POOL_MIN_WORK", 0)
    assert _parallel.e_step_threads(data, 2) == _parallel.block_threads()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_makes_its_own_pool():
    # The parent's pool threads do not exist in a child: it must not wait on
    # them (a hang here is the failure).
    list(_parallel.map_blocks(abs, range(-8, 8), 2))
    data, params = _data_and_params("full", categorical=False)
    expected = e_step(data, params, chunk_size=16, threads=1)[0]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's outcome is its exit code
        # A hung child is killed (and the test fails) rather than the suite
        # hanging: a bound on a deadlock, far above the milliseconds it takes.
        signal.alarm(120)
        ok = np.array_equal(e_step(data, params, chunk_size=16, threads=2)[0], expected)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("categorical", [False, True])
def test_completion_on_threads_has_the_same_bits(categorical, monkeypatch):
    data, params = _data_and_params("full", categorical=categorical)
    one = complete(data, params, chunk_size=16, return_std=True)
    monkeypatch.setattr(_parallel, "POOL_MIN_WORK", 0)
    monkeypatch.setattr(_parallel, "block_threads", lambda: 2)
    two = complete(data, params, chunk_size=16, return_std=True)
    assert np.array_equal(two.numeric, one.numeric)
    assert np.array_equal(two.std, one.std)
    assert np.array_equal(two.codes, one.codes)


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_has_the_same_bits_on_any_thread_setting(
    covariance_type, batched, monkeypatch
):
    # The compiled kernels are built twice (serial and parallel over row
    # tasks, _fused.ParallelKernel) with fused multiply-adds: both builds,
    # at 1 and 2 numba threads, and blocks on 1 or 2 threads of the E-step's
    # pool, must give the same fit to the bit. Every block of 128 rows or
    # more (800 rows, 30% missing: those with 1 to 3 holes) runs as several
    # row tasks (PARALLEL_MIN_WORK 0) and every E-step on the pool; the
    # dense kernels batched or per pattern.
    from emimpute._em import _fused, _fused_dense

    monkeypatch.setattr(_fused, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(_parallel, "POOL_MIN_WORK", 0)
    threshold = 0.0 if batched else np.inf
    monkeypatch.setattr(_fused_dense, "BATCHED_MIN_PATTERNS_PER_ROW", threshold)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((800, 7)) @ rng.standard_normal((7, 7))
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    model = EMMixture(
        n_components=3,
        covariance_type=covariance_type,
        random_state=0,
        max_iter=5,
        tol=0,
    )
    previous = numba.get_num_threads()
    fits = []
    try:
        for numba_threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            for pool_threads in (1, 2):
                numba.set_num_threads(numba_threads)

                def threads(n=pool_threads):
                    return n

                monkeypatch.setattr(_parallel, "block_threads", threads)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X)
                fits.append(
                    (
                        model.means_,
                        model.covariances_,
                        model.weights_,
                        model.score_samples(X),
                    )
                )
    finally:
        numba.set_num_threads(previous)
    for fit in fits[1:]:
        for got, expected in zip(fit, fits[0], strict=True):
            assert np.array_equal(got, expected)


def test_a_wide_fit_has_the_same_bits_at_one_and_two_blas_threads():
    # The start's statistics ran on BLAS's threads while the E-step's run on
    # one up to 64 features: from d = 60 up, a fit at threadpool_limits(2)
    # differed from one at 1 in the last bits (covariances by 7e-16, the
    # imputations by 1e-14). Two BLAS threads only matter where the machine
    # has them; the limits are then what differs between the two fits.
    from emimpute import EMClassifier, EMImputer

    rng = np.random.default_rng(1)
    d = 60
    X = rng.normal(size=(400, d)) @ (np.eye(d) + 0.1 * rng.normal(size=(d, d)))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) > 0).astype(int)
    results = []
    for limit in (1, 2):
        with threadpool_limits(limits=limit), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imputer = EMImputer(random_state=0).fit(X)
            mixture = EMMixture(1, random_state=0).fit(X)
            classifier = EMClassifier(covariance_type="tied").fit(X, y)
            results.append(
                (
                    imputer.transform(X),
                    mixture.covariances_,
                    classifier.predict_proba(X),
                )
            )
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)


class _Holder:
    """A thread that enters and leaves ``one_thread`` when told to.

    It stays alive between commands, as joblib's and a user's pool threads
    do: threadpoolctl 3.8 passes a set of a pthreads OpenBLAS's count on
    only from the thread in control (the first to set one, until it leaves
    its ``with`` block or ends), so the interleavings that matter have the
    thread that took the limit still alive when another restores it, and
    they are reproduced exactly here (not left to how soon a finished
    thread is reaped).
    """

    def __init__(self):
        self._commands = queue.SimpleQueue()
        self._results = queue.SimpleQueue()
        self._held = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while (command := self._commands.get()) is not None:
            try:
                self._results.put((command(), None))
            except BaseException as error:  # re-raised on the test's thread
                self._results.put((None, error))

    def run(self, function):
        self._commands.put(function)
        value, error = self._results.get(timeout=60)
        if error is not None:
            raise error
        return value

    def enter(self, user_api="blas"):
        def enter():
            context = one_thread(user_api)
            context.__enter__()
            self._held.append(context)

        self.run(enter)

    def leave(self):
        self.run(lambda: self._held.pop().__exit__(None, None, None))

    def count(self):
        return self.run(blas_thread_count)

    def stop(self):
        while self._held:  # a failed test's holds, not to outlive it
            self.leave()
        self._commands.put(None)
        self._thread.join()


@pytest.fixture
def holders():
    started = []

    def make(n):
        started.extend(_Holder() for _ in range(n))
        return started[-n:]

    yield make
    for holder in started:
        holder.stop()


def _blas_threads_before():
    # The machine's setting; the tests need a process-wide BLAS (pthreads
    # OpenBLAS, MKL) at two threads or more. Not a probe of whether a limit
    # set from a thread takes effect: that is what the tests check.
    process_wide, _ = _threads._libraries("blas")
    before = blas_thread_count()
    if not process_wide or before is None or before < 2:
        pytest.skip("no process-wide BLAS running several threads here")
    return before


# Who enters and leaves, in order ("A+" enters, "A-" leaves), and who reads
# the count while the others have left (still 1: held).
INTERLEAVINGS = {
    # The thread that took the limit leaves first, alive, and the other
    # restores: threadpoolctl ignored that restore (the process stayed at
    # one BLAS thread, about 1 run in 3 when the first thread had ended).
    "first leaves first": ("A+", "B+", "A-", "B?", "B-"),
    "last in leaves first": ("A+", "B+", "B-", "A?", "A-"),
    "relay of three": ("A+", "B+", "A-", "C+", "B-", "C?", "C-"),
    "nested in one thread": ("A+", "A+", "B+", "A-", "A?", "A-", "B?", "B-"),
}


@pytest.mark.parametrize("steps", INTERLEAVINGS.values(), ids=INTERLEAVINGS.keys())
def test_overlapping_one_thread_limits_restore_the_callers_setting(steps, holders):
    before = _blas_threads_before()
    threads = dict(zip("ABC", holders(3), strict=True))
    # Repeated with the same living threads: the outcome must not depend
    # on the round (a thread that held the limit before holds no claim now).
    for _ in range(10):
        for step in steps:
            holder, action = threads[step[0]], step[1]
            if action == "+":
                holder.enter()
                assert holder.count() == 1
            elif action == "-":
                holder.leave()
            else:
                assert holder.count() == 1  # still limited: others hold it
        assert blas_thread_count() == before
        assert all(holder.count() == before for holder in threads.values())


def test_a_limit_taken_on_one_thread_leaves_the_others_free_to_limit(holders):
    # The limit's holder kept threadpoolctl's say over OpenBLAS for as long
    # as it lived: after a fit on the main thread, every other thread's
    # limit did nothing (multiple_impute's threads and a user's threaded
    # predictions ran on all the BLAS threads), and a user's
    # threadpool_limits on a thread too.
    before = _blas_threads_before()
    with one_thread("blas"):
        assert blas_thread_count() == 1
    assert blas_thread_count() == before
    (other,) = holders(1)
    other.enter()
    assert other.count() == 1
    other.leave()
    assert other.count() == before

    def users_limit():
        with threadpool_limits(limits=1, user_api="blas"):
            return blas_thread_count()

    assert other.run(users_limit) == 1
    assert blas_thread_count() == before
    with one_thread("blas"):
        assert blas_thread_count() == 1
    assert blas_thread_count() == before


def test_one_thread_limits_inside_a_users_threadpool_limits():
    # A user's threadpool_limits block gives its thread threadpoolctl's say
    # over OpenBLAS: the limit is then taken (and restored) on that thread
    # (a fit in it at d = 60 otherwise ran its E-steps on 2 BLAS threads,
    # other bits than at 1).
    before = _blas_threads_before()
    with threadpool_limits(limits=2, user_api="blas"):
        with one_thread("blas"):
            assert blas_thread_count() == 1
        assert blas_thread_count() == 2
    assert blas_thread_count() == before


def test_an_openmp_limit_leaves_the_blas_count_alone(holders):
    # An OpenMP limit restored every library it had read on entry, BLAS's
    # too: a thread that entered one while another held the BLAS limit set
    # the process back to one BLAS thread when it left.
    before = _blas_threads_before()
    if not _threads._libraries("openmp")[1]:
        pytest.skip("no OpenMP runtime loaded")
    blas, openmp = holders(2)
    for _ in range(3):
        blas.enter()
        openmp.enter("openmp")
        blas.leave()
        assert openmp.count() == before
        openmp.leave()
        assert blas_thread_count() == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_limits_blas_without_the_parents_threads():
    # The thread that applies the limits does not exist in a child: it must
    # start its own (a hang here is the failure).
    before = _blas_threads_before()
    with one_thread("blas"):
        pass
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's outcome is its exit code
        signal.alarm(120)
        with one_thread("blas"):
            inside = blas_thread_count()
        os._exit(0 if (inside, blas_thread_count()) == (1, before) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_openmp_limits_are_each_threads_own():
    # OpenMP's thread count is per thread: a limit shared like BLAS's left
    # the first thread at 1 for good (its KMeans, and scikit-learn's after
    # it, single-threaded), and the second unlimited.
    from emimpute._em._threads import _controller

    def counts():
        libraries = _controller().select(user_api="openmp").lib_controllers
        return [lib.num_threads for lib in libraries]

    before = counts()
    if not before or max(before) < 2:
        pytest.skip("no multi-threaded OpenMP runtime loaded")
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        seen["a before"] = counts()
        with one_thread("openmp"):
            seen["a inside"] = counts()
            a_in.set()
            b_in.wait()
        seen["a after"] = counts()
        a_out.set()

    def second():
        a_in.wait()
        with one_thread("openmp"):
            seen["b inside"] = counts()
            b_in.set()
            a_out.wait()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(seen["a inside"]) == max(seen["b inside"]) == 1
    assert seen["a after"] == seen["a before"]
    assert counts() == before


def test_thread_limits_are_kept_library_by_library(monkeypatch):
    # One BLAS built on OpenMP (per-thread counts) beside a pthreads
    # OpenBLAS (the process's count) made every BLAS limited thread by
    # thread, and the OpenBLAS stuck at 1 after overlapping calls: each
    # library is now classed on its own.
    from types import SimpleNamespace

    from emimpute._em import _threads

    libraries = [
        SimpleNamespace(filepath="/lib/openblas.so", threading_layer="pthreads"),
        SimpleNamespace(filepath="/lib/mkl.so", threading_layer="openmp"),
    ]
    controller = SimpleNamespace(
        select=lambda user_api: SimpleNamespace(lib_controllers=libraries)
    )
    monkeypatch.setattr(_threads, "_controller", lambda: controller)
    _threads._libraries.cache_clear()
    try:
        assert _threads._libraries("blas") == (("/lib/openblas.so",), ("/lib/mkl.so",))
        assert _threads._libraries("openmp") == (
            (),
            ("/lib/openblas.so", "/lib/mkl.so"),
        )
    finally:
        _threads._libraries.cache_clear()


def test_an_interrupted_limit_is_undone_and_its_reply_not_left_behind(monkeypatch):
    # A KeyboardInterrupt while the limits thread sets a limit: the caller
    # took no reply, so the limit was never recorded (the process stayed at
    # one BLAS thread for good) and its reply waited in the queue for the
    # next call. Interrupted deterministically: the first wait raises.
    from emimpute._em import _threads

    before = _threads.blas_thread_count()
    if before is None or before < 2:
        pytest.skip("the BLAS runs one thread here")
    limits = _threads._limits_thread()
    replies = limits._results

    class InterruptedOnce:
        interrupted = False
        put = replies.put  # the limits thread's side

        def get(self):
            if not self.interrupted:
                self.interrupted = True
                raise KeyboardInterrupt
            return replies.get()

    monkeypatch.setattr(limits, "_results", InterruptedOnce())
    with pytest.raises(KeyboardInterrupt):
        with _threads.one_thread("blas"):
            pass
    assert limits._results.interrupted
    assert _threads.blas_thread_count() == before
    assert _threads._SHARED == {}
    with _threads.one_thread("blas"):
        assert _threads.blas_thread_count() == 1
    assert _threads.blas_thread_count() == before


def test_a_limit_at_interpreter_shutdown_does_not_hang():
    # A finalizer that imputes at shutdown: the limits thread (a daemon) is
    # frozen then, and waiting on it never ended.
    import subprocess
    import sys

    script = (
        "import builtins\n"
        "from emimpute._em._threads import one_thread\n"
        "with one_thread('blas'):\n"
        "    pass\n"
        "class Finalised:\n"
        "    def __del__(self):\n"
        "        with one_thread('blas'):\n"
        "            print('finalised', flush=True)\n"
        "builtins._kept = Finalised()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "finalised" in done.stdout


def test_a_fit_takes_the_blas_limit_once_for_all_its_iterations(monkeypatch):
    # Each E-step entered the limit on its own: a round trip to the limits
    # thread per iteration (about 0.2 ms, as long as a small table's E-step),
    # where the fit can hold it from its start to its end. Counted by the
    # limits taken while no other holder had one.
    entries = []
    shared_limit = _threads._shared_limit

    def counted(user_api, filepaths):
        if user_api not in _threads._SHARED:
            entries.append(user_api)
        return shared_limit(user_api, filepaths)

    monkeypatch.setattr(_threads, "_shared_limit", counted)
    if not _threads._libraries("blas")[0]:
        pytest.skip("no process-wide BLAS count here")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    mixture = EMMixture(2, n_init=2, tol=1e-8, random_state=0).fit(X)
    assert mixture.n_iter_ > 5
    assert entries == ["blas"]
    assert _threads._SHARED == {}


def test_a_fit_sizes_its_e_step_pool_by_the_callers_blas_count(monkeypatch):
    # The fit holds BLAS at one thread from its start to its end; the
    # E-step's pool, sized by min(numba's count, BLAS's), read the fit's
    # own limit and ran every E-step on one thread (a tied fit of 1e5 x 20
    # took 58-65 ms an iteration for 30-41).
    before = blas_thread_count()
    if before is None or before < 2 or numba.get_num_threads() < 2:
        pytest.skip("one BLAS or numba thread here")
    monkeypatch.setattr(_parallel, "POOL_MIN_WORK", 0)
    sizes = []
    block_threads = _parallel.block_threads

    def recorded():
        sizes.append(block_threads())
        return sizes[-1]

    monkeypatch.setattr(_parallel, "block_threads", recorded)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    EMMixture(2, random_state=0).fit(X)
    assert sizes and set(sizes) == {min(numba.get_num_threads(), before)}
    with one_thread("blas"):
        assert blas_thread_count() == 1
        assert _threads.callers_thread_count("blas") == before
    with threadpool_limits(limits=1):
        assert block_threads() == 1
    assert blas_thread_count() == before
