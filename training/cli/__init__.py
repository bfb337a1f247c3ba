"""`train-ssegm`: datasets, models, training and evaluation. One module per command."""

from __future__ import annotations

import typer

from runtime.cli.common import run_app
from training.cli import describe, evaluate, preview, stats, synth, train

app = typer.Typer(
    name="train-ssegm",
    help="Build datasets, describe, train and evaluate the SSegm M20.1 / M21.1 models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Commands register here, one module each: app.command("name")(module.function)
app.command("synth")(synth.synth)
app.command("preview")(preview.preview)
app.command("stats")(stats.stats)
app.command("describe")(describe.describe)
app.command("train")(train.train)
app.command("evaluate")(evaluate.evaluate)


def main() -> None:
    """Console-script entry point."""
    run_app(app)
