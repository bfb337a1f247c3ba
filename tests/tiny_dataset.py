"""A tiny dataset folder in the contract's format for the training and evaluation tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from runtime import grid, landmask

NAMES = [
    "MOD02HKM.A2023023.0230.061",
    "MYD02HKM.A2021049.0405.061",
    "MYD02HKM.A2018061.0340.061",
    "MOD02HKM.A2015034.0130.061",
    "MYD02HKM.A2005347.0505.061",
    "MOD02HKM.A2021049.0225.061",
]


def make_tiny_dataset(root: Path, certain_no_ice: int = 2, seed: int = 0) -> Path:
    """Six scenes: bright, low-SWIR ice blobs on dark water; the last ones without ice."""
    rng = np.random.default_rng(seed)
    water = landmask.water_mask()
    rows, cols = np.mgrid[: grid.ROWS, : grid.COLS]
    for folder in ("crops", "labels", "obscured"):
        (root / folder).mkdir(parents=True)
    scenes = []
    for i, name in enumerate(NAMES):
        has_ice = i < len(NAMES) - certain_no_ice
        label = np.zeros(grid.SHAPE, np.uint8)
        if has_ice:
            r, c = rng.integers(120, 280), rng.integers(50, 380)
            label = ((rows - r) ** 2 + (cols - c) ** 2 < rng.integers(20, 45) ** 2) & water
        crop = rng.normal(0.04, 0.01, (7, *grid.SHAPE)).astype(np.float32)
        crop[:, ~water] += 0.15
        crop[:4, label.astype(bool)] += 0.5
        crop[:, :10, :10] = np.nan
        obscured = np.zeros(grid.SHAPE, np.uint8)
        obscured[200:210, 200:210] = 1
        label = np.where(obscured == 1, 0, label).astype(np.uint8)
        np.save(root / "crops" / f"{name}.npy", crop)
        np.save(root / "labels" / f"{name}.npy", label)
        np.save(root / "obscured" / f"{name}.npy", obscured)
        scenes.append({
            "name": name,
            "platform": "Terra" if name.startswith("MOD") else "Aqua",
            "start_time": "2023-01-23T02:30:00+00:00",
            "ice_regime": "drift" if has_ice else "none",
            "cloud_regime": "clear" if i % 2 else "partly",
            "sun": "low" if i % 3 else "high",
            "certain_no_ice": not has_ice,
        })
    document = {"format": "bay-ice-dataset", "version": 1, "grid": grid.describe(),
                "bands": list(grid.BANDS), "label_semantics": "1 = ice",
                "source": "synthetic: tiny test dataset", "scenes": scenes}
    (root / "dataset.json").write_text(json.dumps(document))
    return root
