"""Scaled integers (SI) of MODIS L1B reflective bands -> reflectance, with the product's masks.

The file stores ``SI`` (uint16) and an uncertainty index ``UI`` (uint8) per pixel. Valid SI are
0..32767; everything above is a reserved code (65535 fill/night, 65533 saturated, 65531 dead
detector, 65528 aggregation failure, ...). UI 15 marks every reserved code and also calibrated
pixels too uncertain to use. Both masks are applied, as satpy does by default, so the two
readers agree pixel for pixel. Dead-detector rows (65531) become NaN here; ``runtime.band6``
restores the ones of band 6 afterwards.
"""

from __future__ import annotations

import numpy as np

#: Largest valid scaled integer of the L1B reflective bands.
SI_VALID_MAX = 32767
#: UI from which a pixel is unusable (15 = special SI or maximal uncertainty; 255 = fill).
UI_UNUSABLE = 15
#: SI of fill: night scans and missing L1A scans.
SI_FILL = 65535
#: SI of a dead detector.
SI_DEAD_DETECTOR = 65531


def valid_mask(si: np.ndarray, ui: np.ndarray) -> np.ndarray:
    """True where a pixel holds a usable measurement: SI in 0..32767 and UI below 15."""
    return (si <= SI_VALID_MAX) & (ui < UI_UNUSABLE)


def reflectance(si: np.ndarray, ui: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """L1B reflectance (rho * cos(solar zenith)) as float32, NaN where the pixel is unusable.

    ``scale`` and ``offset`` are the band's ``reflectance_scales`` / ``reflectance_offsets``
    attributes of this very file: refl = scale * (SI - offset).
    """
    refl = np.float32(scale) * (si.astype(np.float32) - np.float32(offset))
    refl[~valid_mask(si, ui)] = np.nan
    return refl
