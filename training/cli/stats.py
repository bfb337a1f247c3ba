"""`train-ssegm stats DATASET`: per-class reflectance statistics of a synthetic dataset.

Prints, for water, grey ice, white ice, water and ice cloud, snow-free land and snow-covered
land (open and forested), the number of pure cells and the mean +/- standard deviation of the
reflectance factor rho (stored value / cos(solar zenith)) in bands 1-7, with the range of
docs table 11.1 below it; a band whose mean falls outside that range is marked with "!".
All figures are synthetic. ``--json`` prints the same as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from runtime import grid
from runtime.cli.common import reports_errors, setup_logging
from training.simulator.statistics import class_statistics

TOOL = "train-ssegm stats"


def format_table(statistics: dict[str, dict]) -> str:
    """Plain-text table: per class a line of mean +/- std and a line of the table range."""
    header = f"{'class (synthetic)':<20}{'cells':>9}  " + "".join(
        f"{'B' + str(b):>14}" for b in grid.BANDS
    )
    lines = [header, "-" * len(header)]
    for name, entry in statistics.items():
        cells = []
        for mean, std, low, high in zip(
            entry["mean"], entry["std"], entry["table_low"], entry["table_high"], strict=True
        ):
            flag = " " if low <= mean <= high else "!"
            cells.append(f"{mean:7.3f}+-{std:.3f}{flag}".rjust(14))
        lines.append(f"{name:<20}{entry['cells']:>9}  " + "".join(cells))
        ranges = "".join(
            f"{low:.3f}-{high:.3f}".rjust(14)
            for low, high in zip(entry["table_low"], entry["table_high"], strict=True)
        )
        lines.append(f"{'  table 11.1':<20}{'':>9}  " + ranges)
    return "\n".join(lines)


@reports_errors(TOOL)
def stats(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder made by `train-ssegm synth`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Per-class reflectance statistics (rho, bands 1-7) against docs table 11.1."""
    setup_logging(verbose)
    statistics = class_statistics(dataset)
    typer.echo(json.dumps(statistics, indent=1) if as_json else format_table(statistics))
