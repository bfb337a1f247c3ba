"""`train-ssegm describe m21.1`: the model's layers as in the talk's diagram, with the total.

The table itself is ``training.summary``; torch is imported only when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from runtime.cli.common import reports_errors
from training.architectures import ARCHITECTURES

TOOL = "train-ssegm describe"


@reports_errors(TOOL)
def describe(
    model: Annotated[str, typer.Argument(help=f"Architecture: {', '.join(ARCHITECTURES)}.")],
) -> None:
    """Print the layers, output shapes and parameter counts of an architecture."""
    if model not in ARCHITECTURES:
        raise typer.BadParameter(f"unknown model {model!r} (known: {', '.join(ARCHITECTURES)})")
    from training.models import build_model
    from training.summary import format_table

    typer.echo(format_table(build_model(model).eval(), model))
