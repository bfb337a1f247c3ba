"""Build a synthetic dataset folder in the project's contract format (design.md, common brief).

    DATASET/dataset.json            format, version, grid, bands, label semantics, scenes
    DATASET/crops/<name>.npy        float32 (7, 285, 430) + <name>.json, as `ice-runtime crop`
    DATASET/labels/<name>.npy       uint8 (285, 430), 1 = ice
    DATASET/obscured/<name>.npy     uint8 (285, 430), 1 = hidden by opaque cloud
    DATASET/classes/<name>.npy      uint8 (285, 430), simulator class of pure cells (stats)

Scenes are drawn once from the seed (``regimes.sample_specs``) and rendered in parallel; each
scene depends only on its own seed, so the folder's content does not depend on the number of
workers. Every file is written under a temporary name and renamed; dataset.json comes last, so
a folder without it is an unfinished build.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from runtime import grid
from runtime.cli.crop import write_crop
from runtime.errors import OutputError
from runtime.outputs import write_bytes_atomic
from training.dataset import FORMAT, VERSION
from training.simulator.clouds import TAU_OPAQUE
from training.simulator.granule import simulate
from training.simulator.raster import fine_raster
from training.simulator.regimes import SceneSpec, sample_specs
from training.simulator.truth import CLASSES, MIXED

log = logging.getLogger(__name__)

MASK_FOLDERS = ("labels", "obscured", "classes")
LABEL_SEMANTICS = (
    "1 = ice: sea ice covers at least half of the sea inside the cell (land-mask water cells "
    "only; land cells are 0). Cloud does not change the label where the surface shows through; "
    f"where at least half of the cell lies under cloud of optical thickness >= {TAU_OPAQUE:g} "
    "the label is 0 and obscured/<name>.npy is 1. Labels are given for every cell, also where "
    "the crop has no data (NaN, outside the swath)."
)


def save_npy(path: Path, array: np.ndarray) -> None:
    """np.save, written atomically (`runtime.outputs.write_bytes_atomic`)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


def render_to_folder(spec: SceneSpec, out_dir: Path) -> dict:
    """Simulate one scene and write its crop and masks; return a short summary."""
    started = time.perf_counter()
    example = simulate(spec)
    if example.crop.info.granule_id != spec.name:
        raise RuntimeError(f"granule {example.crop.info.granule_id} read back for {spec.name}")
    write_crop(example.crop, out_dir / "crops")
    for folder, array in zip(
        MASK_FOLDERS, (example.label, example.obscured, example.classes), strict=True
    ):
        save_npy(out_dir / folder / f"{spec.name}.npy", array)
    return {
        "name": spec.name,
        "ice_cells": int(example.label.sum()),
        "obscured_cells": int(example.obscured.sum()),
        "coverage": example.crop.info.coverage,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _render_job(job: tuple[SceneSpec, Path]) -> dict:
    return render_to_folder(*job)


def dataset_document(specs: list[SceneSpec], seed: int) -> dict:
    """Content of dataset.json."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "grid": grid.describe(),
        "bands": list(grid.BANDS),
        "label_semantics": LABEL_SEMANTICS,
        "source": f"synthetic: bay-ice scene simulator, seed {seed} (not real MODIS data)",
        "classes": {str(code): name for code, name in CLASSES.items()} | {str(MIXED): "mixed"},
        "scenes": [spec.to_dict() for spec in specs],
    }


def _prepare(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError("the dataset folder is a file", out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise OutputError("the dataset folder exists and is not empty; choose a new one", out_dir)
    try:
        for folder in ("crops", *MASK_FOLDERS):
            (out_dir / folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the dataset folder ({error.strerror})", out_dir) from None


def _results(specs: list[SceneSpec], out_dir: Path, workers: int) -> Iterator[dict]:
    jobs = [(spec, out_dir) for spec in specs]
    if workers <= 1:
        yield from map(_render_job, jobs)
        return
    # Fresh worker processes: forking a parent that has run OpenMP code (the reader's k-d tree)
    # can hang the children.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=fine_raster) as pool:
        yield from pool.imap(_render_job, jobs, chunksize=1)


def build_dataset(
    out_dir: Path,
    n_labelled: int,
    n_clear: int,
    seed: int,
    workers: int = 1,
    progress: Callable[[Iterator[dict], int], Iterator[dict]] | None = None,
) -> dict:
    """Write a dataset of `n_labelled` ice-regime scenes and `n_clear` ice-free scenes.

    `progress` wraps the stream of per-scene summaries (e.g. ``tqdm``). Returns dataset.json.
    """
    specs = sample_specs(n_labelled, n_clear, seed)
    _prepare(out_dir)
    results = _results(specs, out_dir, workers)
    if progress is not None:
        results = progress(results, len(specs))
    summaries = list(results)
    document = dataset_document(specs, seed)
    for entry, summary in zip(document["scenes"], summaries, strict=True):
        entry["ice_cells"] = summary["ice_cells"]
        entry["obscured_cells"] = summary["obscured_cells"]
    write_bytes_atomic(out_dir / "dataset.json", json.dumps(document, indent=1).encode())
    log.info("%d scenes in %s", len(specs), out_dir)
    return document
