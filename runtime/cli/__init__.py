"""`ice-runtime`: the station's command-line tool. One module per command."""

from __future__ import annotations

import typer

from runtime.cli import crop
from runtime.cli import info as info_command
from runtime.cli import segment as segment_command
from runtime.cli import watch as watch_command
from runtime.cli.common import run_app

app = typer.Typer(
    name="ice-runtime",
    help="Sea-ice maps of Peter the Great Bay from MODIS L1B 500 m granules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Commands register here, one module each: app.command("name")(module.function)
app.command("crop")(crop.crop)
app.command("segment")(segment_command.segment)
app.command("info")(info_command.info)
app.command("watch")(watch_command.watch)


def main() -> None:
    """Console-script entry point."""
    run_app(app)
