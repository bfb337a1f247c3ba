"""Per-class reflectance statistics of a synthetic dataset, against docs table 11.1.

For every cell whose class map (``classes/<name>.npy``) names a pure class, the crop's stored
value is turned into the reflectance factor rho = value / cos(sza) (sun from the crop's time
and the cell centre) and accumulated per class and band: count, mean and standard deviation.
Table 11.1 gives rho for solar zenith 55-75 degrees, so the comparison uses rho, not the stored
value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime import grid
from runtime.errors import DatasetError
from runtime.granule import start_time
from runtime.solar import cos_solar_zenith
from training.dataset import CROP_SHAPE, load_array, read_scenes
from training.simulator.spectra import TABLE
from training.simulator.truth import CLASSES

N_BANDS = len(grid.BANDS)


def _scenes(dataset: Path) -> list[dict]:
    """The checked scene records of a dataset made by `synth` (it needs their times)."""
    scenes, _ = read_scenes(dataset)
    if not ((dataset / "dataset.json").is_file() and (dataset / "classes").is_dir()):
        raise DatasetError("no dataset.json or classes/: not a dataset folder made by `synth`",
                           dataset)
    for scene in scenes:
        if start_time(scene) is None:
            raise DatasetError(f"scene {scene['name']} has no start_time", dataset / "dataset.json")
    return scenes


def class_statistics(dataset: Path) -> dict[str, dict]:
    """{class name: {"cells": n, "mean": [7], "std": [7], "table_low": [7], "table_high": [7]}}.

    Classes without cells are left out. Needs the class maps of a simulator-made dataset.
    """
    lon, lat = grid.cell_centres()
    sums = np.zeros((len(CLASSES), N_BANDS))
    squares = np.zeros((len(CLASSES), N_BANDS))
    counts = np.zeros(len(CLASSES), dtype=np.int64)
    for scene in _scenes(dataset):
        name = scene["name"]
        classes = load_array(dataset / "classes" / f"{name}.npy", grid.SHAPE, np.uint8)
        crop = load_array(dataset / "crops" / f"{name}.npy", CROP_SHAPE, np.float32)
        rho = crop / cos_solar_zenith(start_time(scene), lon, lat).astype(np.float32)
        for code in CLASSES:
            cells = (classes == code) & np.isfinite(rho).all(axis=0)
            values = rho[:, cells].astype(np.float64)
            sums[code] += values.sum(axis=1)
            squares[code] += (values**2).sum(axis=1)
            counts[code] += values.shape[1]
    result = {}
    for code, name in CLASSES.items():
        if counts[code] == 0:
            continue
        mean = sums[code] / counts[code]
        std = np.sqrt(np.maximum(squares[code] / counts[code] - mean**2, 0))
        low, high = TABLE[name]
        result[name] = {
            "cells": int(counts[code]),
            "mean": [round(float(v), 4) for v in mean],
            "std": [round(float(v), 4) for v in std],
            "table_low": list(low),
            "table_high": list(high),
        }
    return result
