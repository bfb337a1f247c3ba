"""Score the classical NDSI threshold baseline on a dataset folder, per regime.

    python training/scripts/score_ndsi_baseline.py DATASET

For every scene the stored crop is divided by cos(solar zenith) (time from dataset.json, cell
centres) and `training.baselines.ndsi_ice_mask` is applied with its literature thresholds.
Cells count when they are water in the land mask, have data in every band and are not obscured.
Prints a Markdown table of IoU (pooled over the regime's cells) and accuracy per ice regime,
cloud regime, sun and platform. On a simulator-made dataset every figure is synthetic.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from runtime import grid
from runtime.granule import start_time
from runtime.landmask import water_mask
from runtime.solar import cos_solar_zenith
from training.baselines import ndsi_ice_mask

GROUPS = ("ice_regime", "cloud_regime", "sun", "platform")


def scene_counts(dataset: Path, scene: dict) -> np.ndarray:
    """[true positives, false positives, false negatives, true negatives] of one scene."""
    name = scene["name"]
    crop = np.load(dataset / "crops" / f"{name}.npy")
    label = np.load(dataset / "labels" / f"{name}.npy") == 1
    obscured_path = dataset / "obscured" / f"{name}.npy"
    obscured = np.load(obscured_path) == 1 if obscured_path.is_file() else False
    lon, lat = grid.cell_centres()
    cos_sza = cos_solar_zenith(start_time(scene), lon, lat).astype(np.float32)
    predicted = ndsi_ice_mask(crop, cos_sza)
    valid = water_mask() & np.isfinite(crop).all(axis=0) & ~obscured
    p, t = predicted[valid], label[valid]
    return np.array([(p & t).sum(), (p & ~t).sum(), (~p & t).sum(), (~p & ~t).sum()])


def score(dataset: Path) -> dict[str, dict[str, dict]]:
    """{group: {value: {"scenes", "iou", "accuracy"}}} plus group "all"."""
    scenes = json.loads((dataset / "dataset.json").read_text())["scenes"]
    totals: dict[tuple[str, str], np.ndarray] = defaultdict(lambda: np.zeros(4, np.int64))
    scene_numbers: dict[tuple[str, str], int] = defaultdict(int)
    for scene in scenes:
        counts = scene_counts(dataset, scene)
        for key in [("all", "all")] + [(g, str(scene[g])) for g in GROUPS]:
            totals[key] += counts
            scene_numbers[key] += 1
    result: dict[str, dict[str, dict]] = defaultdict(dict)
    for (group, value), (tp, fp, fn, tn) in totals.items():
        union = tp + fp + fn
        result[group][value] = {
            "scenes": scene_numbers[(group, value)],
            "iou": float(tp / union) if union else float("nan"),
            "accuracy": float((tp + tn) / (tp + fp + fn + tn)),
            "ice_cells": int(tp + fn),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path)
    args = parser.parse_args()
    print("| group | value | scenes | ice cells | IoU (synthetic) | accuracy (synthetic) |")
    print("|---|---|---|---|---|---|")
    for group, values in score(args.dataset).items():
        for value, entry in sorted(values.items()):
            print(f"| {group} | {value} | {entry['scenes']} | {entry['ice_cells']} | "
                  f"{entry['iou']:.3f} | {entry['accuracy']:.4f} |")


if __name__ == "__main__":
    main()
