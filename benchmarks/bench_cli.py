"""The command line's table input and output against pandas' own (issue 14).

    python -m benchmarks.bench_cli               # a 30 MB CSV, 3 repeats
    python -m benchmarks.bench_cli --megabytes 5 --repeats 5

The command line reads a CSV file twice with pandas (typed, for the model,
and verbatim, so that observed cells are written back byte for byte), fills
the holes and writes the verbatim cells back. The figure is the time of that
whole round trip (``read_table``, ``choose_columns``, ``model_input``,
``filled_table``, ``write_table``: everything but EM) over the time of
``pandas.read_csv`` + ``DataFrame.to_csv`` on the same file, the peer a user
would write by hand. The holes are filled with the column means, so that the
measure is of the input and output alone. Both run in this process,
interleaved within each repeat, best of the repeats.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._util import fmt_ratio, fmt_seconds, markdown_table

TARGET_RATIO = 2.0
N_COLUMNS = 10


def make_csv(path, megabytes, seed=0):
    """A CSV of about ``megabytes`` MB: 10 numeric columns, 10% of cells empty.

    Numbers of various magnitudes with 4 decimals, as a measuring device
    writes them.
    """
    import pandas as pd

    # About 7.4 bytes per cell (measured: digits, point, separator).
    n_rows = int(megabytes * 1e6 / (7.36 * N_COLUMNS))
    rng = np.random.default_rng(seed)
    scales = np.logspace(-1, 3, N_COLUMNS)
    X = np.round(rng.normal(size=(n_rows, N_COLUMNS)) * scales, 4)
    X[rng.random(X.shape) < 0.1] = np.nan
    pd.DataFrame(X, columns=[f"x{j}" for j in range(N_COLUMNS)]).to_csv(
        path, index=False
    )
    return n_rows


def pandas_round_trip(path, out):
    import pandas as pd

    pd.read_csv(path).to_csv(out, index=False)


def cli_round_trip(path, out):
    """The command line's reading and writing, the EM fit left out."""
    from emimpute._cli_table import (
        ColumnChoice,
        choose_columns,
        filled_table,
        read_table,
        write_table,
    )

    table = read_table(str(path))
    choose_columns(table, ColumnChoice())
    X = table.model_input().to_numpy(dtype=float)
    filled = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    frame = filled_table(table, filled, np.empty((len(X), 0), dtype=object))
    write_table(str(out), frame, table.header, sep=table.sep)


def run(megabytes=30.0, repeats=3, log=print):
    """Time both round trips; returns ``(results, markdown)``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        n_rows = make_csv(path, megabytes)
        size = path.stat().st_size
        times = {"pandas": [], "emimpute": []}
        for repeat in range(repeats):
            for name, func in (
                ("pandas", pandas_round_trip),
                ("emimpute", cli_round_trip),
            ):
                start = time.perf_counter()
                func(path, Path(tmp) / f"{name}.csv")
                times[name].append(time.perf_counter() - start)
                log(f"[cli] repeat {repeat}: {name} {fmt_seconds(times[name][-1])}")
        # The same bytes come out of both for this file (pandas writes the
        # numbers it read with repr, which gives back these short decimals).
        same = (Path(tmp) / "pandas.csv").read_bytes() == path.read_bytes()
    best = {name: min(values) for name, values in times.items()}
    ratio = best["emimpute"] / best["pandas"]
    results = {
        "megabytes": size / 1e6,
        "n_rows": n_rows,
        "best": best,
        "ratio": ratio,
        "pandas_identical": same,
        "repeats": repeats,
    }
    return results, to_markdown(results)


def targets(results):
    return [
        (
            f"CLI reading + writing a {results['megabytes']:.0f} MB CSV / "
            "pandas read_csv + to_csv <= 2.0x",
            fmt_ratio(results["ratio"]),
            results["ratio"] <= TARGET_RATIO,
        )
    ]


def to_markdown(results):
    best = results["best"]
    rows = [
        ["pandas `read_csv` + `to_csv`", fmt_seconds(best["pandas"]), "1.00x"],
        [
            "emimpute command line (read typed + verbatim, fill, write)",
            fmt_seconds(best["emimpute"]),
            fmt_ratio(results["ratio"]),
        ],
    ]
    return "\n\n".join(
        [
            f"A CSV of {results['megabytes']:.1f} MB ({results['n_rows']} rows x "
            f"{N_COLUMNS} numeric columns, 10% of cells empty), read and written "
            f"back; best of {results['repeats']} interleaved repeats. The command "
            "line's figure leaves out the EM fit (holes filled with column "
            "means) and keeps every observed cell byte for byte.",
            markdown_table(["round trip", "time", "ratio"], rows, align="lrr"),
        ]
    )


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    results, markdown = run(megabytes=args.megabytes, repeats=args.repeats)
    print(markdown)
    for target, measured, ok in targets(results):
        print(f"{target}: {measured} ({'met' if ok else 'missed'})")


if __name__ == "__main__":
    main()
