"""`ice-runtime crop GRANULE.hdf... -o DIR`: granules -> grid crops for training or inspection.

For each granule it writes ``DIR/<granule_id>.npy`` (float32 (7, 285, 430), bands 1..7, NaN =
no data) and ``DIR/<granule_id>.json`` (the GranuleInfo), each through a temporary file in DIR
renamed into place, so a final name never holds a half-written file. A granule that fails is
reported on one line and the others are still processed; the exit code is then that of the
FIRST failure (0 when all succeed).

Two files of one granule in a batch (the NASA and the IMAPP name of the same pass, or one path
given twice) would write the same crop name: the first one given is kept, each later one is
skipped with a one-line warning naming both files, and the batch goes on (exit code 0 for
them), so a training set holds each granule once and a long batch is not failed by a copy.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from runtime.cli.common import fail, reports_errors, same_granule_warning, setup_logging
from runtime.errors import BayIceError, OutputError
from runtime.granule import Crop, read_crop

TOOL = "ice-runtime crop"
log = logging.getLogger(__name__)


def _temporary(path: Path) -> Path:
    """A fresh name next to ``path`` for writing before the rename."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def write_crop(crop: Crop, out_dir: Path) -> Path:
    """Write the crop's array and JSON sidecar into ``out_dir``; return the array's path.

    Both go to temporary files first and are renamed only when both are complete, so a failure
    leaves neither final name behind.
    """
    name = crop.info.granule_id
    array_path = out_dir / f"{name}.npy"
    sidecar = json.dumps(crop.info.to_dict(), indent=2).encode()
    writers = {
        array_path: lambda file: np.save(file, crop.reflectance, allow_pickle=False),
        out_dir / f"{name}.json": lambda file: file.write(sidecar),
    }
    temporaries = {}
    try:
        for path, write in writers.items():
            temporaries[path] = _temporary(path)
            with temporaries[path].open("xb") as file:  # permissions from the umask
                write(file)
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    except OSError as error:
        raise OutputError(f"cannot write {name} ({error.strerror})", out_dir) from None
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
    return array_path


def _output_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output directory ({error.strerror})", path) from None
    return path


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
    out_dir = _output_dir(output)
    first_failure: typer.Exit | None = None
    sources: dict[str, Path] = {}  # granule_id -> the file its crop was written from
    for granule in granules:
        try:
            cropped = read_crop(granule)
            name = cropped.info.granule_id
            if name in sources:
                typer.echo(same_granule_warning(TOOL, granule, sources[name], name), err=True)
                continue
            written = write_crop(cropped, out_dir)
        except BayIceError as error:
            exit_ = fail(TOOL, error)
            first_failure = first_failure or exit_
            continue
        sources[name] = granule
        log.info("%s -> %s", granule, written)
    if first_failure is not None:
        raise first_failure
