"""Run one fit in this fresh process and print its peak RSS increase as JSON.

Used by :func:`benchmarks._util.rss_peak_subprocess`; not meant to be run by
hand. The spec names an estimator (``GaussianMixture`` or ``EMMixture``), its
keyword arguments, the ``.npy`` file of ``X`` and optionally a ``.npz`` of
initial parameters.
"""

import json
import resource
import sys
import warnings
from pathlib import Path

import numpy as np

WARM_UP_ROWS = 500


def _status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_high_water_mark():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status("VmHWM") <= _status("VmRSS") + 4096 * 16


def main(spec_path):
    from sklearn.mixture import GaussianMixture

    from emimpute import EMMixture

    spec = json.loads(Path(spec_path).read_text())
    X = np.load(spec["X"])
    kwargs = dict(spec["kwargs"])
    if spec.get("init"):
        with np.load(spec["init"]) as init:
            kwargs.update({key: init[key] for key in init.files})
    cls = {"GaussianMixture": GaussianMixture, "EMMixture": EMMixture}[
        spec["estimator"]
    ]
    estimator = cls(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Code loaded once per process (lazy imports, compiled kernels read
        # from numba's cache, k-means' OpenMP runtime) is not the fit's
        # memory: a one-iteration fit on a few rows loads it first, for both
        # estimators alike.
        cls(**{**kwargs, "max_iter": 1}).fit(X[:WARM_UP_ROWS])
    exact = _reset_high_water_mark()
    before = _status("VmRSS")
    if not exact:  # fall back on the process-wide maximum
        before = max(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X)
    if exact:
        peak = _status("VmHWM")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_bytes": peak - before, "exact": exact}))


if __name__ == "__main__":
    main(sys.argv[1])
