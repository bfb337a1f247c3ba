"""Clouds over the bay: water clouds, thick ice clouds, thin cirrus, and their shadows.

Each layer is a field of optical thickness tau on the fine raster (thresholded correlated noise,
so clouds have thin edges and thick cores; water clouds line up in streets along the winter
monsoon). The radiative model is a single-layer two-stream approximation, good enough to make
clouds brighten, hide and shadow the surface in the right proportions:

- cloud reflectance  R_b = a_b * g tau / (1 + g tau), with g = 0.15 / (2 cos(sza)) (asymmetry
  factor 0.85; low sun makes clouds brighter), and a_b the band's single-scattering brightness:
  1 in the visible, lower in the SWIR (water absorbs at 1.6 and 2.1 um, ice more: that is what
  separates ice clouds from water clouds, and what lets ice clouds pass an NDSI test);
- transmission down 1 / (1 + g tau) and up 1 / (1 + 0.075 tau) (view near nadir);
- TOA = R_b + T_down T_up rho_s S / (1 - r rho_s), r = the cloud's albedo from below, S the
  direct-sun shadow of clouds standing between the pixel and the sun.

A cloud is *opaque* where tau >= TAU_OPAQUE = 4: there the surface contributes less than about
a third of the signal at low sun and its contrast is buried under the cloud's own texture; such
cells are labelled "not ice" and marked obscured (see ``truth``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from runtime.solar import cos_solar_zenith
from training.simulator.noise import gaussian_field
from training.simulator.raster import shift

TAU_OPAQUE = 4.0
#: Brightness factor a_b of each band (1..7) for water and ice cloud particles.
WATER_CLOUD_BANDS = np.array([1.0, 1.0, 1.0, 1.0, 0.88, 0.55, 0.34], dtype=np.float32)
ICE_CLOUD_BANDS = np.array([0.97, 0.97, 0.98, 0.97, 0.78, 0.33, 0.2], dtype=np.float32)
UP_FACTOR = 0.075
#: Largest loss of light in a cloud shadow (diffuse skylight keeps the rest).
SHADOW_DEPTH = 0.65

#: Cold-air outbreaks: share of cloudy scenes, strength (field units) and fetch (km) of the
#: growth of water clouds from the coast out over the sea.
OUTBREAK_SHARE = 0.5
OUTBREAK_STRENGTH = 1.2
OUTBREAK_FETCH_KM = 40.0
#: (cover low, cover high) of all cloud together, per cloud regime.
COVER = {"clear": (0.0, 0.04), "partly": (0.15, 0.5), "mostly": (0.6, 0.95)}


@dataclass
class Clouds:
    """Optical thickness of the water and ice (incl. cirrus) layers, (H, W) float32 each."""

    tau_water: np.ndarray
    tau_ice: np.ndarray
    water_height_km: float
    ice_height_km: float
    swir_factor: float  # particle size: scales a_b of bands 6 and 7

    @property
    def tau(self) -> np.ndarray:
        return self.tau_water + self.tau_ice


def _layer(field: np.ndarray, cover: float, tau_max: float) -> np.ndarray:
    """Cloud where `field` is in its top `cover` share, tau rising from the edges to tau_max."""
    if cover <= 0:
        return np.zeros(field.shape, dtype=np.float32)
    level = np.quantile(field[::7, ::7], 1 - cover)
    excess = np.clip(field - level, 0, None)
    return (tau_max * (1 - np.exp(-0.8 * excess))).astype(np.float32)


def make_clouds(
    fetch_km: np.ndarray, cloud_regime: str, rng: np.random.Generator
) -> Clouds:
    """Cloud layers of one scene for a cloud regime (``clear``, ``partly`` or ``mostly``).

    `fetch_km` is the distance from land over the sea (0 on land). In a cold-air outbreak
    (half of the cloudy scenes) water clouds form over the open sea and thicken with the fetch,
    leaving land and the coast clear, as the winter monsoon does over the Sea of Japan.
    """
    if cloud_regime not in COVER:
        raise ValueError(f"unknown cloud regime {cloud_regime!r}; choose {', '.join(COVER)}")
    shape = fetch_km.shape
    cover = float(rng.uniform(*COVER[cloud_regime]))
    water_share = float(rng.uniform(0.4, 1.0))
    street_angle = float(rng.uniform(-60, -20))  # streets run NW-SE with the monsoon
    water_field = gaussian_field(
        shape, rng, smallest_px=2, largest_px=float(rng.uniform(60, 300)), slope=2.8,
        stretch=float(rng.uniform(1, 3)), angle_deg=street_angle,
    )
    if cloud_regime != "clear" and rng.random() < OUTBREAK_SHARE:
        water_field += OUTBREAK_STRENGTH * (2 * np.clip(fetch_km / OUTBREAK_FETCH_KM, 0, 1) - 1)
    tau_water = _layer(water_field, cover * water_share, float(rng.lognormal(np.log(20), 0.5)))
    ice_field = gaussian_field(
        shape, rng, smallest_px=4, largest_px=400, slope=3.5, stretch=2.0, angle_deg=street_angle
    )
    tau_ice = _layer(ice_field, cover * (1 - water_share), float(rng.lognormal(np.log(8), 0.5)))
    if rng.random() < (0.2 if cloud_regime == "clear" else 0.4):
        cirrus_tau = (0.2, 0.8) if cloud_regime == "clear" else (0.3, 2.0)
        cirrus_field = gaussian_field(
            shape, rng, smallest_px=2, largest_px=300, slope=2.8,
            stretch=float(rng.uniform(2, 5)), angle_deg=float(rng.uniform(-90, 90)),
        )
        tau_ice += _layer(cirrus_field, float(rng.uniform(0.2, 0.7)),
                          float(rng.uniform(*cirrus_tau)))
    return Clouds(
        tau_water=tau_water,
        tau_ice=tau_ice,
        water_height_km=float(rng.uniform(0.8, 3.0)),
        ice_height_km=float(rng.uniform(6.0, 10.0)),
        swir_factor=float(rng.uniform(0.85, 1.15)),
    )


def sun_direction(time_utc: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Unit vector (north, east) towards the sun's azimuth, from the gradient of cos(sza)."""
    step = 0.5
    d_east = float(
        cos_solar_zenith(time_utc, lon + step, lat) - cos_solar_zenith(time_utc, lon - step, lat)
    ) / math.cos(math.radians(lat))
    d_north = float(
        cos_solar_zenith(time_utc, lon, lat + step) - cos_solar_zenith(time_utc, lon, lat - step)
    )
    norm = math.hypot(d_north, d_east)
    return d_north / norm, d_east / norm


def shadow(
    clouds: Clouds,
    mu0: float,
    towards_sun: tuple[float, float],
    pixel_km: tuple[float, float],
) -> np.ndarray:
    """Direct-sun factor S (H, W): 1 in the open, down to 1 - SHADOW_DEPTH in thick shadow.

    A pixel is shadowed by the cloud that stands height * tan(sza) away towards the sun.
    """
    tan_zenith = math.sqrt(max(1 - mu0**2, 0.0)) / mu0
    blocked = np.zeros_like(clouds.tau_water)
    for tau, height in ((clouds.tau_water, clouds.water_height_km),
                        (clouds.tau_ice, clouds.ice_height_km)):
        reach = height * tan_zenith
        dy = round(reach * towards_sun[0] / pixel_km[0])  # rows grow southwards
        dx = round(-reach * towards_sun[1] / pixel_km[1])
        blocked += shift(tau, dy, dx)
    return (1 - SHADOW_DEPTH * (1 - np.exp(-blocked / (4 * mu0)))).astype(np.float32)


def cloud_optics(clouds: Clouds, mu0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel terms shared by all bands: g tau / (1 + g tau), transmission, water share."""
    tau = clouds.tau
    g_tau = (0.15 / (2 * mu0)) * tau
    brightness = g_tau / (1 + g_tau)
    transmission = 1 / ((1 + g_tau) * (1 + UP_FACTOR * tau))
    with np.errstate(invalid="ignore", divide="ignore"):
        water_share = np.where(tau > 0, clouds.tau_water / tau, 1.0)
    return brightness.astype(np.float32), transmission.astype(np.float32), water_share


def toa_band(
    surface_rho: np.ndarray,
    clouds: Clouds,
    optics: tuple[np.ndarray, np.ndarray, np.ndarray],
    sun_factor: np.ndarray,
    band: int,
) -> np.ndarray:
    """TOA reflectance factor of one band (index 0..6) over the surface `surface_rho`."""
    brightness, transmission, water_share = optics
    a_water, a_ice = WATER_CLOUD_BANDS[band], ICE_CLOUD_BANDS[band]
    if band >= 5:
        a_water, a_ice = a_water * clouds.swir_factor, a_ice * clouds.swir_factor
    a = a_ice + (a_water - a_ice) * water_share
    cloud = a * brightness
    lit = surface_rho * sun_factor
    return (cloud + transmission * lit / (1 - cloud * surface_rho)).astype(np.float32)
