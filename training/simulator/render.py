"""From a scene spec to what MODIS would record: TOA reflectance, footprint, noise, stripes.

`render_scene` builds the fine-raster TOA reflectance factor rho (surface, clouds, shadows) for
the sun of the granule's time. `observe` then images it like the sensor: each 500 m pixel sees
the scene through its footprint (a Gaussian whose width is the pixel's ground size along scan
and along track at that place in the swath; the footprint's small rotation against north is
ignored) at the exact position the swath geometry gives. `sensor_effects` adds what the
instrument adds to the stored L1B value rho * cos(sza): Gaussian noise (a floor plus a
proportional part), detector-to-detector and mirror-side gain differences (the striping of the
L1B product), larger for the surviving Aqua band-6 detectors. The dead Aqua band-6 rows (65531)
are written by the granule writer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from runtime import grid
from runtime.solar import cos_solar_zenith
from training.simulator.clouds import (
    Clouds,
    cloud_optics,
    make_clouds,
    shadow,
    sun_direction,
    toa_band,
)
from training.simulator.raster import FACTOR, fine_raster
from training.simulator.regimes import SceneSpec
from training.simulator.scene import Surface, build_surface
from training.simulator.spectra import N_BANDS, draw_spectra, surface_reflectance
from training.swath import BAY_CENTRE, DETECTORS_500M

#: Noise of the stored L1B value per band 1..7: floor (reflectance units) and relative part.
NOISE_FLOOR = np.array([6e-4, 6e-4, 5e-4, 5e-4, 1.0e-3, 1.2e-3, 1.2e-3], dtype=np.float32)
NOISE_RELATIVE = 0.004
#: Standard deviation of detector gains (relative) per band; Aqua band 6's survivors are worse.
DETECTOR_GAIN_SPREAD = np.array([3e-3, 3e-3, 2e-3, 2e-3, 3e-3, 4e-3, 4e-3], dtype=np.float32)
AQUA_BAND6_GAIN_SPREAD = 0.02
MIRROR_SIDE_SPREAD = 1.5e-3


@dataclass
class Scene:
    """One rendered scene: TOA reflectance factor (7, H, W) and the truth behind it."""

    spec: SceneSpec
    rho: np.ndarray
    surface: Surface
    clouds: Clouds
    sunlit: np.ndarray  # (H, W) direct-sun factor: 1 in the open, less in cloud shadows
    mu0: float  # cos of the solar zenith at the bay centre at the granule's start


def render_scene(spec: SceneSpec) -> Scene:
    """The scene of `spec` on the fine raster, deterministic in `spec.seed`."""
    rng = np.random.default_rng(spec.seed)
    raster = fine_raster()
    lon0, lat0 = BAY_CENTRE
    mu0 = float(cos_solar_zenith(spec.start_time, lon0, lat0))
    surface = build_surface(raster, spec.ice_regime, rng)
    clouds = make_clouds(raster.dist_land_km, spec.cloud_regime, rng)
    spectra = draw_spectra(rng, math.degrees(math.acos(mu0)))
    sunlit = shadow(clouds, mu0, sun_direction(spec.start_time, lon0, lat0), raster.pixel_km)
    optics = cloud_optics(clouds, mu0)
    rho = surface_reflectance(surface, raster.sea, spectra)
    for band in range(N_BANDS):
        rho[band] = toa_band(rho[band], clouds, optics, sunlit, band)
    return Scene(spec=spec, rho=rho, surface=surface, clouds=clouds, sunlit=sunlit, mu0=mu0)


def fine_pixel_coordinates(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """(row, col) positions on the fine raster of points (lon, lat), float, shape (2, ...)."""
    row = (grid.NORTH - lat) / (grid.DLAT / FACTOR) - 0.5
    col = (lon - grid.WEST) / (grid.DLON / FACTOR) - 0.5
    return np.stack([row, col])


def observe(
    rho: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    along_scan_km: float,
    along_track_km: float,
) -> np.ndarray:
    """Rho seen by pixels centred at (lon, lat) with the given footprint size: (7, *lon.shape).

    The footprint is a Gaussian with the pixel's size as full width at half maximum; positions
    off the raster take the value at its nearest edge.
    """
    dy_km, dx_km = fine_raster().pixel_km
    fwhm = 2 * math.sqrt(2 * math.log(2))
    sigma = (along_track_km / fwhm / dy_km, along_scan_km / fwhm / dx_km)
    coords = fine_pixel_coordinates(lon, lat)
    seen = np.empty((rho.shape[0], *lon.shape), dtype=np.float32)
    for band in range(rho.shape[0]):
        blurred = ndimage.gaussian_filter(rho[band], sigma, mode="nearest", truncate=3.0)
        seen[band] = ndimage.map_coordinates(blurred, coords, order=1, mode="nearest")
    return seen


def sensor_effects(
    l1b: np.ndarray, platform: str, rng: np.random.Generator, first_row: int = 0
) -> np.ndarray:
    """Stored reflectance (7, rows, cols) with detector/mirror gains and noise added (new array).

    `first_row` is the swath row of the first row given, so detectors and mirror sides line up.
    """
    n_bands, n_rows, _ = l1b.shape
    row = first_row + np.arange(n_rows)
    detector = row % DETECTORS_500M
    mirror = (row // DETECTORS_500M) % 2
    spread = DETECTOR_GAIN_SPREAD.copy()
    if platform == "Aqua":
        spread[5] = AQUA_BAND6_GAIN_SPREAD
    gains = 1 + rng.normal(0, 1, (n_bands, DETECTORS_500M)) * spread[:, None]
    sides = 1 + rng.normal(0, MIRROR_SIDE_SPREAD, (n_bands, 2))
    row_gain = gains[:, detector] * sides[:, mirror]
    out = l1b * row_gain[:, :, None]
    sigma = np.sqrt(NOISE_FLOOR[:, None, None] ** 2 + (NOISE_RELATIVE * out) ** 2)
    out += sigma * rng.standard_normal(out.shape, dtype=np.float32)
    return out.astype(np.float32)
