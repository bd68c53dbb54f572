#!/usr/bin/env bash
# The GPU benchmark (docs/performance.md, Stacked trials): on a GPU host, the CUDA tests,
# `pipeline bench --device cuda`, the default sweep end to end, the seed's table as one stack, and
# sweeps/full.yaml end to end, each under its own time limit; then a summary with the targets met
# or not. The host needs no package index: run `make device-kit` on a machine that has one, copy
# the working tree with .device/ to the host and run there, in the tree's root,
#   OUT=<folder for the results> bash benchmarks/gpu_check.sh
# MLflow, Optuna, pydantic... come from .device/wheels, the data from .device/data.
#
# Writes 8 files into $OUT: summary.md (paste it into
# reports/bench-h200.md), bench.md, bench.json, tests.log, bench.log, sweeps.log and
# results-<sweep>.md per sweep. Every part runs under `timeout` and gets what is left of
# BUDGET_S, most important first, so the script ends in time even when one part hangs.
#
# A dry run without a GPU (the defaults are the GPU run's), with a python3 on PATH that has only
# the GPU host's packages (benchmarks/h200-packages.txt), a kit for its version
# (python -m benchmarks.device_kit --python-version 3.11 --dest KIT) and a small dataset
# (tests/conftest.py's write_dataset):
#   DEVICE=cpu SWEEPS=sweeps/quick.yaml BENCH_ARGS="--rounds 1 --no-seed-table" \
#     DATA_DIR=<small dataset> KIT=<kit> OUT=/tmp/out bash benchmarks/gpu_check.sh
set -uo pipefail # not -e: a part that fails is recorded in the summary and the next one runs

: "${OUT:?OUT must name the folder for the results}"
DEVICE=${DEVICE:-cuda}
SWEEPS=${SWEEPS:-sweeps/activations.yaml sweeps/full.yaml}
BENCH_ARGS=${BENCH_ARGS:---seed-table}
KIT=${KIT:-.device}      # from `make device-kit`
DATA_DIR=${DATA_DIR:-}   # empty: the kit's Fashion-MNIST
BUDGET_S=${BUDGET_S:-540} # seconds for the whole check, the summary included

deadline=$(($(date +%s) + BUDGET_S))
repo=$PWD
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check-XXXXXX")
rows=$work/rows.md # one line per part, for the summary
unset MLFLOW_TRACKING_URI OPTUNA_STORAGE # each sweep gets its own store below

# part NAME CAP LOG COMMAND...: run COMMAND for at most CAP seconds (less if the budget is
# nearly spent), its output into $OUT/LOG as well; sets $wall (seconds) and $status.
part() {
  local name=$1 cap=$2 log=$3 started rc
  shift 3
  local left=$((deadline - $(date +%s) - 10)) # -k 5 below, and the summary
  ((cap > left)) && cap=$left
  if ((cap < 5)); then
    wall=- status="skipped: no time left"
    echo "| $name | - | - | $status |" >>"$rows"
    return
  fi
  echo "== $name (at most ${cap} s): $*" | tee -a "$OUT/$log"
  started=$(date +%s.%N)
  timeout -k 5 "$cap" "$@" 2>&1 | tee -a "$OUT/$log"
  rc=${PIPESTATUS[0]}
  wall=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  case $rc in
  0) status=ok ;;
  124 | 137) status="TIMED OUT" ;;
  *) status="FAILED (exit $rc)" ;;
  esac
  echo "| $name | $wall | $cap | $status |" >>"$rows"
  echo "== $name: $status in $wall s" | tee -a "$OUT/$log"
}

# --- the kit ------------------------------------------------------------------------------
if ! compgen -G "$KIT/wheels/*.whl" >/dev/null || ! compgen -G "$KIT/data/*.gz" >/dev/null; then
  echo "error: no kit in $KIT: run 'make device-kit' with a package index, copy .device/ here" >&2
  exit 2
fi
# --target: the host's own environment stays as it is; the kit comes first on PYTHONPATH.
part "kit: install the wheels" 120 tests.log python3 -m pip install -q --no-index --no-deps \
  --no-compile --no-cache-dir --upgrade --target "$work/site" "$KIT"/wheels/*.whl
export PYTHONPATH=$work/site:$repo PYTHONUNBUFFERED=1
# Installed without bytecode (--no-compile): let the first import write it, or every process of
# every part compiles MLflow's modules again.
unset PYTHONDONTWRITEBYTECODE
mkdir -p "$work/data" # decompressed once, not by every process (bench starts seven)
for file in "$KIT"/data/*.gz; do gunzip -c "$file" >"$work/data/$(basename "$file" .gz)"; done
export FASHION_MNIST_DIR=${DATA_DIR:-$work/data}

{
  echo "# GPU check (benchmarks/gpu_check.sh), $(date -u '+%Y-%m-%d %H:%M') UTC"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null ||
    echo "no nvidia-smi"
  python3 -c '
import importlib.metadata as m, platform, torch
print(f"python {platform.python_version()}, torch {torch.__version__}, "
      f"CUDA available: {torch.cuda.is_available()}, {torch.get_num_threads()} threads")
names = "mlflow-skinny optuna pydantic sqlalchemy plotly numpy pandas protobuf typing-extensions"
print(", ".join(f"{n} {m.version(n)}" for n in names.split()))'
  echo '```'
} 2>&1 | tee "$OUT/summary.md"

# --- the parts, most important first --------------------------------------------------------
nvidia-smi >>"$OUT/tests.log" 2>&1
# Every module the parts below import, from the kit alone; then the kit's data, verified.
imports='import pipeline.jobs.bench, pipeline.jobs.sweep, pipeline.jobs.worker, pipeline.adapters.tracking
import mlflow.pytorch, optuna, plotly, sqlalchemy, alembic, pydantic, pytest; print("imports: ok")'
part "kit: imports" 60 tests.log python3 -c "$imports"
part "kit: data" 60 tests.log python3 -m pipeline data --data-dir "$work/data"
# The tests that skip without CUDA (the graphed step, lone and stacked), and MLflow's system
# metrics, which sample the GPU through nvidia-ml-py where there is one.
part "CUDA tests" 120 tests.log python3 -m pytest -p no:cacheprovider tests/stages/test_stacked.py \
  tests/stages/test_training.py tests/adapters/tracking/test_runs.py -k "cuda or system_metrics"
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
part "pipeline bench" 200 bench.log python3 -m pipeline bench --device "$DEVICE" --out "$OUT" $BENCH_ARGS

declare -A sweep_wall sweep_status
seed_table=- first=1
for config in $SWEEPS; do
  name=$(basename "$config" .yaml)
  dir=$work/$name # its MLflow store, study, reports/ and data cache: nothing lands in the repo
  mkdir -p "$dir" && cd "$dir" || exit 1
  export MLFLOW_TRACKING_URI=sqlite:///$dir/mlflow.db OPTUNA_STORAGE=sqlite:///$dir/study.db
  cap=$((deadline - $(date +%s) - 60)) # the report's 40 s stay
  ((first && cap > 200)) && cap=200 # the stack's 60 s come after the first sweep
  part "sweep $config (end to end)" "$cap" sweeps.log \
    python3 -m pipeline sweep --config "$repo/$config" --no-progress
  sweep_wall[$name]=$wall sweep_status[$name]=$status
  if [[ $status != ok ]]; then # its workers run in their own session, out of timeout's reach
    for proc in /proc/[0-9]*; do
      [[ ${proc#/proc/} != "$$" && $(readlink "$proc/cwd" 2>/dev/null) == "$dir" ]] &&
        kill "${proc#/proc/}" 2>/dev/null
    done
    sleep 2
  fi
  tail -n 40 sweeps/logs/*.log 2>/dev/null >>"$OUT/sweeps.log"
  # The table from MLflow alone: also after a sweep that timed out, for the trials that ended.
  part "report $config" 40 sweeps.log python3 -m pipeline report --config "$repo/$config"
  cp reports/results.md "$OUT/results-$name.md" 2>/dev/null
  cd "$repo" || exit 1
  if ((first)); then # cheap: between the default sweep and the long one
    first=0
    part "seed's table as one stack" 60 bench.log \
      python3 -m benchmarks.seed_table_stacked --device "$DEVICE"
    seed_table=$(grep -ho 'seed_table_stacked_s=[0-9.]*' "$OUT/bench.log" | tail -n 1 | cut -d= -f2)
    seed_table=${seed_table:--}
  fi
done

# --- the summary --------------------------------------------------------------------------
met() { # met VALUE BOUND: yes / no / - (not measured)
  [[ $1 =~ ^[0-9.]+$ ]] || { echo -; return; }
  awk -v v="$1" -v b="$2" 'BEGIN { print (v <= b) ? "yes" : "no" }'
}
sweep_row() { # sweep_row NAME BOUND: a target row from that sweep's wall time
  local wall=${sweep_wall[$1]:--} status=${sweep_status[$1]:-not run} verdict
  verdict=$(met "$wall" "$2")
  case $status in
  ok) ;;
  "TIMED OUT") wall="> $wall (timed out)" verdict=no ;;
  *) wall="- ($status)" verdict=- ;;
  esac
  echo "| sweeps/$1.yaml end to end | ≤ $2 s | $wall | $verdict |"
}
{
  echo
  echo "| part | wall (s) | limit (s) | result |"
  echo "|---|---|---|---|"
  cat "$rows"
  echo
  echo "| target | bound | measured (s) | met |"
  echo "|---|---|---|---|"
  echo "| the seed's table as one stack of 6 | ≤ 2 s | $seed_table | $(met "$seed_table" 2) |"
  sweep_row activations 30
  sweep_row full 120
  echo
  echo "## pipeline bench --device $DEVICE $BENCH_ARGS"
  echo
  cat "$OUT/bench.md" 2>/dev/null || echo "(no bench.md: see bench.log)"
  for config in $SWEEPS; do
    name=$(basename "$config" .yaml)
    echo
    echo "## $config (${sweep_status[$name]:-not run}, ${sweep_wall[$name]:--} s)"
    echo
    cat "$OUT/results-$name.md" 2>/dev/null || echo "(no results table: see sweeps.log)"
  done
} >>"$OUT/summary.md"
cat "$rows"
rm -rf "$work"
