"""Realistic labelled crops for the export's checks: parity, int8 calibration and variant IoU.

They come from a dataset folder (the layout ``train-ssegm`` reads) when one is given, else from
the scene simulator. Parity always also sees a crop with large no-data areas (a swath edge and
dead band-6 detector lines, as the reader writes them: NaN), so the graph's NaN fill is checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.landmask import water_mask

log = logging.getLogger(__name__)

PARITY_CROPS = 4
CALIBRATION_CROPS = 8
IOU_CROPS = 16


@dataclass(frozen=True)
class Samples:
    """Crops with their truth. `valid` marks the cells that count for IoU: water cells with
    data in every band and a surface not hidden by opaque cloud."""

    names: list[str]
    reflectance: np.ndarray  # float32 (N, 7, H, W), NaN = no data
    labels: np.ndarray  # uint8 (N, H, W), 1 = ice
    valid: np.ndarray  # bool (N, H, W)

    def iou(self, probabilities: np.ndarray, threshold: float) -> float:
        """Ice IoU over the valid cells of all crops, a cell being ice at p >= threshold."""
        predicted = (probabilities[:, 0] >= threshold) & self.valid
        truth = (self.labels == 1) & self.valid
        union = (predicted | truth).sum()
        return float((predicted & truth).sum() / union) if union else 1.0


def with_nodata(reflectance: np.ndarray) -> np.ndarray:
    """A copy of one crop (7, H, W) with NaN east of a slanted swath edge and on every
    tenth row of band 6 (Aqua's dead detectors), as the reader leaves them."""
    crop = reflectance.copy()
    rows, cols = crop.shape[1:]
    edge = (0.6 * cols + 0.3 * cols * np.arange(rows) / rows).astype(int)
    outside = np.arange(cols)[None, :] >= edge[:, None]
    crop[:, outside] = np.nan
    crop[5, ::10, :] = np.nan
    return crop


def parity_crops(crops: Samples) -> np.ndarray:
    """The first PARITY_CROPS crops plus a copy of the first with large no-data areas."""
    return np.concatenate(
        [crops.reflectance[:PARITY_CROPS], with_nodata(crops.reflectance[0])[None]]
    )


def load(data: Path | None) -> Samples:
    """Crops from the dataset folder `data`, or simulated scenes when it is None."""
    return simulated(IOU_CROPS) if data is None else from_dataset(data, IOU_CROPS)


def _valid_cells(reflectance: np.ndarray, obscured: np.ndarray | None) -> np.ndarray:
    valid = water_mask()[None] & np.isfinite(reflectance).all(axis=1)
    if obscured is not None:
        valid &= obscured == 0
    return valid


def from_dataset(folder: Path, count: int) -> Samples:
    """The first `count` scenes (by name) that have both a crop and a label."""
    names = sorted(
        p.stem for p in (folder / "crops").glob("*.npy") if (folder / "labels" / p.name).is_file()
    )[:count]
    reflectance = np.stack([np.load(folder / "crops" / f"{n}.npy") for n in names])
    labels = np.stack([np.load(folder / "labels" / f"{n}.npy") for n in names])
    obscured_files = [folder / "obscured" / f"{n}.npy" for n in names]
    obscured = (
        np.stack([np.load(p) for p in obscured_files])
        if all(p.is_file() for p in obscured_files)
        else None
    )
    return Samples(names, reflectance.astype(np.float32), labels,
                   _valid_cells(reflectance, obscured))
