"""The README's commands are the ones CI runs, and its Python examples run."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

QUICK_START = [
    'python -m pip install ".[plot]" && emimpute demo',
    'python -m pip install -e ".[test]" && python -m pytest',
]


def _code_blocks(language):
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)


def test_quick_start_commands():
    text = README.read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```", quick_start, flags=re.M | re.S)
    assert [block.strip() for block in blocks] == QUICK_START


def test_ci_runs_the_quick_start_verbatim():
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for command in QUICK_START:
        assert command in lines


def test_readme_carries_the_measured_figures():
    # The benchmark targets in the README are those of the last full run in
    # benchmarks/README.md, and the reliability section holds the report.
    text = README.read_text(encoding="utf-8")
    bench = (README.parent / "benchmarks" / "README.md").read_text(encoding="utf-8")
    targets = bench[bench.index("| target |") : bench.index("## EMMixture vs")].strip()
    assert targets in text
    assert "**Adversarial catalogue**" in text
    assert "**Data safety**" in text


PYTHON_BLOCKS = _code_blocks("python")


@pytest.mark.parametrize(
    "code", PYTHON_BLOCKS, ids=[f"block{i}" for i in range(len(PYTHON_BLOCKS))]
)
def test_python_examples_run(code, capsys):
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    # A result shown in a comment after print() must be what is printed.
    out = capsys.readouterr().out
    for expected in re.findall(r"print\(.*\)  # (\{.*\})", code):
        assert expected in out
