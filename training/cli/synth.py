"""`train-ssegm synth DIR --labelled 370 --clear 200 --seed 0`: make a synthetic dataset.

Scenes of Peter the Great Bay from the scene simulator (``training.simulator``), each written
as a MOD02HKM/MYD02HKM granule and read back through the runtime's reader, with exact truth:
by default the talk's 370 labelled scenes plus 200 certainly without ice, spread over ice and
cloud regimes, low and high sun, Terra and Aqua, December-March 2005-2024. Deterministic for a
seed whatever the number of workers. Everything in it is synthetic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from runtime.cli.common import reports_errors, setup_logging
from training.simulator.dataset import build_dataset

TOOL = "train-ssegm synth"


def _progress(results, total: int):
    return tqdm(results, total=total, unit="scene", desc="synth")


@reports_errors(TOOL)
def synth(
    output: Annotated[Path, typer.Argument(help="New (or empty) dataset folder.")],
    labelled: Annotated[int, typer.Option(min=0, help="Scenes with an ice regime.")] = 370,
    clear: Annotated[int, typer.Option(min=0, help="Scenes certainly without ice.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the whole dataset.")] = 0,
    workers: Annotated[
        int, typer.Option(min=1, help="Parallel processes (default: all cores).")
    ] = os.cpu_count() or 1,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Make a synthetic training dataset (crops, labels, obscured masks, dataset.json)."""
    setup_logging(verbose)
    if labelled + clear == 0:
        raise typer.BadParameter("a dataset needs scenes: --labelled and --clear are both 0")
    build_dataset(output, labelled, clear, seed, workers=workers, progress=_progress)
