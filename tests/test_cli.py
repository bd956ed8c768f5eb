"""Tests of the ``emimpute`` command line.

The main paths run ``python -m emimpute`` in subprocesses, started all at
once by a module fixture because each one pays the import of scikit-learn;
the finer cases call ``main()`` in-process.
"""

import csv
import io
import os
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

import emimpute
from emimpute._cli import main

# Subprocesses import the package under test, wherever their cwd is.
ROOT = str(Path(emimpute.__file__).resolve().parents[1])
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
}

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
# Text columns are categories unless --no-categorical, which makes them an
# error again.
BAD_INPUT_OPTIONS = {"non_numeric": ["--no-categorical"]}


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
        commands[name] = [
            "impute",
            str(path),
            "-o",
            str(tmp / f"{name}.out"),
            *BAD_INPUT_OPTIONS.get(name, []),
        ]

    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "emimpute", *args],
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
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
    status, _, err = _run(capsys, "impute", holed, "--no-categorical")
    _assert_one_line_error(status, err, "'city'", "--passthrough", "--categorical")


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
    "options, parameters",
    [
        (["--n-components", "auto"], {"n_components": "auto"}),
        (["--prior", "default"], {"prior": "default"}),
        (
            ["--n-components", "2", "--prior", "default"],
            {"n_components": 2, "prior": "default"},
        ),
    ],
)
def test_impute_auto_and_prior_equal_the_estimator(
    capsys, tmp_path, options, parameters
):
    from emimpute import EMImputer

    rng = np.random.RandomState(1)
    X = np.vstack([rng.normal(0, 1, (40, 3)), rng.normal(4, 1, (40, 3))])
    X[rng.rand(*X.shape) < 0.15] = np.nan
    lines = ["a,b,c"]
    lines += [",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in X]
    path = _write(tmp_path / "x.csv", "\n".join(lines) + "\n")
    status, out, err = _run(capsys, "impute", path, "--random-state", "0", *options)
    assert status == 0, err
    expected = EMImputer(random_state=0, **parameters).fit_transform(X)
    got = np.array(list(csv.reader(out.splitlines()))[1:], dtype=float)
    np.testing.assert_array_equal(got, expected)


def test_auto_is_for_impute_only(capsys, holed):
    status, _, err = _run(capsys, "cluster", holed, "--n-components", "auto")
    assert status == 2 and "expected an integer, got 'auto'" in err


@pytest.mark.parametrize(
    "text, options, fragment",
    [
        ("a,b\n", [], "no data rows"),
        ("\n\n", [], "empty file"),
        ("a,b\n1,2\n3,4,5\n", [], "Expected 2 fields in line 3, saw 3"),
        ("a,b\n1,inf\n2,3\n", [], "infinite"),
        ("a,b\nx,y\nz,w\n", ["--no-categorical"], "non-numeric columns 'a'"),
        ("a,b\n1,x\n2,3\n3,z\n", [], "column 'b' ('x' in data row 1) mixes numbers"),
        ("a,b\n1,x\n2,\n3,z\n", ["--categorical", "b,c"], "no column 'c'"),
        ("a,b\n1,x\n2,\n3,z\n", ["--categorical", "a,b", "--passthrough", "a"], "both"),
        ("a,a,b\n1,2,x\n2,3,y\n", ["--categorical", "a"], "name of 2 columns"),
        ("a,b\n1,NA\n2,\n", ["--categorical", "b"], "'b' has no values"),
    ],
)
def test_more_bad_inputs(capsys, tmp_path, text, options, fragment):
    path = _write(tmp_path / "bad.csv", text)
    status, _, err = _run(capsys, "impute", path, *options)
    _assert_one_line_error(status, err, fragment)


def test_many_non_numeric_columns_stay_on_one_line(capsys, tmp_path):
    header = ",".join(f"c{j}" for j in range(20))
    row = ",".join("x" for _ in range(20))
    path = _write(tmp_path / "wide.csv", f"num,{header}\n1,{row}\n2,{row}\n")
    status, _, err = _run(capsys, "impute", path, "--no-categorical")
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
    # The demo says so before its work, with nothing else printed.
    status, out, err = _run(capsys, "demo", "-o", tmp_path / "no" / "demo.png")
    _assert_one_line_error(status, err, "cannot write: no directory")
    assert out == ""


@pytest.mark.parametrize(
    "name, fragment",
    [
        (".", "cannot write: Is a directory"),
        (
            "demo.xyz",
            "cannot write a figure as .xyz; give --output one of the suffixes",
        ),
    ],
)
def test_demo_refuses_an_unwritable_figure_before_the_fits(
    capsys, tmp_path, name, fragment
):
    # These were found by savefig after the fits: an unexpected
    # IsADirectoryError (exit 1), or a ValueError of matplotlib.
    pytest.importorskip("matplotlib")
    output = tmp_path / name
    status, out, err = _run(capsys, "demo", "-o", output)
    _assert_one_line_error(status, err, f"emimpute: error: {output}: {fragment}")
    assert out == ""  # the report comes after the fits
    assert sorted(tmp_path.iterdir()) == []


def test_demo_figure_write_error_is_a_user_error(capsys, tmp_path, monkeypatch):
    # What the command line cannot check beforehand (a full disk, a directory
    # removed during the fits) ends as one line and status 2, not a traceback;
    # the report is printed before. The directory goes away after the check.
    pytest.importorskip("matplotlib")
    from emimpute import _cli

    output = tmp_path / "gone" / "demo.png"
    check = _cli._check_figure_output

    def check_then_remove(path):
        output.parent.mkdir()
        check(path)
        output.parent.rmdir()

    monkeypatch.setattr(_cli, "_check_figure_output", check_then_remove)
    status, out, err = _run(capsys, "demo", "-o", output)
    assert status == 2
    assert "mean imputation" in out and "Figure written" not in out
    assert (
        err == f"emimpute: error: {output}: cannot write: No such file or directory\n"
    )


def test_the_demo_returns_its_figure_and_prints_no_errors(capsys):
    # A library function: the command line reports (and writes), not it.
    pytest.importorskip("matplotlib")
    from emimpute._demo import demo

    report = io.StringIO()
    figure = demo(file=report)
    assert "mean imputation" in report.getvalue()
    assert len(figure.axes) >= 1
    assert capsys.readouterr() == ("", "")


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


def test_demo_without_matplotlib(capsys, monkeypatch, tmp_path):
    # None in sys.modules makes the import fail, as if matplotlib were absent.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    status, out, err = _run(capsys, "demo", "--output", tmp_path / "demo.png")
    assert status == 2
    assert "mean imputation" in out
    assert err.count("\n") == 1 and "matplotlib" in err
    assert not (tmp_path / "demo.png").exists()


# Text columns as categorical features

PENGUINS = files("emimpute.datasets") / "data" / "penguins.csv"


def _is_missing(cell):
    return cell.strip().lower() in ("", "na", "nan", "n/a", "null")


def test_impute_fills_text_holes_with_seen_categories(capsys, tmp_path):
    out, std = tmp_path / "out.csv", tmp_path / "std.csv"
    source = list(csv.reader(PENGUINS.read_text(encoding="utf-8").splitlines()))
    header = source[0]
    sex = header.index("sex")
    text = [header.index(name) for name in ("species", "island", "sex")]
    status, _, err = _run(
        capsys, "impute", PENGUINS, "--n-components", "3", "-o", out, "--std", std
    )
    assert status == 0, err
    rows, std_rows = _read_csv(out), _read_csv(std)
    assert rows[0] == std_rows[0] == header
    assert len(rows) == len(std_rows) == len(source)

    seen = {row[sex] for row in source[1:] if not _is_missing(row[sex])}
    assert seen == {"female", "male"}
    holes = 0
    for row_in, row_out, row_std in zip(
        source[1:], rows[1:], std_rows[1:], strict=True
    ):
        for j, cell in enumerate(row_in):
            if not _is_missing(cell):
                assert row_out[j] == cell
            elif j in text:
                assert row_out[j] in seen
                holes += 1
            else:
                assert np.isfinite(float(row_out[j]))
        # No std for the categories; the numeric columns have theirs.
        assert all(row_std[j] == "" for j in text)
        assert all(row_std[j] != "" for j in range(len(header)) if j not in text)
    assert holes == 11


def test_impute_matches_the_estimator_on_a_dataframe(capsys, tmp_path):
    pd = pytest.importorskip("pandas")
    from emimpute import EMImputer

    out = tmp_path / "out.csv"
    status, _, err = _run(capsys, "impute", PENGUINS, "--n-components", "2", "-o", out)
    assert status == 0, err
    frame = pd.read_csv(PENGUINS)
    expected = EMImputer(n_components=2, random_state=0).fit_transform(frame)
    got = pd.read_csv(out)
    for k, name in enumerate(frame.columns):
        if pd.api.types.is_numeric_dtype(frame[name]):
            np.testing.assert_array_equal(got[name], expected[:, k].astype(float))
        else:
            assert got[name].tolist() == list(expected[:, k]), name


def _sexed_rows(rng, n=40):
    """Rows of a penguins-like table whose sex goes with the size."""
    rows = []
    for i in range(n):
        male = i % 2 == 0
        mass = rng.normal(5000 if male else 3500, 150)
        flipper = rng.normal(220 if male else 190, 3)
        rows.append([f"{mass:.0f}", f"{flipper:.1f}", "male" if male else "female"])
    return rows


def test_categories_are_related_to_the_numbers(capsys, tmp_path):
    rows = _sexed_rows(np.random.RandomState(0))
    rows[0][2] = ""  # a heavy bird
    rows[1][2] = "NA"  # a light one
    rows[2][0] = ""  # a male of unknown mass
    lines = ["mass,flipper,sex", *(",".join(row) for row in rows)]
    path = _write(tmp_path / "birds.csv", "\n".join(lines) + "\n")
    status, out, err = _run(capsys, "impute", path, "--n-components", "2")
    assert status == 0, err
    filled = list(csv.reader(out.splitlines()))[1:]
    assert filled[0][2] == "male" and filled[1][2] == "female"
    assert float(filled[2][0]) > 4500
    for row_in, row_out in zip(rows[3:], filled[3:], strict=True):
        assert row_out == row_in


def test_no_categorical(capsys, holed):
    # Text columns are an error again, as before categories existed
    # (test_non_numeric_error_names_the_columns) unless passed through...
    status, out, err = _run(
        capsys, "impute", holed, "--no-categorical", "--passthrough"
    )
    assert status == 0, err
    source = list(csv.reader(HOLED.splitlines()))
    rows = list(csv.reader(out.splitlines()))
    assert [row[3] for row in rows] == [row[3] for row in source]
    # ... or named in --categorical.
    status, out, err = _run(
        capsys, "impute", holed, "--no-categorical", "--categorical", "city"
    )
    assert status == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[4][3] in {"Paris", "Lyon", "Nice"}


def test_categorical_forces_codes_to_categories(capsys, tmp_path):
    text = "x,code\n1.0,1\n1.2,1\n5.0,2\n5.1,2\n0.9,NA\n4.9,\n1.1,1\n"
    path = _write(tmp_path / "codes.csv", text)
    status, out, err = _run(capsys, "impute", path, "--n-components", "2")
    assert status == 0, err
    # Read as numbers, the holes get fractional codes...
    as_numbers = list(csv.reader(out.splitlines()))
    assert float(as_numbers[5][1]) not in (1.0, 2.0)
    # ... read as categories, a code that is in the data, written as it is.
    status, out, err = _run(
        capsys, "impute", path, "--n-components", "2", "--categorical", "code"
    )
    assert status == 0, err
    as_codes = list(csv.reader(out.splitlines()))
    assert as_codes[5] == ["0.9", "1"] and as_codes[6] == ["4.9", "2"]


def test_passthrough_copies_named_text_columns_untouched(capsys, tmp_path):
    names = ["ann", "", "bob", "cy", "NA", "dee", "eve", "fay"]
    lines = HOLED.splitlines()
    lines = [
        f"{line},{name}" for line, name in zip(lines, ["name", *names], strict=True)
    ]
    path = _write(tmp_path / "named.csv", "\n".join(lines) + "\n")
    source = list(csv.reader(lines))

    status, out, err = _run(capsys, "impute", path, "--passthrough", "name")
    assert status == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert [row[5] for row in rows] == [row[5] for row in source]
    # city is still a category, its hole filled.
    assert rows[4][3] in {"Paris", "Lyon", "Nice"}

    # A bare --passthrough copies every text column, before the file too.
    status, before, err = _run(capsys, "impute", "--passthrough", path)
    assert status == 0, err
    status, after, err = _run(capsys, "impute", path, "--passthrough")
    assert status == 0, err
    assert before == after
    rows = list(csv.reader(after.splitlines()))
    assert [row[3::2] for row in rows] == [row[3::2] for row in source]


def test_only_categorical_columns(capsys, tmp_path):
    path = _write(tmp_path / "cat.csv", "a,b\nx,y\nz,\nx,y\nz,w\n")
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    assert out.splitlines()[2] == "z,y"


def test_numbers_written_with_a_comma_are_refused(capsys, tmp_path):
    path = _write(tmp_path / "fr.csv", "a;b\n1;1,5\n2;NA\n3;2,25\n")
    status, _, err = _run(capsys, "impute", path, "--delimiter", ";")
    _assert_one_line_error(
        status, err, "'b'", "decimal comma", "'1,5' in data row 1", "--decimal ,"
    )
    status, out, err = _run(
        capsys, "impute", path, "--delimiter", ";", "--categorical", "b"
    )
    assert status == 0, err
    # Read as numbers with --decimal ,: the hole is filled with a number
    # written with a comma too, the observed cells as they were.
    status, out, err = _run(capsys, "impute", path, "--decimal", ",")
    assert status == 0, err
    rows = [line.split(";") for line in out.splitlines()]
    assert rows[:2] == [["a", "b"], ["1", "1,5"]] and rows[3] == ["3", "2,25"]
    assert 1.5 < float(rows[2][1].replace(",", ".")) < 2.25
    # With --decimal , a column of such numbers and one text cell mixes
    # numbers and text, as it does with "." (it was read as categories,
    # each "1,5" a text, and its hole filled with another row's value); so
    # does a "." number, text under ","; a thousands separator is named.
    cases = {
        "n.a.": "mixes numbers",
        "1.5": "mixes numbers",
        "1.234,5": "written with '.' between thousands; pass --thousands . to",
    }
    for text, fragment in cases.items():
        path = _write(
            tmp_path / "mixed.csv", f"x;y\n1,5;2,5\n2,5;\n3,5;4,0\n6,0;{text}\n"
        )
        status, _, err = _run(capsys, "impute", path, "--decimal", ",")
        _assert_one_line_error(status, err, f"'{text}' in data row 4", fragment)


def test_numbers_written_with_a_point_are_refused_with_decimal_comma(capsys, tmp_path):
    # The mirror of the case above: under --decimal , a "2.0" is text to
    # pandas, so such columns were modelled as categories and their holes
    # filled with another row's value, silently.
    path = _write(
        tmp_path / "point.csv",
        "x;y;z;w\n1.0;2.0;3.5;1\n2.0;;1.0;2.5\n3.5;4.0;;3\n;5.0;2.0;4\n",
    )
    status, _, err = _run(capsys, "impute", path, "--decimal", ",")
    _assert_one_line_error(
        status,
        err,
        "'x' ('1.0' in data row 1)",
        "'y' ('2.0' in data row 1)",
        "'w' ('2.5' in data row 2)",
        "decimal point",
        "--decimal ,",
    )
    # Without --decimal , they are numbers; named in --categorical, categories.
    status, _, err = _run(capsys, "impute", path)
    assert status == 0, err
    status, _, err = _run(
        capsys, "impute", path, "--decimal", ",", "--categorical", "x,y,z,w"
    )
    assert status == 0, err
    # Text that holds a point, beside decimal-comma numbers, is still a
    # category.
    path = _write(tmp_path / "text.csv", "a;b\n1,5;v1.2\n2,5;\n3,5;v1.2\n4,0;n.a.\n")
    status, out, err = _run(capsys, "impute", path, "--decimal", ",")
    assert status == 0, err
    assert out.splitlines()[2] == "2,5;v1.2"


def _mixed_clusters(tmp_path):
    """Two groups told apart by x, y and the text column; rows 0, 1 only by text."""
    rng = np.random.RandomState(1)
    lines = ["x,y,kind"]
    for i in range(30):
        group = i % 2
        x, y = rng.normal(10 * group, 0.5, size=2)
        lines.append(f"{x:.3f},{y:.3f},{'ab'[group]}")
    lines[1] = ",,a"
    lines[2] = "NA,,b"
    lines[5] = f"{lines[5].rsplit(',', 1)[0]},"
    return _write(tmp_path / "mixed.csv", "\n".join(lines) + "\n"), lines


def test_cluster_on_a_mixed_table(capsys, tmp_path):
    path, lines = _mixed_clusters(tmp_path)
    proba = tmp_path / "proba.csv"
    status, out, err = _run(capsys, "cluster", path, "--proba", proba)
    assert status == 0, err
    labels = [int(row) for row in out.splitlines()[1:]]
    kinds = [line.rsplit(",", 1)[1] for line in lines[1:]]
    by_kind = {
        kind: {lab for lab, k in zip(labels, kinds, strict=True) if k == kind}
        for kind in "ab"
    }
    # Each kind is one cluster, the rows known by their kind alone included.
    assert len(by_kind["a"]) == len(by_kind["b"]) == 1
    assert by_kind["a"] != by_kind["b"]
    values = np.array(_read_csv(proba)[1:], dtype=float)
    np.testing.assert_allclose(values.sum(axis=1), 1.0)
    assert values[:2].max(axis=1).min() > 0.9

    # Leaving the text out, a row with nothing else is anyone's.
    for options in (["--ignore", "kind"], ["--ignore-non-numeric"]):
        status, _, err = _run(capsys, "cluster", path, "--proba", proba, *options)
        assert status == 0, err
        values = np.array(_read_csv(proba)[1:], dtype=float)
        assert values[0].max() < 0.9

    status, _, err = _run(capsys, "cluster", path, "--no-categorical")
    _assert_one_line_error(status, err, "'kind'", "--ignore-non-numeric")


def test_imputations_of_a_categorical_column_with_holes_default_to_auto(
    capsys, tmp_path
):
    # penguins' sex has holes: one component would draw them from its
    # frequencies, independently of the rest of the row, and warn so;
    # --imputations then defaults to --n-components auto (which finds more
    # than one here) and does not warn.
    status, _, err = _run(
        capsys,
        "impute",
        PENGUINS,
        "--imputations",
        "2",
        "--n-components",
        "1",
        "-o",
        tmp_path / "one.csv",
    )
    assert status == 0 and "one component" in err and "['sex']" in err
    status, _, err = _run(
        capsys,
        "impute",
        PENGUINS,
        "--imputations",
        "2",
        "-o",
        tmp_path / "auto.csv",
        "--verbose",
    )
    assert status == 0 and "warning" not in err, err
    # What auto chose is said, as for one imputation.
    assert re.search(r"--n-components auto chose [2-9]", err), err
    # A numeric table keeps one component: the same tables as given 1.
    numeric = tmp_path / "numeric.csv"
    numeric.write_text("a,b\n1,2\n2,\n3,5\n,7\n5,9\n6,12\n")
    outputs = []
    for extra in ([], ["--n-components", "1"]):
        out = tmp_path / f"numeric_out{len(extra)}.csv"
        status, _, err = _run(
            capsys, "impute", numeric, "--imputations", "2", "-o", out, *extra
        )
        assert status == 0, err
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]


def test_imputations_stacked_as_mice_long_form(capsys, tmp_path):
    # --imputations M: M proper imputations stacked, .imp (1..M) and .id
    # (1..n) first; each block equals the estimator's multiple_impute with
    # the same seed (the CLI adds nothing of its own), observed cells as
    # read, and the imputations differ. --with-original stacks the input
    # first as .imp 0, holes and all.
    pd = pytest.importorskip("pandas")
    from emimpute import EMImputer, multiple_impute

    out = tmp_path / "long.csv"
    status, _, err = _run(
        capsys, "impute", PENGUINS, "--imputations", "3", "--with-original", "-o", out
    )
    assert status == 0, err
    frame = pd.read_csv(PENGUINS)
    got = pd.read_csv(out)
    assert list(got.columns) == [".imp", ".id", *frame.columns]
    n = len(frame)
    assert got[".imp"].tolist() == [k for k in range(4) for _ in range(n)]
    assert got[".id"].tolist() == list(range(1, n + 1)) * 4
    original = got[got[".imp"] == 0].drop(columns=[".imp", ".id"])
    pd.testing.assert_frame_equal(original.reset_index(drop=True), frame)
    # A categorical column (sex) has holes: --n-components defaults to
    # auto, as multiple_impute's default model does.
    imputer = EMImputer(n_components="auto", random_state=0)
    expected = multiple_impute(frame, 3, imputer=imputer, random_state=0)
    observed = frame.notna().to_numpy()
    blocks = []
    for k in range(1, 4):
        block = got[got[".imp"] == k].drop(columns=[".imp", ".id"])
        block = block.reset_index(drop=True)
        assert not block.isna().any().any()
        for j, name in enumerate(frame.columns):
            want = expected[k - 1].iloc[:, j].to_numpy()
            if pd.api.types.is_numeric_dtype(frame[name]):
                np.testing.assert_array_equal(block[name], want.astype(float))
            else:
                assert block[name].tolist() == list(want), name
        np.testing.assert_array_equal(
            block.to_numpy()[observed], frame.to_numpy()[observed]
        )
        blocks.append(block)
    holes = frame["body_mass_g"].isna()
    assert holes.any()
    assert not np.array_equal(
        blocks[0]["body_mass_g"][holes], blocks[1]["body_mass_g"][holes]
    )


def test_imputations_separate_files(capsys, tmp_path, holed):
    # --separate writes OUT_1.csv .. OUT_M.csv, the stacked table's blocks,
    # each with the input's header; the posterior method too.
    pd = pytest.importorskip("pandas")
    stacked, separate = tmp_path / "all.csv", tmp_path / "each.csv"
    common = ["--passthrough", "--imputations", "2", "--method", "posterior"]
    status, _, err = _run(capsys, "impute", holed, *common, "-o", stacked)
    assert status == 0, err
    common += ["--separate"]
    status, _, err = _run(capsys, "impute", holed, *common, "-o", separate)
    assert status == 0, err
    whole = pd.read_csv(stacked)
    for k in (1, 2):
        got = pd.read_csv(tmp_path / f"each_{k}.csv")
        want = whole[whole[".imp"] == k].drop(columns=[".imp", ".id"])
        pd.testing.assert_frame_equal(got, want.reset_index(drop=True))
    assert not (tmp_path / "each_3.csv").exists()


@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--imputations", "1"], "at least 2"),
        (["--imputations", "3", "--std", "std.csv"], "--std"),
        (["--imputations", "3", "--separate"], "--separate needs -o"),
        (["--method", "posterior"], "--method needs --imputations"),
        (["--separate", "-o", "x.csv"], "--separate needs --imputations"),
        (
            ["--imputations", "2", "--separate", "--with-original", "-o", "x.csv"],
            "--with-original",
        ),
    ],
)
def test_imputation_options_misused(capsys, holed, options, fragment):
    status, _, err = _run(capsys, "impute", holed, "--passthrough", *options)
    _assert_one_line_error(status, err, fragment)


def test_numbered_output_names():
    from emimpute._cli import _numbered

    assert _numbered("out/imp.csv", 2).as_posix() == "out/imp_2.csv"
    assert _numbered("imp.csv.gz", 10).as_posix() == "imp_10.csv.gz"
    assert _numbered("imp.parquet", 1).as_posix() == "imp_1.parquet"
    assert _numbered("imp", 3).as_posix() == "imp_3"


@pytest.mark.parametrize(
    "options, fragment",
    [
        (
            ["--min-value", "0", "--min-value", "1"],
            "--min-value '0' and --min-value '1' conflict: give one number for "
            "every column",
        ),
        (
            ["--max-value", "height=200", "--max-value=height=190"],
            "--max-value 'height=200' and --max-value 'height=190' conflict: give "
            "one number for column 'height'",
        ),
    ],
)
def test_conflicting_repeated_bounds_are_refused(capsys, holed, options, fragment):
    # The last one was used, silently ("--min-value 0 --min-value 1" imputed
    # no value below 1).
    status, out, err = _run(capsys, "impute", holed, *options)
    _assert_one_line_error(status, err, fragment)
    assert out == ""


def test_repeated_bounds_that_agree_are_one_bound(capsys, holed):
    # The same number twice (spelt differently), and a column's own number
    # beside the number for every column, are no conflict.
    status, expected, err = _run(
        capsys, "impute", holed, "--min-value", "60", "--max-value", "height=185"
    )
    assert status == 0, err
    status, out, err = _run(
        capsys,
        "impute",
        holed,
        *["--min-value", "60", "--min-value", "6e1", "--min-value=60.0"],
        *["--max-value", "height=185", "--max-value", "height=185.0"],
    )
    assert status == 0, err
    assert out == expected
    status, _, err = _run(
        capsys, "impute", holed, "--min-value", "60", "--min-value", "height=150"
    )
    assert status == 0, err


# Outputs checked before any work


def _no_reading(monkeypatch):
    """Make reading the input fail the test: the checks must come first."""
    from emimpute import _cli_table

    def read_table(*args, **kwargs):
        raise AssertionError("the input was read")

    monkeypatch.setattr(_cli_table, "read_table", read_table)


@pytest.mark.parametrize(
    "argv, message",
    [
        # Each of these exited 0, having written one output over the other,
        # over the input, or both to stdout.
        (
            ["impute", "{in}", "-o", "{same}", "--std", "{same}"],
            "-o {same} and --std {same} are the same file; give each output its own",
        ),
        (
            ["impute", "{in}", "-o", "{out}", "--std", "{dir}/../{dirname}/same.csv"],
            None,  # resolved: not the same as out.csv, so allowed
        ),
        (
            ["impute", "{in}", "-o", "{same}", "--std", "{dir}/../{dirname}/same.csv"],
            "-o {same} and --std {dir}/../{dirname}/same.csv are the same file; "
            "give each output its own",
        ),
        (
            ["impute", "{in}", "-o", "{out}", "--std", "{in}"],
            "--std {in} is the input file, which it would overwrite; give it "
            "another name",
        ),
        (
            ["impute", "{in}", "-o", "{out}", "--std", "{link}"],
            "--std {link} is the input file, which it would overwrite; give it "
            "another name",
        ),
        (
            ["impute", "{in}", "--std", "-"],
            "-o and --std - both write to stdout (-o does by default); give one "
            "of them a file",
        ),
        (
            ["impute", "{dir}/base_1.csv", "--imputations", "2", "--separate"]
            + ["-o", "{dir}/base.csv"],
            "--separate {dir}/base_1.csv is the input file, which it would "
            "overwrite; give it another name",
        ),
        (
            ["cluster", "{in}", "-o", "{same}", "--proba", "{same}"],
            "-o {same} and --proba {same} are the same file; give each output its own",
        ),
        (
            ["cluster", "{in}", "-o", "{out}", "--proba", "{in}"],
            "--proba {in} is the input file, which it would overwrite; give it "
            "another name",
        ),
        (
            ["cluster", "{in}", "-o", "{in}"],
            "-o {in} is the input file, which it would overwrite; give it another name",
        ),
        (
            ["cluster", "{in}", "--proba", "-", "-o", "-"],
            "-o and --proba - both write to stdout (-o does by default); give one "
            "of them a file",
        ),
        # A name of stdout is stdout: these wrote both tables to it.
        (
            ["impute", "{in}", "-o", "/dev/stdout", "--std", "-"],
            "-o /dev/stdout and --std - both write to stdout (-o does by default); "
            "give one of them a file",
        ),
        (
            ["cluster", "{in}", "--proba", "/dev/fd/1"],
            "-o and --proba /dev/fd/1 both write to stdout (-o does by default); "
            "give one of them a file",
        ),
    ],
)
def test_clashing_outputs_are_refused_before_any_work(
    capsys, tmp_path, monkeypatch, argv, message
):
    source = _write(tmp_path / "in.csv", HOLED)
    _write(tmp_path / "base_1.csv", HOLED)
    (tmp_path / "link.csv").symlink_to(source)
    names = {
        "in": source,
        "out": tmp_path / "out.csv",
        "same": tmp_path / "same.csv",
        "link": tmp_path / "link.csv",
        "dir": tmp_path,
        "dirname": tmp_path.name,
    }
    argv = [arg.format(**names) for arg in argv]
    before = sorted(tmp_path.iterdir())
    _no_reading(monkeypatch)
    status, out, err = _run(capsys, *argv)
    if message is None:
        assert status == 1 and "the input was read" in err
        return
    command = argv[0]
    assert (status, out) == (2, "")
    assert err == f"emimpute {command}: error: {message.format(**names)} (see --help)\n"
    assert sorted(tmp_path.iterdir()) == before
    assert source.read_text(encoding="utf-8") == HOLED


def test_impute_may_write_over_its_input(capsys, tmp_path):
    # Documented: -o IN.csv fills the holes of the file in place.
    source = _write(tmp_path / "in.csv", HOLED)
    status, expected, err = _run(capsys, "impute", source, "--passthrough")
    assert status == 0, err
    status, out, err = _run(capsys, "impute", source, "--passthrough", "-o", source)
    assert (status, out) == (0, "")
    assert source.read_text(encoding="utf-8") == expected
    # Not with --imputations: the stacked table would replace the input.
    status, out, err = _run(
        capsys, "impute", source, "--imputations", "2", "-o", source
    )
    assert (status, out) == (2, "") and "is the input file" in err
    assert source.read_text(encoding="utf-8") == expected


@pytest.mark.parametrize(
    "command, option", [("impute", "-o"), ("impute", "--std"), ("cluster", "--proba")]
)
def test_unwritable_output_is_refused_before_any_work(
    capsys, tmp_path, monkeypatch, holed, command, option
):
    # It was found when writing, after the fit.
    output = tmp_path / "no" / "out.csv"
    _no_reading(monkeypatch)
    status, out, err = _run(capsys, command, holed, option, output)
    assert (status, out) == (2, "")
    assert err == (
        f"emimpute: error: {output}: cannot write: no directory "
        f"{str(tmp_path / 'no')!r}\n"
    )


@pytest.mark.parametrize("output", ["directory", "/dev/full"])
def test_cannot_write_says_why_in_words(capsys, tmp_path, holed, output):
    # The messages carried Python's "[Errno 21] Is a directory: '...'"; a
    # full disk (/dev/full) is found only when the table is written.
    if output == "directory":
        output, reason = tmp_path, "Is a directory"
    else:
        if not os.path.exists(output):
            pytest.skip(f"no {output}")
        reason = "No space left on device"
    status, out, err = _run(capsys, "impute", holed, "-o", output)
    assert (status, out) == (2, "")
    assert err == f"emimpute: error: {output}: cannot write: {reason}\n"


def test_cannot_write_names_the_file_that_failed_when_another():
    from emimpute._messages import cannot_write

    error = PermissionError(13, "Permission denied", "/data/target.csv")
    assert cannot_write("out.csv", error) == (
        "out.csv: cannot write: Permission denied (/data/target.csv)"
    )
    # One without an errno keeps its text.
    assert cannot_write("out.csv", OSError("disk gone")) == (
        "out.csv: cannot write: disk gone"
    )


def test_dangling_link_output_is_written_through(capsys, tmp_path):
    # The check removed the file it had made, through the link: the link
    # became a regular file and its target was never written.
    source = _write(tmp_path / "in.csv", HOLED)
    link, target = tmp_path / "out.csv", tmp_path / "target.csv"
    link.symlink_to(target.name)
    status, expected, err = _run(capsys, "impute", source)
    assert status == 0, err
    status, out, err = _run(capsys, "impute", source, "-o", link)
    assert (status, out) == (0, ""), err
    assert link.is_symlink() and target.read_text(encoding="utf-8") == expected


def test_dangling_link_into_a_missing_directory_is_refused(capsys, tmp_path):
    link = tmp_path / "out.csv"
    link.symlink_to(tmp_path / "no" / "target.csv")
    holed = _write(tmp_path / "in.csv", HOLED)
    status, out, err = _run(capsys, "impute", holed, "-o", link)
    assert (status, out) == (2, "")
    assert err == (
        f"emimpute: error: {link}: cannot write: no directory "
        f"{str(tmp_path / 'no')!r}\n"
    )
    assert link.is_symlink() and not (tmp_path / "no").exists()


def test_named_pipe_output_gets_the_whole_table(tmp_path):
    # The check opened and closed the pipe: its reader took that for the
    # end, and the write then waited for a reader forever.
    import threading

    source = _write(tmp_path / "in.csv", HOLED)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(
        target=lambda: got.append(fifo.read_text(encoding="utf-8")), daemon=True
    )
    reader.start()
    command = [sys.executable, "-m", "emimpute", "impute", str(source)]
    command += ["-o", str(tmp_path / "out.csv"), "--std", str(fifo)]
    process = subprocess.Popen(command, env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        try:  # let a reader still waiting go (ENXIO: there is none)
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        pytest.fail("the write to the named pipe hung")
    reader.join(timeout=30)
    assert process.returncode == 0, err
    lines = got[0].splitlines()
    assert lines[0] == HOLED.splitlines()[0] and len(lines) == 9


# --with-original writes missing cells as R reads them


def test_with_original_refuses_a_category_na(capsys, tmp_path):
    # .imp 0 writes its holes NA: R read the category NA, kept by
    # --no-default-na, as holes too.
    path = _write(tmp_path / "in.csv", "x,country\n1.0,NA\n2.0,FR\n,NA\n4.0,\n5.0,FR\n")
    out = tmp_path / "long.csv"
    argv = ["impute", path, "--imputations", "2", "--with-original", "-o", out]
    status, _, err = _run(capsys, *argv, "--no-default-na")
    assert status == 2
    assert err == (
        f"emimpute: error: {path}: column 'country' holds the value 'NA' (data "
        "row 1), which --with-original writes for the holes of .imp 0, so R "
        "would read it as missing too; recode that category (e.g. to 'NA_'), or "
        "leave out --with-original\n"
    )
    assert not out.exists()
    # Without --no-default-na, NA is a hole: no clash.
    status, _, err = _run(capsys, *argv)
    assert status == 0, err


def test_with_original_writes_the_holes_as_na(capsys, tmp_path):
    # The input's own markers (null, N/A, None, '') were written as they
    # were, which R's read.csv reads as text: mice::as.mids saw no holes.
    # The passed-through column's cells stay as in the imputed blocks.
    text = (
        "x,y,kind,note\n"
        "1.5,2.0,a,null\n"
        "null,2.5,b,x\n"
        "2.5,N/A,None,y\n"
        "3.0,4.0,a,\n"
        ",5.0,b,z\n"
        "4.0,6.5,a,w\n"
    )
    path = _write(tmp_path / "in.csv", text)
    out = tmp_path / "long.csv"
    status, _, err = _run(
        capsys,
        *["impute", path, "--imputations", "2", "--with-original", "-o", out],
        *["--passthrough", "note"],
    )
    assert status == 0, err
    rows = _read_csv(out)
    assert rows[1:7] == [
        ["0", "1", "1.5", "2.0", "a", "null"],
        ["0", "2", "NA", "2.5", "b", "x"],
        ["0", "3", "2.5", "NA", "NA", "y"],
        ["0", "4", "3.0", "4.0", "a", ""],
        ["0", "5", "NA", "5.0", "b", "z"],
        ["0", "6", "4.0", "6.5", "a", "w"],
    ]
    assert [row[5] for row in rows[7:13]] == ["null", "x", "y", "", "z", "w"]


# --log and --sqrt


def test_sqrt_fits_a_column_with_a_zero(capsys, tmp_path):
    pd = pytest.importorskip("pandas")
    from emimpute import EMImputer

    text = "a,b\n0,1.0\n2,2.5\n,3.0\n5,4.5\n9,\n4,3.5\n1,2.0\n"
    path = _write(tmp_path / "in.csv", text)
    status, _, err = _run(capsys, "impute", path, "--log", "a")
    _assert_one_line_error(status, err)
    assert err == (
        f"emimpute: error: {path}: --log 'a' needs positive values, but the "
        "column's minimum is 0; fit it with --sqrt a instead, or shift it\n"
    )
    status, out, err = _run(capsys, "impute", path, "--sqrt", "a")
    assert status == 0, err
    frame = pd.read_csv(path)
    imputer = EMImputer(random_state=0, feature_transforms={"a": "sqrt"})
    expected = imputer.fit_transform(frame)
    got = pd.read_csv(io.StringIO(out)).to_numpy()
    np.testing.assert_array_equal(got, expected)
    status, _, err = _run(capsys, "impute", path, "--log", "b", "--sqrt", "a,b")
    assert err == (
        f"emimpute: error: {path}: --log and --sqrt both name 'b'; give it one "
        "of them\n"
    )


# --categorical for a column the model does not see


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--columns", "height,weight", "--categorical", "city"],
            "--categorical names 'city', not among the columns named in "
            "--columns; add it there",
        ),
        (
            ["--index-col", "id", "--categorical", "id"],
            "--categorical names 'id', an index column (named in --index-col, or "
            "the unnamed first column), which is never modelled",
        ),
    ],
)
def test_categorical_column_left_out_is_refused(capsys, holed, options, message):
    # It was ignored, silently.
    status, out, err = _run(capsys, "impute", holed, *options)
    assert (status, out) == (2, "")
    assert err == f"emimpute: error: {holed}: {message}\n"
