"""`ice-runtime segment GRANULE_OR_DIR... -o DIR`: granules -> ice maps, quick-looks, summaries.

For each granule X (its granule id) it writes ``X.ice.tif``, ``X.png``, ``X.json`` (and
``X.prob.tif`` with ``--probability``) into DIR, all renamed into place only when complete. One
inference session serves every granule. A granule that fails is reported on one line and the
others are still processed; the exit code is then that of the FIRST failure (0 when all
succeed). A later file of a granule already mapped in this batch (its copy under another name,
e.g. the NASA and the IMAPP file of one pass) is skipped with a one-line warning, as in
`crop`, rather than overwriting the first one's outputs. Model and device errors stop the
command before the output directory is made; output-directory errors, and a model that fails
when it runs, stop it at once. A batch that writes nothing leaves no output directory it made.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from runtime.cli.common import (
    Device,
    DeviceOption,
    ModelOption,
    OutputOption,
    ProbabilityOption,
    ThreadsOption,
    ThresholdOption,
    check_threshold,
    fail,
    reports_errors,
    same_granule_warning,
    setup_logging,
)
from runtime.errors import BayIceError, IncompatibleModel, ModelError, OutputError
from runtime.outputs import output_directory
from runtime.segment import Segmenter, find_granules

TOOL = "ice-runtime segment"


def human_line(summary: dict) -> str:
    """One line per granule for people."""
    fraction = summary["ice_fraction_of_observed_water"]
    share = f" ({fraction:.1%} of observed water)" if fraction is not None else ""
    return (f"{summary['granule_id']}: ice {summary['ice_area_km2']:.1f} km2{share}, "
            f"coverage {summary['coverage']:.0%}")


@reports_errors(TOOL)
def segment(
    granules: Annotated[list[Path], typer.Argument(
        metavar="GRANULE_OR_DIR",
        help="Granule files (MOD02HKM/MYD02HKM, HDF4) or directories of them "
             "(*.hdf, *.L1B_HKM).")],
    output: OutputOption = Path("."),
    model: ModelOption = None,
    threshold: ThresholdOption = None,
    device: DeviceOption = Device.auto,
    threads: ThreadsOption = None,
    probability: ProbabilityOption = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print each granule's JSON summary on stdout, one per line.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Map the ice of the bay in each granule: X.ice.tif, X.png, X.json in the output directory."""
    setup_logging(verbose)
    check_threshold(threshold)
    paths = find_granules(granules)
    segmenter = Segmenter(model, device.value, threads, threshold)
    with output_directory(output):  # after the model: its errors leave no folder behind
        first_failure = _segment_each(segmenter, paths, output, probability, as_json)
    if first_failure is not None:
        raise first_failure


def _segment_each(segmenter: Segmenter, paths: list[Path], output: Path, probability: bool,
                  as_json: bool) -> typer.Exit | None:
    """Segment and save each granule, reporting failures; the first failure's exit, if any."""
    first_failure: typer.Exit | None = None
    sources: dict[str, Path] = {}  # granule id -> the file its outputs were written from
    for path in tqdm(paths, unit="granule", disable=None, file=sys.stderr):
        try:
            result = segmenter.segment(path)
            name = result.summary["granule_id"]
            if name in sources:
                tqdm.write(same_granule_warning(TOOL, path, sources[name], name), file=sys.stderr)
                continue
            summary = result.save(output, probability)
            sources[name] = path
        except (OutputError, ModelError, IncompatibleModel):  # would fail every granule alike
            raise
        except BayIceError as error:
            exit_ = fail(TOOL, error)
            first_failure = first_failure or exit_
            continue
        tqdm.write(json.dumps(summary) if as_json else human_line(summary), file=sys.stdout)
    return first_failure
