import csv
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from training.checkpoint import make_checkpoint, save_checkpoint
from training.cli import app
from training.dataset import band_statistics, load_dataset, split
from training.evaluate import FOREST, NDSI, verdicts
from training.models import build_model

from .tiny_dataset import NAMES, make_tiny_dataset


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny dataset and an (untrained) M20.1 checkpoint with its split."""
    base = tmp_path_factory.mktemp("evaluate")
    dataset_dir = make_tiny_dataset(base / "data")
    dataset = load_dataset(dataset_dir)
    training, validation = split(dataset, 0, 0.15)
    torch.manual_seed(0)
    model = build_model("m20.1", *band_statistics(dataset, training)).eval()
    names = dataset.names
    config = {"split": {"training": [names[i] for i in training],
                        "validation": [names[i] for i in validation]}}
    checkpoint = make_checkpoint("m20.1", model, 1, {"iou": 0.0}, config, "synthetic: test")
    save_checkpoint(checkpoint, base / "model.ckpt")
    return base, dataset_dir, checkpoint


def _evaluate(model_path, dataset_dir, out):
    result = CliRunner().invoke(app, ["evaluate", str(model_path), str(dataset_dir), "-o", out])
    assert result.exit_code == 0, result.output
    return result


def test_evaluate_checkpoint_prints_the_table_with_both_baselines(setup):
    base, dataset_dir, _ = setup
    result = _evaluate(base / "model.ckpt", dataset_dir, str(base / "ckpt-eval"))
    lines = result.output.splitlines()
    table = lines[: lines.index("")]
    assert lines[0] == "| group | method | scenes | cells | iou | accuracy | precision | recall |"
    overall = [line for line in table if line.startswith("| all validation scenes |")]
    methods = [line.split(" | ")[1] for line in overall]
    assert methods == ["SSegm M20.1", "SSegm M20.1, obscured cells counted",
                       "SSegm M20.1, all cells (land = not ice)", NDSI, FOREST]
    assert any(line.startswith("| ice_regime=none | random forest") for line in lines)
    assert any(line.startswith("| platform=Aqua | NDSI") for line in lines)
    rows = list(csv.DictReader((base / "ckpt-eval" / "evaluation.csv").open()))
    assert len(rows) == len(table) - 2  # header, rule
    assert lines[-2].startswith("SSegm M20.1 beats both baselines in ")
    groups = {r["group"] for r in rows}
    verdict_lines = lines[len(table) + 1 :]
    assert sum(line.startswith("| ") for line in verdict_lines) == 1 + len(groups)  # + header
    assert (base / "ckpt-eval" / "evaluation.md").read_text().splitlines()[0] == lines[0]
    # the tiny scenes make ice easy for the per-pixel baselines
    forest = next(r for r in rows if r["method"] == FOREST and r["group"].startswith("all"))
    assert float(forest["iou"]) > 0.9


def test_evaluate_onnx_matches_the_checkpoint(setup):
    from export.onnx_export import model_metadata, set_metadata, to_onnx

    base, dataset_dir, checkpoint = setup
    model = build_model("m20.1", checkpoint["preprocessing"]["mean"],
                        checkpoint["preprocessing"]["std"])
    model.load_state_dict(checkpoint["state_dict"])
    proto = to_onnx(model.eval())
    set_metadata(proto, model_metadata(checkpoint, "0" * 64, "test"))
    (base / "model.onnx").write_bytes(proto.SerializeToString())
    _evaluate(base / "model.onnx", dataset_dir, str(base / "onnx-eval"))
    _evaluate(base / "model.ckpt", dataset_dir, str(base / "ckpt-eval2"))
    onnx_rows = list(csv.DictReader((base / "onnx-eval" / "evaluation.csv").open()))
    ckpt_rows = list(csv.DictReader((base / "ckpt-eval2" / "evaluation.csv").open()))
    assert [r["group"] for r in onnx_rows] == [r["group"] for r in ckpt_rows]
    for a, b in zip(onnx_rows, ckpt_rows, strict=True):
        assert a["cells"] == b["cells"]
        assert float(a["accuracy"]) == pytest.approx(float(b["accuracy"]), abs=1e-3)


def test_evaluate_refuses_other_files(setup, tmp_path):
    _, dataset_dir, _ = setup
    bad = tmp_path / "model.txt"
    bad.write_text("x")
    result = CliRunner().invoke(app, ["evaluate", str(bad), str(dataset_dir)])
    assert result.exit_code == 10 and ".ckpt, .onnx" in result.output
    corrupt = tmp_path / "model.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(app, ["evaluate", str(corrupt), str(dataset_dir)])
    assert result.exit_code == 14 and "model.ckpt" in result.output


def test_evaluate_checks_an_onnx_model_as_the_runtime_does(setup, tmp_path):
    """A model the station would refuse (another grid) is refused here too, before any work."""
    from tests.onnx_models import make_model, metadata

    _, dataset_dir, _ = setup
    path = make_model(tmp_path / "other-grid.onnx", metadata(grid={"west": 100.0}))
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["evaluate", str(path), str(dataset_dir), "-o", str(out)])
    assert result.exit_code == 11 and "grid" in result.output, result.output
    assert not out.exists()


def test_evaluate_with_no_validation_scene_or_a_file_for_output(setup, tmp_path):
    """Two scenes, one with ice and one without: each trains, none is left to validate."""
    from tests.onnx_models import make_model

    base, dataset_dir, _ = setup
    two = tmp_path / "two"
    for folder in ("crops", "labels"):
        (two / folder).mkdir(parents=True)
        for name in (NAMES[0], NAMES[-1]):
            shutil.copy(dataset_dir / folder / f"{name}.npy", two / folder)
    model = make_model(tmp_path / "rule.onnx")
    result = CliRunner().invoke(app, ["evaluate", str(model), str(two), "-o",
                                      str(tmp_path / "eval")])
    assert result.exit_code == 16, result.output
    assert result.output.strip() == (f"train-ssegm evaluate: error: {two}: 2 scenes are too few "
                                     "for a training part (the forest's) and a validation part")
    assert not (tmp_path / "eval").exists()
    blocker = tmp_path / "afile"
    blocker.write_text("in the way")
    result = CliRunner().invoke(app, ["evaluate", str(base / "model.ckpt"), str(dataset_dir),
                                      "-o", str(blocker)])
    assert result.exit_code == 12
    assert "the output path is a file, not a directory" in result.output
    assert "| group |" not in result.output  # refused before the work, not after


def test_evaluate_refuses_nan_weights_and_a_forest_without_cells(setup, tmp_path):
    base, dataset_dir, checkpoint = setup
    broken = {**checkpoint, "state_dict": dict(checkpoint["state_dict"])}
    first = next(k for k, v in broken["state_dict"].items() if v.is_floating_point())
    broken["state_dict"][first] = torch.full_like(broken["state_dict"][first], float("nan"))
    save_checkpoint(broken, tmp_path / "nan.ckpt")
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "nan.ckpt"), str(dataset_dir),
                                      "-o", str(tmp_path / "eval")])
    assert result.exit_code == 14 and "NaN or infinite" in result.output
    no_data = shutil.copytree(dataset_dir, tmp_path / "no-data")
    for name in checkpoint["train_config"]["split"]["training"]:
        path = no_data / "crops" / f"{name}.npy"
        np.save(path, np.full_like(np.load(path), np.nan))
    result = CliRunner().invoke(app, ["evaluate", str(base / "model.ckpt"), str(no_data), "-o",
                                      str(tmp_path / "eval")])
    assert result.exit_code == 16, result.output
    assert "no water cell with data in every band in the training scenes" in result.output


def _row(group, method, iou, accuracy, recall=0.5):
    return {"group": group, "method": method, "iou": iou, "accuracy": accuracy, "recall": recall}


def test_verdicts_compare_iou_or_accuracy_where_there_is_no_ice():
    nan = float("nan")
    rows = [
        _row("all", "M", 0.8, 0.95), _row("all", NDSI, 0.5, 0.9), _row("all", FOREST, 0.7, 0.96),
        _row("tie", "M", 0.7, 0.9), _row("tie", NDSI, 0.5, 0.9), _row("tie", FOREST, 0.7, 0.8),
        # no ice to find: IoU is 0 for every method; the accuracy (false alarms) decides
        _row("none", "M", 0.0, 0.999, nan), _row("none", NDSI, 0.0, 0.9, nan),
        _row("none", FOREST, 0.0, 0.99, nan),
    ]
    table = {v["group"]: v for v in verdicts(rows)}
    assert table["all"]["metric"] == "iou" and table["all"]["beats_baselines"]
    assert not table["tie"]["beats_baselines"]  # a tie with the forest is no win
    assert table["none"]["metric"] == "accuracy" and table["none"]["beats_baselines"]
    assert table["none"][FOREST] == 0.99
