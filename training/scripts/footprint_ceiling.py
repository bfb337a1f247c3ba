"""The footprint ceiling: how well a perfect reading of every pixel could map the ice.

    python training/scripts/footprint_ceiling.py DATASET [--model MODEL] [--workers N]
        [--write-dataset DIR]

A label says whether ice covers at least half of a grid cell's sea (about 430 x 500 m); the
sensor sees the cell through the footprint of the nearest swath pixel, 500 m at nadir and
growing with the scan angle. This script measures what that geometry alone costs. Each scene
of DATASET is re-rendered from its spec in dataset.json (the simulator is deterministic in the
scene seed) with three layers in place of reflectance: ice on the sea, the sea, and everything.
They are imaged through the station's path (footprint, swath, granule file, reader,
resampling) with no noise, no cloud and no spectra, so their ratios are the ice share of the
sea and the sea fraction that each grid cell's pixel saw: an oracle that reads every pixel
perfectly. Thresholded, the seen ice share is scored against the labels on the cells
`train-ssegm evaluate` counts (water, data in every band of the real crop, not obscured) over
the validation split (MODEL's, else the seeded default), per scan angle and per ice regime,
beside MODEL's IoU when given. Ice-free scenes are skipped (they have no ice to find).

`--write-dataset DIR` also writes the oracle view of every scene as a dataset: band 1 the seen
ice share, band 2 the seen sea fraction, bands 3-7 copies of band 1; cells without data in the
real crop or obscured are NaN, so they stay out of loss and metrics; labels, obscured masks and
so the split are DATASET's. A model trained on it shows how much its context adds to a
per-pixel reading. Only for datasets made by `train-ssegm synth`; every figure is synthetic.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from runtime.granule import read_crop
from runtime.outputs import write_bytes_atomic
from training.dataset import Dataset, load_dataset, split
from training.evaluate import Predictor, counted_cells, load_predictor, validation_indices
from training.metrics import Confusion, confusion
from training.simulator.dataset import save_npy
from training.simulator.granule import write_scene_granule
from training.simulator.raster import fine_raster
from training.simulator.regimes import SceneSpec
from training.simulator.render import render_scene

#: Bands that carry the layers (indices): bands 1, 3 and 4 do not saturate at LAYER_VALUE.
ICE_LAYER, SEA_LAYER, ALL_LAYER = 0, 2, 3
LAYER_VALUE = 0.5
MIN_SEA_FRACTION = 0.01
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6)
SCAN_ANGLE_EDGES = (0, 15, 30, 45, 90)


def seen_fields(spec: SceneSpec) -> np.ndarray:
    """float32 (2, ROWS, COLS): the ice share of the sea and the sea fraction each cell saw."""
    scene = render_scene(spec)
    raster = fine_raster()
    layers = np.full_like(scene.rho, LAYER_VALUE)
    layers[SEA_LAYER] = LAYER_VALUE * raster.sea
    layers[ICE_LAYER] = LAYER_VALUE * raster.sea * scene.surface.ice
    with tempfile.TemporaryDirectory(prefix="bay-ice-ceiling-") as directory:
        path = write_scene_granule(dataclasses.replace(scene, rho=layers), directory,
                                   noise=False, deflate=None)
        seen = read_crop(path).reflectance
    ice, sea, everything = seen[ICE_LAYER], seen[SEA_LAYER], seen[ALL_LAYER]
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.clip(sea / everything, 0.0, 1.0)
        # Where a pixel saw next to no sea the ratio is quantisation noise: no ice there.
        share = np.where(fraction >= MIN_SEA_FRACTION, np.clip(ice / sea, 0.0, 1.0), 0.0)
    share[np.isnan(fraction)] = np.nan
    return np.stack([share, fraction]).astype(np.float32)


def _seen_job(entry: dict) -> np.ndarray:
    return seen_fields(SceneSpec.from_dict(entry))


def all_seen_fields(entries: list[dict], workers: int) -> list[np.ndarray]:
    """`seen_fields` of each scene entry, in order, over `workers` fresh processes."""
    if workers <= 1:
        return [_seen_job(entry) for entry in entries]
    with multiprocessing.get_context("spawn").Pool(workers, initializer=fine_raster) as pool:
        return pool.map(_seen_job, entries, chunksize=1)


def scan_angle_group(angle_deg: float) -> str:
    """The `SCAN_ANGLE_EDGES` bin of a scan angle, as a row name."""
    for low, high in itertools.pairwise(SCAN_ANGLE_EDGES):
        if abs(angle_deg) < high:
            return f"scan angle {low}-{high} deg"
    return f"scan angle >= {SCAN_ANGLE_EDGES[-1]} deg"


def ceiling_table(dataset: Dataset, validation: list[int], seen: dict[int, np.ndarray],
                  predictor: Predictor | None = None) -> str:
    """Markdown table: oracle IoU per threshold and MODEL's IoU, pooled per group."""
    oracle: dict[str, dict[float, Confusion]] = {}
    model: dict[str, Confusion] = {}
    scenes: dict[str, int] = {}
    for i in validation:
        entry = dataset.scenes[i]
        if entry.get("certain_no_ice"):
            continue
        ice = dataset.labels[i].numpy() == 1
        counted = counted_cells(dataset, i)
        predicted = None
        if predictor is not None:
            output = predictor.predict(dataset.crops[i : i + 1].numpy())[0]
            predicted = output > predictor.threshold
        groups = ("all validation scenes with ice", scan_angle_group(entry["scan_angle_deg"]),
                  f"regime {entry['ice_regime']}")
        for group in groups:
            scenes[group] = scenes.get(group, 0) + 1
            by_threshold = oracle.setdefault(group, {t: Confusion() for t in THRESHOLDS})
            for threshold in THRESHOLDS:
                by_threshold[threshold] += confusion(seen[i][0] >= threshold, ice, counted)
            if predicted is not None:
                model[group] = model.get(group, Confusion()) + confusion(predicted, ice, counted)
    header = ["group", "scenes", "ice cells"] + [f"oracle >= {t:g}" for t in THRESHOLDS]
    header += ["model"] if predictor is not None else []
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for group in sorted(oracle, key=lambda g: (g.split()[0] != "all", g)):
        by_threshold = oracle[group]
        row = [group, str(scenes[group]), str(by_threshold[0.5].tp + by_threshold[0.5].fn)]
        row += [f"{by_threshold[t].iou:.3f}" for t in THRESHOLDS]
        row += [f"{model[group].iou:.3f}"] if predictor is not None else []
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_oracle_dataset(dataset: Dataset, seen: list[np.ndarray], out_dir: Path) -> None:
    """DATASET with each crop replaced by its oracle view (see the module docstring);
    dataset.json comes last, so a folder without it is an unfinished one."""
    for folder in ("crops", "labels", "obscured"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(dataset.names):
        share, fraction = seen[i]
        hidden = ~np.isfinite(dataset.crops[i].numpy()).all(axis=0)
        hidden |= dataset.obscured[i].numpy() == 1
        crop = np.stack([share, fraction] + [share] * 5)
        crop[:, hidden] = np.nan
        save_npy(out_dir / "crops" / f"{name}.npy", crop.astype(np.float32))
        for folder, suffix in (("crops", ".json"), ("labels", ".npy"), ("obscured", ".npy")):
            source = dataset.root / folder / f"{name}{suffix}"
            if source.exists():
                shutil.copyfile(source, out_dir / folder / f"{name}{suffix}")
    document = json.loads((dataset.root / "dataset.json").read_text())
    document["source"] = (f"oracle view of {dataset.root} (footprint_ceiling.py): seen ice "
                          f"share and sea fraction, no noise, cloud or spectra; synthetic")
    write_bytes_atomic(out_dir / "dataset.json", json.dumps(document, indent=1).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--model", type=Path, help="checkpoint or ONNX file: its split and IoU")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--write-dataset", type=Path, metavar="DIR",
                        help="also write the oracle view of every scene as a dataset here")
    args = parser.parse_args()
    if args.write_dataset and args.write_dataset.exists() and any(args.write_dataset.iterdir()):
        parser.error(f"{args.write_dataset}: exists and is not empty; choose a new folder")
    dataset = load_dataset(args.dataset)
    predictor = load_predictor(args.model) if args.model else None
    if predictor is not None:
        _, validation = validation_indices(dataset, predictor, seed=0, fraction=0.15)
    else:
        _, validation = split(dataset, seed=0, validation_fraction=0.15)
    if args.write_dataset:
        wanted = list(range(len(dataset)))
    else:
        wanted = [i for i in validation if not dataset.scenes[i].get("certain_no_ice")]
    fields = all_seen_fields([dataset.scenes[i] for i in wanted], args.workers)
    seen = dict(zip(wanted, fields, strict=True))
    print(ceiling_table(dataset, validation, seen, predictor))
    if args.write_dataset:
        write_oracle_dataset(dataset, fields, args.write_dataset)


if __name__ == "__main__":
    main()
