"""Make the committed sample granule tests/data/sample/MOD02HKM.A2024040.0210.061.2024040130000.hdf.

A Terra MODIS L1B 500 m granule of 2024-02-09 02:10 UTC (solar zenith about 60 degrees over the
bay) in the format of NASA's archive, cut to a station-like 20 scans (about 200 km along track)
with the whole bay about 15 degrees west of nadir. The content is a plausible, synthetic winter
pattern, not a real observation: dark open water, fast ice along the northern shores with thin
grey ice beyond it, winter land with snow patches, and some cloud (fixed seed).

Re-make it from any other scene with ``write_sample(reflectance)``, where ``reflectance`` is the
L1B reflectance (rho * cos(solar zenith), ``training.granule_writer.l1b_reflectance``) of
``sample_swath()``'s 500 m pixels, (7, 400, 2708) float32, bands 1..7.

Run: python tests/data/sample/make_sample.py
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy import ndimage

from runtime import grid, landmask
from training.granule_writer import l1b_reflectance, write_granule
from training.swath import Swath, build_swath

HERE = Path(__file__).parent
SAMPLE_NAME = "MOD02HKM.A2024040.0210.061.2024040130000.hdf"
START = datetime(2024, 2, 9, 2, 10, tzinfo=timezone.utc)
PRODUCED = datetime(2024, 2, 9, 13, 0, tzinfo=timezone.utc)
N_SCANS = 20
SCAN_ANGLE_DEG = -15.0
SEED = 20240209

# Reflectance factors rho, bands 1..7 (docs/modis-l1b-500m.md 11.1).
WATER = (0.05, 0.025, 0.12, 0.07, 0.012, 0.008, 0.005)
FAST_ICE = (0.72, 0.66, 0.78, 0.76, 0.42, 0.09, 0.04)
GREY_ICE = (0.20, 0.15, 0.25, 0.22, 0.07, 0.03, 0.02)
LAND = (0.09, 0.20, 0.11, 0.10, 0.22, 0.20, 0.12)
SNOWY_LAND = (0.30, 0.30, 0.35, 0.32, 0.20, 0.10, 0.06)
CLOUD = (0.60, 0.58, 0.62, 0.60, 0.50, 0.35, 0.22)


def sample_swath() -> Swath:
    """The sample granule's geometry."""
    return build_swath("Terra", START, N_SCANS, scan_angle_deg=SCAN_ANGLE_DEG)


def _grid_cells(swath: Swath) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid row and column of every 500 m pixel, and whether it falls on the grid."""
    row = np.floor((grid.NORTH - swath.lat) / grid.DLAT).astype(int)
    col = np.floor((swath.lon - grid.WEST) / grid.DLON).astype(int)
    inside = (row >= 0) & (row < grid.ROWS) & (col >= 0) & (col < grid.COLS)
    return np.clip(row, 0, grid.ROWS - 1), np.clip(col, 0, grid.COLS - 1), inside


def _smooth_field(swath: Swath, rng: np.random.Generator, step_deg: float, sigma: float):
    """A smooth random field in -1..1 (roughly) on lat/lon, sampled at every pixel."""
    lat0, lon0 = swath.lat.min(), swath.lon.min()
    shape = (
        int((swath.lat.max() - lat0) / step_deg) + 2,
        int((swath.lon.max() - lon0) / step_deg) + 2,
    )
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    field /= field.std() * 3
    coords = [(swath.lat - lat0) / step_deg, (swath.lon - lon0) / step_deg]
    return ndimage.map_coordinates(field, coords, order=1)


def _sea_outside_grid(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Rough sea/land beyond the grid: the coast runs NE of the bay and SW towards Korea."""
    coast_lat = np.where(
        lon > grid.EAST,
        42.75 + 0.4 * (lon - grid.EAST),
        np.where(lon < grid.WEST, 42.3 + 0.8 * (lon - grid.WEST), 42.8),
    )
    return lat < coast_lat


def winter_scene(swath: Swath, seed: int = SEED) -> np.ndarray:
    """Reflectance factors rho (7, 20n, 2708) of a plausible winter morning over the bay."""
    rng = np.random.default_rng(seed)
    row, col, inside = _grid_cells(swath)
    water_grid = landmask.water_mask()
    shore_km = ndimage.distance_transform_edt(water_grid) * 0.45
    water = np.where(inside, water_grid[row, col], _sea_outside_grid(swath.lon, swath.lat))
    to_shore = np.where(inside, shore_km[row, col], 100.0)
    # Ice grows from the shore, wider in the northern (inner) parts of the bays.
    reach_km = 12.0 * np.clip((swath.lat - 42.85) / 0.35, 0.0, 1.5)
    reach_km *= 1 + 0.3 * _smooth_field(swath, rng, 0.02, 3.0)
    fast_ice = water & (to_shore < reach_km)
    grey_ice = water & ~fast_ice & (to_shore < 1.6 * reach_km)
    snowy = ~water & (_smooth_field(swath, rng, 0.05, 4.0) > 0.1)
    kind = np.select([fast_ice, grey_ice, water, snowy], [1, 2, 0, 4], default=3)
    table = np.array([WATER, FAST_ICE, GREY_ICE, LAND, SNOWY_LAND], dtype=np.float32)
    rho = np.moveaxis(table[kind], -1, 0)
    cloud = np.clip(_smooth_field(swath, rng, 0.04, 5.0) * 3.0 - 1.0, 0.0, 1.0)
    rho = rho * (1 - cloud) + np.asarray(CLOUD, np.float32)[:, None, None] * cloud
    return rho.astype(np.float32)


def write_sample(reflectance: np.ndarray, directory: Path = HERE) -> Path:
    """Write L1B reflectance of ``sample_swath()`` as the sample granule; return its path."""
    return write_granule(
        directory,
        reflectance,
        sample_swath(),
        production_time=PRODUCED,
        filename=SAMPLE_NAME,
        deflate=9,
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    swath = sample_swath()
    path = write_sample(l1b_reflectance(winter_scene(swath), swath))
    logging.info("%s: %.1f MB", path, path.stat().st_size / 1e6)
