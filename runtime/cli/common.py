"""Options and error handling shared by the project's command-line tools."""

from __future__ import annotations

import functools
import logging
import signal
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, TypeVar

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


def same_granule_warning(tool: str, granule: Path, first: Path, granule_id: str) -> str:
    """The one-line warning for a later file of a granule already handled in the batch."""
    return f"{tool}: warning: {granule}: same granule {granule_id} as {first}, skipped"


def run_app(app: typer.Typer) -> None:
    """Console-script entry point of a tool. SIGTERM (systemd, ``timeout``, ``kill``) unwinds
    like Ctrl-C, so files being written are removed, not left under temporary names; exit 143."""
    signal.signal(signal.SIGTERM, _terminate)
    app()


def _terminate(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


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


class Device(str, Enum):
    """Where the model runs: auto (CUDA when it really works, else CPU), cpu, cuda."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


# Options shared by the commands that run a model (segment, watch).
ModelOption = Annotated[Path | None, typer.Option(
    help="ONNX model file (default: the shipped default model).")]
ThresholdOption = Annotated[float | None, typer.Option(
    help="Ice probability threshold in (0, 1) (default: the model's own).")]
DeviceOption = Annotated[Device, typer.Option(help="Execution provider to use.")]
ThreadsOption = Annotated[int | None, typer.Option(
    min=1, help="CPU threads (default: every CPU this process may use).")]
ProbabilityOption = Annotated[bool, typer.Option(
    "--probability", help="Also write X.prob.tif (float32 ice probability).")]
OutputOption = Annotated[Path, typer.Option("-o", "--output", help="Directory for the outputs.")]


def check_threshold(threshold: float | None) -> None:
    """A threshold outside (0, 1) is a usage error."""
    if threshold is not None and not 0 < threshold < 1:
        raise typer.BadParameter(f"--threshold must be in (0, 1), got {threshold}")
