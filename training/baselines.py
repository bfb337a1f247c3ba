"""Classical sea-ice baseline: the MODIS NDSI threshold test with literature thresholds.

NDSI = (B4 - B6) / (B4 + B6); a pixel is ice when NDSI >= 0.4, band 2 > 0.11 and band 4 > 0.10
(MOD29/MYD29 reflectance tests as inherited by IceMap250; MOD10 uses 0.10 for bands 2 and 4:
docs/modis-l1b-500m.md 11.2). The thresholds apply to TOA reflectance factors rho, so the stored
L1B value (rho * cos(sza)) is divided by cos(sza) when it is given. The thresholds are the
literature's, not tuned on any data of this project. Pixels with missing data are not ice.
"""

from __future__ import annotations

import numpy as np

from runtime import grid

NDSI_MIN = 0.4
B2_MIN = 0.11
B4_MIN = 0.10


def ndsi(reflectance: np.ndarray) -> np.ndarray:
    """NDSI(B4, B6) of a (7, ...) band stack in model band order; NaN where undefined."""
    b4 = reflectance[grid.BANDS.index(4)]
    b6 = reflectance[grid.BANDS.index(6)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (b4 - b6) / (b4 + b6)


def ndsi_ice_mask(
    reflectance: np.ndarray,
    cos_solar_zenith: np.ndarray | None = None,
    ndsi_min: float = NDSI_MIN,
    b2_min: float = B2_MIN,
    b4_min: float = B4_MIN,
) -> np.ndarray:
    """Bool mask (...) of the NDSI ice test on a (7, ...) stack of bands 1..7.

    `reflectance` is L1B reflectance (rho * cos(sza)) when `cos_solar_zenith` (broadcastable to
    one band) is given, else already rho.
    """
    rho = reflectance if cos_solar_zenith is None else reflectance / cos_solar_zenith
    b2 = rho[grid.BANDS.index(2)]
    b4 = rho[grid.BANDS.index(4)]
    with np.errstate(invalid="ignore"):
        return (ndsi(rho) >= ndsi_min) & (b2 > b2_min) & (b4 > b4_min)


# Per-pixel random forest on the 7 bands (the talk's slide 3 lists random forests among the
# classical families). Trained on a seeded sample of training-split water cells; its numbers
# are a baseline for the CNNs, not a tuned product.
FOREST_TREES = 50
FOREST_MAX_DEPTH = 16
FOREST_SAMPLES = 100_000


def fit_pixel_forest(
    features: np.ndarray, labels: np.ndarray, seed: int, samples: int = FOREST_SAMPLES
):
    """A random forest fitted on at most `samples` rows (seeded draw) of `features` (n, 7)
    band values against `labels` (n,) bool (True = ice)."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    if len(features) > samples:
        keep = rng.choice(len(features), samples, replace=False)
        features, labels = features[keep], labels[keep]
    forest = RandomForestClassifier(
        n_estimators=FOREST_TREES, max_depth=FOREST_MAX_DEPTH, min_samples_leaf=5,
        n_jobs=-1, random_state=seed,
    )
    return forest.fit(features, labels)


def forest_ice_mask(forest, reflectance: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Bool mask (285, 430) of the forest's ice class on `cells` (bool, True = classify) of a
    (7, 285, 430) stack; other cells are False."""
    mask = np.zeros(cells.shape, bool)
    if cells.any():
        mask[cells] = forest.predict(reflectance[:, cells].T).astype(bool)
    return mask
