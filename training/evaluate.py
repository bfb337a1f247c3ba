"""Score a trained model (checkpoint or ONNX file) on the validation split, beside baselines.

Cells that count: water cells of the land mask with data in every band and not obscured by
opaque cloud (as the training's primary metrics). Scores are pooled over the cells of all
validation scenes, and again per regime of dataset.json (ice_regime, cloud_regime, sun,
platform). The classical baselines of the talk's slide 3 are scored on the same cells:
- NDSI: `training.baselines.ndsi_ice_mask`, literature thresholds, on rho (the stored L1B
  value divided by cos(solar zenith) from the scene time; the stored value when it has none);
- random forest: `training.baselines.fit_pixel_forest` on the 7 stored band values of a
  seeded sample of training-split water cells.
For the model two more rows give its scores with obscured cells counted (label 0) and over
all cells with data (land included, never ice), the latter to compare with the talk's figures.

The validation split is the checkpoint's own (its names are stored in it); for an ONNX file
it is re-made from the seed and fraction, the same way training makes it.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from runtime import grid, landmask
from runtime.errors import DatasetError, ModelError, OutputError
from runtime.granule import start_time
from runtime.inference import Model
from runtime.outputs import write_bytes_atomic
from runtime.solar import cos_solar_zenith
from training.architectures import DISPLAY_NAMES
from training.baselines import (
    FOREST_SAMPLES,
    fit_pixel_forest,
    forest_ice_mask,
    ndsi_ice_mask,
)
from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.dataset import REGIME_KEYS, Dataset, load_dataset, split
from training.metrics import Confusion, confusion

log = logging.getLogger(__name__)

BATCH = 4
NDSI = "NDSI threshold"
FOREST = "random forest (7 bands)"
COLUMNS = ("group", "method", "scenes", "cells", "iou", "accuracy", "precision", "recall")


@dataclass
class Predictor:
    """A model that maps raw crops (n, 7, 285, 430) to ice probabilities (n, 285, 430)."""

    name: str
    threshold: float
    predict: Callable[[np.ndarray], np.ndarray]
    split: dict | None  # the checkpoint's split, None for an ONNX file


def _checkpoint_predictor(path: Path) -> Predictor:
    checkpoint = load_checkpoint(path)
    model = model_from_checkpoint(checkpoint, path)

    def predict(crops: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(model(torch.from_numpy(crops)))[:, 0].numpy()

    return Predictor(DISPLAY_NAMES[checkpoint["architecture"]], float(checkpoint["threshold"]),
                     predict, checkpoint.get("train_config", {}).get("split"))


def _onnx_predictor(path: Path) -> Predictor:
    """The model as the station runs it: the runtime's checks, preprocessing and session."""
    model = Model(path, device="cpu")

    def predict(crops: np.ndarray) -> np.ndarray:
        return np.stack([model.probability(crop) for crop in crops])

    return Predictor(model.metadata.name, model.metadata.threshold, predict, None)


def load_predictor(path: Path) -> Predictor:
    """A checkpoint (.ckpt) or an ONNX model (.onnx) ready to predict."""
    if not path.is_file():
        raise ModelError("model file not found", path)
    if path.suffix == ".ckpt":
        return _checkpoint_predictor(path)
    if path.suffix == ".onnx":
        return _onnx_predictor(path)
    raise ModelError(f"unknown model file type {path.suffix!r} (valid: .ckpt, .onnx)", path)


def validation_indices(
    dataset: Dataset, predictor: Predictor, seed: int, fraction: float
) -> tuple[list[int], list[int]]:
    """(training, validation) scene indices: the checkpoint's split, else a fresh seeded one."""
    if predictor.split is None:
        return split(dataset, seed, fraction)
    index = {name: i for i, name in enumerate(dataset.names)}
    missing = [n for n in predictor.split["validation"] if n not in index]
    if missing:
        raise DatasetError(f"{len(missing)} validation scenes of the checkpoint are missing, "
                           f"e.g. {missing[0]}", dataset.root)
    return ([index[n] for n in predictor.split["training"] if n in index],
            [index[n] for n in predictor.split["validation"]])


def _cos_sza(scene: dict) -> np.ndarray | None:
    start = start_time(scene)
    if start is None:
        return None
    lon, lat = grid.cell_centres()
    return cos_solar_zenith(start, lon, lat).astype(np.float32)


def _fit_forest(dataset: Dataset, indices: list[int], water: np.ndarray, seed: int):
    """Forest on a seeded, equal-per-scene sample of training-split water cells with data."""
    rng = np.random.default_rng(seed)
    per_scene = math.ceil(FOREST_SAMPLES / max(len(indices), 1))
    features, labels = [], []
    for i in indices:
        crop = dataset.crops[i].numpy()
        cells = np.flatnonzero((water & np.isfinite(crop).all(axis=0)).ravel())
        pick = rng.choice(cells, min(per_scene, len(cells)), replace=False)
        features.append(crop.reshape(len(grid.BANDS), -1)[:, pick].T)
        labels.append(dataset.labels[i].numpy().ravel()[pick] == 1)
    if not sum(len(scene_labels) for scene_labels in labels):
        raise DatasetError("no water cell with data in every band in the training scenes, "
                           "for the random forest", dataset.root)
    return fit_pixel_forest(np.concatenate(features), np.concatenate(labels), seed)


def ndsi_prediction(dataset: Dataset, index: int) -> np.ndarray:
    """The NDSI baseline's ice mask of one scene (rho from the scene's time, when it has one)."""
    return ndsi_ice_mask(dataset.crops[index].numpy(), _cos_sza(dataset.scenes[index]))


def counted_cells(dataset: Dataset, index: int) -> np.ndarray:
    """The cells a scene's scores count: water, data in every band, not obscured."""
    crop = dataset.crops[index].numpy()
    clear = np.isfinite(crop).all(axis=0) & (dataset.obscured[index].numpy() == 0)
    return landmask.water_mask() & clear


def scene_confusions(
    dataset: Dataset, predictor: Predictor, indices: list[int], forest
) -> list[dict[str, Confusion]]:
    """Per validation scene: {method: Confusion} over its counted cells."""
    water = landmask.water_mask()
    results = []
    for start in range(0, len(indices), BATCH):
        chunk = indices[start : start + BATCH]
        probability = predictor.predict(dataset.crops[chunk].numpy())
        for k, i in enumerate(chunk):
            crop = dataset.crops[i].numpy()
            truth = dataset.labels[i].numpy() == 1
            valid = np.isfinite(crop).all(axis=0)
            clear = counted_cells(dataset, i)
            model = (probability[k] > predictor.threshold) & water
            results.append({
                predictor.name: confusion(model, truth, clear),
                f"{predictor.name}, obscured cells counted": confusion(model, truth, water & valid),
                f"{predictor.name}, all cells (land = not ice)": confusion(model, truth, valid),
                NDSI: confusion(ndsi_prediction(dataset, i), truth, clear),
                FOREST: confusion(forest_ice_mask(forest, crop, clear), truth, clear),
            })
    return results


def _rows(group: str, members: list[int], confusions: list[dict[str, Confusion]],
          methods: list[str]) -> list[dict]:
    rows = []
    for method in methods:
        total = sum((confusions[j][method] for j in members), Confusion())
        rows.append({"group": group, "method": method, "scenes": len(members),
                     "cells": total.cells, **total.scores()})
    return rows


def evaluate(model_path: Path, dataset_path: Path, seed: int = 0,
             validation_fraction: float = 0.15) -> list[dict]:
    """Rows of the evaluation table: every method on all validation scenes, then per regime."""
    predictor = load_predictor(model_path)
    dataset = load_dataset(dataset_path)
    training, validation = validation_indices(dataset, predictor, seed, validation_fraction)
    if not validation or not training:
        raise DatasetError(f"{len(dataset)} scenes are too few for a training part (the "
                           "forest's) and a validation part", dataset_path)
    log.info("%s: %d validation scenes; fitting the forest on %d training scenes",
             predictor.name, len(validation), len(training))
    forest = _fit_forest(dataset, training, landmask.water_mask(), seed)
    confusions = scene_confusions(dataset, predictor, validation, forest)
    every = list(confusions[0]) if confusions else []
    plain = [predictor.name, NDSI, FOREST]
    rows = _rows("all validation scenes", list(range(len(validation))), confusions, every)
    for key in REGIME_KEYS:
        values = sorted({str(dataset.scenes[i].get(key)) for i in validation})
        for value in values:
            members = [j for j, i in enumerate(validation)
                       if str(dataset.scenes[i].get(key)) == value]
            rows += _rows(f"{key}={value}", members, confusions, plain)
    return rows


def verdicts(rows: list[dict]) -> list[dict]:
    """Per group: does the model (the first method of the table) beat every baseline?

    The score compared is the IoU, or the accuracy where the group holds no ice to find (its
    recall is undefined, as in the ice-free scenes: there only false alarms count).
    """
    groups: dict[str, dict[str, dict]] = {}
    for row in rows:
        groups.setdefault(row["group"], {})[row["method"]] = row
    model = rows[0]["method"]
    result = []
    for group, methods in groups.items():
        metric = "accuracy" if math.isnan(methods[model]["recall"]) else "iou"
        ours = methods[model][metric]
        baselines = {name: methods[name][metric] for name in (NDSI, FOREST)}
        result.append({"group": group, "metric": metric, "model": ours, **baselines,
                       "beats_baselines": all(ours > value for value in baselines.values())})
    return result


def format_verdicts(rows: list[dict]) -> str:
    """The verdicts as Markdown: one line per group, then the count."""
    table = verdicts(rows)
    lines = [f"| group | score | {rows[0]['method']} | {NDSI} | {FOREST} | beats both |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {v['group']} | {v['metric']} | {_shown(v['model'])} | {_shown(v[NDSI])} "
              f"| {_shown(v[FOREST])} | {'yes' if v['beats_baselines'] else 'no'} |"
              for v in table]
    won = sum(v["beats_baselines"] for v in table)
    lines.append(f"\n{rows[0]['method']} beats both baselines in {won} of {len(table)} groups.")
    return "\n".join(lines) + "\n"


def _shown(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def format_markdown(rows: list[dict]) -> str:
    """The table as Markdown (NaN, e.g. IoU without any ice, shown as '-')."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_shown(row[c]) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_tables(rows: list[dict], out_dir: Path) -> tuple[Path, Path]:
    """evaluation.csv and evaluation.md in `out_dir`, each written atomically."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder ({error.strerror})", out_dir) from None
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    csv_path, md_path = out_dir / "evaluation.csv", out_dir / "evaluation.md"
    write_bytes_atomic(csv_path, buffer.getvalue().encode())
    write_bytes_atomic(md_path, (format_markdown(rows) + "\n" + format_verdicts(rows)).encode())
    return csv_path, md_path
