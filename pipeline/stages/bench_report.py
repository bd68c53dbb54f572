"""The benchmark's report: its figures, their ratios against the performance targets, and
the Markdown and JSON that `make bench` writes (reports/bench.md, bench.json)."""

import json
from dataclasses import dataclass, field
from typing import Any

import torch

UNTRACKED = "mlflow is not installed here"  # the start of bench's note when (b) ran untracked
EPOCH_ROWS = (  # (label, figure) of the epoch table
    ("(a) seed-style loop (PIL transforms, DataLoader)", "seed_style_epoch_s"),
    ("(b) pipeline training stage, MLflow + per-epoch probe on", "pipeline_epoch_s"),
    ("(c) bare loop over resident tensors", "bare_epoch_s"),
    ("(d) sgemm roofline (epoch FLOPs / large-matmul rate)", "roofline_epoch_s"),
    ("the epoch's matmuls alone, at their real batch-64 shapes", "matmul_floor_epoch_s"),
)
TARGETS = {  # figure -> (comparison, bound): the performance targets (docs/performance.md)
    "pipeline / seed-style": ("<=", 0.2),
    "pipeline / bare": ("<=", 1.1),
    "roofline / pipeline": (">=", 0.5),
    "slowest activation / relu": ("<=", 1.3),
    "per-trial overhead (s)": ("<=", 2.0),
    "best stack / single trial": (">=", 1.15),
    "per-epoch probe / epoch": ("<=", 0.02),
}


def _meets(value: float, comparison: str, bound: float) -> bool:
    return value <= bound if comparison == "<=" else value >= bound


@dataclass
class Bench:
    device: str
    threads: int
    rounds: int
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def ratios(self) -> dict[str, float]:
        f = self.figures
        ratios = {
            "pipeline / seed-style": f["pipeline_epoch_s"] / f["seed_style_epoch_s"],
            "pipeline / bare": f["pipeline_epoch_s"] / f["bare_epoch_s"],
            "roofline / pipeline": f["roofline_epoch_s"] / f["pipeline_epoch_s"],
            "slowest activation / relu": max(f["activation_epoch_ratio"].values()),
            "per-epoch probe / epoch": f["epoch_probe_fraction"],
        }
        if "per_trial_overhead_s" in f:
            ratios["per-trial overhead (s)"] = f["per_trial_overhead_s"]
        if "stacked_trial_epochs_per_s" in f:
            best = max(f["stacked_trial_epochs_per_s"].values())
            ratios["best stack / single trial"] = best / f["single_trial_epochs_per_s"]
        return ratios

    def round_ratios(self) -> dict[str, list[float]]:
        """The ratios each round gives on its own (its figures measured side by side), where
        the bench kept every round: their spread says whether a target is met beyond noise."""
        rounds = self.figures.get("epoch_samples_s")
        if not rounds:
            return {}
        roofline = self.figures["roofline_epoch_s"]
        paired = zip(
            rounds["pipeline"],
            rounds["seed_style"],
            rounds["bare"],
            rounds["probe"],
            zip(*(rounds[a] for a in self.figures["activation_epoch_ratio"]), strict=True),
            rounds["relu"],
            strict=True,
        )
        ratios: dict[str, list[float]] = {}
        for pipeline, seed, bare, probe, others, relu in paired:
            for name, value in {
                "pipeline / seed-style": pipeline / seed,
                "pipeline / bare": pipeline / bare,
                "roofline / pipeline": roofline / pipeline,
                "slowest activation / relu": max(others) / relu,
                "per-epoch probe / epoch": probe / pipeline,
            }.items():
                ratios.setdefault(name, []).append(value)
        return ratios

    def epoch_label(self, label: str, key: str) -> str:
        """Row (b) says what ran: without MLflow where the host had none."""
        untracked = any(note.startswith(UNTRACKED) for note in self.notes)
        if key == "pipeline_epoch_s" and untracked:
            return "(b) pipeline training stage, per-epoch probe on (no MLflow on this host)"
        return label

    def stacked_rows(self) -> list[str]:
        f = self.figures
        single, roofline = f["single_trial_epochs_per_s"], 1 / f["roofline_epoch_s"]
        lines = [
            "",
            "| trials trained at once (K) | trial-epochs / s | vs one at a time | vs roofline |",
            "|---|---|---|---|",
            f"| one at a time (a lone trial) | {single:.3f} | 1.00× | {single / roofline:.2f} |",
        ]
        for k, rate in f["stacked_trial_epochs_per_s"].items():
            lines.append(
                f"| stack of {k} | {rate:.3f} | {rate / single:.2f}× | {rate / roofline:.2f} |"
            )
        return lines

    def json(self) -> str:
        return json.dumps(
            {
                **self.figures,
                "device": self.device,
                "threads": self.threads,
                "rounds": self.rounds,
                "ratios": self.ratios(),
                "notes": self.notes,
            },
            indent=2,
        )

    def markdown(self) -> str:
        f = self.figures
        lines = [
            f"Device: {self.device}, {self.threads} threads, torch {torch.__version__}; medians "
            f"of {self.rounds} rounds after a warm-up round, with their min–max, every figure "
            "measured once a round, the measures taking turns (one epoch from a fresh model; "
            "ReLU, batch 64, 48k train + 12k validation).",
            "",
            "| figure | seconds per epoch | min–max | vs pipeline |",
            "|---|---|---|---|",
        ]
        samples = f.get("epoch_samples_s", {})
        spread = {"seed_style_epoch_s": "seed_style", "pipeline_epoch_s": "pipeline"}
        spread["bare_epoch_s"] = "bare"
        for label, key in EPOCH_ROWS:
            values = samples.get(spread.get(key, ""), [])
            span = f"{min(values):.3f}–{max(values):.3f}" if values else "–"
            ratio, label = f[key] / f["pipeline_epoch_s"], self.epoch_label(label, key)
            lines.append(f"| {label} | {f[key]:.3f} | {span} | {ratio:.2f}× |")
        lines += ["", "| activation | epoch (s) | vs relu |", "|---|---|---|"]
        for name, ratio in f["activation_epoch_ratio"].items():
            lines.append(f"| {name} | {f['activation_epoch_s'][name]:.3f} | {ratio:.2f}× |")
        if "optimizer_epoch_s" in f:
            lines += self.optimizer_rows()
        if "precision_step_ratio" in f:
            lines += self.precision_rows()
        if "stacked_trial_epochs_per_s" in f:
            lines += self.stacked_rows()
        lines += ["", *self.target_rows(), "", *self.notes_lines()]
        return "\n".join(lines) + "\n"

    def optimizer_rows(self) -> list[str]:
        """An epoch under each optimizer (ReLU), against the seed's SGD."""
        epochs = self.figures["optimizer_epoch_s"]
        lines = ["", "| optimizer (relu) | epoch (s) | vs sgd |", "|---|---|---|"]
        for name, seconds in epochs.items():
            lines.append(f"| {name} | {seconds:.3f} | {seconds / epochs['sgd']:.2f}× |")
        return lines

    def precision_rows(self) -> list[str]:
        """A training step in bf16-mixed against fp32 at each batch size: the medians, and the
        median and min-max of the rounds' paired ratios (no target: a measurement)."""
        f = self.figures
        lines = [
            "",
            "| batch | fp32 step (ms) | bf16-mixed step (ms) | bf16-mixed / fp32 "
            "| rounds: min–max |",
            "|---|---|---|---|---|",
        ]
        for batch, ratio in f["precision_step_ratio"].items():
            step, rounds = f["precision_step_s"][batch], f["precision_step_ratio_rounds"][batch]
            lines.append(
                f"| {batch} | {1000 * step['fp32']:.2f} | {1000 * step['bf16-mixed']:.2f} | "
                f"{ratio:.2f}× | {min(rounds):.2f}–{max(rounds):.2f} |"
            )
        return lines

    def target_rows(self) -> list[str]:
        """Each target: its median, the range its rounds gave, and whether it is met in every
        round (beyond the noise), in the median only ("not beyond noise"), or not."""
        per_round = self.round_ratios()
        lines = ["| target | measured | rounds: min–max | bound | met |", "|---|---|---|---|---|"]
        for name, value in self.ratios().items():
            comparison, bound = TARGETS[name]
            rounds = per_round.get(name, [])
            span = f"{min(rounds):.3f}–{max(rounds):.3f}" if rounds else "–"
            met = "yes" if _meets(value, comparison, bound) else "no"
            if met == "yes" and not all(_meets(v, comparison, bound) for v in rounds):
                met = "not beyond noise"
            lines.append(f"| {name} | {value:.3f} | {span} | {comparison} {bound} | {met} |")
        return lines

    def notes_lines(self) -> list[str]:
        f = self.figures
        lines = [
            f"sgemm {f['sgemm_gflops']:.0f} GFLOP/s; an epoch is "
            f"{f['epoch_gflop']:.1f} GFLOP, so the pipeline runs at "
            f"{f['epoch_gflop'] / f['pipeline_epoch_s']:.0f} GFLOP/s. The per-epoch probe "
            f"(gradient norms + unit health, {f['epoch_probe_s'] * 1000:.1f} ms) costs "
            f"{100 * f['epoch_probe_fraction']:.2f}% of an epoch.",
        ]
        if "model_log_s" in f:
            lines.append(
                f"Logging the MLflow model: {f['model_log_s']:.2f} s (the first in a "
                f"process {f['first_model_log_s']:.2f} s); done only for each "
                "activation's best trial."
            )
        if "seed_table" in f:
            lines.append(
                f"The seed's whole table (6 activations × 13 epochs, lr 1e-3): "
                f"{f['seed_table']['total_s']:.1f} s one after another; "
                f"{f['seed_table_in_parallel']['total_s']:.1f} s as 6 processes side by side "
                "(their start and data loading included)."
            )
        return lines + [f"Note: {note}" for note in self.notes]
