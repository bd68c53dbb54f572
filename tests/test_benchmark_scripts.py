"""The benchmark scripts docs cite run as documented: where they cannot measure they say so in
one line, and a bad argument is argparse's one-line error."""

import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO


def script(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU here: the script measures")
def test_the_cuda_graph_benchmark_says_in_one_line_that_there_is_no_gpu():
    result = script("benchmarks.cuda_graphs")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "no CUDA device here: CUDA graphs run only on a GPU; nothing measured\n"


@pytest.mark.parametrize(
    "module",
    [
        "benchmarks.cpu_levers",
        "benchmarks.tracking_overhead",
        "benchmarks.seed_loop_split",
        "benchmarks.worker_split",
    ],
)
def test_fewer_than_five_rounds_are_refused(module):
    result = script(module, "--repeats", "4")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].endswith("--repeats must be at least 5")


def test_the_seed_loop_split_adds_its_passes_up_to_the_epoch(tiny_data):
    result = script("benchmarks.seed_loop_split", "--repeats", "5", "--data", str(tiny_data))
    assert result.returncode == 0, result.stderr
    figures = {}
    for line in result.stdout.splitlines()[1:-1]:
        name, median, spread = line.strip().rsplit(maxsplit=2)
        low, high = map(float, spread.strip("[]").split("-"))
        assert low <= float(median) <= high, line
        figures[name] = float(median)
    assert list(figures) == [
        "training pass",
        "validation pass",
        "epoch",
        "training DataLoader alone",
    ]
    assert all(value > 0 for value in figures.values())
    ratio = figures["training DataLoader alone"] / figures["training pass"]
    last = result.stdout.splitlines()[-1]
    printed = float(last.removeprefix("  DataLoader / training pass: ").split()[0])
    assert abs(printed - ratio) <= 0.01 + 0.002 / figures["training pass"], last
