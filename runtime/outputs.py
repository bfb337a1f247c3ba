"""Writing a granule's products: GeoTIFF ice map, optional probability GeoTIFF, PNG, JSON.

All files of one granule are first written under temporary hidden names in the output directory
and renamed to their final names only when every one of them is complete (the JSON last, so its
presence marks a complete set). A failure removes the temporary files: a final name never holds
a half-written file. `staged` and `write_bytes_atomic` are the project's one way of writing files
so (crops, checkpoints, tables, datasets use them too).

GeoTIFFs are written with tifffile and the GeoTIFF tags themselves (no GDAL needed at the
station): ModelPixelScale, ModelTiepoint and a GeoKeyDirectory for EPSG:4326, plus GDAL's nodata
tag.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageDraw, ImageFont

from runtime import grid
from runtime.errors import OutputError

log = logging.getLogger(__name__)

#: Codes of the ice map.
OPEN_WATER, ICE, LAND, NO_DATA = 0, 1, 2, 255

#: Marker in the names of temporary files (``.<final name>.partial-<random>``).
PARTIAL = ".partial-"

# GeoTIFF tag codes and GeoKeys (GeoTIFF 1.0 specification).
_MODEL_PIXEL_SCALE = 33550
_MODEL_TIEPOINT = 33922
_GEO_KEY_DIRECTORY = 34735
_GDAL_NODATA = 42113
_GT_MODEL_TYPE, _MODEL_TYPE_GEOGRAPHIC = 1024, 2
_GT_RASTER_TYPE, _RASTER_PIXEL_IS_AREA = 1025, 1
_GEOGRAPHIC_TYPE, _EPSG_4326 = 2048, 4326

# Quick-look colours and layout.
_SCALE = 2
_ICE_RGB = np.array([230, 40, 200], dtype=np.float32)
_ICE_ALPHA = 0.5
_COAST_RGB = (255, 220, 0)
_NO_DATA_RGB = (45, 45, 45)
_NO_DATA_STRIPE_RGB = (95, 95, 95)
_TEXT_RGB = (255, 255, 255)
_BAR_RGB = (0, 0, 0)
_FONT_SIZE = 13
# NASA Worldview-style display stretch of reflectance scaled 0..1.1 -> 0..255.
_STRETCH_IN = (0, 30, 60, 120, 190, 255)
_STRETCH_OUT = (0, 110, 160, 210, 240, 255)
#: Bands of the colour composite (red, green, blue): MODIS 1, 4, 3, the true-colour bands.
COMPOSITE_BANDS = (1, 4, 3)


def ensure_writable(outdir: Path) -> None:
    """Create the output directory if needed and prove a file can be written there."""
    if outdir.exists() and not outdir.is_dir():
        raise OutputError("the output path is a file, not a directory", outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=outdir, prefix=".write-test" + PARTIAL):
            pass
    except OSError as error:
        raise OutputError(f"cannot write to the output directory ({error.strerror})",
                          outdir) from None


@contextmanager
def output_directory(outdir: Path) -> Iterator[None]:
    """`ensure_writable` for a batch; on leaving, remove the folders it made that are still empty.

    A batch whose every granule failed then leaves no empty output folder (nor empty parents)
    behind; a folder that existed before is never removed.
    """
    made = []  # innermost first; "a/../b" makes "a" too, so ".." is not normalised away
    folder = outdir.absolute()
    while not folder.exists():
        if folder.name not in ("", ".", ".."):
            made.append(folder)
        folder = folder.parent
    ensure_writable(outdir)
    try:
        yield
    finally:
        for folder in made:  # innermost first; stop at the first that holds something
            try:
                folder.rmdir()
            except OSError:
                break


def _geokeys() -> tuple[int, ...]:
    """GeoKeyDirectory: header (version 1.1.0, 3 keys) then (key, location 0, count 1, value)."""
    keys = ((_GT_MODEL_TYPE, _MODEL_TYPE_GEOGRAPHIC), (_GT_RASTER_TYPE, _RASTER_PIXEL_IS_AREA),
            (_GEOGRAPHIC_TYPE, _EPSG_4326))
    header = (1, 1, 0, len(keys))
    return header + tuple(v for key, value in keys for v in (key, 0, 1, value))


def geotiff_tags(nodata: str) -> list[tuple]:
    """tifffile extratags placing a (ROWS, COLS) raster on the grid, EPSG:4326, with nodata."""
    geokeys = _geokeys()
    return [
        (_MODEL_PIXEL_SCALE, "d", 3, (grid.DLON, grid.DLAT, 0.0), True),
        (_MODEL_TIEPOINT, "d", 6, (0.0, 0.0, 0.0, grid.WEST, grid.NORTH, 0.0), True),
        (_GEO_KEY_DIRECTORY, "H", len(geokeys), geokeys, True),
        (_GDAL_NODATA, "s", 0, nodata, True),
    ]


def write_geotiff(path: Path, raster: np.ndarray, nodata: str) -> None:
    """A single-band GeoTIFF of a grid raster (deflate-compressed)."""
    if raster.shape != grid.SHAPE:
        raise ValueError(f"raster shape {raster.shape}, grid is {grid.SHAPE}")
    tifffile.imwrite(path, raster, photometric="minisblack", compression="zlib",
                     extratags=geotiff_tags(nodata), metadata=None)


def _stretch(reflectance: np.ndarray) -> np.ndarray:
    """Display values 0..255 (float32) of reflectance, NaN as 0."""
    scaled = np.clip(np.nan_to_num(reflectance, nan=0.0) / 1.1, 0, 1) * 255
    return np.interp(scaled, _STRETCH_IN, _STRETCH_OUT).astype(np.float32)


def composite(reflectance: np.ndarray) -> np.ndarray:
    """Colour composite of bands 1-4-3 with a display stretch, uint8 (ROWS, COLS, 3)."""
    rgb = np.stack([_stretch(reflectance[grid.BANDS.index(b)]) for b in COMPOSITE_BANDS], axis=-1)
    return rgb.round().astype(np.uint8)


def _edges(water: np.ndarray) -> np.ndarray:
    """Cells of ``water`` that touch a cell of the other kind (4-neighbourhood)."""
    edge = np.zeros_like(water)
    edge[1:] |= water[1:] != water[:-1]
    edge[:-1] |= water[:-1] != water[1:]
    edge[:, 1:] |= water[:, 1:] != water[:, :-1]
    edge[:, :-1] |= water[:, :-1] != water[:, 1:]
    return edge & water


def _enlarge(array: np.ndarray) -> np.ndarray:
    """Each cell as a _SCALE x _SCALE block of pixels."""
    return np.repeat(np.repeat(array, _SCALE, 0), _SCALE, 1)


def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=_FONT_SIZE)
    except TypeError:  # Pillow < 10.1: fixed bitmap font only
        return ImageFont.load_default()


def quicklook(reflectance: np.ndarray, codes: np.ndarray, water: np.ndarray,
              title: str, subtitle: str) -> Image.Image:
    """The picture a person wants: composite, ice overlay, coastline, title and legend.

    The map is enlarged twice (nearest neighbour) so the coastline, drawn along the water edge
    of the land mask, stays thin next to the cells. Cells without data are hatched grey.
    """
    rgb = composite(reflectance).astype(np.float32)
    ice = codes == ICE
    rgb[ice] = (1 - _ICE_ALPHA) * rgb[ice] + _ICE_ALPHA * _ICE_RGB
    big = _enlarge(rgb.round().astype(np.uint8))
    no_data = _enlarge(~np.isfinite(reflectance).any(axis=0))
    rows, cols = np.indices(no_data.shape)
    stripe = (rows + cols) // 4 % 2 == 0
    big[no_data & stripe] = _NO_DATA_STRIPE_RGB
    big[no_data & ~stripe] = _NO_DATA_RGB
    big[_edges(_enlarge(water))] = _COAST_RGB

    font = _font()
    line = _FONT_SIZE + 5
    width, height = big.shape[1], big.shape[0]
    image = Image.new("RGB", (width, height + 3 * line + 8), _BAR_RGB)
    image.paste(Image.fromarray(big), (0, 2 * line + 4))
    draw = ImageDraw.Draw(image)
    draw.text((6, 2), title, fill=_TEXT_RGB, font=font)
    draw.text((6, 2 + line), subtitle, fill=_TEXT_RGB, font=font)
    _legend(draw, font, y=height + 2 * line + 8)
    return image


def _legend(draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont, y: int) -> None:
    x = 6
    box = _FONT_SIZE - 2
    for rgb, label in ((tuple(int(v) for v in _ICE_RGB), "ice"), (_COAST_RGB, "coastline"),
                       (_NO_DATA_STRIPE_RGB, "no data")):
        draw.rectangle((x, y + 2, x + box, y + 2 + box), fill=rgb, outline=_TEXT_RGB)
        draw.text((x + box + 5, y), label, fill=_TEXT_RGB, font=font)
        x += box + 5 + int(draw.textlength(label, font=font)) + 16
    draw.text((x, y), "composite: MODIS bands 1-4-3", fill=_TEXT_RGB, font=font)


def _with_write_time(summary: dict, seconds: float) -> dict:
    """The summary with the rasters' and picture's write time added to its timings."""
    timings = dict(summary.get("timings_s", {}))
    timings["write"] = round(seconds, 4)
    timings["total"] = round(timings.get("total", 0.0) + seconds, 4)
    return {**summary, "timings_s": timings}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _write_png(path: Path, image: Image.Image) -> None:
    image.save(path, format="PNG", compress_level=3)


@contextmanager
def staged(outdir: Path) -> Iterator[Callable[[str, Callable[[Path], None]], None]]:
    """Write files under temporary names; rename them all (in order) only if all succeed.

    ``stage(name, write)`` has ``write(path)`` fill a fresh temporary file in ``outdir``; a
    failure anywhere removes every temporary file, so no final name holds a partial file and
    `watch` can delete what an interrupted run left (``PARTIAL`` names).
    """
    staged: list[tuple[Path, Path]] = []

    def stage(name: str, write: Callable[[Path], None]) -> None:
        tmp = outdir / f".{name}{PARTIAL}{secrets.token_hex(4)}"
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # umask applies
        staged.append((tmp, outdir / name))
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())

    try:
        yield stage
        for _, final in staged:  # checked first: a rename that fails midway leaves half a set
            if final.is_dir():
                raise IsADirectoryError(errno.EISDIR, "a folder has the name of an output file",
                                        str(final))
        for tmp, final in staged:
            os.replace(tmp, final)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write one file through `staged`: never a half-written file under its name."""
    try:
        with staged(path.parent) as stage:
            stage(path.name, lambda tmp: tmp.write_bytes(data))
    except OSError as error:
        raise OutputError(f"cannot write {path.name} ({error.strerror or error})", path) from None


def write_products(outdir: Path, stem: str, codes: np.ndarray, summary: dict,
                   image: Image.Image, probability: np.ndarray | None = None) -> dict:
    """Write ``stem``.ice.tif, .png, optionally .prob.tif, and .json (last) atomically.

    Returns the summary as written to the JSON file: its ``timings_s`` gains ``write`` (seconds
    spent writing the other files, also added to ``total``) and it gains ``outputs`` (file
    names by kind). Raises :class:`OutputError` when the directory cannot take the files;
    nothing is left under a final name then.
    """
    names = {"ice": f"{stem}.ice.tif", "png": f"{stem}.png"}
    if probability is not None:
        names["probability"] = f"{stem}.prob.tif"
    names["json"] = f"{stem}.json"
    start = time.perf_counter()
    try:
        with staged(outdir) as stage:
            stage(names["ice"], lambda p: write_geotiff(p, codes.astype(np.uint8), str(NO_DATA)))
            stage(names["png"], lambda p: _write_png(p, image))
            if probability is not None:
                stage(names["probability"],
                      lambda p: write_geotiff(p, probability.astype(np.float32), "nan"))
            final = {**_with_write_time(summary, time.perf_counter() - start), "outputs": names}
            stage(names["json"], lambda p: _write_json(p, final))
    except OSError as error:
        raise OutputError(f"cannot write {stem} outputs ({error.strerror or error})",
                          outdir) from None
    log.info("wrote %s", ", ".join(names.values()))
    return final
