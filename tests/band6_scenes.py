"""Synthetic swath-space scenes for measuring band-6 restoration (all numbers they give are
synthetic): a smooth pattern, and a "realistic" one with sharp-edged patches of open water, grey
ice, white ice, water cloud, ice cloud, bare and snow-covered land, using the TOA reflectance
ranges of docs/modis-l1b-500m.md 11.1 times cos(65 deg) and 1 % noise.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

# Surface types: (low, high) TOA reflectance factor per band 1..7 (doc 11.1).
SPECTRA = {
    "open water": [
        (0.03, 0.07),
        (0.01, 0.04),
        (0.08, 0.18),
        (0.05, 0.10),
        (0.005, 0.02),
        (0.003, 0.015),
        (0.002, 0.01),
    ],
    "grey ice": [
        (0.08, 0.30),
        (0.06, 0.25),
        (0.12, 0.35),
        (0.10, 0.32),
        (0.03, 0.12),
        (0.01, 0.06),
        (0.005, 0.04),
    ],
    "white ice": [
        (0.55, 0.90),
        (0.50, 0.85),
        (0.60, 0.95),
        (0.60, 0.92),
        (0.30, 0.55),
        (0.04, 0.15),
        (0.02, 0.08),
    ],
    "water cloud": [
        (0.30, 0.90),
        (0.30, 0.90),
        (0.35, 0.90),
        (0.30, 0.90),
        (0.30, 0.75),
        (0.20, 0.50),
        (0.10, 0.35),
    ],
    "ice cloud": [
        (0.30, 0.80),
        (0.30, 0.80),
        (0.35, 0.85),
        (0.30, 0.80),
        (0.25, 0.60),
        (0.08, 0.30),
        (0.04, 0.20),
    ],
    "bare land": [
        (0.05, 0.15),
        (0.12, 0.30),
        (0.08, 0.16),
        (0.07, 0.14),
        (0.15, 0.30),
        (0.12, 0.30),
        (0.06, 0.20),
    ],
    "snowy land": [
        (0.50, 0.85),
        (0.45, 0.80),
        (0.55, 0.90),
        (0.55, 0.88),
        (0.30, 0.50),
        (0.05, 0.15),
        (0.02, 0.08),
    ],
}
COS_SZA = float(np.cos(np.radians(65)))
SCENE_SHAPE = (400, 700)  # 20 scans


def smooth_scene(rng: np.random.Generator) -> np.ndarray:
    """Seven smooth, correlated bands (the easy case)."""
    base = gaussian_filter(rng.standard_normal(SCENE_SHAPE), 15)
    base = (base - base.min()) / np.ptp(base)
    return np.stack([0.05 + 0.3 * base * (1 - 0.1 * b) for b in range(7)]).astype(np.float32)


def realistic_scene(rng: np.random.Generator) -> np.ndarray:
    """Sharp-edged patches of the surface types, each patch with its own spectrum, 1 % noise."""
    field = gaussian_filter(rng.standard_normal((len(SPECTRA), *SCENE_SHAPE)), (0, 12, 12))
    kind = field.argmax(axis=0)
    patches = gaussian_filter(rng.standard_normal(SCENE_SHAPE), 6)
    patch_id = np.digitize(patches, np.quantile(patches, np.linspace(0, 1, 9)[1:-1]))
    out = np.empty((7, *SCENE_SHAPE), np.float32)
    for k, ranges in enumerate(SPECTRA.values()):
        for p in range(8):
            where = (kind == k) & (patch_id == p)
            mix = rng.uniform()  # one position within every band's range: a coherent spectrum
            for b, (lo, hi) in enumerate(ranges):
                out[b][where] = lo + mix * (hi - lo)
    out *= COS_SZA * (1 + 0.01 * rng.standard_normal(out.shape)).astype(np.float32)
    return out
