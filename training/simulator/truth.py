"""The truth of a scene on the grid: ice label, obscured mask and a per-cell class map.

Label semantics (design.md): a grid cell is ice (1) when sea ice covers at least half of the
sea inside it (from the fine raster: ice share of the cell's sea pixels >= 0.5). Only cells of
the land mask's water (`runtime.landmask.water_mask`) can be ice; land cells are 0. Cloud does
not change the label where the surface can be seen through it; where at least half of the cell
lies under cloud of optical thickness >= `clouds.TAU_OPAQUE` (4), the cell is *obscured*: its
label is 0 ("not ice") and the obscured mask is 1, so evaluation can leave it out.

The class map says what a cell purely is, for per-class reflectance statistics: a class code
where all 16 fine pixels of the cell and of its 8 neighbours (the 500 m footprint reaches them)
have that class, `MIXED` otherwise. Surface classes count only under clouds thinner than
`TAU_CLEAR` and outside cloud shadows.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from runtime.landmask import water_mask
from training.simulator.clouds import TAU_OPAQUE, Clouds
from training.simulator.raster import FACTOR, FineRaster, block_mean
from training.simulator.scene import GREY_ICE_MAX_WHITENESS, WHITE_ICE_MIN_WHITENESS, Surface

ICE_SHARE_MIN = 0.5
OBSCURED_SHARE_MIN = 0.5
TAU_CLEAR = 0.3
SUNLIT_MIN = 0.97

#: Class codes of the class map (and the names `train-ssegm stats` prints).
CLASSES = {
    0: "water",
    1: "grey_ice",
    2: "white_ice",
    3: "water_cloud",
    4: "ice_cloud",
    5: "land",
    6: "snow_land",
    7: "snow_forest",
}
MIXED = 255


def ice_share(surface: Surface, raster: FineRaster) -> np.ndarray:
    """float (ROWS, COLS): the share of each cell's sea (fine pixels) covered by ice; 0 on land."""
    sea = block_mean(raster.sea)
    sea_ice = block_mean(raster.sea * surface.ice)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sea > 0, sea_ice / sea, 0.0)


def ice_label(surface: Surface, raster: FineRaster, obscured: np.ndarray) -> np.ndarray:
    """uint8 (ROWS, COLS): 1 where ice covers >= half of a water cell's sea and it is visible."""
    share = ice_share(surface, raster)
    return ((share >= ICE_SHARE_MIN) & water_mask() & (obscured == 0)).astype(np.uint8)


def obscured_mask(clouds: Clouds) -> np.ndarray:
    """uint8 (ROWS, COLS): 1 where at least half of the cell is under opaque cloud."""
    opaque = (clouds.tau >= TAU_OPAQUE).astype(np.float32)
    return (block_mean(opaque) >= OBSCURED_SHARE_MIN).astype(np.uint8)


def _fine_classes(
    surface: Surface, raster: FineRaster, clouds: Clouds, sunlit: np.ndarray
) -> np.ndarray:
    """Class code of each fine pixel (MIXED where it mixes surfaces)."""
    codes = np.full(raster.shape, MIXED, dtype=np.uint8)
    clear = (clouds.tau < TAU_CLEAR) & (sunlit > SUNLIT_MIN)
    sea = (raster.sea == 1) & clear
    land = (raster.sea == 0) & (raster.lake == 0) & clear
    ice = sea & (surface.ice == 1)
    codes[sea & (surface.ice == 0)] = 0
    codes[ice & (surface.whiteness < GREY_ICE_MAX_WHITENESS)] = 1
    codes[ice & (surface.whiteness >= WHITE_ICE_MIN_WHITENESS)] = 2
    codes[land & (surface.snow == 0)] = 5
    codes[land & (surface.snow == 1) & (surface.forest < 0.3)] = 6
    codes[land & (surface.snow == 1) & (surface.forest > 0.7)] = 7
    opaque = clouds.tau >= TAU_OPAQUE
    codes[opaque & (clouds.tau_water >= 0.9 * clouds.tau)] = 3
    codes[opaque & (clouds.tau_ice >= 0.9 * clouds.tau)] = 4
    return codes


def class_map(
    surface: Surface, raster: FineRaster, clouds: Clouds, sunlit: np.ndarray
) -> np.ndarray:
    """uint8 (ROWS, COLS) class codes of `CLASSES` for pure cells, MIXED elsewhere."""
    fine = _fine_classes(surface, raster, clouds, sunlit)
    low = ndimage.minimum_filter(fine, size=3 * FACTOR, mode="nearest")
    high = ndimage.maximum_filter(fine, size=3 * FACTOR, mode="nearest")
    pure = np.where(low == high, fine, MIXED).astype(np.uint8)
    return pure[FACTOR // 2 :: FACTOR, FACTOR // 2 :: FACTOR]
