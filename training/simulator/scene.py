"""The bay's surface on the fine raster: sea ice by regime, and land with or without snow.

Ice grows from sheltered shallow shores: a *freeze potential* (the raster's shelter index, a
coastal fringe and large-scale noise) above a fast-ice threshold is fast ice; drift ice spreads
downwind (the winter monsoon blows from the north-north-west) from the fast-ice edge as floes and
bands of falling concentration, cut by leads. Each ice pixel carries a *whiteness* from 0 (dark
nilas) through grey ice (0.5) to snow-covered white ice (1). The regimes:

- ``none``: no sea ice.
- ``early-fast``: thin fringes of young fast ice at the heads of the bays, little drift.
- ``drift``: mid-winter: white fast ice in Amur, Ussuri and Posyet Bays and the straits, drift
  ice bands and floes offshore with leads.
- ``thin``: a cold snap: wide sheets of nilas and grey ice beyond a small white fast ice.
- ``break-up``: late winter: fast ice cracked and retreating, loose greyish floes.

Land is snow-free, or snow-covered (open or forested); snow covers the hills first.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from training.simulator.noise import gaussian_field, to_uniform
from training.simulator.raster import FineRaster, shift

#: Whiteness limits of the classes reported by ``train-ssegm stats``.
GREY_ICE_MAX_WHITENESS = 0.5
WHITE_ICE_MIN_WHITENESS = 0.85
#: Drift ice streams southwards with the winter monsoon, within this many degrees either side.
WIND_FROM_NORTH_SPREAD_DEG = 30.0


@dataclass(frozen=True)
class Regime:
    """Parameters of one ice regime; each scene draws values inside these ranges."""

    fast_threshold: tuple[float, float]  # freeze potential above which ice is fast
    drift_km: tuple[float, float]  # how far drift ice streams from the fast-ice edge
    drift_concentration: tuple[float, float]  # peak concentration of the drift ice
    fast_whiteness: tuple[float, float]
    drift_whiteness: tuple[float, float]
    thin_sheet: tuple[float, float]  # width (potential units) of a nilas belt beyond the fast ice
    leads_per_100km: tuple[float, float]
    open_leads: bool  # leads hold open water (break-up) rather than new nilas


REGIMES = {
    "early-fast": Regime(
        fast_threshold=(0.55, 0.68), drift_km=(0, 6), drift_concentration=(0.1, 0.5),
        fast_whiteness=(0.3, 0.9), drift_whiteness=(0.2, 0.6), thin_sheet=(0.0, 0.06),
        leads_per_100km=(0, 1), open_leads=False,
    ),
    "drift": Regime(
        fast_threshold=(0.42, 0.55), drift_km=(10, 45), drift_concentration=(0.5, 0.95),
        fast_whiteness=(0.85, 1.0), drift_whiteness=(0.6, 1.0), thin_sheet=(0.0, 0.04),
        leads_per_100km=(1, 4), open_leads=False,
    ),
    "thin": Regime(
        fast_threshold=(0.5, 0.68), drift_km=(3, 15), drift_concentration=(0.3, 0.8),
        fast_whiteness=(0.7, 1.0), drift_whiteness=(0.0, 0.35), thin_sheet=(0.1, 0.3),
        leads_per_100km=(0, 2), open_leads=False,
    ),
    "break-up": Regime(
        fast_threshold=(0.55, 0.72), drift_km=(5, 25), drift_concentration=(0.1, 0.5),
        fast_whiteness=(0.5, 0.85), drift_whiteness=(0.3, 0.8), thin_sheet=(0.0, 0.02),
        leads_per_100km=(1, 4), open_leads=True,
    ),
}


@dataclass
class Surface:
    """What is on the ground in each fine pixel (arrays (H, W) float32)."""

    ice: np.ndarray  # sea-ice share of the pixel's sea, 0..1
    whiteness: np.ndarray  # of the ice: 0 nilas, 0.5 grey, 1 snow-covered
    snow: np.ndarray  # snow share of the pixel's land
    forest: np.ndarray  # forest share of the pixel's land
    texture: np.ndarray  # unit-variance texture for within-class variation (small scales)
    relief: np.ndarray  # unit-variance texture of land at hill scales


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


@functools.cache
def _forest(shape: tuple[int, int]) -> np.ndarray:
    """Forest share of land: the same woods in every scene (fixed seed)."""
    field = gaussian_field(shape, np.random.default_rng(20240), 4, 300)
    return np.clip(0.45 + 0.3 * field, 0, 1).astype(np.float32)


def _downwind(potential: np.ndarray, reach_px: tuple[float, float], steps: int) -> np.ndarray:
    """Smear `potential` downwind: max of copies shifted up to `reach_px` (dy, dx), fading."""
    smeared = potential.copy()
    for k in range(1, steps + 1):
        fraction = k / steps
        moved = shift(potential, round(reach_px[0] * fraction), round(reach_px[1] * fraction))
        np.maximum(smeared, moved - 0.12 * fraction, out=smeared)
    return smeared


def _leads(shape: tuple[int, int], count: int, rng: np.random.Generator) -> np.ndarray:
    """Random straight-ish cracks 1-3 pixels wide: True on a lead."""
    leads = np.zeros(shape, dtype=bool)
    h, w = shape
    for _ in range(count):
        y0, x0 = rng.uniform(0, h), rng.uniform(0, w)
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(0.1, 0.5) * max(h, w)
        t = np.linspace(-length / 2, length / 2, int(length))
        bend = np.cumsum(rng.normal(0, 0.02, t.size))
        ys = y0 + t * np.sin(angle + bend)
        xs = x0 + t * np.cos(angle + bend)
        width = int(rng.integers(1, 4))
        for dy in range(width):
            for dx in range(width):
                yi, xi = (ys + dy).astype(int), (xs + dx).astype(int)
                ok = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
                leads[yi[ok], xi[ok]] = True
    return leads


def _ice(
    raster: FineRaster, regime: Regime, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ice share and whiteness of the sea for one scene of an ice regime.

    Leads in the ice hold open water during break-up and new nilas otherwise.
    """
    shape = raster.shape
    dy_km, dx_km = raster.pixel_km
    large = gaussian_field(shape, rng, 30, 600)
    fringe = 0.15 * np.exp(-raster.dist_land_km / 1.5)
    potential = raster.shelter + fringe + 0.07 * large
    fast_threshold = _uniform(rng, regime.fast_threshold)
    sea = raster.sea > 0
    fast = (potential > fast_threshold) & sea

    # Drift ice streams southwards (+/- the spread) from the fast-ice edge.
    heading = np.radians(rng.uniform(-WIND_FROM_NORTH_SPREAD_DEG, WIND_FROM_NORTH_SPREAD_DEG))
    reach_km = _uniform(rng, regime.drift_km)
    reach_px = (reach_km * np.cos(heading) / dy_km, reach_km * np.sin(heading) / dx_km)
    drift_potential = _downwind(potential, reach_px, steps=6)
    streaks = to_uniform(
        gaussian_field(shape, rng, 8, 150, stretch=4.0, angle_deg=90 + np.degrees(heading))
    )
    band = np.clip((drift_potential - fast_threshold + 0.18) / 0.18, 0, 1)
    concentration = _uniform(rng, regime.drift_concentration) * band * (0.3 + 0.9 * streaks)
    floes = to_uniform(
        0.8 * gaussian_field(shape, rng, 2, 40, slope=3.5) + 0.6 * gaussian_field(shape, rng, 1, 6)
    )
    drift = (floes < concentration) & sea & ~fast

    # A belt of new ice (nilas) just beyond the fast ice in cold spells.
    thin_width = _uniform(rng, regime.thin_sheet)
    nilas = (potential > fast_threshold - thin_width) & sea & ~fast

    leads_per_100km = _uniform(rng, regime.leads_per_100km)
    n_leads = round(leads_per_100km * shape[1] * dx_km / 100)
    leads = _leads(shape, n_leads, rng) & sea

    whiteness_noise = gaussian_field(shape, rng, 4, 80)
    fast_white = np.clip(
        _uniform(rng, regime.fast_whiteness) + 0.08 * whiteness_noise
        - 0.25 * np.clip((fast_threshold + 0.05 - potential) / 0.05, 0, 1),
        0,
        1,
    )
    drift_white = np.clip(_uniform(rng, regime.drift_whiteness) + 0.15 * whiteness_noise, 0, 1)
    nilas_white = np.clip(0.15 + 0.1 * whiteness_noise, 0, 0.45)

    ice = np.zeros(shape, dtype=np.float32)
    whiteness = np.zeros(shape, dtype=np.float32)
    for mask, white in ((nilas, nilas_white), (drift, drift_white), (fast, fast_white)):
        ice[mask] = 1.0
        whiteness[mask] = white[mask]
    if regime.open_leads:
        ice[leads] = 0.0
    else:
        refrozen = leads & (ice > 0)
        whiteness[refrozen] = np.clip(0.1 * whiteness_noise[refrozen], 0, 0.2)
    return ice, whiteness


def _snow(raster: FineRaster, rng: np.random.Generator, relief: np.ndarray) -> np.ndarray:
    """Snow share of land: none, patchy or full; hills (far from the sea) first."""
    cover = float(rng.choice([0.0, rng.uniform(0.1, 0.9), 1.0], p=[0.3, 0.45, 0.25]))
    if cover == 0.0:
        return np.zeros(raster.shape, dtype=np.float32)
    height = raster.dist_sea_km / 15 + 0.6 * relief
    line = np.quantile(height[raster.sea < 1][::97], 1 - cover)
    return np.clip((height - line) / 0.3 + 0.5, 0, 1).astype(np.float32)


def build_surface(raster: FineRaster, ice_regime: str, rng: np.random.Generator) -> Surface:
    """The surface of one scene; `ice_regime` is one of ``regimes.ICE_REGIMES``."""
    shape = raster.shape
    if ice_regime == "none":
        ice = np.zeros(shape, dtype=np.float32)
        whiteness = np.zeros(shape, dtype=np.float32)
    elif ice_regime in REGIMES:
        ice, whiteness = _ice(raster, REGIMES[ice_regime], rng)
    else:
        raise ValueError(f"unknown ice regime {ice_regime!r}; choose none or {', '.join(REGIMES)}")
    relief = gaussian_field(shape, rng, 4, 120)
    return Surface(
        ice=ice,
        whiteness=whiteness,
        snow=_snow(raster, rng, relief),
        forest=_forest(shape),
        texture=gaussian_field(shape, rng, 1, 30),
        relief=relief,
    )
