"""Benchmark: training throughput of SSegm M20.1 and M21.1 on this machine (images/s).

One training step is what `train-ssegm train` does per batch (`training.train.training_step`):
forward in train mode, DiceBCELoss over water cells, backward, Adam step, with the radiometric
jitter only under `--augment` (as `train`, whose default is no jitter).
Each step runs in three set-ups, for ratios within one run: float32 in PyTorch's default
(contiguous) layout, float32 channels-last, and channels-last with the bfloat16 autocast that
`train` uses on a CPU with native bfloat16 (AVX512-BF16 / AMX). Each (model, batch, set-up) runs
in a fresh process so its peak resident memory is its own; the median of the timed steps after
one warm-up step is reported, with the float32 inference (eval, no grad) throughput in the same
layout. Throughput does not depend on the weights or the content, so random crops are used.

    python -m tests.benchmarks.bench_train [--batches 8 32] [--steps 2] [--augment]
                                           [--write BENCHMARKS.md]

prints a Markdown section; --write replaces (or appends) the "training" section of the file.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import torch

from runtime import grid, landmask
from tests.benchmarks.markdown import replace_section, vector_extensions
from training.models import build_model, count_parameters
from training.train import jitter, mixed_precision_dtype, training_step

ARCHITECTURES = ("m20.1", "m21.1")
BEGIN = "<!-- training benchmark: begin -->"
END = "<!-- training benchmark: end -->"


#: (label, channels-last, autocast dtype) of the measured set-ups.
SETUPS = {
    "float32": (False, None),
    "float32 channels-last": (True, None),
    "bfloat16 channels-last": (True, torch.bfloat16),
}


def measure(name: str, batch: int, steps: int, setup: str, augment: bool = False) -> dict:
    """Median seconds per training step and per inference batch, and peak RSS, of one model."""
    channels_last, autocast_dtype = SETUPS[setup]
    layout = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    model = build_model(name).to(memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    x = torch.rand(batch, len(grid.BANDS), grid.ROWS, grid.COLS) * 0.5
    x = x.contiguous(memory_format=layout)
    y = (torch.rand(batch, grid.ROWS, grid.COLS) > 0.9).to(torch.uint8)
    water = torch.from_numpy(landmask.water_mask()).expand(batch, -1, -1)
    noise = torch.Generator().manual_seed(0)

    def train_step() -> None:
        model.train()
        batch_x = jitter(x, noise) if augment else x
        training_step(model, batch_x, y, water, optimizer, scaler, autocast_dtype)

    def infer() -> None:
        model.eval()
        with torch.no_grad():
            model(x)

    result = {"model": name, "parameters": count_parameters(model), "batch": batch,
              "setup": setup}
    for key, run in (("train", train_step), ("infer", infer)):
        run()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        result[f"{key}_s"] = statistics.median(times)
        result[f"{key}_images_per_s"] = batch / result[f"{key}_s"]
    result["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def _measure_job(job: tuple[str, int, int, str, bool]) -> dict:
    return measure(*job)


def run_all(batches: list[int], steps: int, augment: bool) -> list[dict]:
    """Every (model, batch) in its own fresh process, one after the other."""
    context = multiprocessing.get_context("spawn")
    rows = []
    for name in ARCHITECTURES:
        for batch in batches:
            for setup in SETUPS:
                with context.Pool(1) as pool:
                    rows.append(pool.apply(_measure_job, ((name, batch, steps, setup, augment),)))
                print(rows[-1], flush=True)
    return rows


def section(rows: list[dict], steps: int, load: tuple[float, float, float],
            augment: bool) -> str:
    """The Markdown section for BENCHMARKS.md."""
    bf16 = mixed_precision_dtype(torch.device("cpu")) is not None
    native = "native bfloat16" if bf16 else "no native bfloat16"
    used_setup = "bfloat16 channels-last" if bf16 else "float32 channels-last"
    lines = [
        BEGIN,
        "## Training throughput of SSegm M20.1 / M21.1 (CPU)",
        "",
        f"Machine: 2-core x86_64 VM ({vector_extensions()}, {native}), 24 GiB, no GPU, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}, Python "
        f"{platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} "
        f"intra-op threads; load average {load[0]:.1f} at the start. One step = "
        f"{'radiometric jitter + ' if augment else ''}forward (train mode) + DiceBCELoss + "
        f"backward + Adam on random (285 x 430) crops "
        f"({'`train --augment`' if augment else 'no jitter, as the default `train`'}) "
        f"(`training.train.training_step`); median of {steps} steps after a warm-up; inference "
        f"is float32 in the same layout. `train-ssegm train` runs the {used_setup} set-up on "
        "this CPU (validation in float32). Measured by "
        "`python -m tests.benchmarks.bench_train --write BENCHMARKS.md`.",
        "",
        "| model | parameters | batch | set-up | train step | train images/s "
        "| vs float32 | inference images/s | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    baseline = {(r["model"], r["batch"]): r["train_images_per_s"] for r in rows
                if r["setup"] == "float32"}
    for r in rows:
        ratio = r["train_images_per_s"] / baseline.get((r["model"], r["batch"]), math.nan)
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r['batch']} | {r['setup']} "
            f"| {r['train_s']:.2f} s | {r['train_images_per_s']:.2f} | {ratio:.2f}x "
            f"| {r['infer_images_per_s']:.2f} | {r['peak_gib']:.1f} GiB |"
        )
    for name in ARCHITECTURES:
        used = [r["train_images_per_s"] for r in rows
                if r["model"] == name and r["setup"] == used_setup]
        if used:
            epoch_s = 484 / max(used)
            lines += [
                "",
                f"{name}: at {max(used):.1f} images/s one epoch over the 484 training crops of "
                f"the default dataset takes about {epoch_s:.0f} s of training steps here, the "
                f"talk's 570 epochs about {epoch_s * 570 / 3600:.1f} h.",
            ]
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--augment", action="store_true",
                        help="time the step with the radiometric jitter (train --augment)")
    parser.add_argument("--write", type=Path, help="Markdown file whose section to replace")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = run_all(args.batches, args.steps, args.augment)
    text = section(rows, args.steps, load, args.augment)
    print(text)
    if args.write:
        replace_section(args.write, text, BEGIN, END)


if __name__ == "__main__":
    main()
