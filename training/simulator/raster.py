"""The simulator's fine raster: the grid's box at FACTOR x its resolution, with the coastline.

The scene is built on this raster (about 125 m x 107 m pixels for FACTOR = 4) so that coasts,
floes and leads mix inside a 500 m pixel. Its sea/land/lake codes come from
``training/data/coast_fine.npz`` (GSHHS full, made by ``training/scripts/make_landmask.py`` at
8 x the grid); the static fields derived from them (distance to land, shelter) are computed once
per process.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from runtime import grid

COAST_FILE = Path(__file__).resolve().parents[1] / "data" / "coast_fine.npz"

#: Fine pixels per grid cell along each axis.
FACTOR = 4
SEA_CODE, LAKE_CODE = 1, 2
KM_PER_DEG_LAT = 111.2


@dataclass(frozen=True)
class FineRaster:
    """Static geography of the fine raster (row 0 north, same edges as the grid)."""

    lon: np.ndarray  # (W,) pixel-centre longitudes
    lat: np.ndarray  # (H,) pixel-centre latitudes
    sea: np.ndarray  # (H, W) float32 sea share of each fine pixel, 0..1
    lake: np.ndarray  # (H, W) float32 lake share
    dist_land_km: np.ndarray  # (H, W) float32 distance from the nearest land, 0 on land
    dist_sea_km: np.ndarray  # (H, W) float32 distance from the nearest sea, 0 at sea
    shelter: np.ndarray  # (H, W) float32 0..1, land share around a pixel (bays, straits high)
    pixel_km: tuple[float, float]  # (dy, dx) pixel size in km

    @property
    def shape(self) -> tuple[int, int]:
        return self.sea.shape


def _block_mean(codes: np.ndarray, value: int, block: int) -> np.ndarray:
    rows, cols = codes.shape[0] // block, codes.shape[1] // block
    hit = (codes == value).reshape(rows, block, cols, block)
    return hit.mean(axis=(1, 3), dtype=np.float32)


@functools.cache
def fine_raster() -> FineRaster:
    """Load the coastline and derive the static fields (cached per process)."""
    with np.load(COAST_FILE) as data:
        codes = data["surface"]
        supersample = int(data["supersample"])
    block = supersample // FACTOR
    sea = _block_mean(codes, SEA_CODE, block)
    lake = _block_mean(codes, LAKE_CODE, block)
    height, width = sea.shape
    lat = grid.NORTH - (np.arange(height) + 0.5) * grid.DLAT / FACTOR
    lon = grid.WEST + (np.arange(width) + 0.5) * grid.DLON / FACTOR
    mid_lat = math.radians((grid.NORTH + grid.SOUTH) / 2)
    pixel_km = (
        grid.DLAT / FACTOR * KM_PER_DEG_LAT,
        grid.DLON / FACTOR * KM_PER_DEG_LAT * math.cos(mid_lat),
    )
    is_sea = sea >= 0.5
    dist_land = ndimage.distance_transform_edt(is_sea, sampling=pixel_km).astype(np.float32)
    dist_sea = ndimage.distance_transform_edt(~is_sea, sampling=pixel_km).astype(np.float32)
    return FineRaster(
        lon=lon,
        lat=lat,
        sea=sea,
        lake=lake,
        dist_land_km=dist_land,
        dist_sea_km=dist_sea,
        shelter=_shelter(1 - sea, pixel_km),
        pixel_km=pixel_km,
    )


def _shelter(land: np.ndarray, pixel_km: tuple[float, float]) -> np.ndarray:
    """Land share seen from a pixel at two ranges (4 and 15 km): high in bays and straits.

    Water surrounded by land is calm and shallow and freezes first: the fast ice of Amur Bay,
    Ussuri Bay, Posyet Bay and the straits around Russky Island grows where this is high.
    """
    near = ndimage.gaussian_filter(land, [4 / pixel_km[0], 4 / pixel_km[1]], mode="nearest")
    far = ndimage.gaussian_filter(land, [15 / pixel_km[0], 15 / pixel_km[1]], mode="nearest")
    return (0.4 * near + 0.6 * far).astype(np.float32)


def block_mean(field: np.ndarray) -> np.ndarray:
    """Mean of each grid cell's FACTOR x FACTOR fine pixels: (..., H, W) -> (..., ROWS, COLS)."""
    lead = field.shape[:-2]
    blocks = field.reshape(*lead, grid.ROWS, FACTOR, grid.COLS, FACTOR)
    return blocks.mean(axis=(-3, -1))


def shift(field: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """`field` moved by (dy, dx) whole pixels (rows grow southwards), zeros where none moved in."""
    out = np.zeros_like(field)
    h, w = field.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = field[ys, xs]
    return out
