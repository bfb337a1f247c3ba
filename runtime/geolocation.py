"""1 km MODIS geolocation -> 500 m pixel positions, in Earth-centred Cartesian coordinates.

The 500 m file carries Latitude/Longitude of the 1 km frames only. Per the product's dimension
maps and fractional offsets, 1 km point (row r, frame f) sits at 500 m position (2r + 0.5, 2f);
so 500 m detector k of a scan is at 1 km row coordinate k/2 - 0.25 and column i at i/2. Pixels
are placed by bilinear interpolation in x, y, z, one scan at a time (scans overlap on the ground,
the bow-tie, so rows of different scans must never be mixed). Detectors 0 and 19 are extrapolated
linearly from the scan's first/last two 1 km rows, and so is the column beyond the last 1 km
frame. This is python-geotiepoints' "simple" MODIS interpolator, which satpy uses for 500 m
files without a MOD03 file, so both readers put every pixel at the same place.
"""

from __future__ import annotations

import numpy as np

#: Sphere radius pyresample uses for its Cartesian coordinates (metres); the same here so
#: distances and nearest neighbours agree with it.
EARTH_RADIUS_M = 6370997.0
#: 1 km rows per scan.
ROWS_PER_SCAN_1KM = 10


def lonlat_to_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Earth-centred x, y, z in metres on the sphere, float64 with a trailing axis of 3."""
    lon_r = np.radians(np.asarray(lon, dtype=np.float64))
    lat_r = np.radians(np.asarray(lat, dtype=np.float64))
    cos_lat = np.cos(lat_r)
    return EARTH_RADIUS_M * np.stack(
        (cos_lat * np.cos(lon_r), cos_lat * np.sin(lon_r), np.sin(lat_r)), axis=-1
    )


def xyz_to_lonlat(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude in degrees of Cartesian points (any length of the vectors)."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    return np.degrees(np.arctan2(y, x)), np.degrees(np.arctan2(z, np.hypot(x, y)))


def _weights(positions: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Left tie-point index and linear weight for fractional positions on 0..size-1.

    Positions outside the range use the two end points (linear extrapolation).
    """
    left = np.clip(np.floor(positions).astype(np.int64), 0, size - 2)
    return left, positions - left


def interpolate_500m(lat_1km: np.ndarray, lon_1km: np.ndarray) -> np.ndarray:
    """500 m pixel centres (x, y, z) for whole scans of 1 km Latitude/Longitude.

    ``lat_1km``/``lon_1km``: (10 * nscans, frames); NaN marks missing geolocation and spreads to
    the 500 m pixels next to it. Returns float64 (20 * nscans, 2 * frames, 3).
    """
    rows, frames = lat_1km.shape
    if rows % ROWS_PER_SCAN_1KM or frames < 2:
        raise ValueError(f"geolocation of shape {lat_1km.shape} is not made of whole scans")
    tie = lonlat_to_xyz(lon_1km, lat_1km).reshape(rows // ROWS_PER_SCAN_1KM, 10, frames, 3)

    y0, wy = _weights(np.arange(2 * ROWS_PER_SCAN_1KM) / 2 - 0.25, ROWS_PER_SCAN_1KM)
    along = tie[:, y0] * (1 - wy)[None, :, None, None] + tie[:, y0 + 1] * wy[None, :, None, None]

    x0, wx = _weights(np.arange(2 * frames) / 2, frames)
    fine = along[:, :, x0] * (1 - wx)[:, None] + along[:, :, x0 + 1] * wx[:, None]
    return fine.reshape(2 * rows, 2 * frames, 3)


def pixel_spacing_500m(lat_1km: np.ndarray, lon_1km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (m) between neighbouring 500 m pixel centres along scan and along track.

    Computed on the 1 km tie points (half the 1 km spacing, inside each scan, so the bow-tie
    overlap between scans does not enter) and repeated onto the 500 m pixels of each 1 km point.
    Returns two float64 arrays (20 * nscans, 2 * frames).
    """
    rows, frames = lat_1km.shape
    tie = lonlat_to_xyz(lon_1km, lat_1km).reshape(rows // ROWS_PER_SCAN_1KM, 10, frames, 3)
    scan_step = np.linalg.norm(np.diff(tie, axis=2), axis=-1)
    scan_step = np.concatenate((scan_step, scan_step[:, :, -1:]), axis=2)
    track_step = np.linalg.norm(np.diff(tie, axis=1), axis=-1)
    track_step = np.concatenate((track_step, track_step[:, -1:]), axis=1)

    def to_500m(step: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(step.reshape(rows, frames) / 2, 2, axis=0), 2, axis=1)

    return to_500m(scan_step), to_500m(track_step)
