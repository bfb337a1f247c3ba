"""Benchmark: training throughput of SSegm M20.1 and M21.1 on this machine (images/s).

One training step is what `train-ssegm train` does per batch: radiometric jitter, forward in
train mode, DiceBCELoss over water cells, backward, Adam step. Each (model, batch) runs in a
fresh process so its peak resident memory is its own; the median of the timed steps after one
warm-up step is reported, with the inference (eval, no grad) throughput at the same batch.
Throughput does not depend on the weights or the content, so random crops are used.

    python -m tests.benchmarks.bench_train [--batches 8 32] [--steps 2] [--write BENCHMARKS.md]

prints a Markdown section; --write replaces (or appends) the "training" section of the file.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import torch

from runtime import grid, landmask
from tests.benchmarks.markdown import replace_section
from training.losses import dice_bce_loss
from training.models import build_model, count_parameters
from training.train import jitter

ARCHITECTURES = ("m20.1", "m21.1")
BEGIN = "<!-- training benchmark: begin -->"
END = "<!-- training benchmark: end -->"


def measure(name: str, batch: int, steps: int) -> dict:
    """Median seconds per training step and per inference batch, and peak RSS, of one model."""
    torch.manual_seed(0)
    model = build_model(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, len(grid.BANDS), grid.ROWS, grid.COLS) * 0.5
    y = (torch.rand(batch, grid.ROWS, grid.COLS) > 0.9).to(torch.uint8)
    water = torch.from_numpy(landmask.water_mask()).expand(batch, -1, -1)
    noise = torch.Generator().manual_seed(0)

    def train_step() -> None:
        model.train()
        loss = dice_bce_loss(model(jitter(x, noise))[:, 0], y, water)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def infer() -> None:
        model.eval()
        with torch.no_grad():
            model(x)

    result = {"model": name, "parameters": count_parameters(model), "batch": batch}
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


def _measure_job(job: tuple[str, int, int]) -> dict:
    return measure(*job)


def run_all(batches: list[int], steps: int) -> list[dict]:
    """Every (model, batch) in its own fresh process, one after the other."""
    context = multiprocessing.get_context("spawn")
    rows = []
    for name in ARCHITECTURES:
        for batch in batches:
            with context.Pool(1) as pool:
                rows.append(pool.apply(_measure_job, ((name, batch, steps),)))
            print(rows[-1], flush=True)
    return rows


def section(rows: list[dict], steps: int, load: tuple[float, float, float]) -> str:
    """The Markdown section for BENCHMARKS.md."""
    lines = [
        BEGIN,
        "## Training throughput of SSegm M20.1 / M21.1 (CPU)",
        "",
        f"Machine: 2-core x86_64 VM, 24 GiB, no GPU, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; load average "
        f"{load[0]:.1f} at the start (the CPU was shared with other work, so treat the figures as "
        f"lower bounds). One step = jitter + forward (train mode) + DiceBCELoss + backward + Adam "
        f"on random (285 x 430) crops; median of {steps} steps after a warm-up. Measured by "
        "`python -m tests.benchmarks.bench_train --write BENCHMARKS.md`.",
        "",
        "| model | parameters | batch | train step | train images/s | inference images/s "
        "| peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r['batch']} | {r['train_s']:.1f} s "
            f"| {r['train_images_per_s']:.2f} | {r['infer_images_per_s']:.2f} "
            f"| {r['peak_gib']:.1f} GiB |"
        )
    m21 = [r for r in rows if r["model"] == "m21.1"]
    if m21:
        best = max(r["train_images_per_s"] for r in m21)
        epoch_min = 485 / best / 60
        lines += [
            "",
            f"At {best:.2f} images/s one M21.1 epoch over the talk's 485 training crops (85 % of "
            f"570) takes about {epoch_min:.0f} min here, so the talk's 570 epochs take about "
            f"{epoch_min * 570 / 60 / 24:.1f} days on this CPU: full training needs a GPU.",
        ]
    lines.append(END)
    return "\n".join(lines)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--write", type=Path, help="Markdown file whose section to replace")
    args = parser.parse_args()
    load = os.getloadavg()
    text = section(run_all(args.batches, args.steps), args.steps, load)
    print(text)
    if args.write:
        replace_section(args.write, text, BEGIN, END)


if __name__ == "__main__":
    main()
