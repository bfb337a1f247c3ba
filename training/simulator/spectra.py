"""Top-of-atmosphere reflectance factors of the scene's surfaces, bands 1-7 (doc 11.1).

`TABLE` is modis-l1b-500m.md table 11.1 (rho, already divided by cos(solar zenith), for solar
zenith 55-75 degrees): (low, high) per band 1..7 for each scene type. Each scene draws one
spectrum per surface type inside those ranges (one shared quantile for the visible bands plus
per-band jitter, so a spectrum keeps its shape; a separate one for the snow/ice grain-size
sensitive bands 5-7). Open water is darker at high sun: its quantile follows the solar zenith
(Rayleigh path radiance over a dark surface grows with the slant path). Pixels then get
within-class texture and sub-pixel mixing of sea, ice and land.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.simulator.scene import Surface

N_BANDS = 7

TABLE: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "water": (
        (0.03, 0.01, 0.08, 0.05, 0.005, 0.003, 0.002),
        (0.07, 0.04, 0.18, 0.10, 0.02, 0.015, 0.01),
    ),
    "grey_ice": (
        (0.08, 0.06, 0.12, 0.10, 0.03, 0.01, 0.005),
        (0.30, 0.25, 0.35, 0.32, 0.12, 0.06, 0.04),
    ),
    "white_ice": (
        (0.55, 0.50, 0.60, 0.60, 0.30, 0.04, 0.02),
        (0.90, 0.85, 0.95, 0.92, 0.55, 0.15, 0.08),
    ),
    "water_cloud": (
        (0.30, 0.30, 0.35, 0.30, 0.30, 0.20, 0.10),
        (0.90, 0.90, 0.90, 0.90, 0.75, 0.50, 0.35),
    ),
    "ice_cloud": (
        (0.30, 0.30, 0.35, 0.30, 0.25, 0.08, 0.04),
        (0.80, 0.80, 0.85, 0.80, 0.60, 0.30, 0.20),
    ),
    "land": (
        (0.05, 0.12, 0.08, 0.07, 0.15, 0.12, 0.06),
        (0.15, 0.30, 0.16, 0.14, 0.30, 0.30, 0.20),
    ),
    "snow_land": (
        (0.50, 0.45, 0.55, 0.55, 0.30, 0.05, 0.02),
        (0.85, 0.80, 0.90, 0.88, 0.50, 0.15, 0.08),
    ),
    "snow_forest": (
        (0.15, 0.15, 0.20, 0.18, 0.12, 0.05, 0.03),
        (0.40, 0.40, 0.45, 0.42, 0.30, 0.15, 0.10),
    ),
}

#: Relative within-class texture (standard deviation of the multiplicative variation).
TEXTURE = {"water": 0.04, "ice": 0.07, "land": 0.10}
VISIBLE = slice(0, 4)
SWIR = slice(4, 7)


def table_range(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) float32 arrays of 7 for a scene type of `TABLE`."""
    low, high = TABLE[kind]
    return np.array(low, dtype=np.float32), np.array(high, dtype=np.float32)


def draw_spectrum(kind: str, rng: np.random.Generator, centre: float | None = None) -> np.ndarray:
    """One spectrum (7,) inside the table range of `kind`, coherent across bands."""
    low, high = table_range(kind)
    quantile = np.empty(N_BANDS, dtype=np.float32)
    base = rng.uniform(0.15, 0.85) if centre is None else centre
    quantile[VISIBLE] = base + rng.normal(0, 0.04, 4)
    quantile[SWIR] = rng.uniform(0.15, 0.85) + rng.normal(0, 0.06, 3)
    return low + (high - low) * np.clip(quantile, 0.02, 0.98)


@dataclass(frozen=True)
class Spectra:
    """The end-member spectra of one scene, each (7,) float32."""

    water: np.ndarray
    nilas: np.ndarray
    grey_ice: np.ndarray
    white_ice: np.ndarray
    land: np.ndarray
    snow_land: np.ndarray
    snow_forest: np.ndarray


def draw_spectra(rng: np.random.Generator, solar_zenith_deg: float) -> Spectra:
    """End members of a scene; water gets brighter in the blue as the sun gets lower."""
    water_centre = float(np.clip(0.25 + 0.5 * (solar_zenith_deg - 55) / 20, 0.05, 0.9))
    water_centre += float(rng.normal(0, 0.08))
    low, high = table_range("grey_ice")
    return Spectra(
        water=draw_spectrum("water", rng, centre=water_centre),
        nilas=low + (high - low) * rng.uniform(0.0, 0.2, N_BANDS).astype(np.float32),
        grey_ice=low + (high - low) * rng.uniform(0.6, 0.95, N_BANDS).astype(np.float32),
        white_ice=draw_spectrum("white_ice", rng),
        land=draw_spectrum("land", rng),
        snow_land=draw_spectrum("snow_land", rng),
        snow_forest=draw_spectrum("snow_forest", rng),
    )


MEMBERS = ("water", "nilas", "grey_ice", "white_ice", "land", "snow_land", "snow_forest")


def member_matrix(spectra: Spectra) -> np.ndarray:
    """End-member spectra as a (7 bands, 7 members) matrix in the order of `MEMBERS`."""
    return np.stack([getattr(spectra, name) for name in MEMBERS], axis=1).astype(np.float32)


def mixing_weights(surface: Surface, sea: np.ndarray) -> np.ndarray:
    """Weight of each end member in each pixel, (7 members, H, W) float32, texture included.

    Ice goes from nilas (whiteness 0) to grey ice (0.5) to white ice (1); land mixes snow-free,
    open snow and forest snow; a pixel mixes sea (ice share of its water) and land. The surface
    reflectance of band b is then sum_k weights[k] * member_matrix[b, k].
    """
    w = surface.whiteness
    low_half = np.clip(2 * w, 0, 1)
    high_half = np.clip(2 * w - 1, 0, 1)
    ice = sea * surface.ice * (1 + TEXTURE["ice"] * surface.texture)
    water = sea * (1 - surface.ice) * (1 + TEXTURE["water"] * surface.texture)
    land = (1 - sea) * (1 + TEXTURE["land"] * surface.relief)
    snow = land * surface.snow
    weights = np.empty((len(MEMBERS), *sea.shape), dtype=np.float32)
    weights[0] = water
    weights[1] = ice * (1 - low_half)
    weights[2] = ice * (low_half - high_half)
    weights[3] = ice * high_half
    weights[4] = land - snow
    weights[5] = snow * (1 - surface.forest)
    weights[6] = snow * surface.forest
    return weights


def surface_reflectance(surface: Surface, sea: np.ndarray, spectra: Spectra) -> np.ndarray:
    """Reflectance factor of the surface, (7 bands, H, W) float32."""
    weights = mixing_weights(surface, sea)
    flat = member_matrix(spectra) @ weights.reshape(len(MEMBERS), -1)
    return flat.reshape(N_BANDS, *sea.shape)
