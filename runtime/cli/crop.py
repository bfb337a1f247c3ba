"""`ice-runtime crop GRANULE.hdf... -o DIR`: granules -> grid crops for training or inspection.

For each granule it writes ``DIR/<granule_id>.npy`` (float32 (7, 285, 430), bands 1..7, NaN =
no data) and ``DIR/<granule_id>.json`` (the GranuleInfo), both through temporary files in DIR
renamed into place together (`runtime.outputs.staged`, as `segment`), so a final name never
holds a half-written file. A granule that fails is
reported on one line and the others are still processed; the exit code is then that of the
FIRST failure (0 when all succeed). An output error stops the batch at once; a batch that writes
nothing leaves no output directory it made.

Two files of one granule in a batch (the NASA and the IMAPP name of the same pass, or one path
given twice) would write the same crop name: the first one given is kept, each later one is
skipped with a one-line warning naming both files, and the batch goes on (exit code 0 for
them), so a training set holds each granule once and a long batch is not failed by a copy.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from runtime.cli.common import fail, reports_errors, same_granule_warning, setup_logging
from runtime.errors import BayIceError, OutputError
from runtime.granule import Crop, read_crop
from runtime.outputs import output_directory, staged

TOOL = "ice-runtime crop"
log = logging.getLogger(__name__)


def _save_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as file:  # a file, not a name: np.save would append ".npy" to one
        np.save(file, array, allow_pickle=False)


def write_crop(crop: Crop, out_dir: Path) -> Path:
    """Write the crop's array and JSON sidecar into ``out_dir``; return the array's path.

    Both are renamed into place only when both are complete, so a failure leaves neither.
    """
    name = crop.info.granule_id
    sidecar = json.dumps(crop.info.to_dict(), indent=2).encode()
    try:
        with staged(out_dir) as stage:
            stage(f"{name}.npy", lambda path: _save_array(path, crop.reflectance))
            stage(f"{name}.json", lambda path: path.write_bytes(sidecar))
    except OSError as error:
        raise OutputError(f"cannot write {name} ({error.strerror or error})", out_dir) from None
    return out_dir / f"{name}.npy"


@reports_errors(TOOL)
def crop(
    granules: Annotated[list[Path], typer.Argument(help="MOD02HKM/MYD02HKM granules (HDF4).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory for the crops.")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Crop granules onto the bay grid: <granule_id>.npy + <granule_id>.json each.

    A later file of a granule already cropped in this batch (its copy under another name) is
    skipped with a warning.
    """
    setup_logging(verbose)
    with output_directory(output):
        first_failure = _crop_each(granules, output)
    if first_failure is not None:
        raise first_failure


def _crop_each(granules: list[Path], output: Path) -> typer.Exit | None:
    """Crop and write each granule, reporting failures; the first failure's exit, if any.

    An output error (a full disk, say) stops the batch at once, as in `segment`.
    """
    first_failure: typer.Exit | None = None
    sources: dict[str, Path] = {}  # granule_id -> the file its crop was written from
    for granule in granules:
        try:
            cropped = read_crop(granule)
            name = cropped.info.granule_id
            if name in sources:
                typer.echo(same_granule_warning(TOOL, granule, sources[name], name), err=True)
                continue
            written = write_crop(cropped, output)
        except OutputError:
            raise
        except BayIceError as error:
            exit_ = fail(TOOL, error)
            first_failure = first_failure or exit_
            continue
        sources[name] = granule
        log.info("%s -> %s", granule, written)
    return first_failure
