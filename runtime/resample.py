"""Nearest-neighbour resampling of 500 m swath pixels onto the bay grid.

Swath pixels and grid cell centres are points in Earth-centred x, y, z on pyresample's sphere;
each cell takes the values of the nearest swath pixel found by a KD-tree (pykdtree), as
satpy/pyresample's ``nearest`` resampler does. Where scans overlap (the bow-tie near the swath
edges) a ground point is seen twice and simply takes whichever pixel centre is closer.

Search radius. A cell gets data only if it lies inside the footprint of its nearest pixel, so
cells beyond the swath edge, past the granule's first/last scan or across a gap of missing scans
stay NaN, while no hole opens inside the swath however large the pixels grow. The footprint of a
pixel is taken as the rectangle spanned by its neighbours' centres: ``along_scan`` x
``along_track`` metres (0.5 km x 0.5 km at nadir, roughly 2.4 km x 1 km at the swath edge); a
point of it is at most half the diagonal from the centre. The radius adds half a grid cell's
diagonal to that, so a cell counts as covered when the cell, not only its centre, reaches the
footprint: about 0.68 km at nadir, 1.6 km at the swath edge. (satpy's nearest resampler takes
one fixed radius of 1000 m for 500 m data: wider than the footprint at nadir, so it reaches
0.3 km further past a granule's first and last scan, and narrower at the swath edge, so it stops
0.6 km short of the outer edge and leaves single empty cells between pixels more than 2 km
apart along the scan (the outer few degrees of scan angle). Elsewhere both give the same cells.)

Each band takes its own nearest usable pixel, as satpy masks each dataset before resampling: a
pixel that is NaN in one band (saturated, below range, dead detector) hands its cells to the next
nearest of the NEIGHBOURS closest pixels that is usable in that band, if that one's footprint
reaches the cell; otherwise the cell is NaN in that band.

Band 6 of Aqua, whose dead detectors' rows are restored values (``runtime.band6``), takes
measurements first: ``resample_measured_first``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from pykdtree.kdtree import KDTree

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
#: Reach (m) of a measured pixel over restored ones: satpy's nearest-neighbour radius for 500 m.
MEASURED_RADIUS_M = 1000.0


@functools.cache
def _cell_xyz() -> np.ndarray:
    lon, lat = grid.cell_centres()
    return lonlat_to_xyz(lon, lat).reshape(-1, 3)


def search_radius(along_scan: np.ndarray, along_track: np.ndarray) -> np.ndarray:
    """Per-pixel search radius (m): half the footprint diagonal plus half a cell diagonal."""
    return 0.5 * np.hypot(along_scan, along_track) + CELL_HALF_DIAGONAL_M


def near_bay(xyz: np.ndarray, margin_km: float = BOX_MARGIN_KM) -> np.ndarray:
    """True for swath pixels within ``margin_km`` of the grid's lon/lat box (NaN -> False)."""
    lon, lat = xyz_to_lonlat(xyz)
    dlat = np.degrees(margin_km * 1000 / EARTH_RADIUS_M)
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
    pixels = _Pixels(radius[keep], values[:, keep], usable[:, keep])
    out = np.full((values.shape[0], grid.ROWS * grid.COLS), np.nan, dtype=np.float32)
    if pixels.radius.size:
        tree = KDTree(np.ascontiguousarray(xyz[keep]))
        bound = float(pixels.radius.max())
        cells = _cell_xyz()
        distance, index = tree.query(cells, k=1, distance_upper_bound=bound)
        incomplete = pixels.fill(out, np.arange(len(cells)), distance[:, None], index[:, None])
        # Cells whose nearest pixel is unusable in some band: look at more neighbours.
        again = np.flatnonzero(incomplete)
        if again.size:
            distance, index = tree.query(cells[again], k=NEIGHBOURS, distance_upper_bound=bound)
            pixels.fill(out, again, distance, index)
    return out.reshape(values.shape[0], grid.ROWS, grid.COLS)


def resample_measured_first(
    xyz: np.ndarray,
    radius: np.ndarray,
    values: np.ndarray,
    restored: np.ndarray,
    measured_radius: float = MEASURED_RADIUS_M,
) -> np.ndarray:
    """One band on the grid, from measured pixels first and restored ones only in their gaps.

    A cell takes the nearest measured pixel within ``measured_radius`` (or the pixel's own
    search radius where that is larger); only cells no measured pixel comes that close take
    the nearest restored pixel whose footprint reaches them. Why: a measurement of the cell
    beats a model of it, so the restored values (``runtime.band6``) fill just the cells that
    only dead detectors saw. 1000 m is the radius of satpy/pyresample's nearest neighbour for
    500 m data, so Aqua's band 6 agrees with satpy wherever satpy has it (issue 2). The cost,
    measured on synthetic Terra granules with Aqua's dead rows knocked out (BENCHMARKS.md
    "Band-6 restoration"): against the complete file the 99th percentile |error| is 0.04-0.05
    (about 0.005 when every cell takes its nearest pixel, restored or not), because a working
    row up to 1 km away lies across an ice, water or cloud edge; the median barely moves.

    ``xyz``: pixel centres (..., 3); ``radius``: per-pixel search radius (...); ``values``:
    float32 (...), NaN = unusable; ``restored``: bool (...), True for restored values.
    Returns float32 (ROWS, COLS).
    """
    measured = np.where(restored, np.nan, values)[None]
    out = resample_nearest(xyz, np.maximum(radius, measured_radius), measured)[0]
    gaps = np.isnan(out)
    fill = resample_nearest(xyz, radius, np.where(restored, values, np.nan)[None])[0]
    out[gaps] = fill[gaps]
    return out


@dataclass(frozen=True)
class _Pixels:
    """The swath pixels in the tree: search radius (n,), values and usability (bands, n)."""

    radius: np.ndarray
    values: np.ndarray
    usable: np.ndarray

    def fill(self, out: np.ndarray, cells: np.ndarray, distance: np.ndarray, index: np.ndarray):
        """Give each cell, per band, its first reached usable neighbour; ``out`` (bands, cells).

        ``distance``/``index``: (len(cells), k) from the tree. Returns, per cell, True where its
        nearest pixel reaches it but is unusable in some band.
        """
        reached = index < self.radius.size
        index = np.where(reached, index, 0)
        reached &= distance <= self.radius[index]
        rows = np.arange(len(cells))
        for band, (band_values, band_usable) in enumerate(
            zip(self.values, self.usable, strict=True)
        ):
            candidate = reached & band_usable[index]
            first = candidate.argmax(axis=1)
            found = candidate[rows, first]
            out[band, cells[found]] = band_values[index[found, first[found]]]
        return reached[:, 0] & ~self.usable[:, index[:, 0]].all(axis=0)
