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


def test_the_precision_benchmark_refuses_a_spread_of_one_seed():
    result = script("benchmarks.precision_parity", "--seeds", "1")
    assert result.returncode == 2 and result.stdout == ""
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("--seeds must be 0 or at least 2: a spread needs two")
    )
