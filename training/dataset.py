"""Read a dataset folder (the project's contract) into memory, and split it reproducibly.

    DATASET/dataset.json          optional: scenes with platform, time, regimes, certain_no_ice
    DATASET/crops/<name>.npy      float32 (7, 285, 430), NaN = no data
    DATASET/labels/<name>.npy     uint8 (285, 430), 1 = ice
    DATASET/obscured/<name>.npy   optional uint8 (285, 430), 1 = hidden by opaque cloud

Without dataset.json every name present in both crops/ and labels/ is a scene, and platform
and start time come from the granule name (MOD/MYD02HKM.AYYYYDDD.HHMM.CCC). The talk's 570
crops take 1.96 GB as float32: the whole set is loaded once into one tensor.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from runtime import grid
from runtime.errors import DatasetError
from runtime.granule import start_time

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

FORMAT = "bay-ice-dataset"
VERSION = 1
CROP_SHAPE = (len(grid.BANDS), grid.ROWS, grid.COLS)
REGIME_KEYS = ("ice_regime", "cloud_regime", "sun", "platform")
_GRANULE_NAME = re.compile(r"^(MOD|MYD)02HKM\.A(\d{4})(\d{3})\.(\d{2})(\d{2})\.\d{3}")
_PLATFORMS = {"MOD": "Terra", "MYD": "Aqua"}


@dataclass
class Dataset:
    """All scenes of a dataset folder, in memory, in scene order."""

    root: Path
    scenes: list[dict]
    crops: torch.Tensor  # float32 (N, 7, 285, 430), NaN = no data
    labels: torch.Tensor  # uint8 (N, 285, 430), 1 = ice
    obscured: torch.Tensor  # uint8 (N, 285, 430), 1 = hidden by opaque cloud (0 when absent)
    has_obscured: bool
    source: str

    @property
    def names(self) -> list[str]:
        return [scene["name"] for scene in self.scenes]

    def __len__(self) -> int:
        return len(self.scenes)


def scene_from_name(name: str) -> dict:
    """Scene record of a user crop without dataset.json: platform and time from its name."""
    scene = {"name": name, "platform": "unknown", "start_time": None, "ice_regime": "unknown",
             "cloud_regime": "unknown", "sun": "unknown", "certain_no_ice": False}
    match = _GRANULE_NAME.match(name)
    if match:
        prefix, year, day, hour, minute = match.groups()
        start = dt.datetime(int(year), 1, 1, int(hour), int(minute), tzinfo=dt.timezone.utc)
        scene["platform"] = _PLATFORMS[prefix]
        scene["start_time"] = (start + dt.timedelta(days=int(day) - 1)).isoformat()
    return scene


def read_scenes(root: Path) -> tuple[list[dict], str]:
    """The scene records and the data's description ("source") of a dataset folder."""
    if not root.is_dir():
        raise DatasetError("dataset folder not found", root)
    document_path = root / "dataset.json"
    if document_path.exists():
        try:
            document = json.loads(document_path.read_text())
        except (OSError, ValueError) as error:
            raise DatasetError(f"unreadable dataset.json ({error})", document_path) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise DatasetError(f"not a {FORMAT} document", document_path)
        if document.get("version") != VERSION:
            raise DatasetError(f"version {document.get('version')!r}, this code reads {VERSION}",
                               document_path)
        if not grid.matches(document.get("grid", {})):
            raise DatasetError("dataset made for another grid", document_path)
        if list(document.get("bands", [])) != list(grid.BANDS):
            raise DatasetError(f"bands {document.get('bands')}, expected {list(grid.BANDS)}",
                               document_path)
        scenes = [scene_from_name(s["name"]) | s
                  for s in _checked_records(document.get("scenes"), document_path)]
        return scenes, str(document.get("source", "unspecified data"))
    if (root / "classes").is_dir():  # what `synth` writes before its dataset.json, last
        raise DatasetError("an unfinished `train-ssegm synth` build (classes/ but no "
                           "dataset.json): build it again", root)
    crops = {p.stem for p in (root / "crops").glob("*.npy")}
    labels = {p.stem for p in (root / "labels").glob("*.npy")}
    for folder, alone in (("crops", crops - labels), ("labels", labels - crops)):
        if alone:
            other = "labels" if folder == "crops" else "crops"
            log.warning("%s: %d of %s/ have no match in %s/ and are left out, e.g. %s",
                        root, len(alone), folder, other, min(alone))
    return [scene_from_name(name) for name in sorted(crops & labels)], "user data"


def _checked_records(entries: object, document_path: Path) -> list[dict]:
    """dataset.json's scene records: each an object with a unique name and, if it has one, an
    ISO 8601 start time (a scene listed twice could land in both training and validation)."""
    if not isinstance(entries, list) or not entries:
        raise DatasetError("dataset.json lists no scenes ('scenes' must be a non-empty list)",
                           document_path)
    seen: set[str] = set()
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise DatasetError(f"scene {number} is not an object with a name", document_path)
        name = entry["name"]
        if not isinstance(entry.get("certain_no_ice", False), bool):
            raise DatasetError(f"scene {name}: certain_no_ice must be true or false",
                               document_path)
        if name in seen:
            raise DatasetError(f"scene {name} is listed twice", document_path)
        seen.add(name)
        try:
            start_time(entry)
        except (AttributeError, TypeError, ValueError):
            raise DatasetError(f"scene {name}: start_time {entry.get('start_time')!r} is not an "
                               "ISO 8601 time", document_path) from None
    return entries


def load_array(path: Path, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A .npy array of this shape and dtype, or a one-line DatasetError naming the file."""
    if not path.is_file():
        raise DatasetError("no such file", path)
    try:  # mapped first: the header's shape and dtype are checked before any data is read
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, EOFError, ValueError):  # numpy's own text advises allow_pickle: no help
        mapped = None
    if not isinstance(mapped, np.ndarray):  # empty, text, pickled, truncated, an .npz archive
        raise DatasetError("empty or unreadable array (not a complete .npy file)", path)
    if mapped.shape != shape or mapped.dtype != dtype:
        raise DatasetError(f"{mapped.dtype} {mapped.shape}, expected {np.dtype(dtype)} {shape}",
                           path)
    return np.array(mapped)


def load_mask(path: Path, meaning: str) -> np.ndarray:
    """A uint8 grid mask holding only 0 and 1 (a 0/255 mask, say, is refused, not guessed at)."""
    mask = load_array(path, grid.SHAPE, np.uint8)
    values = np.unique(mask)
    if not np.isin(values, (0, 1)).all():
        shown = ", ".join(str(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise DatasetError(f"mask values {shown}; expected 0 and 1 (1 = {meaning})", path)
    return mask


def load_dataset(root: Path, limit: int | None = None) -> Dataset:
    """Load every scene (or the first `limit`) of the folder at `root` into memory."""
    import torch  # here, not at import: the command line starts without it

    scenes, source = read_scenes(root)
    scenes = scenes[:limit] if limit else scenes
    if not scenes:
        raise DatasetError("no scenes (no name present in both crops/ and labels/)", root)
    n = len(scenes)
    crops = torch.empty((n, *CROP_SHAPE), dtype=torch.float32)
    labels = torch.zeros((n, *grid.SHAPE), dtype=torch.uint8)
    obscured = torch.zeros((n, *grid.SHAPE), dtype=torch.uint8)
    has_obscured = (root / "obscured").is_dir()
    for i, scene in enumerate(scenes):
        name = scene["name"]
        crop_path = root / "crops" / f"{name}.npy"
        crop = load_array(crop_path, CROP_SHAPE, np.float32)
        if np.isinf(crop).any():
            raise DatasetError("infinite values in the crop (NaN is the mark of no data)",
                               crop_path)
        crops[i] = torch.from_numpy(crop)
        labels[i] = torch.from_numpy(load_mask(root / "labels" / f"{name}.npy", "ice"))
        obscured_path = root / "obscured" / f"{name}.npy"
        if obscured_path.exists():
            obscured[i] = torch.from_numpy(load_mask(obscured_path, "obscured"))
    log.info("loaded %d scenes from %s", n, root)
    return Dataset(root, scenes, crops, labels, obscured, has_obscured, source)


def split(dataset: Dataset, seed: int, validation_fraction: float) -> tuple[list[int], list[int]]:
    """Seeded stratified split into (training, validation) scene indices, each sorted.

    Strata: certain-no-ice scenes, labelled scenes with ice, labelled scenes without; each
    stratum gives round(fraction * size) scenes to validation, at least one if it has two and
    none if it has one, so ice and ice-free scenes are in both parts where there are two.
    """
    strata: dict[tuple[bool, bool], list[int]] = {}
    for i, scene in enumerate(dataset.scenes):
        key = (bool(scene.get("certain_no_ice")), bool(dataset.labels[i].any()))
        strata.setdefault(key, []).append(i)
    rng = np.random.default_rng(seed)
    validation: list[int] = []
    for key in sorted(strata):
        members = strata[key]
        # at least one scene to each part; a stratum of one scene trains
        n_val = min(max(round(validation_fraction * len(members)), 1), len(members) - 1)
        validation += [members[j] for j in rng.permutation(len(members))[:n_val]]
    training = sorted(set(range(len(dataset))) - set(validation))
    return training, sorted(validation)


def band_statistics(dataset: Dataset, indices: list[int]) -> tuple[list[float], list[float]]:
    """Per-band mean and standard deviation over the cells with data (land and water) of the
    scenes `indices` (the training split: validation data must not leak into the model)."""
    import torch

    means, stds = [], []
    for band in range(dataset.crops.shape[1]):
        values = dataset.crops[indices, band]
        values = values[~torch.isnan(values)].double()
        if values.numel() == 0:
            raise DatasetError(f"band {grid.BANDS[band]} has no data in the training scenes",
                               dataset.root)
        means.append(float(values.mean()))
        stds.append(max(float(values.std()), 1e-6))
    return means, stds
