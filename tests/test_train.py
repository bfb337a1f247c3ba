import csv
import json
import logging
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from runtime import grid
from training import train as train_module
from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.cli import app
from training.dataset import band_statistics, load_dataset, scene_from_name, split
from training.models import build_model
from training.train import (
    GAIN_SIGMA,
    TrainConfig,
    _start_run,
    cell_masks,
    jitter,
    learning_rate_schedule,
    mixed_precision_dtype,
    run_epoch,
)

from .tiny_dataset import make_tiny_dataset

CONTRACT_KEYS = {"format", "version", "architecture", "state_dict", "preprocessing", "grid",
                 "threshold", "epoch", "metrics", "train_config", "data"}


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"))


def _train(dataset_dir, run, *extra):
    args = ["train", str(dataset_dir), "--model", "m20.1", "-o", str(run), "--batch-size", "2",
            "--no-progress", *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def runs(dataset_dir, tmp_path_factory):
    """One run of 1 epoch resumed to 2, and one straight run of 2 epochs."""
    base = tmp_path_factory.mktemp("runs")
    _train(dataset_dir, base / "resumed", "--epochs", "1")
    first_csv = (base / "resumed" / "metrics.csv").read_text()
    _train(dataset_dir, base / "resumed", "--epochs", "2", "--resume")
    _train(dataset_dir, base / "straight", "--epochs", "2")
    return base, first_csv


def test_split_is_seeded_and_stratified(dataset_dir):
    dataset = load_dataset(dataset_dir)
    training, validation = split(dataset, seed=0, validation_fraction=0.15)
    assert split(dataset, 0, 0.15) == (training, validation)
    assert sorted(training + validation) == list(range(6))
    has_ice = [bool(dataset.labels[i].any()) for i in validation]
    assert True in has_ice and False in has_ice


def test_run_writes_checkpoints_csv_and_curve(runs, dataset_dir):
    base, _ = runs
    run = base / "straight"
    for name in ("best.ckpt", "last.ckpt", "metrics.csv", "curve.png"):
        assert (run / name).stat().st_size > 0, name
    assert (run / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "train_iou", "val_iou", "val_accuracy", "val_iou_with_obscured",
            "val_accuracy_all_cells"} <= set(rows[0])

    best = torch.load(run / "best.ckpt", weights_only=True)
    assert set(best) == CONTRACT_KEYS
    assert best["format"] == "bay-ice-checkpoint" and best["architecture"] == "m20.1"
    assert grid.matches(best["grid"]) and best["threshold"] == 0.5
    val_ious = [float(r["val_iou"]) for r in rows]
    assert best["epoch"] == 1 + val_ious.index(max(val_ious))
    assert best["metrics"]["iou"] == pytest.approx(max(val_ious))
    assert "synthetic" in best["data"]

    dataset = load_dataset(dataset_dir)
    training, validation = split(dataset, 0, 0.15)
    assert best["train_config"]["split"]["validation"] == [dataset.names[i] for i in validation]
    mean, std = band_statistics(dataset, training)
    assert best["preprocessing"]["mean"] == pytest.approx(mean, rel=1e-6)
    assert best["preprocessing"]["std"] == pytest.approx(std, rel=1e-6)
    model = build_model("m20.1", mean, std)
    model.load_state_dict(best["state_dict"])
    last = torch.load(run / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2 and "resume" in last


def test_resumed_run_equals_the_straight_run(runs):
    base, first_csv = runs
    resumed = torch.load(base / "resumed" / "last.ckpt", weights_only=True)
    straight = torch.load(base / "straight" / "last.ckpt", weights_only=True)
    for key, value in straight["state_dict"].items():
        assert torch.equal(resumed["state_dict"][key], value), key
    resumed_csv = (base / "resumed" / "metrics.csv").read_text().splitlines()
    assert resumed_csv[:2] == first_csv.splitlines()
    straight_rows = list(csv.DictReader((base / "straight" / "metrics.csv").open()))
    resumed_rows = list(csv.DictReader((base / "resumed" / "metrics.csv").open()))
    for row_a, row_b in zip(straight_rows, resumed_rows, strict=True):
        assert row_a["val_iou"] == row_b["val_iou"] and row_a["train_loss"] == row_b["train_loss"]


def test_validation_scores_do_not_depend_on_the_batch_size(runs, dataset_dir):
    base, _ = runs
    path = base / "straight" / "best.ckpt"
    model = model_from_checkpoint(load_checkpoint(path), path)
    dataset = load_dataset(dataset_dir)
    everything = list(range(len(dataset)))  # ice and ice-free scenes
    by_batch_size = [run_epoch(model, dataset, cell_masks(dataset), everything,
                               TrainConfig(batch_size=size), torch.device("cpu"), epoch=1)
                     for size in (1, len(dataset))]
    one, all_at_once = by_batch_size
    assert one["loss"] == pytest.approx(all_at_once["loss"], rel=1e-5)
    assert one["iou"] == all_at_once["iou"]


def test_resume_refuses_another_architecture(runs, dataset_dir):
    base, _ = runs
    result = CliRunner().invoke(app, ["train", str(dataset_dir), "--model", "m21.1", "-o",
                                      str(base / "straight"), "--resume", "--no-progress"])
    assert result.exit_code == 14
    assert "last.ckpt" in result.output
    assert "the run is m20.1, not m21.1: resume it with --model m20.1" in result.output


def resume(dataset_dir, run, *extra):
    return CliRunner().invoke(app, ["train", str(dataset_dir), "--model", "m20.1", "-o",
                                    str(run), "--resume", "--no-progress", *extra])


def test_resume_with_no_epoch_left_is_refused(runs, dataset_dir):
    before = (runs[0] / "straight" / "metrics.csv").read_text()
    result = resume(dataset_dir, runs[0] / "straight", "--epochs", "2")
    assert result.exit_code == 14
    assert "the run has done 2 of its 2 epochs: give --epochs above 2 to go on" in result.output
    assert (runs[0] / "straight" / "metrics.csv").read_text() == before


def test_resume_without_epochs_goes_to_the_runs_own_count(runs, dataset_dir):
    """Not to the talk's 570: a run of 2 epochs that has done 2 has nothing left."""
    result = resume(dataset_dir, runs[0] / "straight")
    assert result.exit_code == 14
    assert "the run has done 2 of its 2 epochs" in result.output


def test_resume_without_best_ckpt_is_refused_before_training(runs, dataset_dir, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(runs[0] / "straight" / "last.ckpt", run)
    result = resume(dataset_dir, run, "--epochs", "3")
    assert result.exit_code == 14 and "no best.ckpt" in result.output
    assert sorted(p.name for p in run.iterdir()) == ["last.ckpt"]


def test_resume_from_nan_weights_is_refused(runs, dataset_dir, tmp_path):
    run = shutil.copytree(runs[0] / "straight", tmp_path / "run")
    checkpoint = torch.load(run / "last.ckpt", weights_only=True)
    first = next(k for k, v in checkpoint["state_dict"].items() if v.is_floating_point())
    checkpoint["state_dict"][first].fill_(float("nan"))
    torch.save(checkpoint, run / "last.ckpt")
    result = resume(dataset_dir, run, "--epochs", "3")
    assert result.exit_code == 14
    assert f"weights hold NaN or infinite values ({first}" in result.output


def test_resume_on_another_dataset_is_refused(runs, dataset_dir, tmp_path):
    """The same split seed on other scenes would put validation scenes into training."""
    other = make_tiny_dataset(tmp_path / "other", seed=3)
    names = sorted((other / "crops").glob("*.npy"))
    for path in names[:2]:
        for folder in ("crops", "labels", "obscured"):
            (other / folder / path.name).unlink()
    document = json.loads((other / "dataset.json").read_text())
    document["scenes"] = [s for s in document["scenes"]
                          if f"{s['name']}.npy" not in {p.name for p in names[:2]}]
    (other / "dataset.json").write_text(json.dumps(document))
    run = shutil.copytree(runs[0] / "straight", tmp_path / "run")
    result = resume(other, run, "--epochs", "3")
    assert result.exit_code == 16
    assert "not the resumed run's scenes (its split differs)" in result.output


def test_resume_names_the_options_it_ignores(runs, dataset_dir, tmp_path, caplog):
    run = shutil.copytree(runs[0] / "straight", tmp_path / "run")
    with caplog.at_level(logging.WARNING):
        result = resume(dataset_dir, run, "--epochs", "3", "--batch-size", "4")
    assert result.exit_code == 0, result.output
    assert "--resume keeps the run's batch_size (2): 4 ignored" in caplog.text


def test_a_run_stopped_in_its_first_epoch_leaves_no_folder(dataset_dir, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "run_epoch", interrupted)
    run = tmp_path / "new" / "run"
    with pytest.raises(KeyboardInterrupt):
        train_module.train(dataset_dir, run, TrainConfig("m20.1", epochs=1, batch_size=2),
                           show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_training_split_without_ice_is_refused(dataset_dir, tmp_path):
    data = shutil.copytree(dataset_dir, tmp_path / "data")
    for path in (data / "labels").glob("*.npy"):
        np.save(path, np.zeros(grid.SHAPE, np.uint8))
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(data), "-o", str(run), "--epochs", "1"])
    assert result.exit_code == 16
    assert "the training scenes hold no ice cell: nothing to learn" in result.output
    assert not run.exists()


def test_a_band_without_data_names_the_dataset_and_makes_no_folder(dataset_dir, tmp_path):
    data = shutil.copytree(dataset_dir, tmp_path / "data")
    for path in (data / "crops").glob("*.npy"):
        crop = np.load(path)
        crop[2] = np.nan
        np.save(path, crop)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(data), "-o", str(run), "--epochs", "1"])
    assert result.exit_code == 16
    assert result.output.strip() == (f"train-ssegm train: error: {data}: band 3 has no data in "
                                     "the training scenes")
    assert not run.exists()


def test_missing_dataset_is_a_one_line_error_and_makes_no_run_folder(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(tmp_path / "nowhere"), "-o", str(run)])
    assert result.exit_code == 16
    assert result.output.strip().count("\n") == 0 and "dataset folder not found" in result.output
    assert not run.exists()


@pytest.mark.parametrize("folder, values, shown", [
    ("labels", (0, 255), "mask values 0, 255; expected 0 and 1 (1 = ice)"),
    ("obscured", (0, 2), "mask values 0, 2; expected 0 and 1 (1 = obscured)"),
])
def test_masks_other_than_0_and_1_are_refused(dataset_dir, tmp_path, folder, values, shown):
    copy = shutil.copytree(dataset_dir, tmp_path / "data")
    path = sorted((copy / folder).glob("*.npy"))[0]
    mask = np.zeros(grid.SHAPE, np.uint8)
    mask[:10] = values[1]
    np.save(path, mask)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(copy), "-o", str(run)])
    assert result.exit_code == 16
    assert result.output.strip() == f"train-ssegm train: error: {path}: {shown}"
    assert not run.exists()


def test_a_fresh_run_never_overwrites_another(runs, dataset_dir):
    run = runs[0] / "straight"
    before = {path.name: path.read_bytes() for path in run.iterdir()}
    result = CliRunner().invoke(app, ["train", str(dataset_dir), "--model", "m20.1", "-o",
                                      str(run), "--epochs", "1", "--no-progress"])
    assert result.exit_code == 12
    assert result.output.strip().count("\n") == 0 and "--resume" in result.output
    assert {path.name: path.read_bytes() for path in run.iterdir()} == before


def test_resume_with_nothing_to_resume_is_refused(dataset_dir, tmp_path):
    result = CliRunner().invoke(app, ["train", str(dataset_dir), "--model", "m20.1", "-o",
                                      str(tmp_path / "typo"), "--resume", "--epochs", "1",
                                      "--no-progress"])
    assert result.exit_code == 14
    assert "nothing to resume" in result.output
    assert not (tmp_path / "typo").exists()


def test_scene_names_give_platform_and_time():
    scene = scene_from_name("MYD02HKM.A2021049.0405.061")
    assert scene["platform"] == "Aqua"
    assert scene["start_time"] == "2021-02-18T04:05:00+00:00"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_for_without_cuda(dataset_dir, tmp_path):
    result = CliRunner().invoke(app, ["train", str(dataset_dir), "-o", str(tmp_path / "run"),
                                      "--device", "cuda"])
    assert result.exit_code == 13 and "valid: cpu" in result.output
    assert not (tmp_path / "run").exists()


def test_jitter_is_per_scene_and_band_seeded_and_keeps_no_data():
    x = torch.full((64, 7, 20, 30), 0.5)
    x[0, 5, ::10] = float("nan")
    jittered = jitter(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(jittered, jitter(x, torch.Generator().manual_seed(1)),
                               rtol=0, atol=0, equal_nan=True)
    assert torch.equal(torch.isnan(jittered), torch.isnan(x))
    # A gain and an offset per scene and band: the band means spread by about 0.5 * GAIN_SIGMA.
    band_means = jittered.nanmean(dim=(2, 3))
    assert 0.3 * 0.5 * GAIN_SIGMA < band_means.std() < 2 * 0.5 * GAIN_SIGMA
    assert not torch.allclose(band_means[:, 0], band_means[:, 1])


def test_mixed_precision_choice():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert mixed_precision_dtype(cpu, False) is None
    assert mixed_precision_dtype(cpu, True) is torch.bfloat16
    assert mixed_precision_dtype(cuda) is torch.float16
    assert mixed_precision_dtype(cuda, False) is None


def test_float32_run_is_recorded_and_learns_like_the_mixed_one(runs, dataset_dir, tmp_path):
    """--no-mixed-precision trains in float32 and says so; the default says what it used."""
    _train(dataset_dir, tmp_path / "fp32", "--epochs", "2", "--no-mixed-precision")
    fp32 = torch.load(tmp_path / "fp32" / "last.ckpt", weights_only=True)
    default = torch.load(runs[0] / "straight" / "last.ckpt", weights_only=True)
    assert fp32["train_config"]["mixed_precision"] is None
    expected = {torch.bfloat16: "bfloat16", None: None}[mixed_precision_dtype(torch.device("cpu"))]
    assert default["train_config"]["mixed_precision"] == expected
    # same data, seed and initial weights: the bfloat16 run's updates point where float32's do
    torch.manual_seed(0)
    initial = build_model("m20.1").state_dict()
    deltas = [torch.cat([(run["state_dict"][k] - initial[k]).flatten() for k in initial
                         if initial[k].is_floating_point() and k not in ("mean", "std")])
              for run in (fp32, default)]
    assert deltas[0].abs().max() > 0
    similarity = float(torch.nn.functional.cosine_similarity(*deltas, dim=0))
    assert similarity > 0.99


def test_resume_with_a_lower_learning_rate(runs, dataset_dir, tmp_path):
    """--learning-rate on --resume is a step decay by hand: the CSV shows each epoch's rate."""
    run = tmp_path / "decay"
    shutil.copytree(runs[0] / "resumed", run)
    _train(dataset_dir, run, "--epochs", "3", "--resume", "--learning-rate", "1e-4")
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [float(r["learning_rate"]) for r in rows] == [1e-3, 1e-3, 1e-4]
    last = torch.load(run / "last.ckpt", weights_only=True)
    assert learning_rate_schedule(last["resume"]["history"]) == [(1, 1e-3), (3, 1e-4)]
    assert last["train_config"]["learning_rate_schedule"] == [(1, 1e-3), (3, 1e-4)]
    assert last["train_config"]["config"]["learning_rate"] == 1e-4
    assert last["resume"]["optimizer"]["param_groups"][0]["lr"] == 1e-4
    assert last["train_config"]["config"]["batch_size"] == 2  # the rest stays the run's own


def test_a_cpu_run_resumes_where_float16_scaling_is_on(runs):
    """A run saved without float16 (empty scaler state) resumes on CUDA, whose scaler is on."""
    last = torch.load(runs[0] / "straight" / "last.ckpt", weights_only=True)
    assert last["resume"]["scaler"] == {}
    config = TrainConfig(**last["train_config"]["config"])
    mean, std = last["preprocessing"]["mean"], last["preprocessing"]["std"]
    run = _start_run(config, mean, std, torch.device("cpu"), torch.float16, last)
    assert run.scaler.is_enabled() and len(run.history) == 2


def test_history_of_older_runs_gets_the_run_s_one_learning_rate(runs):
    """Runs saved before the rate was recorded (one rate per run) resume with it filled in."""
    last = torch.load(runs[0] / "straight" / "last.ckpt", weights_only=True)
    for row in last["resume"]["history"]:
        del row["learning_rate"]
    config = TrainConfig(**last["train_config"]["config"])
    mean, std = last["preprocessing"]["mean"], last["preprocessing"]["std"]
    run = _start_run(config, mean, std, torch.device("cpu"), None, last)
    assert [row["learning_rate"] for row in run.history] == [1e-3, 1e-3]
    assert learning_rate_schedule(run.history) == [(1, 1e-3)]
