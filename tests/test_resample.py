"""The crop against satpy's modis_l1b reader + pyresample nearest neighbour on the same files.

Figures (synthetic granules from tests/fake_granules): median and 99th percentile of
|ours - satpy| over cells valid in both, and the share of grid cells whose valid/no-data state
agrees. satpy's nearest resampler uses a fixed 1000 m radius; ours follows the pixel footprint
(runtime/resample.py), so the two masks differ only in thin strips along the coverage's outline.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from pyresample.geometry import AreaDefinition
from scipy.spatial import cKDTree

from runtime import grid, resample
from runtime.geolocation import lonlat_to_xyz
from runtime.granule import read_crop

MEDIAN_MAX = 0.002
P99_MAX = 0.02
MASK_AGREEMENT_MIN = 0.995
GRANULES = ["terra_nadir", "terra_mid", "terra_edge", "aqua_nadir", "aqua_mid", "aqua_edge"]
BAND6 = grid.BANDS.index(6)


def bay_area() -> AreaDefinition:
    return AreaDefinition(
        "bay", "Peter the Great Bay", "bay", grid.CRS, grid.COLS, grid.ROWS,
        (grid.WEST, grid.SOUTH, grid.EAST, grid.NORTH),
    )  # fmt: skip


@functools.cache
def satpy_crop(path) -> np.ndarray:
    """satpy reflectance (percent -> fraction) resampled by nearest neighbour onto the grid."""
    from satpy import Scene

    names = [str(b) for b in grid.BANDS]
    scene = Scene(reader="modis_l1b", filenames=[str(path)])
    scene.load(names, calibration="reflectance")
    resampled = scene.resample(bay_area(), resampler="nearest")
    return np.stack([resampled[n].values / 100 for n in names]).astype(np.float32)


def agreement(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float, float]:
    """Median and 99th percentile of |difference| where both have data, mask agreement."""
    both = np.isfinite(ours) & np.isfinite(theirs)
    diff = np.abs(ours[both] - theirs[both])
    same_mask = float(np.mean(np.isfinite(ours) == np.isfinite(theirs)))
    return float(np.median(diff)), float(np.percentile(diff, 99)), same_mask


@pytest.mark.parametrize("name", GRANULES)
def test_crop_agrees_with_satpy(name, request):
    path = request.getfixturevalue(name)
    ours = read_crop(path).reflectance
    theirs = satpy_crop(path)
    for band, (mine, ref) in enumerate(zip(ours, theirs, strict=True)):
        if name.startswith("aqua") and band == BAND6:
            continue  # satpy leaves Aqua's dead band-6 rows empty: test_aqua_band6_agrees_...
        median, p99, same_mask = agreement(mine, ref)
        assert median <= MEDIAN_MAX, (name, band + 1, median)
        assert p99 <= P99_MAX, (name, band + 1, p99)
        assert same_mask >= MASK_AGREEMENT_MIN, (name, band + 1, same_mask)


@pytest.mark.parametrize("name", ["aqua_nadir", "aqua_mid", "aqua_edge"])
def test_aqua_band6_agrees_with_satpy_where_satpy_has_it(name, request):
    """Issue 2: median <= 0.002 and 99th percentile <= 0.02 over all cells valid in both.

    Measured pixels come first within satpy's 1000 m (resample.resample_measured_first), so a
    cell satpy fills takes the same pixel. satpy leaves the cells only dead detectors saw empty
    (11-38 % of the grid here); ours fills them with restored values. So the masks agree one
    way: every cell satpy has, ours has (to 0.5 % of the grid).
    """
    path = request.getfixturevalue(name)
    ours = read_crop(path).reflectance[BAND6]
    theirs = satpy_crop(path)[BAND6]
    median, p99, _ = agreement(ours, theirs)
    assert median <= MEDIAN_MAX
    assert p99 <= P99_MAX
    assert (np.isfinite(theirs) & np.isnan(ours)).mean() <= 1 - MASK_AGREEMENT_MIN


def test_radius_follows_the_footprint():
    """Half the pixel diagonal plus half a cell diagonal: about 0.68 km at nadir."""
    nadir = resample.search_radius(np.array(500.0), np.array(500.0))
    edge = resample.search_radius(np.array(2400.0), np.array(1000.0))
    assert 650 < nadir < 720
    assert edge > 1.2 * 1000  # beyond half the along-scan spacing: no holes at the edge


def _regular_swath(spacing_m: float, half_width_km: float) -> np.ndarray:
    """Pixel centres on a regular lon/lat lattice around the bay centre (x, y, z)."""
    lat0 = 42.8
    dlat = np.degrees(spacing_m / 6370997.0)
    dlon = dlat / np.cos(np.radians(lat0))
    n = int(half_width_km * 1000 / spacing_m)
    lon = 131.9 + dlon * np.arange(-n, n + 1)
    lat = lat0 + dlat * np.arange(-3 * n, 3 * n + 1)
    lon2, lat2 = np.meshgrid(lon, lat)
    return lonlat_to_xyz(lon2, lat2)


def _uniform_radius(xyz: np.ndarray, spacing: float) -> np.ndarray:
    size = np.full(xyz.shape[:2], spacing)
    return resample.search_radius(size, size)


@pytest.mark.parametrize("spacing", [500.0, 2000.0])
def test_no_data_beyond_the_swath_edge_and_no_holes_inside(spacing):
    xyz = _regular_swath(spacing, 40.0)
    radius = resample.search_radius(
        np.full(xyz.shape[:2], spacing), np.full(xyz.shape[:2], spacing)
    )
    values = np.ones((1, *xyz.shape[:2]), np.float32)
    out = resample.resample_nearest(xyz, radius, values)[0]
    lon, _ = grid.cell_centres()
    inside = np.abs(lon - 131.9) * np.cos(np.radians(42.8)) * 111.2 < 40 - spacing / 1000
    outside = np.abs(lon - 131.9) * np.cos(np.radians(42.8)) * 111.2 > 40 + radius.max() / 1000
    assert np.isfinite(out[inside]).all()
    assert np.isnan(out[outside]).all()


def test_unusable_pixel_hands_its_cells_to_a_usable_neighbour():
    xyz = _regular_swath(500.0, 25.0)
    radius = _uniform_radius(xyz, 500.0)
    values = np.ones((2, *xyz.shape[:2]), np.float32)
    values[0, ::3, ::3] = np.nan  # scattered unusable pixels in band 0 only
    out = resample.resample_nearest(xyz, radius, values)
    lon, lat = grid.cell_centres()
    inside = (np.abs(lon - 131.9) < 0.2) & (np.abs(lat - 42.8) < 0.3)
    assert np.isfinite(out[1][inside]).all()
    assert np.isfinite(out[0][inside]).all()


def test_measured_pixels_come_first_within_1000_m():
    """Rows of restored pixels (value 2) between measured ones (value 1), 500 m apart."""
    xyz = _regular_swath(500.0, 25.0)
    radius = _uniform_radius(xyz, 500.0)
    restored = np.zeros(xyz.shape[:2], bool)
    restored[np.arange(xyz.shape[0]) % 10 < 6] = True  # 3 km of restored rows, 2 km measured
    values = np.where(restored, 2.0, 1.0).astype(np.float32)
    out = resample.resample_measured_first(xyz, radius, values, restored).ravel()
    lon, lat = grid.cell_centres()
    cells = lonlat_to_xyz(lon, lat).reshape(-1, 3)
    to_measured, _ = cKDTree(xyz[~restored]).query(cells)
    inside = ((np.abs(lon - 131.9) < 0.2) & (np.abs(lat - 42.8) < 0.3)).ravel()
    assert np.array_equal(out[inside] == 1, to_measured[inside] <= resample.MEASURED_RADIUS_M)
    assert (out[inside] == 2).any()
