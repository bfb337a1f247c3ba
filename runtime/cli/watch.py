"""`ice-runtime watch INCOMING -o DIR`: the unattended station loop (see ``runtime.watch``).

Every complete new granule in INCOMING is segmented once into DIR (X.ice.tif, X.png, X.json),
in a worker process with a timeout; each is recorded in ``DIR/watch-ledger.jsonl`` as done,
skipped (night, misses the bay), failed (with the reason) or duplicate, and reported on one
line on stdout. SIGTERM/SIGINT finish the granule in hand and stop (a second one abandons it).
With ``--once`` the exit code is that of the first granule that failed (0 when none did;
skipped and duplicate granules are not failures).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from runtime.cli.common import (
    Device,
    DeviceOption,
    ModelOption,
    OutputOption,
    ProbabilityOption,
    ThreadsOption,
    ThresholdOption,
    check_threshold,
    reports_errors,
    setup_logging,
)
from runtime.errors import InputNotFound
from runtime.watch import Options, Watcher

TOOL = "ice-runtime watch"


def _line(record: dict) -> str:
    what = record["granule_id"] or record["name"]
    detail = f": {record['reason']}" if record["reason"] else ""
    return f"{record['status']:9} {what} ({record['seconds']:.1f} s){detail}"


@reports_errors(TOOL)
def watch(
    incoming: Annotated[Path, typer.Argument(help="Directory where granules arrive.")],
    output: OutputOption,
    model: ModelOption = None,
    threshold: ThresholdOption = None,
    device: DeviceOption = Device.auto,
    threads: ThreadsOption = None,
    probability: ProbabilityOption = False,
    interval: Annotated[float, typer.Option(
        min=0.0, help="Seconds between looks at INCOMING.")] = 10.0,
    settle: Annotated[float, typer.Option(
        min=0.0, help="Seconds a file must stay unchanged before it is read.")] = 30.0,
    stale: Annotated[float, typer.Option(
        min=0.0, help="Seconds after which a still incomplete HDF4 file is read anyway "
                      "(and fails as truncated).")] = 900.0,
    timeout: Annotated[float, typer.Option(
        min=1.0, help="Seconds one granule may take before it is given up.")] = 300.0,
    once: Annotated[bool, typer.Option(
        "--once", help="Handle the complete granules there now, then exit (for cron, tests).")
    ] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Report each ledger record as JSON on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Segment each complete new granule arriving in INCOMING, once, until stopped."""
    setup_logging(verbose)
    if not incoming.is_dir():
        raise InputNotFound("not a directory" if incoming.exists() else "no such directory",
                            incoming)
    check_threshold(threshold)
    options = Options(model=model, device=device.value, threads=threads, threshold=threshold,
                      probability=probability, interval=interval, settle=settle, stale=stale,
                      timeout=timeout, verbose=verbose)

    failures: list[int] = []

    def report(record: dict) -> None:
        typer.echo(json.dumps(record) if as_json else _line(record))
        if record["status"] == "failed":
            failures.append(record["exit_code"] or 1)

    Watcher(incoming, output, options, report).run(once=once)
    if once and failures:  # cron can tell: the first failure's code, as `segment`
        raise typer.Exit(failures[0])
