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

from runtime.errors import DatasetError
from runtime.landmask import water_mask
from training.simulator.granule import simulate
from training.simulator.regimes import sample_specs

log = logging.getLogger(__name__)

#: Crops for parity; for the variants, half are for their IoU and half for int8 calibration.
PARITY_CROPS = 4
IOU_CROPS = 8
CALIBRATION_CROPS = 8
#: Seed of the simulated scenes, so two exports of one checkpoint see the same crops.
SIMULATION_SEED = 515


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

    def _part(self, part: slice) -> Samples:
        return Samples(self.names[part], self.reflectance[part], self.labels[part],
                       self.valid[part])

    def split(self) -> tuple[Samples, Samples]:
        """(evaluation, calibration): alternate crops, so int8 is not judged on the crops it
        was calibrated on."""
        if len(self.names) < 2:
            raise DatasetError(f"need at least 2 labelled crops, have {len(self.names)}")
        return self._part(slice(0, None, 2)), self._part(slice(1, None, 2))


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


def simulated(count: int, seed: int = SIMULATION_SEED) -> Samples:
    """`count` scenes from the scene simulator, each passed through a granule file and the
    runtime's reader, with their exact truth."""
    examples = [simulate(spec) for spec in sample_specs(count, 0, seed)]
    reflectance = np.stack([e.crop.reflectance for e in examples]).astype(np.float32)
    obscured = np.stack([e.obscured for e in examples])
    return Samples(
        [e.crop.info.granule_id for e in examples],
        reflectance,
        np.stack([e.label for e in examples]),
        _valid_cells(reflectance, obscured),
    )


def parity_crops(crops: Samples) -> np.ndarray:
    """The first PARITY_CROPS crops plus a copy of the first with large no-data areas."""
    return np.concatenate(
        [crops.reflectance[:PARITY_CROPS], with_nodata(crops.reflectance[0])[None]]
    )


def load(data: Path | None, count: int) -> Samples:
    """`count` crops from the dataset folder `data`, or simulated scenes when it is None."""
    return simulated(count) if data is None else from_dataset(data, count)


def _valid_cells(reflectance: np.ndarray, obscured: np.ndarray | None) -> np.ndarray:
    valid = water_mask()[None] & np.isfinite(reflectance).all(axis=1)
    if obscured is not None:
        valid &= obscured == 0
    return valid


def from_dataset(folder: Path, count: int) -> Samples:
    """The first `count` scenes (by name) that have both a crop and a label."""
    if not (folder / "crops").is_dir() or not (folder / "labels").is_dir():
        raise DatasetError("not a dataset folder: no crops/ and labels/ in it", folder)
    names = sorted(
        p.stem for p in (folder / "crops").glob("*.npy") if (folder / "labels" / p.name).is_file()
    )[:count]
    if not names:
        raise DatasetError("no scene with both crops/<name>.npy and labels/<name>.npy", folder)
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
