"""Progress of EM fits: printed lines (``verbose``) and the ``logging`` route."""

import logging
import re

import numpy as np
import pytest

from emimpute import EMClassifier, EMImputer, EMMixture


def _data(seed=0, n=300):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) + 4.0 * (rng.random(n) < 0.5)[:, np.newaxis]
    X[rng.random(X.shape) < 0.2] = np.nan
    return X


ESTIMATORS = [
    pytest.param(EMImputer, id="EMImputer"),
    pytest.param(EMMixture, id="EMMixture"),
]
ITERATION = re.compile(r"^  Iteration (\d+)\t time lapse [\d.]+s\t ll change (\S+)$")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("interval", [1, 3])
def test_verbose_2_prints_one_line_per_interval(capsys, Estimator, interval):
    model = Estimator(
        n_components=2,
        verbose=2,
        verbose_interval=interval,
        max_iter=12,
        tol=0.0,
        random_state=0,
    )
    with pytest.warns(Warning, match="did not converge"):
        model.fit(_data())
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Initialization 0"
    iterations = [ITERATION.match(line) for line in lines[1:-1]]
    assert all(iterations), lines
    assert [int(m.group(1)) for m in iterations] == list(range(interval, 13, interval))
    # The change printed is the change of the recorded history (EMImputer
    # keeps no history attribute), with scikit-learn's 5 decimals.
    if hasattr(model, "lower_bounds_"):
        changes = np.diff(np.r_[-np.inf, model.lower_bounds_])
        for m in iterations:
            assert m.group(2) == f"{changes[int(m.group(1)) - 1]:.5f}"
    assert lines[-1].startswith("Initialization did not converge. time lapse ")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_verbose_1_prints_iterations_without_figures(capsys, Estimator):
    Estimator(n_components=2, verbose=1, verbose_interval=2, random_state=0).fit(
        _data()
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Initialization 0"
    assert lines[1] == "  Iteration 2"
    assert lines[-1] in (
        "Initialization converged.",
        "Initialization did not converge.",
    )


@pytest.mark.parametrize("Estimator", [*ESTIMATORS, pytest.param(EMClassifier)])
def test_logging_route(caplog, capsys, Estimator):
    X = _data()
    with caplog.at_level(logging.DEBUG, logger="emimpute"):
        if Estimator is EMClassifier:
            # The classifier shares the engine, so its fits log the same way.
            y = np.where(np.arange(len(X)) % 3, -1, np.nan_to_num(X[:, 0]) > 2)
            model = Estimator(random_state=0).fit(X, y.astype(int))
        else:
            model = Estimator(n_components=2, n_init=2, random_state=0).fit(X)
    # verbose=0 prints nothing: the logger is the only route.
    assert capsys.readouterr().out == ""
    records = [r for r in caplog.records if r.name == "emimpute"]
    n_runs = 1 if Estimator is EMClassifier else 2
    starts = [
        r for r in records if r.levelno == logging.INFO and "started" in r.message
    ]
    ends = [r for r in records if r.levelno == logging.INFO and "after" in r.message]
    iterations = [r for r in records if r.levelno == logging.DEBUG]
    assert len(starts) == len(ends) == n_runs
    assert {r.em_run for r in ends} == set(range(1, n_runs + 1))
    assert all(r.em_n_runs == n_runs for r in records)
    # One DEBUG record per iteration of every run; the kept run's figures
    # are the fitted history.
    assert len(iterations) == sum(r.em_iteration for r in ends)
    for r in iterations:
        assert r.message.startswith(f"EM run {r.em_run} of {n_runs}, iteration ")
        assert np.isfinite(r.em_log_likelihood) and r.em_elapsed >= 0
    assert iterations[0].em_change == np.inf
    best = max(ends, key=lambda r: r.em_log_likelihood)
    assert best.em_iteration == model.n_iter_
    assert best.em_converged == model.converged_
    kept = [r.em_log_likelihood for r in iterations if r.em_run == best.em_run]
    if hasattr(model, "lower_bounds_"):
        np.testing.assert_array_equal(kept, model.lower_bounds_)
    # In lower_bound_'s units (EMImputer fits standardised data: it logged
    # the standardised model's log-likelihood).
    assert best.em_log_likelihood == kept[-1] == model.lower_bound_


def test_imputer_logs_in_the_units_of_its_transformed_features(caplog):
    X = np.exp(_data())
    imputer = EMImputer(feature_transforms={0: "log", 2: "log"}, random_state=0)
    with caplog.at_level(logging.INFO, logger="emimpute"):
        imputer.fit(X)
    (end,) = [r for r in caplog.records if "after" in r.message]
    # The model's density of the logs times the Jacobian: what score gives.
    assert end.em_log_likelihood == imputer.lower_bound_
    # lower_bound_ is that of the parameters before the last M-step, which
    # raised it by less than tol: it is score's to within tol, from below.
    assert 0.0 <= imputer.score(X) - imputer.lower_bound_ < imputer.tol


def test_a_start_fit_inside_a_run_is_not_logged(caplog):
    # The hierarchical start fits one Gaussian first, to fill the holes it
    # clusters: not a run of the user's fit.
    with caplog.at_level(logging.INFO, logger="emimpute"):
        EMMixture(2, init_params="hierarchical", random_state=0).fit(_data())
    assert [r.message.split(" ")[:5] for r in caplog.records] == [
        ["EM", "run", "1", "of", "1"]
    ] * 2


def test_logging_at_info_shows_runs_only(caplog):
    with caplog.at_level(logging.INFO, logger="emimpute"):
        EMMixture(2, random_state=0).fit(_data())
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    assert caplog.records[1].message.startswith("EM run 1 of 1 converged after ")


def test_verbose_lines_are_gaussian_mixtures(capsys):
    # On complete data EMMixture runs GaussianMixture's iterations: the
    # printed lines agree but for the times (the log-likelihoods to 5
    # decimals; they agree to about 1e-15).
    from sklearn.mixture import GaussianMixture

    X = np.nan_to_num(_data(), nan=1.0)
    lines = {}
    for Estimator in (EMMixture, GaussianMixture):
        Estimator(n_components=2, verbose=2, verbose_interval=1, random_state=0).fit(X)
        lines[Estimator] = [
            re.sub(r"time lapse [\d.]+s", "time lapse -", line)
            for line in capsys.readouterr().out.splitlines()
        ]
    assert len(lines[EMMixture]) > 3
    assert lines[EMMixture] == lines[GaussianMixture]
