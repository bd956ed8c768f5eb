"""The command line on real files: pandas tables, pipes, progress, options.

Observed cells are compared as text: the output must hold each one's text
as the input did, whatever the numbers' spelling (the quotes around a CSV
cell are the file's, and pandas writes its own).
"""

import codecs
import io
import logging
import os
import subprocess
import sys
import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import emimpute
from emimpute import EMImputer, EMMixture
from emimpute._cli import _Throttle, main

PENGUINS = files("emimpute.datasets") / "data" / "penguins.csv"
ROOT = str(Path(emimpute.__file__).resolve().parents[1])
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
}


def _run(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assert_refused(capsys, path, text, command, *options, message):
    """``text`` written to ``path`` and ``command`` run on it: exit 2,
    nothing on stdout, ``message`` about the file on stderr."""
    path.write_text(text, encoding="utf-8")
    status, out, err = _run(capsys, command, path, *options)
    assert (status, out) == (2, "")
    assert err == f"emimpute: error: {path}: {message}\n"


def _cells(source, sep=","):
    """Every cell as text (header row first), as pandas' reader splits them."""
    if hasattr(source, "seek"):
        source.seek(0)
    return pd.read_csv(
        source, sep=sep, header=None, dtype=str, keep_default_na=False
    ).to_numpy()


def _assert_observed_verbatim(source, out, *, sep=",", missing=None):
    """Same shape and header; every observed input cell identical in out."""
    before, after = _cells(source, sep), _cells(out, sep)
    assert before.shape == after.shape
    if missing is None:
        if hasattr(source, "seek"):
            source.seek(0)
        missing = pd.read_csv(source, sep=sep).isna().to_numpy()
    observed = np.vstack([np.zeros(before.shape[1], bool), ~missing])
    np.testing.assert_array_equal(after[observed], before[observed])
    return before, after, missing


def _holed_frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) @ [[1.0, 0.8, 0.0], [0.0, 0.6, 0.5], [0, 0, 1]]
    X = np.round(X * [1.0, 10.0, 100.0] + [0, 50, 1000], 3)
    X[rng.random(X.shape) < 0.15] = np.nan
    return pd.DataFrame(X, columns=["x", "y", "z"])


def test_penguins_with_excluded_year(capsys, tmp_path):
    out = tmp_path / "out.csv"
    status, _, err = _run(
        capsys,
        "impute",
        PENGUINS,
        "--n-components",
        "2",
        "--exclude",
        "year",
        "-o",
        out,
    )
    assert status == 0, err
    before, after, missing = _assert_observed_verbatim(PENGUINS, out)
    year = list(before[0]).index("year")
    np.testing.assert_array_equal(after[:, year], before[:, year])
    # Every modelled hole is filled.
    filled = pd.read_csv(out)
    assert not filled.drop(columns="year").isna().any().any()
    # The same fit as the estimator's on the same columns.
    frame = pd.read_csv(PENGUINS).drop(columns="year")
    expected = EMImputer(n_components=2, random_state=0).fit_transform(frame)
    for k, name in enumerate(frame.columns):
        if pd.api.types.is_numeric_dtype(frame[name]):
            np.testing.assert_array_equal(filled[name], expected[:, k].astype(float))
        else:
            assert filled[name].tolist() == list(expected[:, k]), name


def test_columns_selects_features(capsys, tmp_path):
    out = tmp_path / "out.csv"
    status, _, err = _run(
        capsys,
        "cluster",
        PENGUINS,
        "--columns",
        "bill_length_mm,bill_depth_mm",
        "--columns",
        "flipper_length_mm",
        "-o",
        out,
    )
    assert status == 0, err
    frame = pd.read_csv(PENGUINS)
    X = frame[["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]]
    expected = EMMixture(2, random_state=0).fit_predict(X)
    np.testing.assert_array_equal(pd.read_csv(out)["label"], expected)
    status, _, err = _run(capsys, "cluster", PENGUINS, "--columns", "beak")
    assert status == 2 and "--columns names no column 'beak'" in err
    # The options that leave columns out are named as given (--exclude was
    # named for an --ignore or --passthrough typo when both were used).
    for command, option in (("cluster", "--ignore"), ("impute", "--passthrough")):
        status, _, err = _run(
            capsys, command, PENGUINS, option, "beak", "--exclude", "year"
        )
        assert status == 2 and f"--exclude or {option} names no column 'beak'" in err
        status, _, err = _run(capsys, command, PENGUINS, option, "beak")
        assert status == 2 and f": {option} names no column 'beak'" in err


@pytest.mark.parametrize("command", ["impute", "cluster"])
def test_a_column_named_twice_in_columns_is_modelled_once(capsys, tmp_path, command):
    # --columns may be repeated, so overlapping lists are ordinary; impute
    # modelled the column twice and failed with "unexpected IndexError".
    path = tmp_path / "in.csv"
    _holed_frame(60).to_csv(path, index=False)
    written = []
    for columns in (["x,z"], ["x,z,x"], ["x,z", "z"], ["z", "x,z"]):
        std = tmp_path / "std.csv"
        extra = ["--std", std] if command == "impute" else []
        options = [item for names in columns for item in ("--columns", names)]
        status, out, err = _run(capsys, command, path, *options, *extra)
        assert status == 0, err
        written.append((out, std.read_text() if extra else None))
    # The model sees the columns in the file's order, whatever the options'.
    assert written[1:] == written[:1] * 3


def test_semicolon_file_is_sniffed(capsys, tmp_path):
    frame = _holed_frame(60)
    path = tmp_path / "semi.csv"
    frame.to_csv(path, sep=";", index=False)
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    assert out.splitlines()[0] == "x;y;z"
    _assert_observed_verbatim(path, io.StringIO(out), sep=";")
    expected = EMImputer(random_state=0).fit_transform(frame)
    np.testing.assert_array_equal(pd.read_csv(io.StringIO(out), sep=";"), expected)


def test_pandas_index_column_is_not_a_feature(capsys, tmp_path):
    frame = _holed_frame(60)
    frame.index = [f"row{i}" for i in range(len(frame))]
    path = tmp_path / "indexed.csv"
    frame.to_csv(path)  # an unnamed first column: pandas' index
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    before, after, _ = _assert_observed_verbatim(
        path,
        io.StringIO(out),
        missing=pd.read_csv(path, index_col=0).reset_index().isna().to_numpy(),
    )
    np.testing.assert_array_equal(after[:, 0], before[:, 0])
    expected = EMImputer(random_state=0).fit_transform(frame)
    np.testing.assert_array_equal(pd.read_csv(io.StringIO(out), index_col=0), expected)
    # A named index column, by --index-col; the labels file keeps it.
    path = tmp_path / "named.csv"
    frame.rename_axis("id").to_csv(path)
    status, out, err = _run(capsys, "cluster", path, "--index-col", "id")
    assert status == 0, err
    labels = pd.read_csv(io.StringIO(out))
    assert labels.columns.tolist() == ["id", "label"]
    assert labels["id"].tolist() == frame.index.tolist()
    np.testing.assert_array_equal(
        labels["label"], EMMixture(2, random_state=0).fit_predict(frame)
    )


def test_float_format(capsys, tmp_path):
    frame = _holed_frame(60)
    path = tmp_path / "x.csv"
    frame.to_csv(path, index=False)
    status, out, err = _run(capsys, "impute", path, "--float-format", "%.2f")
    assert status == 0, err
    before, after, missing = _assert_observed_verbatim(path, io.StringIO(out))
    imputed = after[1:][missing]
    assert all(len(cell.split(".")[1]) == 2 for cell in imputed)
    expected = EMImputer(random_state=0).fit_transform(frame)
    np.testing.assert_allclose(
        pd.read_csv(io.StringIO(out)).to_numpy()[missing],
        expected[missing],
        atol=0.005,
    )
    status, _, err = _run(capsys, "impute", path, "--float-format", "%d%d")
    assert status == 2 and "--float-format" in err


def test_fit_options_reach_the_estimator(capsys, tmp_path):
    frame = _holed_frame(100)
    path = tmp_path / "x.csv"
    frame.to_csv(path, index=False)
    options = dict(tol=1e-6, reg_covar=1e-3, max_iter=7, n_init=2, random_state=3)
    status, out, err = _run(
        capsys,
        "impute",
        path,
        "--n-components",
        "2",
        "--tol",
        "1e-6",
        "--reg-covar",
        "1e-3",
        "--max-iter",
        "7",
        "--n-init",
        "2",
        "--random-state",
        "3",
    )
    assert status == 0, err
    with pytest.warns(Warning):  # 7 iterations do not converge at 1e-6
        expected = EMImputer(n_components=2, **options).fit_transform(frame)
    np.testing.assert_array_equal(pd.read_csv(io.StringIO(out)), expected)
    assert "did not converge" in err


def test_verbose_shows_every_iteration(capsys, tmp_path):
    path = tmp_path / "x.csv"
    _holed_frame(100).to_csv(path, index=False)
    status, _, err = _run(capsys, "impute", path, "--verbose", "-o", tmp_path / "o.csv")
    assert status == 0, err
    lines = err.splitlines()
    iterations = [line for line in lines if ", iteration " in line]
    assert iterations[0].startswith("emimpute: EM run 1 of 1, iteration 1: ")
    assert iterations[0].endswith(" s)") and "change" not in iterations[0]
    assert "change +" in iterations[1] or "change -" in iterations[1]
    assert any(line.startswith("emimpute: reading ") for line in lines)
    assert any("writing " in line and "done in" in line for line in lines)
    assert any(" converged after " in line for line in lines)
    # Without --verbose, stderr not a terminal: nothing; --quiet too.
    for options in ([], ["--quiet", "--verbose"]):
        status, _, err = _run(
            capsys, "impute", path, "-o", tmp_path / "o.csv", *options
        )
        assert status == 0 and err == ""


def test_throttle_shows_a_long_run_once_a_second():
    # On a terminal, iterations pass at most once per interval, none in the
    # first interval; a run's end only if something of it was shown.
    throttle = _Throttle(1.0)

    def record(run, iteration, elapsed, level=logging.DEBUG):
        r = logging.LogRecord("emimpute", level, "", 0, "m", (), None)
        r.em_run, r.em_iteration, r.em_elapsed = run, iteration, elapsed
        return throttle.filter(r)

    shown = [record(1, i, 0.3 * i) for i in range(1, 12)]
    assert [i for i, s in enumerate(shown, 1) if s] == [4, 8]
    assert record(1, 11, 3.4, logging.INFO)
    assert not record(2, 0, 0.0, logging.INFO)
    assert not record(2, 1, 0.5) and not record(2, 1, 0.6, logging.INFO)
    assert not throttle.filter(logging.LogRecord("x", 10, "", 0, "m", (), None))


def _subprocess(args, **options):
    return subprocess.run(
        [sys.executable, "-m", "emimpute", *map(str, args)],
        capture_output=True,
        env=ENV,
        timeout=300,
        **options,
    )


def test_stdin_to_stdout_and_version(tmp_path):
    frame = _holed_frame(80)
    text = frame.to_csv(index=False)
    done = _subprocess(["impute", "-"], input=text.encode())
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    expected = EMImputer(random_state=0).fit_transform(frame)
    got = pd.read_csv(io.BytesIO(done.stdout))
    np.testing.assert_array_equal(got, expected)
    _assert_observed_verbatim(io.StringIO(text), io.BytesIO(done.stdout))
    version = _subprocess(["--version"])
    assert version.returncode == 0
    assert version.stdout.decode().strip() == f"emimpute {emimpute.__version__}"


def test_help_and_version_import_nothing_heavy():
    # --help and --version must answer at once: scikit-learn, scipy and
    # pandas (over a second to import) are imported only when a command runs.
    code = (
        "import sys\n"
        "from emimpute._cli import main\n"
        "for argv in (['--help'], ['impute', '--help'], ['--version']):\n"
        "    main(argv)\n"
        "heavy = [m for m in ('sklearn', 'scipy', 'pandas') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=ENV, timeout=120
    )
    assert done.stderr.decode().strip().splitlines()[-1] == "HEAVY []"


def test_broken_pipe_ends_quietly(tmp_path):
    # Output far larger than a pipe's buffer, read for one line only, as
    # "emimpute impute big.csv --std std.csv | head -1" does. The --std file
    # is written whole all the same (it was never written: stdout came
    # first, and the closed pipe ended the command).
    path, std = tmp_path / "big.csv", tmp_path / "std.csv"
    _holed_frame(20000).to_csv(path, index=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "emimpute", "impute", str(path), "--std", str(std)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 0
    assert first == b"x,y,z\n"
    assert stderr == b""
    assert pd.read_csv(std).shape == (20000, 3)


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone: every write is a BrokenPipeError."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize(
    "command, option",
    [("impute", "--std"), ("cluster", "--proba")],
)
def test_side_file_is_written_when_stdout_is_closed(
    tmp_path, monkeypatch, command, option
):
    path, side = tmp_path / "in.csv", tmp_path / "side.csv"
    _holed_frame(60).to_csv(path, index=False)
    expected = tmp_path / "expected.csv"
    assert main([command, str(path), "-o", os.devnull, option, str(expected)]) == 0
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main([command, str(path), option, str(side)]) == 0
    assert side.read_bytes() == expected.read_bytes()


def test_parquet_keeps_the_types_of_columns_without_holes(capsys, tmp_path):
    # A complete integer column stays int64 (it used to come back as
    # float64); a nullable integer column with holes comes back as floats
    # (the imputed values are not integers), its observed values unchanged.
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "count": np.arange(40, dtype=np.int64),
            "holes": pd.array(
                [None if i % 5 == 0 else i for i in range(40)], dtype="Int64"
            ),
            "x": rng.standard_normal(40),
        }
    )
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.to_parquet(source, index=False)
    status, _, err = _run(capsys, "impute", source, "-o", out)
    assert status == 0, err
    got = pd.read_parquet(out)
    assert got["count"].dtype == np.int64
    assert got["count"].tolist() == frame["count"].tolist()
    assert got["holes"].dtype == np.float64
    assert not got["holes"].isna().any()
    kept = frame["holes"].notna().to_numpy()
    assert got["holes"][kept].tolist() == frame["holes"][kept].astype(float).tolist()
    assert got["x"].tolist() == frame["x"].tolist()


def test_parquet_with_a_saved_pandas_index(capsys, tmp_path):
    # pandas restores the index it saved: rows filtered before saving (an
    # unnamed index 10..15) misaligned cluster's labels (12 rows for 6), and
    # a named index, a column of the file, was dropped from impute's output.
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {"a": [1.0, 2, 8, 9, 1.5, 8.5], "b": [1.0, None, 8, 9, 2, 8]},
        index=range(10, 16),
    )
    filtered = tmp_path / "filtered.parquet"
    frame.to_parquet(filtered)
    labels = tmp_path / "labels.csv"
    status, _, err = _run(
        capsys, "cluster", filtered, "--n-components", "2", "-o", labels
    )
    assert status == 0, err
    got = pd.read_csv(labels)
    expected = EMMixture(2, random_state=0).fit_predict(frame.to_numpy())
    assert got.shape == (6, 1)
    assert len(set(zip(got["label"], expected, strict=True))) == 2  # a relabelling
    keyed = tmp_path / "keyed.parquet"
    frame.set_axis(list("uvwxyz")).rename_axis("key").to_parquet(keyed)
    status, out, err = _run(capsys, "impute", keyed, "--exclude", "key")
    assert status == 0, err
    assert pd.read_csv(io.StringIO(out)).columns.tolist() == ["key", "a", "b"]


def test_parquet_output_of_imputed_bool_and_number_categories(capsys, tmp_path):
    # The imputed categories are the file's text ("True", "2001"); in a
    # typed column (bool, numbers) they must be the values that text was
    # read as, or pyarrow refuses the mixed column (it crashed, exit 1).
    pytest.importorskip("pyarrow")
    path = tmp_path / "in.csv"
    path.write_text(
        "x,flag,year\n1.0,True,2001\n2.0,,2001\n1.5,False,\n"
        "3.0,True,2002\n,False,2001\n2.2,True,2002\n"
    )
    for options in (
        ["--passthrough", "year"],
        ["--passthrough", "flag", "--categorical", "year"],
    ):
        out = tmp_path / "out.parquet"
        status, _, err = _run(capsys, "impute", path, *options, "-o", out)
        assert status == 0, err
        got = pd.read_parquet(out)
        imputed = "flag" if "year" in options[1] else "year"
        assert got[imputed].notna().all()
        kinds = {type(v) for v in got[imputed]}
        assert len(kinds) == 1 and kinds <= {bool, float}, kinds


def test_float_format_leaves_observed_cells_of_a_parquet_input_as_read(
    capsys, tmp_path
):
    # A Parquet input has no verbatim text: to_csv(float_format=...) rounded
    # the observed cells too (0.123456 written 0.1).
    pytest.importorskip("pyarrow")
    source = tmp_path / "in.parquet"
    pd.DataFrame(
        {"a": [0.123456, 0.5, None, 0.75], "b": [1.23456, 2.5, 3.25, None]}
    ).to_parquet(source)
    status, out, err = _run(capsys, "impute", source, "--float-format", "%.1f")
    assert status == 0, err
    rows = [line.split(",") for line in out.splitlines()]
    assert rows[1] == ["0.123456", "1.23456"] and rows[2] == ["0.5", "2.5"]
    assert rows[3][1] == "3.25" and len(rows[3][0].split(".")[1]) == 1
    assert rows[4][0] == "0.75" and len(rows[4][1].split(".")[1]) == 1


def test_parquet_in_and_out(capsys, tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.read_csv(PENGUINS).drop(columns="year")
    source = tmp_path / "penguins.parquet"
    frame.to_parquet(source, index=False)
    expected = EMImputer(n_components=2, random_state=0).fit_transform(frame)
    for out in (tmp_path / "out.parquet", tmp_path / "out.csv"):
        status, _, err = _run(
            capsys, "impute", source, "--n-components", "2", "-o", out
        )
        assert status == 0, err
        got = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)
        assert got.columns.tolist() == frame.columns.tolist()
        observed = frame.notna().to_numpy()
        for k, name in enumerate(frame.columns):
            # Observed values unchanged, holes as the estimator fills them.
            assert got[name].tolist() == list(expected[:, k]) or np.array_equal(
                got[name].to_numpy(float), expected[:, k].astype(float)
            ), name
            kept = observed[:, k]
            assert got[name][kept].tolist() == frame[name][kept].tolist(), name
    # Labels and probabilities as Parquet too.
    labels, proba = tmp_path / "labels.parquet", tmp_path / "proba.parquet"
    status, _, err = _run(
        capsys,
        "cluster",
        source,
        "--exclude",
        "species,island,sex",
        "-o",
        labels,
        "--proba",
        proba,
    )
    assert status == 0, err
    numeric = frame.drop(columns=["species", "island", "sex"])
    model = EMMixture(2, random_state=0).fit(numeric)
    np.testing.assert_array_equal(
        pd.read_parquet(labels)["label"], model.predict(numeric)
    )
    np.testing.assert_allclose(
        pd.read_parquet(proba).to_numpy(), model.predict_proba(numeric), rtol=1e-12
    )


def _category_frame(n=40):
    """The findings' frame: an ordered category with a declared but unused
    category and holes, a category of numbers and an index category."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    levels = np.where(x > 0, "hi", "lo").astype(object)
    levels[::7] = None
    x[::5] = np.nan
    codes = np.array([str(k % 3) for k in range(n)], dtype=object)
    codes[3::10] = None
    return pd.DataFrame(
        {
            "key": pd.Categorical([f"k{k % 4}" for k in range(n)]),
            "x": x,
            "c": pd.Categorical(levels, categories=["lo", "hi", "never"], ordered=True),
            "num": pd.Categorical(codes, categories=["0", "1", "2", "5"]),
        }
    )


def _assert_same_category(got, expected):
    assert isinstance(got.dtype, pd.CategoricalDtype), got.dtype
    assert got.cat.categories.tolist() == expected.cat.categories.tolist()
    assert got.cat.ordered == expected.cat.ordered


def test_parquet_category_columns_keep_their_categories(capsys, tmp_path):
    # They came back as str: the declared category 'never' and the order
    # were lost; a category of numbers ("0", "5") was modelled as numbers,
    # its holes filled with floats such as -0.34.
    pytest.importorskip("pyarrow")
    frame = _category_frame()
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    std_path = tmp_path / "std.parquet"
    frame.to_parquet(source, index=False)
    status, _, err = _run(
        capsys, "impute", source, "--index-col", "key", "--n-components", "2",
        "-o", out, "--std", std_path,
    )  # fmt: skip
    assert status == 0, err
    got = pd.read_parquet(out)
    assert got.columns.tolist() == ["key", "x", "c", "num"]
    for name in ("key", "c", "num"):
        _assert_same_category(got[name], frame[name])
    assert got["c"].cat.categories.tolist() == ["lo", "hi", "never"]
    assert got["c"].cat.ordered
    assert got["key"].tolist() == frame["key"].tolist()
    plain = frame.drop(columns="key").astype({"c": object, "num": object})
    plain = plain.where(plain.notna(), None)
    imputer = EMImputer(
        n_components=2, random_state=0, categorical_features=["c", "num"]
    )
    imputer.fit(plain)
    expected, expected_std = imputer.transform(plain, return_std=True)
    assert got["x"].tolist() == expected[:, 0].astype(float).tolist()
    assert got["c"].astype(object).tolist() == expected[:, 1].tolist()
    assert got["num"].astype(object).tolist() == expected[:, 2].tolist()
    assert set(got["num"][frame["num"].isna()]) <= {"0", "1", "2"}
    for name in ("c", "num"):
        kept = frame[name].notna()
        assert got[name][kept].tolist() == frame[name][kept].tolist()
    # The std file: the index column as read, the categorical ones empty
    # categories of the same dtype, the numeric one the stds.
    std = pd.read_parquet(std_path)
    for name in ("key", "c", "num"):
        _assert_same_category(std[name], frame[name])
    assert std["key"].tolist() == frame["key"].tolist()
    assert std["c"].isna().all() and std["num"].isna().all()
    assert std["x"].dtype == np.float64
    assert std["x"].tolist() == np.asarray(expected_std, float)[:, 0].tolist()
    # cluster's outputs carry the index column as read.
    labels, proba = tmp_path / "labels.parquet", tmp_path / "proba.parquet"
    status, _, err = _run(
        capsys, "cluster", source, "--index-col", "key", "--n-components", "2",
        "-o", labels, "--proba", proba,
    )  # fmt: skip
    assert status == 0, err
    for path in (labels, proba):
        written = pd.read_parquet(path)
        _assert_same_category(written["key"], frame["key"])
        assert written["key"].tolist() == frame["key"].tolist()


def test_parquet_imputations_keep_category_columns(capsys, tmp_path):
    # --with-original crashed (exit 1, pyarrow's "Expected bytes, got a
    # 'float' object"): .imp 0 held the categories of numbers as text, the
    # imputed blocks as floats.
    pytest.importorskip("pyarrow")
    frame = _category_frame()
    source = tmp_path / "in.parquet"
    frame.to_parquet(source, index=False)
    options = ["--index-col", "key", "--n-components", "2", "--imputations", "2"]
    stacked, original = tmp_path / "stacked.parquet", tmp_path / "original.parquet"
    separate = tmp_path / "separate.parquet"
    for out, more in ((stacked, []), (original, ["--with-original"])):
        status, _, err = _run(capsys, "impute", source, *options, *more, "-o", out)
        assert status == 0, err
    status, _, err = _run(
        capsys, "impute", source, *options, "--separate", "-o", separate
    )
    assert status == 0, err
    got = pd.read_parquet(original)
    assert got.columns.tolist() == [".imp", ".id", "key", "x", "c", "num"]
    assert got[".imp"].tolist() == [0] * 40 + [1] * 40 + [2] * 40
    block = got[got[".imp"] == 0].reset_index(drop=True)
    for name in ("key", "c", "num"):
        _assert_same_category(got[name], frame[name])
        # .imp 0 is the input, holes included.
        assert block[name].isna().tolist() == frame[name].isna().tolist()
        assert block[name].dropna().tolist() == frame[name].dropna().tolist()
    imputed = got[got[".imp"] > 0].reset_index(drop=True)
    assert imputed[["c", "num"]].notna().all().all()
    without = pd.read_parquet(stacked)
    assert without[".imp"].tolist() == [1] * 40 + [2] * 40
    parts = [pd.read_parquet(tmp_path / f"separate_{m}.parquet") for m in (1, 2)]
    for table in (without, *parts):
        for name in ("key", "c", "num"):
            _assert_same_category(table[name], frame[name])
    # The same draws, stacked or separate.
    for m, part in enumerate(parts, start=1):
        block = without[without[".imp"] == m].drop(columns=[".imp", ".id"])
        pd.testing.assert_frame_equal(block.reset_index(drop=True), part)


def test_parquet_penguins_with_category_columns(capsys, tmp_path):
    # The same table, its text columns as categories or as strings: the
    # categories stay categories, and the CSV output is the same bytes.
    pytest.importorskip("pyarrow")
    frame = pd.read_csv(PENGUINS).drop(columns="year")
    text_source, category_source = tmp_path / "str.parquet", tmp_path / "cat.parquet"
    frame.to_parquet(text_source, index=False)
    categories = {name: "category" for name in ("species", "island", "sex")}
    frame.astype(categories).to_parquet(category_source, index=False)
    written = {}
    for source in (text_source, category_source):
        for suffix in (".parquet", ".csv"):
            out = tmp_path / f"{source.stem}_out{suffix}"
            status, _, err = _run(
                capsys, "impute", source, "--n-components", "2", "-o", out
            )
            assert status == 0, err
            written[source.stem, suffix] = out
    got = pd.read_parquet(written["cat", ".parquet"])
    as_text = pd.read_parquet(written["str", ".parquet"])
    for name in categories:
        assert got[name].dtype == pd.CategoricalDtype(
            sorted(frame[name].dropna().unique())
        )
        assert got[name].astype(object).tolist() == as_text[name].tolist()
        assert pd.api.types.is_string_dtype(as_text[name].dtype)
    numbers = frame.columns.difference(list(categories))
    pd.testing.assert_frame_equal(got[numbers], as_text[numbers])
    assert written["cat", ".csv"].read_bytes() == written["str", ".csv"].read_bytes()


def test_a_csv_input_written_as_parquet_has_string_columns(capsys, tmp_path):
    # A CSV file has no dtypes: its text columns are strings, never
    # categories, and its numbers as pandas reads them.
    pytest.importorskip("pyarrow")
    out = tmp_path / "out.parquet"
    status, _, err = _run(capsys, "impute", PENGUINS, "--exclude", "year", "-o", out)
    assert status == 0, err
    got = pd.read_parquet(out)
    read = pd.read_csv(PENGUINS)
    for name in ("species", "island", "sex"):
        assert pd.api.types.is_string_dtype(got[name].dtype), got[name].dtype
        assert not isinstance(got[name].dtype, pd.CategoricalDtype)
    assert got["year"].dtype == np.int64
    assert got["year"].tolist() == read["year"].tolist()
    assert (got.dtypes.drop(["species", "island", "sex", "year"]) == "float64").all()


def test_a_category_of_numbers_is_not_numeric(capsys, tmp_path):
    # A category column whose categories are numbers is not numeric: a bare
    # --passthrough leaves it out of the model, holes and dtype kept, and
    # --no-categorical refuses it.
    pytest.importorskip("pyarrow")
    frame = _category_frame().drop(columns=["key", "c"])
    frame["y"] = np.linspace(0.0, 1.0, len(frame))
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.to_parquet(source, index=False)
    status, _, err = _run(capsys, "impute", source, "--passthrough", "-o", out)
    assert status == 0, err
    got = pd.read_parquet(out)
    _assert_same_category(got["num"], frame["num"])
    assert got["num"].isna().tolist() == frame["num"].isna().tolist()
    assert got["num"].dropna().tolist() == frame["num"].dropna().tolist()
    assert got["x"].notna().all()
    status, _, err = _run(capsys, "impute", source, "--no-categorical", "-o", out)
    assert status == 2
    assert err.startswith(
        f"emimpute: error: {source}: non-numeric column 'num' (category); remove it"
    )


def test_parquet_float32_is_written_with_its_own_digits(capsys, tmp_path):
    # A float32 column with a hole came back as float64, and its observed
    # cells were written to CSV with float64's digits (0.1 as
    # 0.10000000149011612) in the imputed table and in .imp 0.
    pytest.importorskip("pyarrow")
    values = np.array([0.1, np.nan, 0.25, 1 / 3, 0.7, np.nan], dtype=np.float32)
    frame = pd.DataFrame({"a": values, "b": [1.0, 2.0, 3.0, None, 5.0, 6.0]})
    source = tmp_path / "in.parquet"
    frame.to_parquet(source, index=False)
    for options in ([], ["--float-format", "%.2f"]):
        status, out, err = _run(capsys, "impute", source, *options)
        assert status == 0, err
        column = [line.split(",")[0] for line in out.splitlines()]
        assert [column[k] for k in (0, 1, 3, 4, 5)] == [
            "a", "0.1", "0.25", "0.33333334", "0.7",
        ]  # fmt: skip
    expected = EMImputer(random_state=0).fit_transform(frame.astype(float))
    assert [column[2], column[6]] == [f"{expected[k, 0]:.2f}" for k in (1, 5)]
    status, out, err = _run(
        capsys, "impute", source, "--imputations", "2", "--with-original"
    )
    assert status == 0, err
    rows = [line.split(",") for line in out.splitlines()]
    assert [row[2] for row in rows[1:7]] == [
        "0.1", "NA", "0.25", "0.33333334", "0.7", "NA",
    ]  # fmt: skip


def test_parquet_keeps_float_string_and_nullable_dtypes(capsys, tmp_path):
    # float32, nullable Float64, string and boolean columns with holes came
    # back as float64, float64, str and bool: they keep their dtype. An
    # integer column with holes becomes float64 (test above).
    pytest.importorskip("pyarrow")
    n = 40
    rng = np.random.default_rng(1)
    every = np.arange(n)
    frame = pd.DataFrame(
        {
            "f32": np.where(every % 4 == 2, np.nan, rng.normal(size=n)).astype(
                np.float32
            ),
            "F64": pd.array(
                [None if k % 6 == 2 else k / 3 for k in every], dtype="Float64"
            ),
            "i32": every.astype(np.int32),
            "s": pd.array(
                [None if k % 9 == 3 else "ab"[k % 2] for k in every], dtype="string"
            ),
            "b": pd.array(
                [None if k % 8 == 5 else bool(k % 2) for k in every], dtype="boolean"
            ),
        }
    )
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.to_parquet(source, index=False)
    status, _, err = _run(capsys, "impute", source, "-o", out)
    assert status == 0, err
    got = pd.read_parquet(out)
    assert got.dtypes.to_dict() == frame.dtypes.to_dict()
    assert not got.isna().any().any()
    # What the command line gives the model: floats, and objects with None.
    plain = pd.DataFrame(
        {
            **{
                name: frame[name].to_numpy(float, na_value=np.nan)
                for name in ("f32", "F64")
            },
            "i32": frame["i32"].to_numpy(float),
            **{
                name: frame[name].to_numpy(object, na_value=None) for name in ("s", "b")
            },
        }
    )
    imputer = EMImputer(random_state=0, categorical_features=["s", "b"])
    expected = imputer.fit_transform(plain)
    assert got["f32"].tolist() == expected[:, 0].astype(np.float32).tolist()
    assert got["F64"].tolist() == expected[:, 1].astype(float).tolist()
    assert got["i32"].tolist() == frame["i32"].tolist()
    assert got["s"].tolist() == expected[:, 3].tolist()
    assert got["b"].tolist() == expected[:, 4].tolist()


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), pd.Float32Dtype()])
def test_an_imputed_value_that_overflows_float32_keeps_float64(dtype):
    from emimpute._cli_table import _as_read

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fits = _as_read(np.array([1.0, 0.1]), dtype)
        overflows = _as_read(np.array([1.0, 1e39]), dtype)
    assert fits.dtype == dtype
    assert fits.tolist() == [1.0, float(np.float32(0.1))]
    assert overflows.dtype == np.float64
    assert overflows.tolist() == [1.0, 1e39]


def test_quoted_csv_cells_keep_their_values_not_their_quotes(capsys, tmp_path):
    # The observed cells keep their text; the quotes are the format's:
    # pandas' writer quotes minimally.
    path = tmp_path / "quoted.csv"
    path.write_text(
        'name,x,y\n" Lee ",1.0,"1.50"\na "q",,2.5\n"b,c",3.0,\n'
        'd,4.0,1.25\n" Lee ",2.0,3.5\n'
    )
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    rows = out.splitlines()
    assert rows[0] == "name,x,y"
    assert rows[1] == " Lee ,1.0,1.50"
    assert rows[2].startswith('"a ""q""",')
    assert rows[3].startswith('"b,c",3.0,')
    assert rows[4:] == ["d,4.0,1.25", " Lee ,2.0,3.5"]
    _assert_observed_verbatim(path, io.StringIO(out))


@pytest.mark.slow
def test_a_million_rows(capsys, tmp_path):
    # About 25 MB; ~20 s on 2 loaded cores (reading 2 s, EM 8 s, writing 2 s),
    # so marked slow: run it with -m slow.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1_000_000, 3)) @ [[1.0, 0.5, 0.2], [0, 1.0, 0.3], [0, 0, 1]]
    missing = rng.random(X.shape) < 0.1
    path = tmp_path / "million.csv"
    pd.DataFrame(np.where(missing, np.nan, X), columns=["a", "b", "c"]).to_csv(
        path, index=False, float_format="%.4g"
    )
    out = tmp_path / "out.csv"
    status, _, err = _run(capsys, "impute", path, "-o", out)
    assert status == 0, err
    _assert_observed_verbatim(path, out, missing=missing)
    assert not pd.read_csv(out).isna().any().any()


def test_bounds_and_log_reach_the_imputer(capsys, tmp_path):
    # x is centred on 0: unbounded, some of its imputations are negative.
    frame = _holed_frame()
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    options = ["--min-value", "0", "--max-value", "y=55", "--log", "z"]
    status, out, err = _run(capsys, "impute", path, *options, "--random-state", 0)
    assert status == 0, err
    _, after, missing = _assert_observed_verbatim(path, io.StringIO(out))
    got = pd.read_csv(io.StringIO(out))
    expected = EMImputer(
        random_state=0,
        min_value={"x": 0.0, "y": 0.0, "z": 0.0},
        max_value={"y": 55.0},
        feature_transforms={"z": "log"},
    ).fit_transform(frame)
    # The command line writes the shortest text that reads back exactly.
    np.testing.assert_array_equal(got.to_numpy(), np.asarray(expected, dtype=float))
    assert (got["x"][missing[:, 0]] >= 0.0).all()
    assert (got["y"][missing[:, 1]] <= 55.0).all()
    assert EMImputer(random_state=0).fit_transform(frame)[missing[:, 0], 0].min() < 0


@pytest.mark.parametrize(
    "header, options, expected",
    [
        # A bare bound is for every numeric column, the second x too (the
        # bounds were keyed by the file's names: one key for both x).
        (
            "x,x,y",
            ["--min-value", "100", "--min-value", "y=50"],
            dict(min_value={"x": 100.0, "x.1": 100.0, "y": 50.0}),
        ),
        # The column with no name is pandas' "Unnamed: 1" to the estimator
        # (it refused the file's name '': "unknown feature ''").
        (
            "x,,y",
            ["--min-value", "100", "--min-value", "y=50"],
            dict(min_value={"x": 100.0, "Unnamed: 1": 100.0, "y": 50.0}),
        ),
        ("x,,y", ["--log", ""], dict(feature_transforms={"Unnamed: 1": "log"})),
    ],
)
def test_bounds_and_log_reach_columns_with_repeated_or_no_names(
    capsys, tmp_path, header, options, expected
):
    path = tmp_path / "in.csv"
    path.write_text(f"{header}\n1,2,3\n,4,5\n3,,6\n4,5,\n5,6,7\n")
    status, out, err = _run(capsys, "impute", path, *options)
    assert status == 0, err
    assert out.splitlines()[0] == header
    got = pd.read_csv(io.StringIO(out)).to_numpy()
    frame = pd.read_csv(path)
    want = EMImputer(random_state=0, **expected).fit_transform(frame)
    np.testing.assert_array_equal(got, np.asarray(want, dtype=float))


@pytest.mark.parametrize(
    "options, message",
    [
        (["--log", "w"], "--log names no column 'w'"),
        (["--min-value", "x=a"], "expected a number, or COL=NUMBER"),
        (
            ["--log", "x"],
            "--log 'x' needs positive values, but the column's minimum is -2.398; "
            "shift it first",
        ),
        (["--min-value", "=5"], "--min-value '' names no column"),
        (["--log", ","], "--log ',' names no column"),
        (["--min-value", "y=nan"], "min_value must not be NaN"),
        (["--max-value=-inf"], "max_value is -inf for feature 'x'"),
        # A negative value is the option's argument, not an option.
        (["--max-value", "-inf"], "max_value is -inf for feature 'x'"),
        (["--min-value", "-NaN"], "min_value must not be NaN"),
    ],
)
def test_bad_bounds_and_log_options(capsys, tmp_path, options, message):
    path = tmp_path / "in.csv"
    _holed_frame().to_csv(path, index=False)
    status, _, err = _run(capsys, "impute", path, *options)
    assert status != 0
    assert message in err


@pytest.mark.parametrize("hole", ["", "NA"])
def test_holes_beside_integers_between_2_63_and_2_64_are_missing(
    capsys, tmp_path, hole
):
    # pandas reads such a column with a hole as text and keeps the hole as
    # the text '' or 'NA': it was "numbers and text" to the command line,
    # and with --categorical its holes stayed empty as the category ''.
    path = tmp_path / "big.csv"
    big = "12345678901234567890"
    path.write_text(f"a,b\n1,{big}\n2,{hole}\n3,5\n4,7\n5,{hole}\n")
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    rows = out.splitlines()
    assert rows[:2] == ["a,b", f"1,{big}"] and rows[3:5] == ["3,5", "4,7"]
    frame = pd.DataFrame({"a": range(1, 6), "b": [float(big), None, 5, 7, None]})
    expected = EMImputer(random_state=0).fit_transform(frame)
    got = pd.read_csv(io.StringIO(out))["b"].to_numpy()
    np.testing.assert_array_equal(got[[1, 4]], expected[[1, 4], 1])
    status, out, err = _run(capsys, "impute", path, "--categorical", "b")
    assert status == 0, err
    filled = [row.split(",")[1] for row in out.splitlines()[1:]]
    assert filled[1] in {big, "5", "7"} and filled[4] in {big, "5", "7"}


def test_negative_bounds_in_every_spelling(capsys, tmp_path):
    # argparse (before Python 3.14) took "-1e3" and "-inf" for options:
    # "argument --min-value: expected one argument".
    path = tmp_path / "in.csv"
    _holed_frame().to_csv(path, index=False)
    status, expected, err = _run(
        capsys, "impute", path, "--min-value=-1000", "--max-value=1e4"
    )
    assert status == 0, err
    for options in (
        ["--min-value", "-1e3", "--max-value", "1e4"],
        ["--min-value", "-1E+3", "--max-value", "1e4"],
        ["--min-value", "-1000.", "--max-value", "1e4"],
    ):
        status, out, err = _run(capsys, "impute", path, *options)
        assert status == 0, err
        assert out == expected, options
    status, _, err = _run(capsys, "impute", path, "--min-value", "-inf")
    assert status == 0, err
    # The "=" form is in the help, for the spellings argparse still refuses.
    status, out, _ = _run(capsys, "impute", "--help")
    assert "--min-value=-1e3" in " ".join(out.split())


# Compressed files and the delimiter


@pytest.mark.parametrize("sep", [";", "\t", "|"])
@pytest.mark.parametrize(
    "suffix", [".csv.gz", ".csv.bz2", ".csv.xz", ".zip", ".tar.gz"]
)
def test_compressed_file_is_sniffed_decompressed(capsys, tmp_path, suffix, sep):
    # pandas decompresses by the suffix; the sniffer used to read the
    # compressed bytes, guess ',' or a tab, and the file came back unchanged.
    frame = _holed_frame(60)
    path = tmp_path / f"holed{suffix}"
    frame.to_csv(path, sep=sep, index=False)
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    assert out.splitlines()[0] == sep.join(["x", "y", "z"])
    imputed = pd.read_csv(io.StringIO(out), sep=sep)
    assert not imputed.isna().to_numpy().any()
    expected = EMImputer(random_state=0).fit_transform(frame)
    np.testing.assert_array_equal(imputed, expected)


@pytest.mark.parametrize(
    "text, sep, message",
    [
        (
            "a,b,c\n1,2,3\n4,,6\n7,8,\n",
            ";",
            "the header is one field, 'a,b,c', read with the delimiter ';'; if "
            "',' delimits the fields, pass --sep ','; if the file has one "
            "column, quote its name",
        ),
        (
            "a\tb\n1\t2\n3\t\n5\t6\n",
            "|",
            "the header is one field, 'a\\tb', read with the delimiter '|'; if "
            "'\\t' delimits the fields, pass --sep 'tab'; if the file has one "
            "column, quote its name",
        ),
    ],
)
def test_header_read_as_one_field_with_a_delimiter_is_refused(
    capsys, tmp_path, text, sep, message
):
    # A wrong --sep made every line one text cell with no holes: the table
    # came back unchanged, with exit 0.
    path = tmp_path / "wrong.csv"
    _assert_refused(capsys, path, text, "impute", "--sep", sep, message=message)


def test_one_column_with_a_quoted_name_holding_a_delimiter(capsys, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text('"weight;kg"\n1.5\nNA\n2.5\n', encoding="utf-8")
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    assert out.splitlines() == ["weight;kg", "1.5", "2.0", "2.5"]


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("cut.csv.gz", b"\x1f\x8b\x08\x00", "Compressed file ended"),
        ("bad.zip", b"PK\x03\x04 not a zip", "File is not a zip file"),
    ],
)
def test_damaged_archive_is_a_user_error(capsys, tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    status, out, err = _run(capsys, "impute", path)
    assert status == 2 and out == ""
    assert err.startswith(f"emimpute: error: {path}: cannot read: ")
    assert fragment in err and err.count("\n") == 1


def test_zstd_without_zstandard_names_the_package(capsys, tmp_path):
    try:
        import zstandard  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("zstandard is installed: pandas reads the file")
    path = tmp_path / "x.csv.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd")
    status, _, err = _run(capsys, "impute", path)
    assert status == 2
    assert err.startswith(f"emimpute: error: {path}: cannot read: ")
    assert "zstandard" in err and "Parquet" not in err


# --std, and columns with no values


def test_std_file_copies_the_index_columns(capsys, tmp_path):
    frame = _holed_frame(40)
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))])
    frame["city"] = np.where(np.arange(len(frame)) % 2, "Paris", "Lyon")
    path, std_path = tmp_path / "x.csv", tmp_path / "std.csv"
    frame.to_csv(path, index=False)
    status, _, err = _run(
        capsys, "impute", path, "--index-col", "id", "--std", std_path, "-o", os.devnull
    )
    assert status == 0, err
    std = pd.read_csv(std_path, keep_default_na=False, dtype=str)
    assert std.columns.tolist() == ["id", "x", "y", "z", "city"]
    assert std["id"].tolist() == frame["id"].tolist()
    assert (std["city"] == "").all()
    imputer = EMImputer(random_state=0, categorical_features=["city"])
    imputer.fit(frame.drop(columns="id"))
    _, expected = imputer.transform(frame.drop(columns="id"), return_std=True)
    np.testing.assert_array_equal(
        std[["x", "y", "z"]].astype(float), np.asarray(expected, dtype=float)[:, :3]
    )


@pytest.mark.parametrize(
    "command, text, options, message",
    [
        (
            "impute",
            "a,b,c\n1,,2\n3,,4\n5,NA,\n",
            [],
            "column 'b' has no values; name it in --passthrough to leave it out "
            "of the model",
        ),
        (
            "cluster",
            "a,b,c\n1,,2\n3,,4\n5,NA,\n",
            [],
            "column 'b' has no values; name it in --ignore to leave it out of "
            "the model",
        ),
        (
            "impute",
            "a,b,\n1,2,\n,4,\n5,6,\n",
            ["--exclude", "a"],
            "column '' has no values; name it in --exclude to leave it out of "
            "the model: --exclude '' names the column with no name (a delimiter "
            "at the end of every line makes one)",
        ),
    ],
)
def test_column_with_no_values_names_the_option(
    capsys, tmp_path, command, text, options, message
):
    path = tmp_path / "empty.csv"
    _assert_refused(capsys, path, text, command, *options, message=message)


def test_trailing_delimiter_column_left_out_as_the_message_says(capsys, tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_text("a,b,\n1,2,\n,4,\n5,6,\n3,5,\n", encoding="utf-8")
    status, out, err = _run(capsys, "impute", path, "--passthrough", "")
    assert status == 0, err
    rows = [line.split(",") for line in out.splitlines()]
    assert rows[0] == ["a", "b", ""]
    assert [row[2] for row in rows] == [""] * 5
    assert float(rows[2][0]) > 0


def test_an_identifier_column_is_warned_about(tmp_path, capsys):
    # A named ID column (every value distinct) was modelled as one category
    # per row, silently: memory quadratic in the rows (1.9 GB at 1e4 rows).
    # It is still modelled (the user may mean it), with a warning naming
    # the options; --categorical (the user's choice) silences it.
    rng = np.random.default_rng(0)
    n = 150
    frame = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
        }
    )
    frame.loc[::5, "x"] = np.nan
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    status, _, err = _run(capsys, "impute", path, "-o", tmp_path / "out.csv")
    assert status == 0
    assert "column 'id' has 150 categories among its 150 observed cells" in err
    assert "--passthrough" in err
    status, _, err = _run(
        capsys, "impute", path, "--categorical", "id", "-o", tmp_path / "out2.csv"
    )
    assert status == 0 and "identifier" not in err


# Thousands separators


THOUSANDS = 'price,rooms\n"1,234",2\n"2,500",4\n"3,100",\n"4,000",8\n,10\n"1,750",3\n'
EUROPEAN = "preis;menge\n1.234,50;2\n2.345,00;4\n3.100,25;\n4.000,00;8\n;10\n"


@pytest.mark.parametrize(
    "text, options, message",
    [
        # "1,234" is 1234 or 1.234: the message suggested --decimal , only,
        # and following it imputed 1000 times too small.
        (
            THOUSANDS,
            [],
            "column 'price' holds numbers that read two ways: '1,234' in data "
            "row 1 is 1234 with ',' between thousands (pass --thousands ,) or "
            "1.234 with a decimal comma (pass --decimal ,); give the option that "
            "fits the file, or name it in --categorical to model it as categories",
        ),
        # With --no-categorical too (it was "non-numeric column", no hint).
        (
            THOUSANDS,
            ["--no-categorical"],
            "column 'price' holds numbers that read two ways: '1,234' in data "
            "row 1 is 1234 with ',' between thousands (pass --thousands ,) or "
            "1.234 with a decimal comma (pass --decimal ,); give the option that "
            "fits the file, or name it in --categorical to model it as categories",
        ),
        # Not so when a number has two groups, or a decimal point too.
        (
            'a,b\n"1,234,567",1\n"2,000",2\n,3\n"3,100.5",4\n',
            [],
            "column 'a' ('1,234,567' in data row 1) holds numbers written with "
            "',' between thousands; pass --thousands , to read it as numbers, or "
            "name it in --categorical to model it as categories",
        ),
        # European numbers were categories, a hole filled with another
        # row's text, with or without --decimal ,.
        (
            EUROPEAN,
            [],
            "column 'preis' ('1.234,50' in data row 1) holds numbers written "
            "with a decimal comma and '.' between thousands; pass --decimal , "
            "--thousands . to read it as numbers, or name it in --categorical "
            "to model it as categories",
        ),
        (
            EUROPEAN,
            ["--decimal", ","],
            "column 'preis' ('1.234,50' in data row 1) holds numbers written "
            "with '.' between thousands; pass --thousands . to read it as "
            "numbers, or name it in --categorical to model it as categories",
        ),
        (
            "a;b\n1.234;1\n2.000;2\n;3\n3.100;4\n",
            ["--decimal", ","],
            "column 'a' holds numbers that read two ways: '1.234' in data row 1 "
            "is 1.234 with a decimal point (leave out --decimal ,) or 1234 with "
            "'.' between thousands (pass --thousands .); give the option that "
            "fits the file, or name it in --categorical to model it as categories",
        ),
        (
            "a;b\n1 234,5;1\n2 000;2\n;3\n3 100;4\n",
            ["--decimal", ","],
            "column 'a' ('1 234,5' in data row 1) holds numbers written with "
            "' ' between thousands; pass --thousands ' ' to read it as numbers, "
            "or name it in --categorical to model it as categories",
        ),
    ],
)
def test_numbers_with_a_thousands_separator_are_refused_with_the_options(
    capsys, tmp_path, text, options, message
):
    path = tmp_path / "in.csv"
    _assert_refused(capsys, path, text, "impute", *options, message=message)


@pytest.mark.parametrize(
    "text, options, reading",
    [
        (THOUSANDS, ["--thousands", ","], dict(thousands=",")),
        (
            EUROPEAN,
            ["--decimal", ",", "--thousands", "."],
            dict(sep=";", decimal=",", thousands="."),
        ),
    ],
)
def test_thousands_option_reads_the_numbers(capsys, tmp_path, text, options, reading):
    # Imputed numbers are written without the separator; the observed
    # cells as they were.
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    status, out, err = _run(capsys, "impute", path, *options)
    assert status == 0, err
    sep = reading.get("sep", ",")
    _assert_observed_verbatim(path, io.StringIO(out), sep=sep)
    frame = pd.read_csv(path, **reading)
    expected = np.asarray(EMImputer(random_state=0).fit_transform(frame), float)
    got = pd.read_csv(io.StringIO(out), **reading).to_numpy()
    np.testing.assert_array_equal(got, expected)
    assert expected[4, 0] > 1000  # the price of a house, not of a coffee


def test_thousands_separator_must_differ_from_the_decimal_mark(capsys, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(THOUSANDS, encoding="utf-8")
    status, out, err = _run(capsys, "impute", path, "--thousands", ".")
    assert (status, out) == (2, "")
    assert err == (
        "emimpute impute: error: --thousands and --decimal are both '.', and must "
        "differ (--decimal , --thousands . reads 1.234,5) (see --help)\n"
    )


# Missing-value markers


def test_help_lists_pandas_default_markers_exactly(capsys):
    from pandas._libs.parsers import STR_NA_VALUES

    from emimpute._cli_parser import DEFAULT_NA_VALUES

    assert sorted(DEFAULT_NA_VALUES) == sorted(STR_NA_VALUES - {""})
    status, out, _ = _run(capsys, "impute", "--help")
    assert status == 0
    assert f"pandas' markers {', '.join(DEFAULT_NA_VALUES)};" in " ".join(out.split())


def test_no_default_na_keeps_none_and_na_categories(capsys, tmp_path):
    # "None" (no alley) and "NA" (Namibia) were missing, and overwritten.
    text = "alley,x\nNone,1.0\nPaved,2.0\nNone,3.0\nGravel,4.0\nNA,5.0\n,6.0\nNone,\n"
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    alleys = [row.split(",")[0] for row in out.splitlines()[1:]]
    assert set(alleys) == {"Paved", "Gravel"}
    status, out, err = _run(capsys, "impute", path, "--no-default-na")
    assert status == 0, err
    rows = out.splitlines()
    assert rows[:6] == text.splitlines()[:6]
    # Empty cells are still missing: the most frequent category, the mean.
    assert rows[6] == "None,6.0" and rows[7] == "None,3.5"


def test_na_values_add_markers(capsys, tmp_path):
    # "?", "-" and -999 stopped the run ("mix numbers and text") or were
    # numbers; repeated, or comma-separated, they are missing.
    frame = _holed_frame(60)
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    text = path.read_text(encoding="utf-8").splitlines()
    for row, marker in zip((3, 9, 17, 30), ("?", "-", "-999", "?"), strict=True):
        cells = text[row].split(",")
        cells[row % 3] = marker
        text[row] = ",".join(cells)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    status, out, err = _run(
        capsys, "impute", path, "--na-values", "?, -", "--na-values=-999"
    )
    assert status == 0, err
    missing = pd.read_csv(path, na_values=["?", "-", "-999"])
    _assert_observed_verbatim(path, io.StringIO(out), missing=missing.isna().to_numpy())
    expected = EMImputer(random_state=0).fit_transform(missing)
    np.testing.assert_array_equal(pd.read_csv(io.StringIO(out)), expected)
    # Only empty cells and these with --no-default-na.
    status, _, err = _run(
        capsys, "impute", path, "--no-default-na", "--na-values", "?,-,-999"
    )
    assert status == 0, err


@pytest.mark.parametrize(
    "marker, option",
    [("?", "--na-values '?'"), ("n.a.", "--na-values n.a."), ("-", "--na-values -")],
)
def test_a_recurring_text_among_numbers_suggests_na_values(
    capsys, tmp_path, marker, option
):
    path = tmp_path / "in.csv"
    path.write_text(f"x,y\n0.1,{marker}\n{marker},0.2\n0.3,0.4\n", encoding="utf-8")
    status, _, err = _run(capsys, "impute", path)
    assert status == 2
    assert err == (
        f"emimpute: error: {path}: columns 'x' ({marker!r} in data row 2), 'y' "
        f"({marker!r} in data row 1) mix numbers and text; if {marker!r} marks a "
        f"missing value, pass {option}; else fix them, or name them in "
        "--categorical to model them as categories or in --passthrough to leave "
        "them out of the model\n"
    )
    status, _, err = _run(capsys, "impute", path, *option.replace("'", "").split())
    assert status == 0, err


# Blank lines


@pytest.mark.parametrize(
    "text",
    [
        "x\n1.0\n2.0\n\n4.0\n5\n",
        "x\r\n1.0\r\n\r\n3.0\r\n",
        # A line of spaces is blank too (it was an error that --na-values
        # could not mend).
        "x\n1.0\n  \n3.0\n\t\n5.0\n",
        # Blank lines before the header are skipped (they made the blank
        # rows skipped again).
        "\n \nx\n1.0\n\n3.0\n",
    ],
)
def test_blank_line_of_a_one_column_file_is_a_missing_cell(capsys, tmp_path, text):
    # It was skipped, and the output had a row fewer than the input.
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode())
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    lines = text.replace("\r\n", "\n").lstrip("\n ").splitlines()
    rows = out.splitlines()
    assert len(rows) == len(lines)
    observed = np.array([float(line) for line in lines[1:] if line.strip()])
    for line, row in zip(lines, rows, strict=True):
        assert row == line if line.strip() else float(row) == observed.mean()


@pytest.mark.parametrize("end", ["\n", "\n\n", "\n  \n\n"])
def test_blank_lines_after_the_last_row_add_no_row(capsys, tmp_path, end):
    # They were rows, imputed: R's read.csv skips them, and a file's last
    # newline doubled is no hole.
    path = tmp_path / "in.csv"
    path.write_text("x\n1.0\n\n3.0\n4.0" + end, encoding="utf-8")
    status, out, err = _run(capsys, "impute", path)
    assert (status, out) == (0, "x\n1.0\n2.666666666666667\n3.0\n4.0\n"), err


def test_blank_line_of_a_wider_file_is_skipped(capsys, tmp_path):
    # It has one field where rows have two: no row, as pandas and R read it.
    path = tmp_path / "in.csv"
    path.write_text("x,y\n1,2\n\n3,4\n5,\n", encoding="utf-8")
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    assert out.splitlines()[:3] == ["x,y", "1,2", "3,4"]
    assert len(out.splitlines()) == 4


def test_blank_lines_before_the_header_of_a_wider_file(capsys, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("\n\nx,y\n1,2\n\n3,4\n5,\n", encoding="utf-8")
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    assert out.splitlines()[:3] == ["x,y", "1,2", "3,4"]
    assert len(out.splitlines()) == 4 and out.splitlines()[3].startswith("5,")


# Numbers not grouped in threes under --thousands


@pytest.mark.parametrize(
    "text, options, message",
    [
        # pandas dropped the separator wherever it was: 2,5 was 25, exit 0.
        (
            'a,b\n"1,234",1\n"2,5",2\n"12,345",\n"1,000",4\n"3,5",5\n',
            ["--thousands", ","],
            "column 'a' ('2,5' in data row 2) is not a number grouped in threes "
            "by ',', which --thousands , would read as 25; fix the cell, or leave "
            "out --thousands , if the file does not group thousands so",
        ),
        # A decimal point under --decimal , --thousands .: 1.5 was 15 (before
        # --thousands, --decimal , refused it).
        (
            "a;b\n1.234,5;1\n1.5;2\n12.345;\n2,25;4\n3;5\n",
            ["--decimal", ",", "--thousands", "."],
            "column 'a' ('1.5' in data row 2) is not a number grouped in threes "
            "by '.', which --thousands . would read as 15; fix the cell, or leave "
            "out --thousands . if the file does not group thousands so",
        ),
    ],
)
def test_thousands_separator_outside_groups_of_three_is_refused(
    capsys, tmp_path, text, options, message
):
    path = tmp_path / "in.csv"
    _assert_refused(capsys, path, text, "impute", *options, message=message)


def test_padded_grouped_numbers_read_two_ways(capsys, tmp_path):
    # "2,500 " was only a decimal comma: the spaces broke the grouping.
    path = tmp_path / "in.csv"
    path.write_text('a,b\n"  1,234",1\n"2,500 ",2\n,3\n"3,100",4\n', "utf-8")
    status, _, err = _run(capsys, "impute", path)
    assert status == 2
    assert err == (
        f"emimpute: error: {path}: column 'a' holds numbers that read two ways: "
        "'  1,234' in data row 1 is 1234 with ',' between thousands (pass "
        "--thousands ,) or 1.234 with a decimal comma (pass --decimal ,); give "
        "the option that fits the file, or name it in --categorical to model it "
        "as categories\n"
    )
    status, out, err = _run(capsys, "impute", path, "--thousands", ",")
    assert status == 0, err
    frame = pd.DataFrame({"a": [1234, 2500, np.nan, 3100], "b": [1, 2, 3, 4]})
    expected = EMImputer(random_state=0).fit_transform(frame)
    assert out.splitlines()[3] == f"{float(expected[2, 0])!r},3"


@pytest.mark.parametrize("space", ["\u00a0", "\u202f"])
def test_no_break_space_between_thousands(capsys, tmp_path, space):
    # Detected, and --thousands with it reads them (pandas' C parser ignored
    # it: the column stayed text).
    path = tmp_path / "in.csv"
    path.write_text(f"b,c\n1{space}234,1\n2{space}000,2\n12,3\n,4\n", "utf-8")
    status, _, err = _run(capsys, "impute", path)
    assert status == 2
    assert err == (
        f"emimpute: error: {path}: column 'b' ({'1' + space + '234'!r} in data "
        "row 1) holds "
        f"numbers written with {space!r} between thousands; pass --thousands "
        f"$'\\u{ord(space):04x}' to read it as numbers, or name it in "
        "--categorical to model it as categories\n"
    )
    status, out, err = _run(capsys, "impute", path, "--thousands", space)
    assert status == 0, err
    expected = EMImputer(random_state=0).fit_transform(
        pd.DataFrame({"b": [1234, 2000, 12, np.nan], "c": [1, 2, 3, 4]})
    )
    assert out.splitlines()[4] == f"{float(expected[3, 0])!r},4"


# A category that another reading takes for a number


@pytest.mark.parametrize(
    "values",
    [
        ["A", "B", "1,5"],
        ["<1,000", "1,2", "10-20", ">5"],
        ["732 829 320", "AB 123", "732 829 321"],
    ],
)
def test_a_category_that_reads_as_a_number_elsewhere_is_a_category(
    capsys, tmp_path, values
):
    # These were "mixes numbers and text" since --thousands came.
    rows = [f'"{value}",{k}.5' for k, value in enumerate(values)]
    path = tmp_path / "in.csv"
    path.write_text("kind,x\n" + "\n".join(rows) + "\n,9.5\n", encoding="utf-8")
    status, out, err = _run(capsys, "impute", path)
    assert status == 0, err
    written = pd.read_csv(io.StringIO(out), dtype=str)
    assert written["kind"].tolist()[:-1] == values
    assert written["kind"].iloc[-1] in values


# Parquet and the missing-value options


@pytest.mark.parametrize(
    "options, named",
    [
        (["--na-values", "?"], "--na-values reads"),
        (["--no-default-na"], "--no-default-na reads"),
        (
            ["--na-values", "?", "--no-default-na"],
            "--na-values and --no-default-na read",
        ),
    ],
)
def test_missing_value_options_are_refused_with_parquet(
    capsys, tmp_path, options, named
):
    # They were ignored silently.
    pytest.importorskip("pyarrow")
    path = tmp_path / "in.parquet"
    pd.DataFrame({"x": [1.0, None, 3.0], "y": ["a", "?", "b"]}).to_parquet(path)
    status, out, err = _run(capsys, "impute", path, *options)
    assert (status, out) == (2, "")
    given = named.rsplit(" ", 1)[0]
    assert err == (
        f"emimpute: error: {path}: {named} the text cells of a CSV file; a "
        "Parquet file's missing cells are nulls, and its text is never read as "
        f"missing: leave out {given}, and write the markers as nulls instead\n"
    )


def test_parquet_mixed_column_does_not_suggest_na_values(capsys, tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "in.parquet"
    frame = pd.DataFrame({"x": ["1.5", "?", "2.5", "?"], "y": [1.0, 2.0, None, 4]})
    frame.to_parquet(path)
    status, _, err = _run(capsys, "impute", path)
    assert status == 2
    assert err == (
        f"emimpute: error: {path}: column 'x' ('?' in data row 2) mixes numbers "
        "and text; fix it, or name it in --categorical to model it as categories "
        "or in --passthrough to leave it out of the model\n"
    )


def test_na_values_keeps_a_marker_given_alone_as_it_is(capsys, tmp_path):
    # ' ' was stripped to nothing and dropped: the column mixed numbers and
    # text whatever the option said.
    path = tmp_path / "in.csv"
    path.write_text("x,y\n1.0, \n2.0,3.0\n3.0,5.0\n", encoding="utf-8")
    status, out, err = _run(capsys, "impute", path, "--na-values", " ")
    assert status == 0, err
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [np.nan, 3.0, 5.0]})
    expected = float(EMImputer(random_state=0).fit_transform(frame)[0, 1])
    assert out == f"x,y\n1.0,{expected!r}\n2.0,3.0\n3.0,5.0\n"


# Encodings, byte-order marks and line ends

# Two columns, a hole in each: the UTF-8 run gives the expected output, the
# other runs the same text in another encoding.
COMMUNES = "ville,surface_m²\nCréteil,10\nCréteil,\nBéziers,30\n,40\nCréteil,50\n"
COMMUNES_IMPUTED = (
    "ville,surface_m²\nCréteil,10\nCréteil,32.5\nBéziers,30\nCréteil,40\nCréteil,50\n"
)
COMMUNES_STD = "ville,surface_m²\n,0.0\n,14.790208627669857\n,0.0\n,0.0\n,0.0\n"


def _styled(text, *, bom=False, crlf=False, encoding="utf-8"):
    """``text`` as bytes, with a UTF-8 byte-order mark and CRLF line ends."""
    if crlf:
        text = text.replace("\n", "\r\n")
    return (codecs.BOM_UTF8 if bom else b"") + text.encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "latin-1", "utf-16"])
def test_encoding_reads_and_writes_the_files_encoding(capsysbinary, tmp_path, encoding):
    path, std = tmp_path / "in.csv", tmp_path / "std.csv"
    path.write_bytes(COMMUNES.encode(encoding))
    status, out, err = _run(
        capsysbinary, "impute", path, "--encoding", encoding, "--std", std
    )
    assert status == 0, err
    assert out == COMMUNES_IMPUTED.encode(encoding)
    assert std.read_bytes() == COMMUNES_STD.encode(encoding)
    # stdout is switched to the encoding for the table only.
    assert (sys.stdout.encoding, sys.stdout.errors) == ("UTF-8", "strict")


def test_cluster_writes_the_files_encoding(capsys, tmp_path):
    path, labels = tmp_path / "in.csv", tmp_path / "labels.csv"
    path.write_bytes(COMMUNES.encode("cp1252"))
    argv = ["cluster", path, "--encoding", "cp1252", "--n-components", "1"]
    status, _, err = _run(capsys, *argv, "--index-col", "ville", "-o", labels)
    assert status == 0, err
    expected = "ville,label\nCréteil,0\nCréteil,0\nBéziers,0\n,0\nCréteil,0\n"
    assert labels.read_bytes() == expected.encode("cp1252")


@pytest.mark.parametrize("encoding", ["utf-9", "rot13"])
def test_unknown_encoding_is_refused_before_reading(capsys, tmp_path, encoding):
    # The input does not exist: the option is refused first.
    missing = tmp_path / "none.csv"
    status, out, err = _run(capsys, "impute", missing, "--encoding", encoding)
    assert (status, out) == (2, "")
    assert err == (
        f"emimpute impute: error: argument --encoding: unknown text encoding "
        f"{encoding!r}; give one such as utf-8, cp1252 or latin-1 (see --help)\n"
    )


@pytest.mark.parametrize(
    "content, options, message",
    [
        (
            COMMUNES.encode("latin-1"),
            [],
            "not a UTF-8 text file (byte 0xb2 is not UTF-8); pass its encoding, "
            "e.g. --encoding cp1252 or --encoding latin-1",
        ),
        (
            COMMUNES.encode("latin-1"),
            ["--encoding", "UTF8"],
            "not a UTF-8 text file (byte 0xb2 is not UTF-8); pass its encoding, "
            "e.g. --encoding cp1252 or --encoding latin-1",
        ),
        (
            b"a,b\n\x81,1\nc,2\n",
            ["--encoding", "cp1252"],
            "not a cp1252 text file (byte 0x81 is not cp1252); pass its encoding "
            "with --encoding",
        ),
    ],
)
def test_a_file_not_in_its_encoding_suggests_encoding(
    capsys, tmp_path, content, options, message
):
    # The message was "not a UTF-8 text file", with no way out.
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    status, out, err = _run(capsys, "impute", path, *options)
    assert (status, out) == (2, "")
    assert err == f"emimpute: error: {path}: {message}\n"


def test_the_encoding_the_message_suggests_reads_the_file(capsysbinary, tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(COMMUNES.encode("latin-1"))
    status, out, err = _run(capsysbinary, "impute", path, "--encoding", "latin-1")
    assert (status, out) == (0, COMMUNES_IMPUTED.encode("latin-1")), err


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize(
    "bom, options",
    [
        (False, []),
        (True, []),
        # utf-8-sig would write a mark always; a name of UTF-8 decides
        # nothing: the input does.
        (False, ["--encoding", "utf-8-sig"]),
        (True, ["--encoding", "utf-8-sig"]),
        (True, ["--encoding", "UTF8"]),
    ],
)
def test_outputs_keep_the_byte_order_mark_and_line_ends(
    capsysbinary, tmp_path, bom, options, crlf
):
    # Every output was UTF-8 without a mark, its lines ended by LF.
    path, std = tmp_path / "in.csv", tmp_path / "std.csv"
    path.write_bytes(_styled(COMMUNES, bom=bom, crlf=crlf))
    # The first name is "ville", not "\ufeffville": --columns finds it.
    argv = ["impute", path, "--columns", "ville,surface_m²", "--std", std]
    status, out, err = _run(capsysbinary, *argv, *options)
    assert status == 0, err
    assert out == _styled(COMMUNES_IMPUTED, bom=bom, crlf=crlf)
    assert std.read_bytes() == _styled(COMMUNES_STD, bom=bom, crlf=crlf)
    labels = tmp_path / "labels.csv"
    argv = ["cluster", path, "--n-components", "1", "-o", labels]
    status, _, err = _run(capsysbinary, *argv, *options)
    assert status == 0, err
    expected = "label\n" + "0\n" * 5
    assert labels.read_bytes() == _styled(expected, bom=bom, crlf=crlf)


def test_a_compressed_input_keeps_its_mark_and_line_ends(capsysbinary, tmp_path):
    # Read from the decompressed bytes, as the delimiter is sniffed.
    import gzip

    path = tmp_path / "in.csv.gz"
    path.write_bytes(gzip.compress(_styled(COMMUNES, bom=True, crlf=True)))
    status, out, err = _run(capsysbinary, "impute", path)
    assert (status, out) == (0, _styled(COMMUNES_IMPUTED, bom=True, crlf=True)), err


@pytest.mark.parametrize(
    "text, ends",
    [
        # The first line break decides.
        ("x,y\n1,2\r\n,3\r\n4,5\r\n", "\n"),
        ("x,y\r\n1,2\n,3\n4,5\n", "\r\n"),
        # A lone CR ends a line for pandas; the outputs end theirs with LF.
        ("x,y\r1,2\r,3\r4,5\r", "\n"),
    ],
)
def test_the_first_line_break_decides_the_line_ends(capsys, tmp_path, text, ends):
    path = tmp_path / "in.csv"
    path.write_text("x,y\n1,2\n,3\n4,5\n", encoding="utf-8")
    status, plain, err = _run(capsys, "impute", path)
    assert status == 0, err
    path.write_bytes(text.encode())
    status, out, err = _run(capsys, "impute", path)
    assert (status, out) == (0, plain.replace("\n", ends)), err


def test_stdin_keeps_its_mark_and_line_ends(tmp_path):
    text = _holed_frame(20).to_csv(index=False)
    plain = _subprocess(["impute", "-"], input=text.encode())
    assert plain.returncode == 0, plain.stderr
    styled = _styled(text, bom=True, crlf=True)
    done = _subprocess(["impute", "-"], input=styled)
    assert done.returncode == 0, done.stderr
    assert done.stdout == codecs.BOM_UTF8 + plain.stdout.replace(b"\n", b"\r\n")


def test_encoding_with_parquet(capsysbinary, tmp_path):
    # Refused where only Parquet files are read and written (it was an
    # option that did nothing), the encoding of a CSV output otherwise.
    pytest.importorskip("pyarrow")
    path = tmp_path / "in.parquet"
    pd.DataFrame({"x": [1.0, None, 3.0], "v": ["é", "a", "é"]}).to_parquet(path)
    output = tmp_path / "out.parquet"
    argv = ["impute", path, "--encoding", "latin-1"]
    status, out, err = _run(capsysbinary, *argv, "-o", output)
    assert (status, out) == (2, b"")
    assert err.decode() == (
        f"emimpute: error: {path}: --encoding is the text encoding of CSV files, "
        "and every file here is Parquet, whose text is UTF-8 by its format: "
        "leave out --encoding\n"
    )
    assert not output.exists()
    status, out, err = _run(capsysbinary, *argv)
    assert (status, out) == (0, "x,v\n1.0,é\n2.0,a\n3.0,é\n".encode("latin-1")), err
    # A character the encoding lacks (only a Parquet input's text can).
    output = tmp_path / "out.csv"
    status, _, err = _run(
        capsysbinary, "impute", path, "--encoding", "ascii", "-o", output
    )
    assert status == 2
    assert err.decode() == (
        f"emimpute: error: {output}: cannot write 'é' in ascii, which has no "
        "such character; give an --encoding that has it, such as utf-8\n"
    )


@pytest.mark.parametrize("sep", [",", ";"])
def test_thousands_that_is_the_delimiter_asks_for_quoted_numbers(capsys, tmp_path, sep):
    # Unquoted, 1,234 is two fields: pandas' error said only that a line
    # had one field too many. Quoted ("1,234"), the file reads (see
    # test_thousands_option_reads_the_numbers).
    text = f"price{sep}rooms\n1{sep}234{sep}2\n2{sep}500{sep}4\n"
    shown = "," if sep == "," else "';'"
    _assert_refused(
        capsys,
        tmp_path / "in.csv",
        text,
        "impute",
        "--thousands",
        sep,
        "--sep",
        sep,
        message=(
            "cannot read: Error tokenizing data. C error: Expected 2 fields in "
            f"line 2, saw 3; --thousands {shown} is the field delimiter too, so "
            f'a number grouped by it must be quoted ("1{sep}234")'
        ),
    )
