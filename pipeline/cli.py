"""`python -m pipeline STAGE ...`: the one command line the Makefile calls.

Each subcommand validates its input completely (flags, config, tracking store, data) before it
creates anything in MLflow, so bad input leaves nothing half-written. Errors print one line and
exit 2 (usage, config) or 1 (runtime); `--debug` shows the traceback instead.
"""

import argparse
import os
import signal
import sys
import threading
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


# --- diagnostics: curves, probe, analyze, figures ---------------------------------------


def _activations(text: str | None) -> tuple[str, ...]:
    from pipeline.activations import SEED_ACTIVATIONS, get_activation

    if not text:
        return SEED_ACTIVATIONS
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        get_activation(name)
    return names


def _save_figure(fig, figures_dir: str | None, name: str) -> None:
    """Also write the figure as a PNG into `figures_dir` (for the README), atomically."""
    if figures_dir:
        from pipeline.files import atomic_writer

        with atomic_writer(Path(figures_dir) / name) as handle:
            fig.savefig(handle, format="png", dpi=100)


def cmd_curves(args: argparse.Namespace) -> int:
    from pipeline import curves, plots, tracking
    from pipeline.activations import NAMES

    tracker = tracking.Tracker(args.experiment)
    found = curves.activation_curves(NAMES)
    figure = plots.activation_grid([(c.name, c.x, c.y, c.derivative) for c in found])
    _save_figure(figure, args.figures_dir, "activation_curves.png")
    metrics = {k: v for curve in found for k, v in curve.metrics().items()}
    run_id = tracker.record_run(
        "curves",
        "curves",
        params={"activations": ",".join(NAMES), "x_range": "-5,5"},
        tags={},
        description="curves: every registered activation and its derivative (autograd) "
        "over [-5, 5], as the seed's Figure 2.",
        metrics=metrics,
        figures={"figures/activation_curves.png": figure},
    )
    for curve in found:
        print(
            f"{curve.name:<10} derivative max {curve.derivative.max():.4f}, "
            f"at -5 {curve.derivative[0]:.2e}, at +5 {curve.derivative[-1]:.2e}"
        )
    print(f"run_id={run_id}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    names = _activations(args.activations)
    from pipeline import data, plots, probe, tracking
    from pipeline.histograms import histogram, layer_histograms

    tracker = tracking.Tracker(args.experiment)
    splits = data.load_splits(args.data_dir)
    images = splits.train_x[: probe.PROBE_BATCH_SIZE]
    labels = splits.train_y[: probe.PROBE_BATCH_SIZE]
    probes = [probe.probe_gradients(name, images, labels) for name in names]
    rows = {
        p.activation: {layer: histogram(g, bins=30) for layer, g in p.gradients.items()}
        for p in probes
    }
    grid = plots.histogram_grid(rows, "weight gradients at initialisation (one batch of 256)")
    _save_figure(grid, args.figures_dir, "gradient_histograms.png")
    params = {
        "seed": str(probe.PROBE_SEED),
        "batch_size": str(probe.PROBE_BATCH_SIZE),
        "data_source": splits.source.label,
        "activations": ",".join(names),
    }
    description = "probe: weight-gradient histograms of fresh networks (seed's Figure 3)."
    with tracker.run_scope("probe-all", "probe", params, {}, description) as parent:
        tracker.log_figure(parent, grid, "figures/gradient_histograms.png")
        for result in probes:
            figure = plots.histogram_grid(
                {result.activation: rows[result.activation]},
                f"{result.activation}: weight gradients at init",
            )
            tracker.record_run(
                f"probe-{result.activation}",
                "probe",
                params={**params, "activation": result.activation},
                tags={"activation": result.activation},
                description=f"probe: gradients of a fresh {result.activation} MLP (seed "
                f"{probe.PROBE_SEED}) on one fixed batch of 256 training images.",
                metrics=result.metrics(),
                figures={"figures/gradient_histograms.png": figure},
                arrays={"histograms/grad.npz": layer_histograms(result.gradients, bins=30)},
                parent_run_id=parent,
            )
            norms = ", ".join(f"{k} {v.norm():.2e}" for k, v in result.gradients.items())
            print(
                f"{result.activation:<10} grad norms {norms}; first/last "
                f"{result.first_to_last_ratio:.2e}"
            )
    print(f"run_id={parent}")
    return 0


def _models_to_analyse(args, tracker) -> list[tuple[object, dict[str, str]]]:
    """(model, tags) for --model-uri, --run-id, or the latest trained run of each activation."""
    from pipeline import tracking

    if args.model_uri:
        return [(tracking.load_model(args.model_uri), {"source_model_uri": args.model_uri})]
    if args.run_id:
        return [(tracker.load_run_checkpoint(args.run_id), {"source_run_id": args.run_id})]
    names = _activations(args.activations)
    if args.best:
        latest = tracker.registered_runs(names)
        missing = [name for name in names if name not in latest]
        if missing:
            raise PipelineError(
                f"no registered model fashion-mlp@{missing[0]} (aliases missing: "
                f"{', '.join(missing)}); run `make sweep` with these activations first"
            )
    else:
        latest = tracker.latest_trained_runs(names)
        missing = [name for name in names if name not in latest]
        if missing:
            raise PipelineError(
                f"no finished training run with a checkpoint for {', '.join(missing)} in "
                f"experiment {args.experiment!r}; train one with `make train ACT={missing[0]}` "
                "or run `make sweep`"
            )
    return [
        (tracker.load_run_checkpoint(latest[name]), {"source_run_id": latest[name]})
        for name in names
    ]


def cmd_analyze(args: argparse.Namespace) -> int:
    from pipeline import analysis, data, plots, tracking
    from pipeline.histograms import histogram, layer_histograms

    tracker = tracking.Tracker(args.experiment)
    models = _models_to_analyse(args, tracker)
    splits = data.load_splits(args.data_dir)
    results = [(analysis.analyse(model, splits.train_x), tags) for model, tags in models]
    rows = {
        r.activation: {layer: histogram(v, bins=50) for layer, v in r.outputs.items()}
        for r, _ in results
    }
    grid = plots.histogram_grid(rows, "layer outputs of trained networks (1024 training images)")
    _save_figure(grid, args.figures_dir, "layer_outputs.png")
    params = {"sample_size": str(analysis.SAMPLE_SIZE), "data_source": splits.source.label}
    description = (
        "analysis: layer-output histograms of trained networks (seed's Figure 4), dead and "
        "saturated units."
    )
    with tracker.run_scope("analysis-all", "analysis", params, {}, description) as parent:
        tracker.log_figure(parent, grid, "figures/layer_outputs.png")
        for result, tags in results:
            figure = plots.histogram_grid(
                {result.activation: rows[result.activation]}, f"{result.activation}: layer outputs"
            )
            tracker.record_run(
                f"analysis-{result.activation}",
                "analysis",
                params={**params, "activation": result.activation},
                tags={"activation": result.activation, **tags},
                description=f"analysis: layer outputs of a trained {result.activation} MLP on "
                f"1024 training images; dead/saturated units over "
                f"{splits.sizes['train']} training images.",
                metrics=result.metrics(),
                figures={"figures/layer_outputs.png": figure},
                arrays={"histograms/outputs.npz": layer_histograms(result.outputs, bins=50)},
                parent_run_id=parent,
            )
            health = {
                **{f"dead {k}": v for k, v in result.dead_fraction.items()},
                **{f"saturated {k}": v for k, v in result.saturated_fraction.items()},
            }
            print(
                f"{result.activation:<10} " + ", ".join(f"{k} {v:.3f}" for k, v in health.items())
            )
    print(f"run_id={parent}")
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    """curves, probe and analyze, with every figure also written to --figures-dir."""
    args.figures_dir = args.figures_dir or "reports/figures"
    for command in (cmd_curves, cmd_probe, cmd_analyze):
        command(args)
    print(f"figures written to {args.figures_dir}/")
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
    progress = not args.no_progress
    status, warnings = "FAILED", []
    try:
        if workers == 1:
            sweep.work(handle, args.data_dir, threads=None, progress=progress, source=source)
        else:
            warnings = sweep.run_workers(
                handle, Path(args.config), workers, args.data_dir, progress=progress
            )
        best = sweep.finish(handle)
        table = _publish_report(handle.tracker, config, handle.parent_run_id)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        sweep.close_parent(handle, status)
    for warning in warnings:
        print(f"warning: {warning}; its trial was retried by the others", file=sys.stderr)
    counts = sweep.trial_counts(handle.study)
    print(table)
    print(f"trials: {', '.join(f'{n} {state.lower()}' for state, n in sorted(counts.items()))}")
    if best:
        champion = max(best.values(), key=lambda b: b.val_acc)
        print(
            f"best per activation: models:/fashion-mlp@<activation>; overall best: "
            f"models:/fashion-mlp@champion ({champion.activation}, lr {champion.lr:g})"
        )
    print(f"parent_run_id={handle.parent_run_id}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    config = _sweep_config(args)
    threads = parse_int("threads", args.threads) if args.threads else None
    from pipeline import sweep

    handle = sweep.open_sweep(config, create=False)
    outcomes = sweep.work(handle, args.data_dir, threads, progress=not args.no_progress)
    for outcome in outcomes:
        print(
            f"trial {outcome.number}: {outcome.activation} lr {outcome.lr:g} -> "
            f"{outcome.state} ({outcome.reason})"
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


# --- bench --------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    rounds = parse_int("rounds", args.rounds)
    if rounds < 1:
        raise UsageError(f"rounds must be an integer >= 1, got {rounds}")
    from pipeline import bench

    result = bench.run(
        args.data_dir,
        args.device,
        rounds,
        with_seed_table=args.seed_table,
        log=lambda line: print(line, file=sys.stderr),
    )
    bench.write(result, Path(args.out))
    print(result.markdown(), end="")
    print(f"written: {args.out}/bench.md, {args.out}/bench.json")
    return 0


# --- ui -----------------------------------------------------------------------------------

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_port(text: str) -> int:
    port = parse_int("port", text)
    if not 1 <= port <= 65535:
        raise UsageError(f"port must be an integer in 1..65535, got {port}")
    return port


def cmd_ui(args: argparse.Namespace) -> int:
    port = parse_port(args.port)
    from pipeline import tracking

    uri = tracking.tracking_uri()
    if tracking.is_server(uri):  # a tracking server serves the UI itself
        experiment_id = tracking.prepare_comparison_view(args.experiment, uri)
        print(f"MLFLOW_TRACKING_URI is the tracking server {uri}: open its UI, nothing started")
        print(f"url={tracking.experiment_url(uri, experiment_id)}")
        return 0
    if not tracking.port_is_free(args.host, port):
        free = tracking.free_port_after(args.host, port)
        hint = f"make ui PORT={free} or --port {free}" if free else "make ui PORT=<port> or --port"
        raise PipelineError(
            f"port {port} on {args.host} is already in use (another MLflow UI?); "
            f"choose a free one: {hint}"
        )
    experiment_id = tracking.prepare_comparison_view(args.experiment, uri)
    if experiment_id is None:
        names = ", ".join(tracking.experiment_names(uri)) or "none"
        print(
            f"note: no experiment {args.experiment!r} in {uri} yet (experiments: {names}); "
            "`make sweep` creates it",
            file=sys.stderr,
        )
    if args.host not in LOOPBACK:
        print(
            f"note: --host {args.host} makes the UI reachable from other machines, "
            "and MLflow's UI has no login",
            file=sys.stderr,
        )
    base = tracking.ui_base_url(args.host, port)
    command, environment = tracking.ui_command(uri, args.host, port)
    print(f"MLflow UI on {base} for {uri} (ready in ~10 s; Ctrl-C stops it)")
    print(f"url={tracking.experiment_url(base, experiment_id)}", flush=True)
    sys.stderr.flush()
    os.execve(command[0], command, environment)  # the UI replaces this process: one PID to stop
    return 0  # reached only where execve is stubbed out, as in the tests


def cmd_dashboard(args: argparse.Namespace) -> int:
    from pipeline import dashboard

    return dashboard.serve(args.config, args.host, parse_port(args.port))


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

    def diagnostics_args(sub: argparse.ArgumentParser, analysis: bool = False) -> None:
        sub.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment")
        sub.add_argument("--figures-dir", help="also write the figures as PNGs here")
        if analysis or sub.prog.endswith(("probe", "figures")):
            sub.add_argument("--activations", help="comma-separated (default: the seed's six)")
            _data_args(sub)
        if analysis:
            sub.add_argument("--run-id", help="analyse this training run's checkpoint")
            sub.add_argument("--model-uri", help="analyse this model (runs:/, models:/, dir)")
            sub.add_argument(
                "--best",
                action="store_true",
                help="analyse each activation's best sweep model (fashion-mlp@<act>)",
            )

    p = stages.add_parser("curves", help="each activation and its derivative (seed's Fig. 2)")
    diagnostics_args(p)
    p.set_defaults(func=cmd_curves)

    p = stages.add_parser("probe", help="weight gradients at initialisation (seed's Fig. 3)")
    diagnostics_args(p)
    p.set_defaults(func=cmd_probe)

    p = stages.add_parser("analyze", help="layer outputs of trained models (seed's Fig. 4)")
    diagnostics_args(p, analysis=True)
    p.set_defaults(func=cmd_analyze)

    p = stages.add_parser("figures", help="curves, probe and analyze; PNGs to reports/figures")
    diagnostics_args(p, analysis=True)
    p.set_defaults(func=cmd_figures)

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

    p = stages.add_parser("bench", help="time the training stage against its references")
    p.add_argument(
        "--rounds",
        default="4",
        help="measured rounds, each one epoch of every "
        "figure (after a warm-up round); medians are reported",
    )
    p.add_argument("--out", default="reports", help="folder for bench.md and bench.json")
    p.add_argument(
        "--seed-table",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time the seed's whole table (default: on a GPU only)",
    )
    _device_arg(p)
    _data_args(p)
    p.set_defaults(func=cmd_bench)

    p = stages.add_parser("ui", help="the MLflow UI on the project's store, to compare runs")
    p.add_argument("--port", default="5000", help="port to serve on (default 5000)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1: this machine only)",
    )
    p.add_argument(
        "--experiment", default=DEFAULT_EXPERIMENT, help="experiment whose URL is printed"
    )
    p.set_defaults(func=cmd_ui)

    p = stages.add_parser("dashboard", help="optuna-dashboard on a sweep's study, to watch it live")
    p.add_argument("--config", default="sweeps/activations.yaml", help="sweep YAML file")
    p.add_argument("--port", default="8080", help="port to serve on (default 8080)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    p.set_defaults(func=cmd_dashboard)

    for sub in stages.choices.values():
        _common(sub)
    return parser


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # `kill PID` stops as cleanly as Ctrl-C: runs marked, trials told


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
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
        print(
            "interrupted: the trial or run in progress is marked as interrupted (MLflow "
            "KILLED); rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
