"""`train-ssegm preview CROP.npy [--label LABEL.npy] -o IMAGE`: look at a crop and its mask.

Three panels side by side, like the talk's figures: the colour composite (bands 1-4-3 as RGB),
the false colour that separates ice from cloud (bands 7-2-1, band 7 enhanced: ice and snow
cyan, water black, water cloud white-pink), and the composite with the ice mask (magenta) and
obscured cells (hatched grey) over it. The display divides the stored value by cos(solar
zenith) when the crop's sidecar gives its time (so low-sun scenes are not dark), then applies
the usual Worldview/Polar2Grid piecewise reflectance stretch. A crop inside a dataset folder
(``DATASET/crops/NAME.npy``) finds its label and obscured mask there by itself.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from PIL import Image, ImageDraw

from runtime import grid
from runtime.cli.common import reports_errors, setup_logging
from runtime.errors import DatasetError, InputNotFound, OutputError
from runtime.granule import start_time
from runtime.landmask import water_mask
from runtime.outputs import write_bytes_atomic
from runtime.solar import cos_solar_zenith
from training.dataset import CROP_SHAPE, load_array, load_mask

TOOL = "train-ssegm preview"
TRUE_COLOUR = (1, 4, 3)
FALSE_COLOUR = (7, 2, 1)
#: Display gain per band: band 7 is enhanced, as in Worldview's 7-2-1, so water clouds show
#: white-pink and ice and snow cyan.
DISPLAY_GAIN = {7: 2.5}
STRETCH_IN = (0, 30, 60, 120, 190, 255)
STRETCH_OUT = (0, 110, 160, 210, 240, 255)
ICE_RGB = np.array([255, 0, 200], dtype=np.float32)
OBSCURED_RGB = np.array([128, 128, 128], dtype=np.float32)
COAST_RGB = np.array([255, 220, 0], dtype=np.uint8)
NO_DATA_RGB = np.array([40, 0, 0], dtype=np.float32)
GAP = 6
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def given_file(path: Path, what: str) -> Path:
    """A file named on the command line: a folder or a missing name is an input error."""
    if path.is_dir():
        raise InputNotFound(f"is a folder, not a {what} .npy file", path)
    if not path.is_file():
        raise InputNotFound(f"no such {what} file", path)
    return path


def crop_time(crop_path: Path) -> datetime | None:
    """Start time from the crop's JSON sidecar, if it has one."""
    sidecar = crop_path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        record = json.loads(sidecar.read_text())
    except (OSError, ValueError) as error:
        raise DatasetError(f"unreadable crop sidecar ({error})", sidecar) from None
    if not isinstance(record, dict):
        raise DatasetError("crop sidecar is not a JSON object", sidecar)
    try:
        return start_time(record)
    except (AttributeError, TypeError, ValueError):
        raise DatasetError(f"bad start_time {record['start_time']!r} in the crop sidecar",
                           sidecar) from None


def display_reflectance(reflectance: np.ndarray, time: datetime | None) -> np.ndarray:
    """Rho (stored value / cos(sza)) when the time is known, else the stored value."""
    if time is None:
        return reflectance
    lon, lat = grid.cell_centres()
    mu = np.clip(cos_solar_zenith(time, lon, lat), 0.05, None).astype(np.float32)
    return reflectance / mu


def composite(reflectance: np.ndarray, bands: tuple[int, int, int]) -> np.ndarray:
    """RGB uint8 (ROWS, COLS, 3) of three bands with the display stretch; no data dark red."""
    channels = []
    for band in bands:
        value = np.nan_to_num(reflectance[grid.BANDS.index(band)], nan=0.0)
        value = value * DISPLAY_GAIN.get(band, 1.0)
        scaled = np.clip(value / 1.1, 0, 1) * 255
        channels.append(np.interp(scaled, STRETCH_IN, STRETCH_OUT))
    rgb = np.stack(channels, axis=-1).astype(np.float32)
    rgb[~np.isfinite(reflectance).all(axis=0)] = NO_DATA_RGB
    return rgb.round().astype(np.uint8)


def overlay(
    rgb: np.ndarray, label: np.ndarray | None, obscured: np.ndarray | None
) -> np.ndarray:
    """The composite with ice in magenta, obscured cells hatched grey and the coastline."""
    out = rgb.astype(np.float32)
    if obscured is not None:
        rows, cols = np.indices(obscured.shape)
        hatch = (obscured == 1) & ((rows + cols) % 4 == 0)
        out[hatch] = OBSCURED_RGB
    if label is not None:
        ice = label == 1
        out[ice] = 0.35 * out[ice] + 0.65 * ICE_RGB
    out = out.round().astype(np.uint8)
    water = water_mask()
    coast = water & ~(
        np.roll(water, 1, 0) & np.roll(water, -1, 0) & np.roll(water, 1, 1) & np.roll(water, -1, 1)
    )
    out[coast] = COAST_RGB
    return out


def panels(
    reflectance: np.ndarray,
    label: np.ndarray | None,
    obscured: np.ndarray | None,
    title: str,
    time: datetime | None,
) -> Image.Image:
    """The three panels side by side under a title line."""
    shown = display_reflectance(reflectance, time)
    true_colour = composite(shown, TRUE_COLOUR)
    images = [true_colour, composite(shown, FALSE_COLOUR), overlay(true_colour, label, obscured)]
    names = ["bands 1-4-3", "bands 7-2-1", "ice (magenta), obscured (hatched)"]
    width = grid.COLS * 3 + GAP * 2
    canvas = Image.new("RGB", (width, grid.ROWS + 36), (20, 20, 20))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), title, fill=(230, 230, 230))
    for k, (image, name) in enumerate(zip(images, names, strict=True)):
        x = k * (grid.COLS + GAP)
        canvas.paste(Image.fromarray(image), (x, 34))
        draw.text((x + 4, 18), name, fill=(200, 200, 200))
    return canvas


def _dataset_mask(crop_path: Path, folder: str) -> Path | None:
    """DATASET/<folder>/NAME.npy when the crop is DATASET/crops/NAME.npy and it exists."""
    if crop_path.parent.name != "crops":
        return None
    candidate = crop_path.parent.parent / folder / crop_path.name
    return candidate if candidate.is_file() else None


def image_format(path: Path) -> str:
    """The Pillow format the output's suffix names: PNG or JPEG; other names are refused."""
    try:
        return IMAGE_FORMATS[path.suffix.lower()]
    except KeyError:
        raise OutputError("the output name must end in .png or .jpg", path) from None


def save_image(image: Image.Image, path: Path, pillow_format: str) -> None:
    """Write the image atomically (`runtime.outputs.write_bytes_atomic`), making its folder."""
    through = next((p for p in (path.parent, *path.parent.parents)
                    if p.exists() and not p.is_dir()), None)
    if through is not None:
        raise OutputError(f"the path goes through a file ({through}), not a folder", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the folder ({error.strerror})", path.parent) from None
    buffer = io.BytesIO()
    image.save(buffer, format=pillow_format, **({"quality": 95} if pillow_format == "JPEG" else {}))
    write_bytes_atomic(path, buffer.getvalue())


@reports_errors(TOOL)
def preview(
    crop: Annotated[Path, typer.Argument(help="Crop .npy (7, 285, 430), e.g. DATASET/crops/X.npy")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Image to write: .png or .jpg (.jpeg).")
    ],
    label: Annotated[
        Path | None, typer.Option("--label", help="Label .npy (default: from the dataset).")
    ] = None,
    obscured: Annotated[
        Path | None, typer.Option("--obscured", help="Obscured .npy (default: from the dataset).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Render a crop as colour and false-colour composites with its ice mask."""
    setup_logging(verbose)
    output_format = image_format(output)
    reflectance = load_array(given_file(crop, "crop"), CROP_SHAPE, np.float32)
    label = label or _dataset_mask(crop, "labels")
    obscured = obscured or _dataset_mask(crop, "obscured")
    label_mask = None if label is None else load_mask(given_file(label, "label"), "ice")
    obscured_mask = (None if obscured is None
                     else load_mask(given_file(obscured, "obscured"), "obscured"))
    image = panels(reflectance, label_mask, obscured_mask, crop.stem, crop_time(crop))
    save_image(image, output, output_format)
