"""Realistic labelled crops for the export's checks: parity, int8 calibration and variant IoU.

From a dataset folder (read by training's loader) the crops follow the checkpoint's own split:
parity and IoU on its validation scenes, int8 calibration on its training scenes. Without a
dataset, or when the dataset does not hold the checkpoint's scenes, crops alternate between the
two uses; with no dataset at all they come from the scene simulator (a granule file through the
runtime's reader, with exact truth). Parity always also sees a crop with large no-data areas (a
swath edge and dead band-6 detector lines, NaN as the reader writes them), so the graph's NaN
fill is checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.errors import DatasetError
from runtime.landmask import water_mask
from training.dataset import load_dataset
from training.simulator.granule import simulate
from training.simulator.regimes import sample_specs

log = logging.getLogger(__name__)

#: Crops for parity; for the variants, crops for their IoU and for int8 calibration.
PARITY_CROPS = 4
IOU_CROPS = 8
CALIBRATION_CROPS = 8
#: Seed of the simulated scenes, so two exports of one checkpoint see the same crops.
SIMULATION_SEED = 515


@dataclass(frozen=True)
class Samples:
    """Crops with their truth. `valid` marks the cells that count for IoU (as in training):
    water cells with data in every band and a surface not hidden by opaque cloud."""

    names: list[str]
    reflectance: np.ndarray  # float32 (N, 7, H, W), NaN = no data
    labels: np.ndarray  # uint8 (N, H, W), 1 = ice
    valid: np.ndarray  # bool (N, H, W)
    source: str  # where the crops come from, for reports

    def iou(self, probabilities: np.ndarray, threshold: float) -> float:
        """Ice IoU pooled over the valid cells of all crops, a cell being ice at p >= threshold."""
        predicted = (probabilities[:, 0] >= threshold) & self.valid
        truth = (self.labels == 1) & self.valid
        union = (predicted | truth).sum()
        return float((predicted & truth).sum() / union) if union else float("nan")

    def take(self, indices: list[int], source: str | None = None) -> Samples:
        """The crops at `indices` (described as `source` if given)."""
        return Samples([self.names[i] for i in indices], self.reflectance[indices],
                       self.labels[indices], self.valid[indices], source or self.source)


def _samples(names: list[str], reflectance: np.ndarray, labels: np.ndarray,
             obscured: np.ndarray, source: str) -> Samples:
    valid = water_mask()[None] & np.isfinite(reflectance).all(axis=1) & (obscured == 0)
    return Samples(names, reflectance.astype(np.float32), labels, valid, source)


def simulated(count: int, seed: int = SIMULATION_SEED) -> Samples:
    """`count` scenes from the scene simulator, with their exact truth."""
    examples = [simulate(spec) for spec in sample_specs(count, 0, seed)]
    return _samples(
        [e.crop.info.granule_id for e in examples],
        np.stack([e.crop.reflectance for e in examples]),
        np.stack([e.label for e in examples]),
        np.stack([e.obscured for e in examples]),
        f"simulated scenes (synthetic, seed {seed})",
    )


def _alternate(crops: Samples, evaluation: int, calibration: int,
               folder: Path | None = None) -> tuple[Samples, Samples]:
    """Even crops for evaluation, odd ones for calibration (`folder`: where they come from)."""
    if len(crops.names) < 2:
        raise DatasetError(f"need at least 2 labelled crops, have {len(crops.names)}", folder)
    indices = range(len(crops.names))
    return (crops.take(list(indices[0::2][:evaluation])),
            crops.take(list(indices[1::2][:calibration])))


def from_dataset(folder: Path, split: dict | None, evaluation: int,
                 calibration: int) -> tuple[Samples, Samples]:
    """(evaluation, calibration) crops of a dataset folder, from the checkpoint's validation
    and training scenes when the folder holds them (`split` is the checkpoint's
    train_config["split"] with "training" and "validation" name lists)."""
    dataset = load_dataset(folder)
    synthetic = ", synthetic" if "synthetic" in dataset.source.lower() else ""
    crops = _samples(dataset.names, dataset.crops.numpy(), dataset.labels.numpy(),
                     dataset.obscured.numpy(), f"crops of {folder}{synthetic}")
    position = {name: i for i, name in enumerate(dataset.names)}
    chosen = [
        [position[n] for n in (split or {}).get(part, []) if n in position][:count]
        for part, count in (("validation", evaluation), ("training", calibration))
    ]
    if chosen[0] and (chosen[1] or calibration == 0):
        log.info("crops from the checkpoint's split: %d validation, %d training",
                 len(chosen[0]), len(chosen[1]))
        pair = (
            crops.take(chosen[0], f"the checkpoint's validation scenes in {folder}{synthetic}"),
            crops.take(chosen[1], f"the checkpoint's training scenes in {folder}{synthetic}"),
        )
    else:
        log.info("%s does not hold the checkpoint's scenes: alternate crops", folder)
        pair = _alternate(crops, evaluation, calibration, folder)
    # Parity over cells without data compares only the graph's NaN fill: it proves nothing.
    parity = pair[0].reflectance[:PARITY_CROPS]
    if not np.isfinite(parity).all(axis=1).any():
        raise DatasetError(f"no cell with data in the parity crops (every cell of the "
                           f"{len(parity)} crops is NaN in some band)", folder)
    return pair


def load(data: Path | None, split: dict | None, evaluation: int,
         calibration: int) -> tuple[Samples, Samples]:
    """(evaluation, calibration) crops from the dataset folder `data`, or simulated scenes."""
    if data is not None:
        return from_dataset(data, split, evaluation, calibration)
    if calibration == 0:
        crops = simulated(evaluation)
        return crops, crops.take([])
    return _alternate(simulated(evaluation + calibration), evaluation, calibration)


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


def parity_crops(evaluation: Samples) -> np.ndarray:
    """The first PARITY_CROPS evaluation crops plus a copy of the first with no-data areas
    (the last crop of every parity report)."""
    return np.concatenate(
        [evaluation.reflectance[:PARITY_CROPS], with_nodata(evaluation.reflectance[0])[None]]
    )
