"""Options and error handling shared by the project's command-line tools."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

import typer

from runtime.errors import BayIceError

F = TypeVar("F", bound=Callable)


def setup_logging(verbose: bool) -> None:
    """Log to stderr: warnings by default, progress details with --verbose."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def fail(tool: str, error: BayIceError) -> typer.Exit:
    """Print the one-line error and return the Exit carrying its code."""
    typer.echo(f"{tool}: error: {error}", err=True)
    return typer.Exit(error.exit_code)


def reports_errors(tool: str) -> Callable[[F], F]:
    """Decorator for a command: expected errors become one line on stderr and their exit code."""

    def wrap(command: F) -> F:
        @functools.wraps(command)
        def run(*args, **kwargs):
            try:
                return command(*args, **kwargs)
            except BayIceError as error:
                raise fail(tool, error) from None

        return run  # type: ignore[return-value]

    return wrap
