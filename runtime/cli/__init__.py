"""`ice-runtime`: the station's command-line tool. One module per command."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ice-runtime",
    help="Sea-ice maps of Peter the Great Bay from MODIS L1B 500 m granules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Commands register here, one module each: app.command("name")(module.function)


def main() -> None:
    """Console-script entry point."""
    app()
