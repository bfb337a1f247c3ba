"""Nearest-neighbour resampling of 500 m swath pixels onto the bay grid.

Swath pixels and grid cell centres are points in Earth-centred x, y, z on pyresample's sphere;
each cell takes the values of the nearest swath pixel found by a KD-tree, as satpy/pyresample's
``nearest`` resampler does. Where scans overlap (the bow-tie near the swath edges) a ground point
is seen twice and simply takes whichever pixel centre is closer.

Search radius. A cell gets data only if it lies inside the footprint of its nearest pixel, so
cells beyond the swath edge, past the granule's first/last scan or across a gap of missing scans
stay NaN, while no hole opens inside the swath however large the pixels grow. The footprint of a
pixel is taken as the rectangle spanned by its neighbours' centres: ``along_scan`` x
``along_track`` metres (0.5 km x 0.5 km at nadir, roughly 2.4 km x 1 km at the swath edge); a
point of it is at most half the diagonal from the centre. The radius adds half a grid cell's
diagonal to that, so a cell counts as covered when the cell, not only its centre, reaches the
footprint. (pyresample used by satpy takes one fixed radius of 1000 m for 500 m data: wider than
the footprint at nadir and narrower than it at the swath edge; both rules give the same cells
except in a strip well under a kilometre wide along the coverage's outline.)

Each band takes its own nearest usable pixel, as satpy masks each dataset before resampling: a
pixel that is NaN in one band (saturated, below range, dead detector) hands its cells to the next
nearest of the NEIGHBOURS closest pixels that is usable in that band, if that one's footprint
reaches the cell; otherwise the cell is NaN in that band.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.spatial import cKDTree

from runtime import grid
from runtime.geolocation import EARTH_RADIUS_M, lonlat_to_xyz, xyz_to_lonlat

#: Half the diagonal of a grid cell (about 500 m x 430 m), added to each pixel's footprint radius.
CELL_HALF_DIAGONAL_M = 0.5 * float(
    np.hypot(
        np.radians(grid.DLON) * EARTH_RADIUS_M * np.cos(np.radians(grid.NORTH)),
        np.radians(grid.DLAT) * EARTH_RADIUS_M,
    )
)
#: Swath pixels farther than this from the grid's box are dropped before building the tree; it
#: must exceed the largest search radius (a few km at the swath edge).
BOX_MARGIN_KM = 5.0


#: Pixels looked at per cell when the nearest is unusable in a band.
NEIGHBOURS = 8


@functools.cache
def _cell_xyz() -> np.ndarray:
    lon, lat = grid.cell_centres()
    return lonlat_to_xyz(lon, lat).reshape(-1, 3)


def search_radius(along_scan: np.ndarray, along_track: np.ndarray) -> np.ndarray:
    """Per-pixel search radius (m): half the footprint diagonal plus half a cell diagonal."""
    return 0.5 * np.hypot(along_scan, along_track) + CELL_HALF_DIAGONAL_M


def near_bay(xyz: np.ndarray) -> np.ndarray:
    """True for swath pixels within BOX_MARGIN_KM of the grid's lon/lat box (NaN -> False)."""
    lon, lat = xyz_to_lonlat(xyz)
    dlat = np.degrees(BOX_MARGIN_KM * 1000 / EARTH_RADIUS_M)
    dlon = dlat / np.cos(np.radians(grid.NORTH + dlat))
    return (
        (lat >= grid.SOUTH - dlat)
        & (lat <= grid.NORTH + dlat)
        & (lon >= grid.WEST - dlon)
        & (lon <= grid.EAST + dlon)
    )


def resample_nearest(xyz: np.ndarray, radius: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values of swath pixels on the grid, NaN where no usable pixel's footprint reaches a cell.

    ``xyz``: pixel centres (..., 3) in metres; ``radius``: per-pixel search radius (...) in
    metres; ``values``: (bands, ...) float32, NaN = unusable. Returns float32 (bands, ROWS, COLS).
    """
    usable = np.isfinite(values)
    keep = near_bay(xyz) & usable.any(axis=0)
    points, pixel_radius = xyz[keep], radius[keep]
    pixel_values, pixel_usable = values[:, keep], usable[:, keep]
    out = np.full((values.shape[0], grid.ROWS * grid.COLS), np.nan, dtype=np.float32)
    if len(points):
        distance, index = cKDTree(points).query(
            _cell_xyz(), k=NEIGHBOURS, distance_upper_bound=float(pixel_radius.max()), workers=-1
        )
        reached = index < len(points)
        index[~reached] = 0
        reached &= distance <= pixel_radius[index]
        cells = np.arange(len(index))
        for band, band_values in enumerate(pixel_values):
            candidate = reached & pixel_usable[band][index]
            first = candidate.argmax(axis=1)
            found = candidate[cells, first]
            out[band, found] = band_values[index[found, first[found]]]
    return out.reshape(values.shape[0], grid.ROWS, grid.COLS)
