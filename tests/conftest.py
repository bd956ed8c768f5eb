"""Shared pytest configuration of the emimpute test suite.

``global_random_seed``, as in scikit-learn: tests that take this fixture must
pass for any seed in [0, 99]. By default every such test runs once with seed
42; the environment variable ``EMIMPUTE_TESTS_GLOBAL_RANDOM_SEED`` selects
other seeds: ``"7"`` (one seed), ``"0-4"`` (an inclusive range) or ``"all"``
(0 to 99), for example::

    EMIMPUTE_TESTS_GLOBAL_RANDOM_SEED="0-4" python -m pytest tests
"""

import os
import sys

import pytest
from threadpoolctl import threadpool_limits

_SEED_VARIABLE = "EMIMPUTE_TESTS_GLOBAL_RANDOM_SEED"
_SEED_RANGE = range(100)
_DEFAULT_SEEDS = [42]


def _random_seeds():
    value = os.environ.get(_SEED_VARIABLE)
    if value is None or not value.strip():
        return _DEFAULT_SEEDS
    value = value.strip()
    if value == "all":
        return list(_SEED_RANGE)
    try:
        if "-" in value:
            start, stop = value.split("-")
            seeds = list(range(int(start), int(stop) + 1))
        else:
            seeds = [int(value)]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < _SEED_RANGE.start or max(seeds) >= _SEED_RANGE.stop:
        raise ValueError(
            f"{_SEED_VARIABLE} should be 'all', an integer or a range such as "
            f"'0-4', with seeds in [0, 99]; got {value!r}."
        )
    return seeds


def pytest_generate_tests(metafunc):
    """Parametrise the ``global_random_seed`` fixture from the environment."""
    if "global_random_seed" in metafunc.fixturenames:
        metafunc.parametrize("global_random_seed", _random_seeds(), indirect=True)


def pytest_report_header(config):
    seeds = _random_seeds()
    shown = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return [
        f"To reproduce this test run, set {_SEED_VARIABLE}={shown!r}",
    ]


@pytest.fixture
def global_random_seed(request):
    """A deterministic seed in [0, 99] (42 unless the environment says
    otherwise); parametrised by :func:`pytest_generate_tests`."""
    return request.param


@pytest.fixture(scope="module")
def single_threaded():
    """BLAS and OpenMP limited to one thread for a whole module: on the tiny
    problems of the reliability and property tests, threads only contend
    with each other on a shared machine (5x faster measured). Modules opt in
    with ``pytestmark = pytest.mark.usefixtures("single_threaded")``."""
    with threadpool_limits(limits=1):
        yield


def pytest_terminal_summary(terminalreporter):
    """Print the largest discrepancies of the engine against the references."""
    # The test modules import the helpers as ``_reference`` (this directory is
    # on ``sys.path``); only read the record if they ran.
    module = sys.modules.get("_reference")
    if module is None:
        return
    discrepancies = module.DISCREPANCIES
    if not discrepancies:
        return
    terminalreporter.section("largest discrepancies vs independent references")
    for what, value in sorted(discrepancies.items()):
        terminalreporter.write_line(f"{what:<48} {value:.2e}")
