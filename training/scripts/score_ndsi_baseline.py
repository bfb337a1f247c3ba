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
from collections import defaultdict
from pathlib import Path

from training.dataset import REGIME_KEYS, load_dataset
from training.evaluate import counted_cells, ndsi_prediction
from training.metrics import Confusion, confusion


def score(dataset_path: Path) -> dict[str, dict[str, dict]]:
    """{group: {value: {"scenes", "iou", "accuracy", "ice_cells"}}} plus group "all".

    The scene's NDSI mask and counted cells are `train-ssegm evaluate`'s own
    (`training.evaluate`), over every scene of the dataset instead of the validation split.
    """
    dataset = load_dataset(dataset_path)
    totals: dict[tuple[str, str], Confusion] = defaultdict(Confusion)
    scene_numbers: dict[tuple[str, str], int] = defaultdict(int)
    for i, scene in enumerate(dataset.scenes):
        counts = confusion(ndsi_prediction(dataset, i), dataset.labels[i].numpy() == 1,
                           counted_cells(dataset, i))
        for key in [("all", "all")] + [(g, str(scene.get(g))) for g in REGIME_KEYS]:
            totals[key] += counts
            scene_numbers[key] += 1
    result: dict[str, dict[str, dict]] = defaultdict(dict)
    for (group, value), total in totals.items():
        result[group][value] = {"scenes": scene_numbers[(group, value)], "iou": total.iou,
                                "accuracy": total.accuracy, "ice_cells": total.tp + total.fn}
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
