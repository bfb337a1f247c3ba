"""Where a model's errors lie on a simulator dataset: boundary cells, thin cloud, dark ice.

    python training/scripts/error_anatomy.py MODEL DATASET [--scenes N]

MODEL is a checkpoint or an ONNX file, as for `train-ssegm evaluate`, and so is the split.
Re-renders each validation scene from its spec in dataset.json
(the simulator is deterministic in the scene seed) to get what the stored crops do not hold:
each cell's ice share of its sea, the mean whiteness of that ice and the mean cloud optical
thickness. The model's errors over the counted cells (water, data in every band, not obscured:
as `train-ssegm evaluate`) are then split by these, and a table of true positives, false
positives, false negatives and IoU per part is printed. Ice-free scenes are skipped (they have
no ice to find). Only for datasets made by `train-ssegm synth`; every figure is synthetic.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from training.dataset import load_dataset
from training.evaluate import counted_cells, load_predictor, validation_indices
from training.metrics import Confusion, confusion
from training.simulator.raster import block_mean, fine_raster
from training.simulator.regimes import SceneSpec
from training.simulator.render import render_scene
from training.simulator.truth import ice_share

#: Cells whose ice share lies strictly between these are "boundary" cells (label at 0.5).
BOUNDARY_SHARE = (0.25, 0.75)
#: Mean optical thickness above which a (not obscured) cell is "under thin cloud".
THIN_CLOUD_TAU = 0.5
#: Mean whiteness of the ice below which an ice cell is "dark ice" (nilas, dark grey ice).
DARK_ICE_WHITENESS = 0.3


def cell_truth(spec: SceneSpec) -> dict[str, np.ndarray]:
    """Per grid cell: ice share of the sea, mean whiteness of the ice, mean cloud tau."""
    scene, raster = render_scene(spec), fine_raster()
    ice = block_mean(raster.sea * scene.surface.ice)
    whiteness = block_mean(raster.sea * scene.surface.ice * scene.surface.whiteness)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"share": ice_share(scene.surface, raster),
                "whiteness": np.where(ice > 0, whiteness / ice, 1.0),
                "tau": block_mean(scene.clouds.tau)}


def parts(truth: dict[str, np.ndarray], ice: np.ndarray) -> dict[str, np.ndarray]:
    """Named bool masks that split a scene's cells by what makes them hard."""
    low, high = BOUNDARY_SHARE
    boundary = (truth["share"] > low) & (truth["share"] < high)
    cloudy = truth["tau"] > THIN_CLOUD_TAU
    inner = ~boundary & ~cloudy
    return {
        f"boundary (ice share {low}-{high})": boundary,
        f"not boundary, thin cloud (tau > {THIN_CLOUD_TAU})": ~boundary & cloudy,
        "not boundary, clear": inner,
        f"  clear dark ice (whiteness < {DARK_ICE_WHITENESS})":
            inner & ice & (truth["whiteness"] < DARK_ICE_WHITENESS),
        "  clear brighter ice": inner & ice & (truth["whiteness"] >= DARK_ICE_WHITENESS),
        "  clear open water": inner & ~ice,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--scenes", type=int, help="only the first N validation scenes")
    args = parser.parse_args()
    predictor = load_predictor(args.checkpoint)
    dataset = load_dataset(args.dataset)
    _, validation = validation_indices(dataset, predictor, seed=0, fraction=0.15)
    totals: dict[str, Confusion] = {}
    for i in validation[: args.scenes]:
        entry = dataset.scenes[i]
        if entry.get("certain_no_ice"):
            continue
        predicted = predictor.predict(dataset.crops[i : i + 1].numpy())[0] > predictor.threshold
        ice = dataset.labels[i].numpy() == 1
        counted = counted_cells(dataset, i)
        truth = cell_truth(SceneSpec.from_dict(entry))
        split = {"all cells": np.ones_like(ice)} | parts(truth, ice)
        split |= {f"regime {entry['ice_regime']}": np.ones_like(ice)}
        for name, mask in split.items():
            totals[name] = totals.get(name, Confusion()) + confusion(predicted, ice,
                                                                      counted & mask)
    errors = totals["all cells"].fp + totals["all cells"].fn
    print("| cells | tp | fp | fn | IoU | share of all errors |")
    print("|---|---|---|---|---|---|")
    for name, c in totals.items():
        share = (c.fp + c.fn) / errors if errors else float("nan")
        print(f"| {name} | {c.tp} | {c.fp} | {c.fn} | {c.iou:.3f} | {share:.1%} |")


if __name__ == "__main__":
    main()
