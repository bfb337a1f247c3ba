"""`train-ssegm train DATASET --model m21.1 -o RUNDIR`: train a model as the talk did.

Defaults are the talk's (slide 14): Adam, batch 32, 570 epochs, a seeded stratified 85/15
split, DiceBCELoss, best epoch by validation IoU. Writes RUNDIR/best.ckpt, last.ckpt,
metrics.csv and curve.png; `--resume` continues from RUNDIR/last.ckpt (without it, a RUNDIR
holding a run is refused rather than overwritten). Uses CUDA when
available, else the CPU, with mixed precision where the hardware has it natively. See
``training.train`` for what each metric counts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from runtime.cli.common import reports_errors, setup_logging
from training.architectures import ARCHITECTURES

TOOL = "train-ssegm train"


@reports_errors(TOOL)
def train(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder (crops/, labels/, ...).")],
    model: Annotated[str, typer.Option(help=f"One of: {', '.join(ARCHITECTURES)}.")] = "m21.1",
    output: Annotated[Path, typer.Option("--output", "-o", help="Run folder.")] = Path("run"),
    epochs: Annotated[int | None, typer.Option(
        min=1, help="Epochs (default: the talk's 570; with --resume, the run's own).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Training batch (talk: 32).")] = 32,
    learning_rate: Annotated[float | None, typer.Option(
        min=1e-12,
        help="Adam learning rate (default 1e-3); with --resume, the rate from the next epoch "
             "on (default: the run's own).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of split, initial weights, shuffling.")] = 0,
    validation_fraction: Annotated[
        float, typer.Option(min=0.01, max=0.9, help="Share of scenes for validation (talk: 0.15).")
    ] = 0.15,
    augment: Annotated[bool, typer.Option(
        help="Radiometric jitter of training crops (gain and offset per scene and band, "
             "pixel noise). Off by default: on the simulator it cost 0.012-0.017 validation "
             "IoU.")] = False,
    limit: Annotated[int | None, typer.Option(min=2, help="Use only the first N scenes.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda if any).")] = None,
    mixed_precision: Annotated[bool | None, typer.Option(
        help="Training steps in float16 (CUDA) / bfloat16 (CPU); default: where the hardware "
             "has it natively (CUDA, CPUs with AVX512-BF16 or AMX). Validation is float32.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from RUNDIR/last.ckpt.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Train SSegm M20.1 or M21.1 and keep the epoch with the best validation IoU."""
    setup_logging(verbose)
    if model not in ARCHITECTURES:
        raise typer.BadParameter(f"unknown model {model!r} (known: {', '.join(ARCHITECTURES)})")
    if device not in (None, "cpu", "cuda"):
        raise typer.BadParameter(f"unknown device {device!r} (valid: cpu, cuda)")
    from training import train as training_loop  # torch: only when the command runs

    config = training_loop.TrainConfig(
        model, epochs or training_loop.TrainConfig.epochs, batch_size,
        learning_rate or training_loop.DEFAULT_LEARNING_RATE, seed, validation_fraction,
        augment, limit,
    )
    metrics = training_loop.train(
        dataset, output, config, resume=resume, device=device, show_progress=progress,
        mixed_precision=mixed_precision, resume_learning_rate=learning_rate if resume else None,
        resume_epochs=epochs if resume else None,
    )
    typer.echo(f"best validation metrics ({output / 'best.ckpt'}):")
    typer.echo(json.dumps(metrics, indent=1))
