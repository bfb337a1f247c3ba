"""The fixed regional grid of Peter the Great Bay (the project's contract, see README).

EPSG:4326, cell edges west 130.60, east 133.25, south 42.25, north 43.35; 285 rows x 430
columns; row 0 is the northernmost row.
"""

from __future__ import annotations

import math

import numpy as np

WEST, EAST, SOUTH, NORTH = 130.60, 133.25, 42.25, 43.35
ROWS, COLS = 285, 430
DLON = (EAST - WEST) / COLS
DLAT = (NORTH - SOUTH) / ROWS
SHAPE = (ROWS, COLS)
CRS = "EPSG:4326"

#: The seven reflective MODIS bands in model order.
BANDS = (1, 2, 3, 4, 5, 6, 7)

#: GDAL-style affine geotransform (x0, dx, 0, y0, 0, -dy) of the cell edges.
GEOTRANSFORM = (WEST, DLON, 0.0, NORTH, 0.0, -DLAT)

# WGS84 ellipsoid
WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563


def describe() -> dict:
    """The grid as plain data, stored in checkpoints and ONNX metadata and compared on load."""
    return {
        "crs": CRS,
        "west": WEST,
        "east": EAST,
        "south": SOUTH,
        "north": NORTH,
        "rows": ROWS,
        "cols": COLS,
    }


def matches(other: dict) -> bool:
    """True when a grid description (from a model or a crop) is this grid."""
    mine = describe()
    try:
        return (
            other["crs"] == mine["crs"]
            and int(other["rows"]) == ROWS
            and int(other["cols"]) == COLS
            and all(
                math.isclose(float(other[k]), mine[k], abs_tol=1e-9)
                for k in ("west", "east", "south", "north")
            )
        )
    except (KeyError, TypeError, ValueError, OverflowError):  # OverflowError: rows = Infinity
        return False


def cell_centres() -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of every cell centre, each float64 (ROWS, COLS)."""
    lon = WEST + (np.arange(COLS) + 0.5) * DLON
    lat = NORTH - (np.arange(ROWS) + 0.5) * DLAT
    return np.meshgrid(lon, lat)


def _authalic_q(lat_rad: np.ndarray) -> np.ndarray:
    """q(phi) of the ellipsoidal area formula (Snyder 1987, eq. 3-12), unitless."""
    e2 = WGS84_F * (2 - WGS84_F)
    e = math.sqrt(e2)
    s = np.sin(lat_rad)
    return (1 - e2) * (s / (1 - e2 * s**2) - np.log((1 - e * s) / (1 + e * s)) / (2 * e))


def cell_areas_km2() -> np.ndarray:
    """True area of each cell on the WGS84 ellipsoid, km2, float64 (ROWS, COLS).

    The area between two parallels over dlon radians is a^2 / 2 * (q(phi2) - q(phi1)) * dlon.
    Cells of one row share an area; it shrinks northwards by about 2.5% across the grid.
    """
    edges = np.radians(NORTH - np.arange(ROWS + 1) * DLAT)
    q = _authalic_q(edges)
    row_area_m2 = WGS84_A**2 / 2 * (q[:-1] - q[1:]) * math.radians(DLON)
    return np.repeat((row_area_m2 / 1e6)[:, None], COLS, axis=1)
