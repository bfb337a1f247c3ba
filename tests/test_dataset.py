"""Dataset folders a researcher may hand `train-ssegm`: each flaw is one line and exit 16,
never a traceback, a silent drop or a split that mixes training and validation."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from runtime import grid
from runtime.errors import DatasetError
from training.cli import app
from training.dataset import load_dataset, split

from .tiny_dataset import NAMES, make_tiny_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"))


def copy_of(tiny, tmp_path):
    return shutil.copytree(tiny, tmp_path / "data")


def edit_document(root, edit) -> None:
    path = root / "dataset.json"
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def assert_refused(root, tmp_path, shown: str, path) -> None:
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(root), "-o", str(run), "--epochs", "1"])
    assert result.exit_code == DatasetError.exit_code, result.output
    assert result.output.strip() == f"train-ssegm train: error: {path}: {shown}"
    assert not run.exists()


@pytest.mark.parametrize("edit, shown", [
    (lambda d: d["scenes"][2].pop("name"), "scene 3 is not an object with a name"),
    (lambda d: d.update(scenes=[s["name"] for s in d["scenes"]]),
     "scene 1 is not an object with a name"),
    (lambda d: d.update(scenes=None),
     "dataset.json lists no scenes ('scenes' must be a non-empty list)"),
    (lambda d: d["scenes"].append(dict(d["scenes"][0])), f"scene {NAMES[0]} is listed twice"),
    (lambda d: d["scenes"][1].update(start_time="yesterday"),
     f"scene {NAMES[1]}: start_time 'yesterday' is not an ISO 8601 time"),
    (lambda d: d.update(version=2), "version 2, this code reads 1"),
    (lambda d: d["scenes"][0].update(certain_no_ice="false"),
     f"scene {NAMES[0]}: certain_no_ice must be true or false"),
])
def test_malformed_dataset_json(tiny, tmp_path, edit, shown):
    root = copy_of(tiny, tmp_path)
    edit_document(root, edit)
    assert_refused(root, tmp_path, shown, root / "dataset.json")


@pytest.mark.parametrize("content", [b"", b"a text file, not an array\n"])
def test_empty_or_foreign_npy(tiny, tmp_path, content):
    root = copy_of(tiny, tmp_path)
    path = root / "labels" / f"{NAMES[3]}.npy"
    path.write_bytes(content)
    assert_refused(root, tmp_path, "empty or unreadable array (not a complete .npy file)", path)


def test_a_header_claiming_a_huge_array_is_refused_before_reading(tiny, tmp_path):
    """A 200-byte file whose header says (400000, 400000): numpy would try to allocate 596 GiB."""
    root = copy_of(tiny, tmp_path)
    path = root / "crops" / f"{NAMES[1]}.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.float32))
    with path.open("wb") as file:
        np.lib.format.write_array_header_1_0(file, header | {"shape": (400000, 400000)})
    assert_refused(root, tmp_path, "empty or unreadable array (not a complete .npy file)", path)


def test_missing_listed_crop(tiny, tmp_path):
    root = copy_of(tiny, tmp_path)
    path = root / "crops" / f"{NAMES[2]}.npy"
    path.unlink()
    assert_refused(root, tmp_path, "no such file", path)


def test_infinite_values_in_a_crop(tiny, tmp_path):
    """inf trained silently into NaN statistics and weights; NaN is the mark of no data."""
    root = copy_of(tiny, tmp_path)
    path = root / "crops" / f"{NAMES[0]}.npy"
    crop = np.load(path)
    crop[:, 50:60, 50:60] = np.inf
    np.save(path, crop)
    assert_refused(root, tmp_path, "infinite values in the crop (NaN is the mark of no data)",
                   path)


def test_crops_without_labels_are_named_when_left_out(tiny, tmp_path, caplog):
    root = copy_of(tiny, tmp_path)
    (root / "dataset.json").unlink()
    (root / "labels" / f"{NAMES[4]}.npy").unlink()
    with caplog.at_level(logging.WARNING):
        dataset = load_dataset(root)
    assert len(dataset) == len(NAMES) - 1
    assert f"1 of crops/ have no match in labels/ and are left out, e.g. {NAMES[4]}" in caplog.text


def test_a_stratum_of_one_scene_trains(tiny, tmp_path):
    """The only ice scene must not go to validation, whatever the fraction."""
    root = copy_of(tiny, tmp_path)
    for name in NAMES[1:4]:
        np.save(root / "labels" / f"{name}.npy", np.zeros(grid.SHAPE, np.uint8))
    dataset = load_dataset(root)
    training, _ = split(dataset, seed=0, validation_fraction=0.6)
    assert 0 in training
