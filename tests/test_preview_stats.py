"""`train-ssegm preview` and `train-ssegm stats` on bad input: one line, the file, its exit code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from runtime import grid
from tests.tiny_dataset import NAMES, make_tiny_dataset
from training.cli import app

runner = CliRunner()
CROP_SHAPE = (len(grid.BANDS), *grid.SHAPE)


def refused(args: list[str], code: int, *words: str) -> str:
    """Run the tool; assert it failed with `code` and one stderr line holding every word."""
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def crop(tmp_path: Path) -> Path:
    """A lone crop (no dataset folder around it): float32 (7, 285, 430)."""
    path = tmp_path / "scene.npy"
    np.save(path, np.full(CROP_SHAPE, 0.1, np.float32))
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """The tiny dataset with all-water class maps, as `stats` needs."""
    root = make_tiny_dataset(tmp_path / "data")
    (root / "classes").mkdir()
    for name in NAMES:
        np.save(root / "classes" / f"{name}.npy", np.zeros(grid.SHAPE, np.uint8))
    return root


def preview(crop: Path, out: Path, *options: str) -> list[str]:
    return ["preview", str(crop), "-o", str(out), *options]


def test_preview_draws_a_dataset_crop_with_its_label(dataset, tmp_path):
    out = tmp_path / "p.png"
    crop = dataset / "crops" / f"{NAMES[0]}.npy"
    result = runner.invoke(app, preview(crop, out, "--label", str(dataset / "labels" / crop.name)))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("which", ["crop", "label"])
def test_preview_refuses_an_empty_npy(crop, tmp_path, which):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    out = tmp_path / "p.png"
    args = preview(empty, out) if which == "crop" else preview(crop, out, "--label", str(empty))
    refused(args, 16, str(empty), "empty or unreadable")
    assert not out.exists()


def test_preview_refuses_a_text_file_named_npy_plainly(tmp_path):
    text = tmp_path / "notes.npy"
    text.write_text("not an array\n")
    line = refused(preview(text, tmp_path / "p.png"), 16, str(text), "empty or unreadable")
    assert "pickle" not in line


@pytest.mark.parametrize("sidecar", ["{not json", '{"start_time": "yesterday"}', "[1, 2]"])
def test_preview_refuses_a_bad_sidecar(crop, tmp_path, sidecar):
    (tmp_path / "scene.json").write_text(sidecar)
    out = tmp_path / "p.png"
    refused(preview(crop, out), 16, str(tmp_path / "scene.json"))
    assert not out.exists()


def test_preview_refuses_a_0_255_label(crop, tmp_path):
    label = tmp_path / "label.npy"
    np.save(label, np.where(np.arange(grid.COLS) % 2, 255, 0).astype(np.uint8)[None].repeat(
        grid.ROWS, 0))
    out = tmp_path / "p.png"
    refused(preview(crop, out, "--label", str(label)), 16, str(label),
            "mask values 0, 255; expected 0 and 1 (1 = ice)")
    assert not out.exists()


def test_preview_writes_jpeg_for_jpg_and_refuses_other_suffixes(crop, tmp_path):
    out = tmp_path / "p.jpg"
    assert runner.invoke(app, preview(crop, out)).exit_code == 0
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"
    for name in ("p.gif", "p"):
        refused(preview(crop, tmp_path / name), 12, str(tmp_path / name), ".png or .jpg")
        assert not (tmp_path / name).exists()


def test_preview_refuses_a_crop_that_is_not_float32(tmp_path):
    crop = tmp_path / "counts.npy"
    np.save(crop, np.zeros(CROP_SHAPE, np.uint16))
    refused(preview(crop, tmp_path / "p.png"), 16, str(crop), "uint16", "expected float32")


def test_preview_says_a_label_folder_is_a_folder(crop, tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    refused(preview(crop, tmp_path / "p.png", "--label", str(folder)), 3, str(folder), "folder")


def test_preview_says_the_output_goes_through_a_file(crop, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    refused(preview(crop, afile / "x.png"), 12, str(afile / "x.png"), "goes through a file")
    assert afile.read_text() == ""


def test_stats_runs_on_the_tiny_dataset(dataset):
    result = runner.invoke(app, ["stats", str(dataset)])
    assert result.exit_code == 0, result.output
    assert "water" in result.output


def _first_scene(document: dict, **changes) -> dict:
    return document | {"scenes": [document["scenes"][0] | changes]}


@pytest.mark.parametrize("change", [
    lambda document: document["scenes"],
    lambda document: {k: v for k, v in document.items() if k != "scenes"},
    lambda document: _first_scene(document, start_time="soon"),
    lambda document: _first_scene(document, start_time=None),
], ids=["list", "no-scenes", "bad-start-time", "no-start-time"])
def test_stats_refuses_a_malformed_dataset_json(dataset, change):
    path = dataset / "dataset.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    refused(["stats", str(dataset)], 16, str(path))


@pytest.mark.parametrize("content", [None, b""], ids=["missing", "empty"])
def test_stats_refuses_a_missing_or_empty_crop(dataset, content):
    crop = dataset / "crops" / f"{NAMES[0]}.npy"
    if content is None:
        crop.unlink()
    else:
        crop.write_bytes(content)
    refused(["stats", str(dataset)], 16, str(crop))


def test_stats_says_a_missing_dataset_folder_is_missing(tmp_path):
    refused(["stats", str(tmp_path / "nonexistent")], 16, "dataset folder not found")
