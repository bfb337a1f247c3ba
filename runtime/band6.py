"""Restore the dead detector rows of MODIS band 6 (1.64 um) in swath space.

In Collection 6/6.1 Aqua files most band-6 detectors are dead: their rows hold 65531 in every
scan (``Dead Detector List``). Band 6 is what separates snow and ice (dark at 1.6 um) from
clouds (bright), so the rows are filled before resampling rather than left as stripes.

Method (chosen by measurement, see BENCHMARKS.md "Band-6 restoration"): a per-granule linear
regression of band 6 on the six other bands, fitted on the working detectors' pixels of the
window read, predicts every dead pixel; where one of those bands is unusable (saturated bright
cloud in band 2, say) a regression on bands 5 and 7 alone takes over. The prediction's error at
the working detectors, averaged over 5 columns along the scan (which keeps its local bias and
averages out the sensor noise), is then interpolated linearly along track, within each scan,
into the dead rows and added back. The regression keeps the sharp spectral contrasts of each
pixel (ice next to water, cloud edges); the residual term corrects what a single linear law gets
wrong locally (one surface type dominating the fit). Pixels without usable band 5 or 7 stay NaN.

On the grid a restored value only fills the cells no working detector saw: ``restore`` returns
which pixels it filled, and ``runtime.resample.resample_measured_first`` gives each cell the
nearest measured band-6 pixel within 1000 m first (see there for why and what it costs).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

DETECTORS = 20
#: Index of band 6 in the band-ordered array (bands 1..7).
BAND6 = 5
#: Bands (1..7) band 6 is regressed on, best first; later sets fill where earlier ones have NaN.
PREDICTORS = ((1, 2, 3, 4, 5, 7), (5, 7))
#: Columns over which the regression's error is averaged before it is interpolated.
RESIDUAL_COLUMNS = 5
#: Fewer working pixels than this and no regression is fitted (band 6 stays with its gaps).
MIN_SAMPLES = 100


def restore(reflectance: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """Fill the NaN pixels of band 6 on the dead detectors' rows, in place.

    ``reflectance``: float32 (7, rows, cols) in band order 1..7, rows = whole scans of 20
    detectors; ``dead``: bool (20,), True for each detector to restore. Returns bool (rows,
    cols), True for each pixel whose band 6 is now a restored (not measured) value.
    """
    restored = np.zeros(reflectance.shape[1:], bool)
    if not dead.any() or dead.all():
        return restored
    bands = reflectance.reshape(7, -1, DETECTORS, reflectance.shape[-1])  # (7, scans, 20, cols)
    predicted = regression_estimate(bands, dead)
    if predicted is None:
        log.warning("band 6: too few working pixels to restore %d dead detectors", dead.sum())
        return restored
    residual = _running_mean(bands[BAND6] - predicted, RESIDUAL_COLUMNS)  # 0 on dead rows
    correction = interpolate_detectors(residual, dead)
    rows = bands[BAND6][:, dead]  # a copy: written back below
    missing = np.isnan(rows)
    rows[missing] = (predicted[:, dead] + correction[:, dead])[missing]
    bands[BAND6][:, dead] = rows
    flags = restored.reshape(bands.shape[1:])  # a view: (scans, 20, cols)
    flags[:, dead] = missing & np.isfinite(rows)
    return restored


def regression_estimate(bands: np.ndarray, dead: np.ndarray) -> np.ndarray | None:
    """Band 6 predicted from the other bands by least squares on the working detectors.

    Each set of PREDICTORS in turn fills the pixels the previous sets left NaN. None when even
    the first set has fewer than MIN_SAMPLES usable pixels.
    """
    target = bands[BAND6].reshape(-1)
    working = np.broadcast_to(~dead[None, :, None], bands.shape[1:]).reshape(-1)
    predicted = np.full(target.shape, np.nan, dtype=np.float32)
    for predictors in PREDICTORS:
        design = np.concatenate(
            (
                np.ones((1, target.size), np.float32),
                bands[[b - 1 for b in predictors]].reshape(len(predictors), -1),
            )
        )
        finite = np.isfinite(design).all(axis=0)
        usable = working & finite & np.isfinite(target)
        if usable.sum() < MIN_SAMPLES:
            break
        coef, *_ = np.linalg.lstsq(
            design[:, usable].T.astype(np.float64), target[usable].astype(np.float64), rcond=None
        )
        log.info("band 6 from bands %s on %d pixels: %s", predictors, usable.sum(), coef.round(4))
        fill = finite & np.isnan(predicted)
        predicted[fill] = coef.astype(np.float32) @ design[:, fill]
    if np.isnan(predicted).all():
        return None
    return predicted.reshape(bands.shape[1:])


def _running_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Mean over ``width`` neighbouring columns (last axis); NaN counts as 0."""
    half = width // 2
    padded = np.pad(np.nan_to_num(values), [(0, 0)] * (values.ndim - 1) + [(half, half)], "edge")
    total = np.cumsum(padded, axis=-1, dtype=np.float64)
    total = np.concatenate((np.zeros_like(total[..., :1]), total), axis=-1)
    return ((total[..., width:] - total[..., :-width]) / width).astype(np.float32)


def interpolate_detectors(values: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """Values of the dead detectors interpolated linearly from the working ones of each scan.

    ``values``: (scans, 20, cols). Beyond the first/last working detector the nearest one is
    repeated. Where a working neighbour is NaN the result is 0 (no correction).
    """
    working = np.flatnonzero(~dead)
    detectors = np.arange(DETECTORS)
    right = np.clip(np.searchsorted(working, detectors), 0, len(working) - 1)
    d0, d1 = working[np.clip(right - 1, 0, None)], working[right]
    weight = np.clip((detectors - d0) / np.maximum(d1 - d0, 1), 0.0, 1.0).astype(np.float32)
    out = values[:, d0] * (1 - weight)[None, :, None] + values[:, d1] * weight[None, :, None]
    return np.nan_to_num(out, nan=0.0)
