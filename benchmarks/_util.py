"""Helpers shared by the benchmarks: machine info, timing, memory, tables."""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------
# machine and versions
# ----------------------------------------------------------------------------
def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def git_revision():
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "emimpute"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in emimpute/" if dirty else "")


def machine_info():
    """CPU, cores, RAM, BLAS and package versions, as (name, value) rows."""
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    import emimpute

    try:
        n_usable = len(os.sched_getaffinity(0))
    except AttributeError:
        n_usable = os.cpu_count()
    blas = "; ".join(
        f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)"
        for p in threadpool_info()
        if p.get("user_api") == "blas"
    )
    return [
        ("CPU", _cpu_model()),
        ("Cores", f"{os.cpu_count()} logical, {n_usable} usable by this process"),
        ("RAM", f"{_ram_gib():.1f} GiB"),
        ("OS", platform.platform()),
        ("BLAS", blas or "unknown"),
        ("Python", platform.python_version()),
        ("numpy", np.__version__),
        ("scipy", scipy.__version__),
        ("scikit-learn", sklearn.__version__),
        ("emimpute", f"{emimpute.__version__} (git {git_revision()})"),
    ]


# ----------------------------------------------------------------------------
# timing and memory
# ----------------------------------------------------------------------------
@contextmanager
def quiet():
    """Silence the warnings the peers emit at fixed max_iter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def timed(func, *args, **kwargs):
    """Return ``(result, seconds)`` of one call, by ``time.perf_counter``."""
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - start


def tracemalloc_peak(func, *args, **kwargs):
    """Peak of traced allocations during one call, above what was live before.

    numpy registers its array buffers with ``tracemalloc``, so this is the
    largest amount of array (and Python object) memory the call held at
    once; memory that BLAS or other C libraries allocate on their own is not
    seen. The input data, allocated before, does not count.
    """
    with quiet():
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            func(*args, **kwargs)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return peak - base


def rss_peak_subprocess(spec):
    """Peak resident memory of one fit, measured in a fresh interpreter.

    ``spec`` is passed to :mod:`benchmarks._memchild` as JSON; that child
    imports the libraries, loads the data from ``.npy`` files (no temporary
    copies), resets the kernel's high-water mark (``/proc/self/clear_refs``),
    runs the fit and reports ``VmHWM - VmRSS`` before the fit. A fresh process
    per fit means no memory freed by earlier fits is reused.

    Returns the peak increase in bytes, or NaN if the child failed.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
        path = handle.name
    try:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks._memchild", path],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=3600,
        )
    finally:
        os.unlink(path)
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return float("nan")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"])


# ----------------------------------------------------------------------------
# formatting
# ----------------------------------------------------------------------------
def markdown_table(header, rows, align=None):
    """A GitHub markdown table; ``align`` is a string of 'l'/'r' per column."""
    if align is None:
        align = "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(sep) + " |",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_seconds(seconds):
    if not np.isfinite(seconds):
        return "n/a"
    if seconds < 1e-2:
        return f"{seconds * 1e3:.2f} ms"
    if seconds < 1.0:
        return f"{seconds * 1e3:.0f} ms"
    if seconds < 100:
        return f"{seconds:.2f} s"
    return f"{seconds:.0f} s"


def fmt_bytes(n_bytes):
    if not np.isfinite(n_bytes):
        return "n/a"
    return f"{n_bytes / 2**20:.1f} MiB"


def ratio_of(numerator, denominator):
    """``numerator / denominator``, NaN (shown as n/a) when it is undefined.

    A peak RSS increase of 0 bytes (a fit too small to touch a new page, as
    in ``--quick``) has no ratio.
    """
    numerator, denominator = float(numerator), float(denominator)
    if denominator == 0.0 or not np.isfinite(denominator):
        return float("nan")
    return numerator / denominator


def fmt_ratio(ratio):
    if not np.isfinite(ratio):
        return "n/a"
    return f"{ratio:.2f}x" if ratio < 100 else f"{ratio:.0f}x"


def verdict(ok):
    return "met" if ok else "**missed**"
