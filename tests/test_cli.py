"""Tests of the ``emimpute`` command line.

The main paths run ``python -m emimpute`` in subprocesses, started all at
once by a module fixture because each one pays the import of scikit-learn;
the finer cases call ``main()`` in-process.
"""

import csv
import subprocess
import sys
import time

import numpy as np
import pytest

from emimpute._cli import main, progress

HOLED = """\
id,height,weight,city,age
1,170.5,65,Paris,31
2,,72.25,Lyon,NA
3,182.0,,Nice,45
4,165,58,,
5,NaN,80,Paris,52
6,177.25,74,Lyon,38
7,160,nan,Nice,29
8,190,90,Paris,60
"""

# The bad inputs of the issue, each run in a subprocess; more run in-process.
BAD_INPUTS = {
    "missing_file": None,
    "empty_file": "",
    "non_numeric": "a,b\n1,x\n2,y\n3,z\n",
    "all_empty_column": "a,b\n1,\n2,NA\n3,\n",
}


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Start every subprocess run at once; ``get(name)`` waits for one."""
    tmp = tmp_path_factory.mktemp("cli")
    holed = _write(tmp / "holed.csv", HOLED)
    commands = {
        "impute": [
            "impute",
            str(holed),
            "-o",
            str(tmp / "out.csv"),
            "--std",
            str(tmp / "std.csv"),
            "--passthrough",
        ],
        "cluster": [
            "cluster",
            str(holed),
            "--ignore-non-numeric",
            "-o",
            str(tmp / "labels.csv"),
            "--proba",
            str(tmp / "proba.csv"),
        ],
        "demo": ["demo", "--output", str(tmp / "demo.png"), "--missing-rate", "0.3"],
    }
    for name, text in BAD_INPUTS.items():
        path = tmp / f"{name}.csv"
        if text is not None:
            _write(path, text)
        commands[name] = ["impute", str(path), "-o", str(tmp / f"{name}.out")]

    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "emimpute", *args],
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in commands.items()
    }
    results = {}

    def get(name):
        if name not in results:
            stdout, stderr = processes[name].communicate(timeout=120)
            results[name] = (processes[name].returncode, stdout, stderr)
        return results[name]

    get.tmp = tmp
    yield get
    for process in processes.values():
        process.kill()
        process.communicate()


def test_impute_keeps_shape_names_and_observed_cells(cli_runs):
    returncode, _, stderr = cli_runs("impute")
    assert returncode == 0, stderr
    source = list(csv.reader(HOLED.splitlines()))
    out = _read_csv(cli_runs.tmp / "out.csv")
    std = _read_csv(cli_runs.tmp / "std.csv")
    assert out[0] == std[0] == source[0]
    assert len(out) == len(std) == len(source)

    numeric = [0, 1, 2, 4]
    for row_in, row_out, row_std in zip(source[1:], out[1:], std[1:], strict=True):
        assert len(row_out) == len(row_in)
        # The passthrough column is copied verbatim, missing cells included.
        assert row_out[3] == row_in[3]
        assert row_std[3] == ""
        for j in numeric:
            if row_in[j].strip().lower() in ("", "na", "nan"):
                assert np.isfinite(float(row_out[j]))
                assert float(row_std[j]) > 0
            else:
                assert row_out[j] == row_in[j]
                assert float(row_std[j]) == 0


def test_cluster_writes_labels_and_probabilities(cli_runs):
    returncode, _, stderr = cli_runs("cluster")
    assert returncode == 0, stderr
    labels = _read_csv(cli_runs.tmp / "labels.csv")
    assert labels[0] == ["label"]
    assert len(labels) == 1 + HOLED.count("\n") - 1
    assert {row[0] for row in labels[1:]} <= {"0", "1"}

    proba = _read_csv(cli_runs.tmp / "proba.csv")
    assert proba[0] == ["proba_0", "proba_1"]
    values = np.array(proba[1:], dtype=float)
    np.testing.assert_allclose(values.sum(axis=1), 1.0)
    np.testing.assert_array_equal(
        values.argmax(axis=1), [int(row[0]) for row in labels[1:]]
    )


def test_demo_prints_results_and_writes_figure(cli_runs):
    returncode, stdout, stderr = cli_runs("demo")
    assert returncode == 0, stderr
    assert "EMMixture" in stdout
    assert "mean imputation" in stdout
    figure = cli_runs.tmp / "demo.png"
    assert figure.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_one_line_error(cli_runs, name):
    returncode, stdout, stderr = cli_runs(name)
    assert returncode == 2
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1
    assert stderr.startswith("emimpute: error: ")
    assert stdout == ""


# In-process tests of the finer cases


@pytest.fixture
def holed(tmp_path):
    return _write(tmp_path / "holed.csv", HOLED)


def _run(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assert_one_line_error(status, err, *fragments):
    assert status == 2
    assert err.startswith("emimpute") and err.count("\n") == 1
    for fragment in fragments:
        assert fragment in err


def test_non_numeric_error_names_the_columns(capsys, holed):
    status, _, err = _run(capsys, "impute", holed)
    _assert_one_line_error(status, err, "'city'", "--passthrough")


def test_impute_to_stdout_with_options(capsys, tmp_path):
    path = _write(tmp_path / "x.csv", "a;b;c\n1;2;3\n2;;4\n3;4;NA\n4;5;6\n5;7;9\n")
    status, out, err = _run(
        capsys,
        "impute",
        path,
        "--delimiter",
        ";",
        "--covariance-type",
        "diag",
        "--sample-posterior",
        "--random-state",
        "1",
    )
    assert status == 0, err
    rows = list(csv.reader(out.splitlines(), delimiter=";"))
    assert rows[0] == ["a", "b", "c"]
    assert rows[1] == ["1", "2", "3"]
    assert np.isfinite(np.array(rows[1:], dtype=float)).all()


def test_imputed_values_round_trip_exactly(capsys, tmp_path):
    from emimpute import EMImputer

    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 3))
    X[rng.rand(*X.shape) < 0.2] = np.nan
    X[:, 0] = np.where(np.isnan(X[:, 0]), 0.5, X[:, 0])
    lines = ["a,b,c"]
    lines += [",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in X]
    path = _write(tmp_path / "x.csv", "\n".join(lines) + "\n")
    status, out, err = _run(capsys, "impute", path, "--random-state", "0")
    assert status == 0, err
    expected = EMImputer(random_state=0).fit_transform(X)
    got = np.array(list(csv.reader(out.splitlines()))[1:], dtype=float)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("a,b\n", "no data rows"),
        ("\n\n", "empty file"),
        ("a,b\n1,2\n3\n", "line 3 has 1 field"),
        ("a,b\n1,inf\n2,3\n", "infinite"),
        ("a,b\nx,y\nz,w\n", "non-numeric columns 'a'"),
    ],
)
def test_more_bad_inputs(capsys, tmp_path, text, fragment):
    path = _write(tmp_path / "bad.csv", text)
    status, _, err = _run(capsys, "impute", path)
    _assert_one_line_error(status, err, fragment)


def test_many_non_numeric_columns_stay_on_one_line(capsys, tmp_path):
    header = ",".join(f"c{j}" for j in range(20))
    row = ",".join("x" for _ in range(20))
    path = _write(tmp_path / "wide.csv", f"num,{header}\n1,{row}\n2,{row}\n")
    status, _, err = _run(capsys, "impute", path)
    _assert_one_line_error(status, err, "'c0'", "and 15 more")
    assert "'c19'" not in err


def test_tab_delimiter(capsys, tmp_path):
    path = _write(tmp_path / "x.tsv", "a\tb\n1\t2\n\t3\n4\t5\n")
    status, out, err = _run(capsys, "impute", path, "--delimiter", "\\t")
    assert status == 0, err
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows[0] == ["a", "b"] and rows[1] == ["1", "2"] and rows[3] == ["4", "5"]
    assert float(rows[2][0]) > 0


def test_fewer_rows_than_components(capsys, tmp_path):
    path = _write(tmp_path / "few.csv", "a,b\n1,2\n3,4\n")
    status, _, err = _run(capsys, "cluster", path, "--n-components", "3")
    _assert_one_line_error(status, err, "fewer than --n-components 3")


def test_only_non_numeric_columns_with_passthrough(capsys, tmp_path):
    path = _write(tmp_path / "bad.csv", "a,b\nx,y\nz,w\n")
    status, _, err = _run(capsys, "impute", path, "--passthrough")
    _assert_one_line_error(status, err, "no numeric column")


def test_directory_and_unwritable_output(capsys, tmp_path, holed):
    status, _, err = _run(capsys, "impute", tmp_path)
    _assert_one_line_error(status, err, "directory")
    status, _, err = _run(
        capsys, "impute", holed, "--passthrough", "-o", tmp_path / "no" / "out.csv"
    )
    _assert_one_line_error(status, err, "cannot write")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["impute"],
        ["impute", "x.csv", "--n-components", "0"],
        ["cluster", "x.csv", "--covariance-type", "round"],
        ["demo", "--missing-rate", "1.5"],
        ["impute", "x.csv", "--delimiter", ";;"],
    ],
)
def test_bad_arguments(capsys, argv):
    status, _, err = _run(capsys, *argv)
    _assert_one_line_error(status, err, "--help")


def test_help(capsys):
    for argv in (["--help"], ["impute", "--help"], ["cluster", "-h"], ["demo", "-h"]):
        status, out, _ = _run(capsys, *argv)
        assert status == 0
        assert out.startswith("usage: emimpute")


def test_progress_line_only_for_slow_work(capsys):
    with progress("quick work", delay=10.0):
        pass
    assert capsys.readouterr().err == ""
    with progress("slow work", delay=0.01):
        time.sleep(0.1)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "emimpute: slow work ..."
    assert err[1].startswith("emimpute: slow work done in ")


def test_demo_without_matplotlib(capsys, monkeypatch, tmp_path):
    # None in sys.modules makes the import fail, as if matplotlib were absent.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    status, out, err = _run(capsys, "demo", "--output", tmp_path / "demo.png")
    assert status == 1
    assert "mean imputation" in out
    assert err.count("\n") == 1 and "matplotlib" in err
    assert not (tmp_path / "demo.png").exists()
