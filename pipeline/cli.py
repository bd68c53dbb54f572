"""`python -m pipeline STAGE ...`: the one command line the Makefile calls.

Each subcommand validates its input completely (flags, config, tracking store, data) before it
creates anything in MLflow, so bad input leaves nothing half-written. Errors print one line and
exit 2 (usage, config) or 1 (runtime); `--debug` shows the traceback instead.
"""

import argparse
import os
import sys
import traceback
from pathlib import Path

from pipeline.config import (
    DEFAULT_EXPERIMENT,
    DEVICES,
    TrainConfig,
    parse_hidden_sizes,
    parse_int,
    parse_number,
)
from pipeline.errors import PipelineError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="folder with the four Fashion-MNIST IDX files "
        "(default: $FASHION_MNIST_DIR, data/FashionMNIST/raw, Debian's package)",
    )


def _device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICES)}")


# --- data ---------------------------------------------------------------------------------


def cmd_data(args: argparse.Namespace) -> int:
    from pipeline import data

    splits = data.load_splits(args.data_dir)
    print(data.describe(splits))
    print(f"classes: {', '.join(data.CLASSES)}")
    print(f"data_digest={splits.source.digest}")
    return 0


# --- train --------------------------------------------------------------------------------


def _train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        activation=args.activation,
        lr=parse_number("lr", args.lr),
        momentum=parse_number("momentum", args.momentum),
        batch_size=parse_int("batch_size", args.batch_size),
        max_epochs=parse_int("epochs", args.epochs),
        patience=parse_int("patience", args.patience),
        hidden_sizes=parse_hidden_sizes(args.hidden_sizes),
        seed=parse_int("seed", args.seed),
        device=args.device,
    )


def cmd_train(args: argparse.Namespace) -> int:
    config = _train_config(args)
    from pipeline import data, tracking, train

    tracker = tracking.Tracker(args.experiment)
    device = train.resolve_device(config.device)
    settings = train.configure_torch(device)
    splits = data.load_splits(
        args.data_dir, val_fraction=config.val_fraction, seed=config.seed, device=device
    )
    print(data.describe(splits), file=sys.stderr)
    with tracking.training_run(tracker, config, splits, settings) as run:
        result = train.train(config, splits, on_epoch=run.log_epoch)
        run.log_result(result)
        if result.stop_reason == "diverged":
            run.status = "FAILED"
    if result.stop_reason == "diverged":
        raise PipelineError(
            f"training diverged ({result.diverged_at}: loss is not finite); try a smaller --lr "
            f"(run {run.run_id} is marked FAILED)"
        )
    print(
        f"{config.activation} lr {config.lr:g}: best val_acc {result.best_val_acc:.4f} at epoch "
        f"{result.best_epoch}, test_acc {result.test_acc:.4f}, {result.train_time_s:.1f} s "
        f"({result.stop_reason})"
    )
    print(f"run_id={run.run_id}")
    return 0


# --- evaluate -----------------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pipeline import data, tracking, train
    from pipeline.model import describe

    device = train.resolve_device(args.device)
    train.configure_torch(device)
    model = tracking.load_model(args.model_uri, device=str(device))
    splits = data.load_splits(args.data_dir, device=device)
    test_loss, test_acc = train.evaluate(model, splits.test_x, splits.test_y)
    print(f"test_acc={test_acc:.4f}")
    print(f"test_loss={test_loss:.4f}")
    print(f"model: {args.model_uri} ({describe(model)}); data: {data.describe(splits)}")
    print(f"{'class':<12} accuracy")
    per_class = train.per_class_accuracy(model, splits.test_x, splits.test_y, data.CLASSES)
    for name, accuracy in per_class.items():
        print(f"{name:<12} {accuracy:.4f}")
    return 0


# --- sweep, worker, report, confirm ----------------------------------------------------


def _sweep_config(args: argparse.Namespace):
    from pipeline.config import SweepConfig

    return SweepConfig.load(Path(args.config))


def _publish_report(tracker, config, parent_run_id: str | None = None) -> str:
    from pipeline import report

    table = report.write_report(tracker, config.study, config.activations)
    if parent_run_id:
        for name in ("results.md", "results.csv", "lr_response.png"):
            tracker.log_file(parent_run_id, report.REPORTS_DIR / name, "results")
    return report.to_markdown(table)


def cmd_sweep(args: argparse.Namespace) -> int:
    config = _sweep_config(args)
    workers = parse_int("workers", args.workers) if args.workers else config.workers
    if workers < 1:
        raise UsageError(f"workers must be an integer >= 1, got {workers}")
    from pipeline import data, sweep

    source = data.locate(args.data_dir)  # bad data fails here, before the study or a run exists
    handle = sweep.open_sweep(config, create=True, data_digest=source.digest)
    status = "FAILED"
    try:
        if workers == 1:
            sweep.work(config, args.data_dir, threads=None, progress=not args.no_progress)
        else:
            sweep.run_workers(
                config, Path(args.config), workers, args.data_dir, progress=not args.no_progress
            )
        best = sweep.finish(handle)
        table = _publish_report(handle.tracker, config, handle.parent_run_id)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        sweep.close_parent(handle, status)
    counts = sweep.trial_counts(handle.study)
    print(table)
    print(
        f"trials: {', '.join(f'{n} {state.lower()}' for state, n in sorted(counts.items()))}; "
        f"best per activation registered as models:/fashion-mlp@<activation>, overall best "
        f"@champion ({max(best.values(), key=lambda b: b.val_acc).activation})"
        if best
        else "no trial completed"
    )
    print(f"parent_run_id={handle.parent_run_id}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    config = _sweep_config(args)
    threads = parse_int("threads", args.threads) if args.threads else None
    from pipeline import sweep

    outcomes = sweep.work(config, args.data_dir, threads, progress=not args.no_progress)
    for outcome in outcomes:
        print(
            f"trial {outcome.number}: {outcome.activation} lr {outcome.lr:g} -> {outcome.state} "
            f"({outcome.reason})"
        )
    if not outcomes:
        print(f"study {config.study}: no queued trial was left for this worker")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    config = _sweep_config(args)
    from pipeline import tracking

    print(_publish_report(tracking.Tracker(config.experiment), config), end="")
    print("written: reports/results.md, reports/results.csv, reports/lr_response.png")
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    config = _sweep_config(args)
    seeds = parse_int("seeds", args.seeds)
    if seeds < 1:
        raise UsageError(f"seeds must be an integer >= 1, got {seeds}")
    from pipeline import sweep

    handle = sweep.open_sweep(config, create=False)
    added = sweep.confirm(handle, seeds, args.data_dir, progress=not args.no_progress)
    print(_publish_report(handle.tracker, config, handle.parent_run_id), end="")
    print(f"{added} confirmation runs added")
    return 0


# --- the parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    _common(parser)
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", parser_class=_Parser)
    stages.required = True

    p = stages.add_parser("data", help="find, verify and load Fashion-MNIST; print a summary")
    _data_args(p)
    p.set_defaults(func=cmd_data)

    defaults = TrainConfig()
    p = stages.add_parser("train", help="train one MLP, tracked in MLflow; prints the run id")
    p.add_argument("--activation", default=defaults.activation, help="registered activation name")
    p.add_argument("--lr", default=str(defaults.lr), help="SGD learning rate (> 0)")
    p.add_argument("--momentum", default=str(defaults.momentum), help="SGD momentum (0 <= m < 1)")
    p.add_argument("--batch-size", default=str(defaults.batch_size), help="minibatch size")
    p.add_argument("--epochs", default=str(defaults.max_epochs), help="maximum number of epochs")
    p.add_argument(
        "--patience",
        default=str(defaults.patience),
        help="epochs without a better val_acc before stopping",
    )
    p.add_argument(
        "--hidden-sizes",
        default=",".join(map(str, defaults.hidden_sizes)),
        help="comma-separated hidden layer widths",
    )
    p.add_argument("--seed", default=str(defaults.seed), help="seed of weights, split and order")
    p.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment name")
    _device_arg(p)
    _data_args(p)
    p.set_defaults(func=cmd_train)

    p = stages.add_parser("evaluate", help="reload a logged model; print test accuracy per class")
    p.add_argument(
        "--model-uri",
        required=True,
        help="runs:/<id>/model, runs:/<id>/checkpoint, models:/<name>@<alias>, or a "
        "checkpoint directory",
    )
    _device_arg(p)
    _data_args(p)
    p.set_defaults(func=cmd_evaluate)

    def sweep_config_arg(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", default="sweeps/activations.yaml", help="sweep YAML file")
        sub.add_argument("--no-progress", action="store_true", help="no progress bars")
        _data_args(sub)

    p = stages.add_parser("sweep", help="the study: Optuna over activations x learning rates")
    sweep_config_arg(p)
    p.add_argument("--workers", help="worker processes (default: the config's `workers`)")
    p.set_defaults(func=cmd_sweep)

    p = stages.add_parser("worker", help="join a prepared sweep and run its queued trials")
    sweep_config_arg(p)
    p.add_argument("--threads", help="torch threads for this worker (default: all cores)")
    p.set_defaults(func=cmd_worker)

    p = stages.add_parser("report", help="the results table and lr plot, from MLflow alone")
    sweep_config_arg(p)
    p.set_defaults(func=cmd_report)

    p = stages.add_parser("confirm", help="retrain each activation's best config with more seeds")
    sweep_config_arg(p)
    p.add_argument("--seeds", default="3", help="further seeds per activation")
    p.set_defaults(func=cmd_confirm)

    for sub in stages.choices.values():
        _common(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv or os.environ.get("PIPELINE_DEBUG") == "1"
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except PipelineError as error:
        if debug:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # output piped into `head`: not an error of ours
        return 0
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("interrupted: stopped by Ctrl-C; runs in progress are marked KILLED", file=sys.stderr)
        return 130
