"""`train-ssegm evaluate MODEL DATASET`: IoU, accuracy, precision, recall beside baselines.

MODEL is a training checkpoint (.ckpt) or an exported model (.onnx, run with ONNX Runtime).
Scores the validation split (the checkpoint's own; for ONNX the seeded split training makes)
overall and per regime, beside the NDSI threshold and a per-pixel random forest on the same
cells; prints one table and, per group, whether the model beats both baselines (IoU, or
accuracy where a group has no ice); writes the table as OUTDIR/evaluation.csv and both as
OUTDIR/evaluation.md. See
``training.evaluate`` for which cells count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runtime.cli.common import reports_errors, setup_logging
from runtime.outputs import output_directory

TOOL = "train-ssegm evaluate"


@reports_errors(TOOL)
def evaluate(
    model: Annotated[Path, typer.Argument(help="Checkpoint (.ckpt) or ONNX model (.onnx).")],
    dataset: Annotated[Path, typer.Argument(help="Dataset folder (crops/, labels/, ...).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the tables.")] = Path(
        "evaluation"
    ),
    seed: Annotated[int, typer.Option(help="Split seed (ONNX models; forest sample).")] = 0,
    validation_fraction: Annotated[
        float, typer.Option(min=0.01, max=0.9, help="Validation share (ONNX models).")
    ] = 0.15,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Score a model on the validation split, overall and per regime, beside baselines."""
    from training import evaluate as evaluation  # torch: only when the command runs

    setup_logging(verbose)
    with output_directory(output):  # checked before the work; left out if nothing is written
        rows = evaluation.evaluate(model, dataset, seed, validation_fraction)
        typer.echo(evaluation.format_markdown(rows))
        typer.echo(evaluation.format_verdicts(rows), nl=False)
        csv_path, md_path = evaluation.write_tables(rows, output)
    typer.echo(f"written: {csv_path}, {md_path}")
