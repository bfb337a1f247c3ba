"""export-onnx: BatchNorm folding, parity with PyTorch, metadata, variants and failures."""

from __future__ import annotations

import collections
import functools
import logging
import pickle

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from export import cli, onnx_export, samples
from export.parity import TOLERANCES, ParityReport, check_parity
from export.quantize import VariantResult, make_variant
from models import default_model_path
from runtime import grid
from runtime.errors import CheckpointError, DatasetError, OutputError, ParityError
from runtime.inference import Model
from training.models import build_model

ARCHITECTURES = ("m20.1", "m21.1")
MEAN = [0.08, 0.1, 0.12, 0.1, 0.09, 0.06, 0.04]
STD = [0.1, 0.12, 0.1, 0.1, 0.08, 0.05, 0.03]


def scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A crude labelled scene: dark water, bright ice floes, grey land, a no-data corner."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : grid.ROWS, 0 : grid.COLS]
    ice = np.zeros(grid.SHAPE, bool)
    for _ in range(6):
        r, c, radius = rng.uniform(0, grid.ROWS), rng.uniform(0, grid.COLS), rng.uniform(10, 40)
        ice |= (rows - r) ** 2 + (cols - c) ** 2 < radius**2
    level = np.where(ice, 0.45, 0.04)[None] * np.linspace(1.0, 0.5, 7)[:, None, None]
    x = (level + rng.normal(0, 0.01, (7, *grid.SHAPE))).astype(np.float32)
    x[:, :40, -80:] = np.nan
    return x, ice.astype(np.uint8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dataset")
    (folder / "crops").mkdir()
    (folder / "labels").mkdir()
    for i in range(3):
        x, label = scene(i)
        name = f"MOD02HKM.A2023{23 + i:03d}.0230.061"
        np.save(folder / "crops" / f"{name}.npy", x)
        np.save(folder / "labels" / f"{name}.npy", label)
    return folder


@functools.cache
def trained_like(name: str) -> torch.nn.Module:
    """A model after two optimisation steps on random data, its BatchNorm statistics and affine
    parameters then pushed far from their defaults, so folding has real work to do.
    Shared between tests: do not modify it."""
    torch.manual_seed(0)
    model = build_model(name, mean=MEAN, std=STD)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(2):
        x = torch.rand(1, 7, grid.ROWS, grid.COLS) * 0.5
        target = (x[:, 3:4] > 0.25).float()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
    return model.eval()


def checkpoint_dict(model: torch.nn.Module, architecture: str) -> dict:
    return {
            "format": "bay-ice-checkpoint",
            "version": 1,
            "architecture": architecture,
            "state_dict": model.state_dict(),
            "preprocessing": {"bands": list(grid.BANDS), "input": "l1b_reflectance",
                              "mean": MEAN, "std": STD},
            "grid": grid.describe(),
            "threshold": 0.5,
            "epoch": 3,
            "metrics": {"iou": 0.5, "loss": 0.3},
            "train_config": {"epochs": 3},
            "data": "test weights: a few steps on random data (synthetic)",
    }


def metadata(model: torch.nn.Module, architecture: str) -> dict:
    return onnx_export.model_metadata(checkpoint_dict(model, architecture), "0" * 64, "test")


def write_checkpoint(path, model: torch.nn.Module, architecture: str):
    torch.save(checkpoint_dict(model, architecture), path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    return {
        name: write_checkpoint(folder / f"{name}.ckpt", trained_like(name), name)
        for name in ARCHITECTURES
    }


def run(*args: str):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_folding_keeps_the_output(name):
    model = trained_like(name)
    x = torch.from_numpy(scene(0)[0][None])
    with torch.no_grad():
        before, after = model(x), onnx_export.fold_batchnorm(model)(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d)
                   for m in onnx_export.fold_batchnorm(model).modules())
    assert torch.allclose(before, after, atol=1e-4)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_fresh_weights_export_with_parity(name, tmp_path, dataset):
    model = build_model(name).eval()
    proto = onnx_export.to_onnx(model)
    assert onnx_export.batchnorm_nodes(proto) == []
    assert proto.opset_import[0].version == onnx_export.OPSET
    (shape,) = [i.type.tensor_type.shape for i in proto.graph.input]
    assert shape.dim[0].dim_param and [d.dim_value for d in shape.dim[1:]] == [7, 285, 430]
    onnx_export.set_metadata(proto, metadata(model, name))
    path = tmp_path / "m.onnx"
    onnx.save(proto, str(path))
    evaluation, _ = samples.load(dataset, None, 2, 0)
    crops = samples.parity_crops(evaluation)
    report = check_parity(model, path, crops, 0.5, TOLERANCES["fp32"], path, "test")
    assert report.max_abs_diff <= 1e-4 and report.nodata_cells > 0


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_export_command_trained_weights(name, checkpoints, dataset, tmp_path):
    out = tmp_path / f"ssegm-{name}.onnx"
    result = run(checkpoints[name], "-o", out, "--data", dataset, "--card")
    assert result.exit_code == 0, result.output
    assert "parity fp32" in result.output and out.is_file()
    model = onnx.load(str(out))
    assert onnx_export.batchnorm_nodes(model) == []
    onnx.checker.check_model(model, full_check=True)
    meta = onnx_export.read_metadata(out)
    assert meta["architecture"] == name and meta["name"] == f"SSegm M{name[1:]}"
    assert meta["checkpoint_sha256"] == onnx_export.file_sha256(checkpoints[name])
    assert meta["normalisation"] == {"in_graph": True, "mean": MEAN, "std": STD}
    assert meta["metrics"] == {"iou": 0.5, "loss": 0.3} and "synthetic" in meta["trained_on"]
    loaded = Model(out, device="cpu")
    assert loaded.metadata.name == meta["name"] and loaded.metadata.threshold == 0.5
    x, _ = scene(5)
    reference = torch.sigmoid(trained_like(name)(torch.from_numpy(x[None]))).detach().numpy()
    assert np.abs(loaded.probability(x) - reference[0, 0]).max() <= 1e-4
    card = out.with_suffix(".md").read_text()
    assert meta["checkpoint_sha256"] in card and "synthetic" in card


def test_batch_dimension_is_dynamic(checkpoints, tmp_path):
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    assert run(checkpoints["m20.1"], "-o", out, "--no-parity").exit_code == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.stack([scene(i)[0] for i in range(3)])
    assert session.run(None, {"reflectance": x})[0].shape == (3, 1, 285, 430)
    assert session.run(None, {"reflectance": x[:1]})[0].shape == (1, 1, 285, 430)


def test_failed_parity_writes_nothing(checkpoints, dataset, tmp_path, monkeypatch):
    real = onnx_export.to_onnx

    def perturbed(model):
        proto = real(model)
        weight = proto.graph.initializer[0]
        values = onnx.numpy_helper.to_array(weight) * 1.5
        weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
        return proto

    monkeypatch.setattr(cli, "to_onnx", perturbed)
    out = tmp_path / "new" / "sub" / "bad.onnx"  # folders made for it are removed again
    result = run(checkpoints["m20.1"], "-o", out, "--data", dataset)
    assert result.exit_code == ParityError.exit_code
    assert "disagrees with PyTorch" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a checkpoint at all", "not a PyTorch checkpoint"),
        (b"epoch,learning_rate,train_loss\n1,0.001,0.5\n", "not a PyTorch checkpoint"),  # CSV
        (bytes(range(256)) * 4, "not a PyTorch checkpoint"),
        (b"", "not a PyTorch checkpoint"),
        (pickle.dumps(collections.Counter("ice")), "other than tensors and plain data"),
        ("truncated", "not a PyTorch checkpoint"),
        ("onnx", "not a PyTorch checkpoint"),
        ("folder", "is a folder"),
        (None, "not a bay-ice checkpoint"),
    ],
)
def test_bad_checkpoint_is_a_clear_error(content, reason, checkpoints, tmp_path):
    path = tmp_path / "x.ckpt"
    if content is None:
        torch.save({"weights": torch.zeros(3)}, path)
    elif content == "truncated":
        path.write_bytes(checkpoints["m20.1"].read_bytes()[:5000])
    elif content == "onnx":
        path.write_bytes(default_model_path().read_bytes())  # an ONNX model, not a checkpoint
    elif content == "folder":
        path.mkdir()
    else:
        path.write_bytes(content)
    result = run(path, "-o", tmp_path / "x.onnx")
    assert result.exit_code == CheckpointError.exit_code
    assert reason in result.output and len(result.output.strip().splitlines()) == 1
    assert "weights_only" not in result.output  # not torch's advice to load it unsafely
    assert not (tmp_path / "x.onnx").exists()


def test_checkpoint_of_another_architecture(checkpoints, tmp_path):
    checkpoint = torch.load(checkpoints["m20.1"], weights_only=True)
    path = tmp_path / "x.ckpt"
    torch.save(checkpoint | {"architecture": "m21.1"}, path)
    result = run(path, "-o", tmp_path / "x.onnx")
    assert result.exit_code == CheckpointError.exit_code
    assert "weights do not fit m21.1" in result.output


def test_checkpoint_without_metrics(checkpoints, tmp_path):
    checkpoint = torch.load(checkpoints["m20.1"], weights_only=True)
    del checkpoint["metrics"]
    path = tmp_path / "x.ckpt"
    torch.save(checkpoint, path)
    result = run(path, "-o", tmp_path / "x.onnx")
    assert result.exit_code == CheckpointError.exit_code and "lacks metrics" in result.output


def test_unwritable_output_is_a_clear_error(checkpoints, tmp_path):
    (tmp_path / "file").write_text("")
    result = run(checkpoints["m20.1"], "-o", tmp_path / "file" / "x.onnx", "--no-parity")
    assert result.exit_code == OutputError.exit_code and "is a file" in result.output
    result = run(checkpoints["m20.1"], "-o", tmp_path / "file" / "sub" / "x.onnx", "--no-parity")
    assert result.exit_code == OutputError.exit_code and "cannot write" in result.output
    result = run(checkpoints["m20.1"], "-o", tmp_path, "--no-parity")
    assert result.exit_code == OutputError.exit_code and "is a folder" in result.output


def test_an_output_that_would_destroy_the_input_or_the_model_is_refused(checkpoints, tmp_path):
    source = tmp_path / "best.ckpt"
    source.write_bytes(checkpoints["m20.1"].read_bytes())
    result = run(source, "-o", tmp_path / "best.ckpt", "--no-parity")
    assert result.exit_code == OutputError.exit_code  # not .onnx: the checkpoint stays
    assert source.read_bytes() == checkpoints["m20.1"].read_bytes()
    result = run(source, "-o", tmp_path / "m.md", "--card", "--no-parity")
    assert result.exit_code == OutputError.exit_code
    assert "the output name must end in .onnx" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt"]
    named_onnx = tmp_path / "odd.onnx"  # a checkpoint under an .onnx name
    named_onnx.write_bytes(source.read_bytes())
    result = run(named_onnx, "-o", named_onnx, "--no-parity")
    assert result.exit_code == OutputError.exit_code and "the checkpoint itself" in result.output
    assert named_onnx.read_bytes() == source.read_bytes()


def _tensor_to(value: float):
    """Checkpoint edit: the first convolution weight filled with `value`."""
    def edit(checkpoint: dict) -> None:
        name = next(k for k, v in checkpoint["state_dict"].items() if v.dim() == 4)
        checkpoint["state_dict"][name] = torch.full_like(checkpoint["state_dict"][name], value)
    return edit


def _preprocessing(key: str, value: float):
    """Checkpoint edit: one normalisation value of the metadata set to `value`."""
    def edit(checkpoint: dict) -> None:
        checkpoint["preprocessing"][key] = [value, *checkpoint["preprocessing"][key][1:]]
    return edit


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_tensor_to(float("nan")), "weights hold NaN or infinite values"),
        (_tensor_to(float("inf")), "weights hold NaN or infinite values"),
        (_preprocessing("mean", float("nan")), "normalisation mean / std hold NaN"),
        (_preprocessing("std", 0.0), "normalisation mean / std hold NaN"),
    ],
)
def test_non_finite_checkpoint_is_refused_before_writing(edit, reason, tmp_path):
    checkpoint = checkpoint_dict(trained_like("m20.1"), "m20.1")
    checkpoint["state_dict"] = dict(checkpoint["state_dict"])  # the shared model stays intact
    checkpoint["preprocessing"] = dict(checkpoint["preprocessing"])
    edit(checkpoint)
    path = tmp_path / "nan.ckpt"
    torch.save(checkpoint, path)
    result = run(path, "-o", tmp_path / "new" / "x.onnx")
    assert result.exit_code == CheckpointError.exit_code, result.output
    assert f"{path}: {reason}" in result.output and len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.ckpt"]


def test_model_the_runtime_refuses_names_the_checkpoint(tmp_path):
    # Finite but huge weights overflow to inf - inf = NaN inside the network.
    checkpoint = checkpoint_dict(trained_like("m20.1"), "m20.1")
    checkpoint["state_dict"] = {k: v * 1e30 if v.dim() == 4 else v
                                for k, v in checkpoint["state_dict"].items()}
    path = tmp_path / "huge.ckpt"
    torch.save(checkpoint, path)
    result = run(path, "-o", tmp_path / "x.onnx")
    assert result.exit_code == CheckpointError.exit_code, result.output
    assert f"{path}: the runtime refuses the exported model" in result.output
    assert ".tmp" not in result.output and len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.ckpt"]


def _dataset_of(folder, crops: list[np.ndarray]):
    (folder / "crops").mkdir(parents=True)
    (folder / "labels").mkdir()
    for i, crop in enumerate(crops):
        name = f"MOD02HKM.A2023{23 + i:03d}.0230.061"
        np.save(folder / "crops" / f"{name}.npy", crop)
        np.save(folder / "labels" / f"{name}.npy", scene(i)[1])
    return folder


def test_parity_crops_without_data_are_refused(checkpoints, tmp_path):
    empty = np.full((7, *grid.SHAPE), np.nan, np.float32)
    data = _dataset_of(tmp_path / "empty", [empty] * 3)
    out = tmp_path / "x.onnx"
    result = run(checkpoints["m20.1"], "-o", out, "--data", data)
    assert result.exit_code == DatasetError.exit_code, result.output
    assert f"{data}: no cell with data in the parity crops" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_too_few_crops_names_the_data_folder(checkpoints, tmp_path):
    data = _dataset_of(tmp_path / "one", [scene(0)[0]])
    result = run(checkpoints["m20.1"], "-o", tmp_path / "x.onnx", "--data", data)
    assert result.exit_code == DatasetError.exit_code
    assert f"{data}: need at least 2 labelled crops, have 1" in result.output


def _fake_variant(fp32, precision: str):
    """A file as a kept `precision` variant of the model in `fp32` would be (its metadata)."""
    proto = onnx.load(str(fp32))
    onnx_export.set_metadata(proto, onnx_export.read_metadata(fp32) | {"precision": precision})
    path = fp32.with_suffix(f".{precision}.onnx")
    onnx.save(proto, str(path))
    return path


def test_reexport_removes_what_belonged_to_the_replaced_model(checkpoints, tmp_path, caplog):
    out = tmp_path / "s.onnx"
    assert run(checkpoints["m20.1"], "-o", out, "--no-parity", "--card").exit_code == 0
    int8, card = _fake_variant(out, "int8"), out.with_suffix(".md")
    foreign = out.with_suffix(".fp16.onnx")
    foreign.write_bytes(b"not written by export-onnx")
    # The same checkpoint again: its variant still fits the new file, and so does the card
    # (rewritten: two exports of one checkpoint need not give the same bytes).
    assert run(checkpoints["m20.1"], "-o", out, "--no-parity", "--card").exit_code == 0
    assert int8.is_file() and card.is_file()
    meta = onnx_export.read_metadata(out)
    assert not cli._of_another_model(card, meta, onnx_export.file_sha256(out))
    assert cli._of_another_model(card, meta, "0" * 64)
    caplog.clear()
    result = run(checkpoints["m21.1"], "-o", out, "--no-parity")
    assert result.exit_code == 0, result.output
    assert not int8.exists() and not card.exists() and foreign.is_file() and out.is_file()
    warnings = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warnings == [f"{int8}: removed: the variant of another model than the new s.onnx",
                        f"{card}: removed: the card of another file than the new s.onnx"]


def _history(*ious: float | None) -> dict:
    return {"history": [{"epoch": i + 1, "val_iou": v} for i, v in enumerate(ious)],
            "best_iou": max(v for v in ious if v is not None)}


@pytest.mark.parametrize(
    ("name", "resume", "warning"),
    [
        ("last.ckpt", None, "last.ckpt: the last epoch of its run, not necessarily the best"),
        ("x.ckpt", _history(0.4, 0.6, 0.5),
         "x.ckpt: epoch 3 is not the best-validation epoch of its run (epoch 2, IoU 0.6000)"),
        ("last.ckpt", _history(None, 0.4, 0.6), None),  # its last epoch is its best
        ("best.ckpt", None, None),
    ],
)
def test_warns_when_not_the_best_epoch(name, resume, warning, tmp_path, caplog):
    checkpoint = checkpoint_dict(trained_like("m20.1"), "m20.1")  # epoch 3
    if resume is not None:
        checkpoint["resume"] = resume
    path = tmp_path / name
    torch.save(checkpoint, path)
    (tmp_path / "file").write_text("")
    # An unwritable output stops the export right after the checkpoint's checks.
    result = run(path, "-o", tmp_path / "file" / "x.onnx")
    assert result.exit_code == OutputError.exit_code
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == (warning is not None)
    assert warning is None or warning in warnings[0]


def test_missing_checkpoint(tmp_path):
    result = run(tmp_path / "none.ckpt")
    assert result.exit_code == CheckpointError.exit_code


def test_int8_variant_has_its_own_parity(checkpoints, dataset, tmp_path):
    model = trained_like("m20.1")
    fp32 = tmp_path / "m.onnx"
    proto = onnx_export.to_onnx(model)
    onnx_export.set_metadata(proto, metadata(model, "m20.1"))
    onnx.save(proto, str(fp32))
    evaluation, calibration = samples.load(dataset, None, 2, 1)
    crops = evaluation.reflectance
    int8 = tmp_path / "m.int8.onnx"
    make_variant("int8", fp32, int8, calibration.reflectance)
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert onnx_export.read_metadata(int8)["precision"] == "int8"
    report = check_parity(model, int8, crops, 0.5, TOLERANCES["int8"], int8, "test")
    assert report.crops == 2
    # The first convolution stays float (its input is the reflectance); all others are int8.
    graph = onnx.load(str(int8)).graph
    dequantized = {out for n in graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    convolutions = [n for n in graph.node if n.op_type in ("Conv", "ConvTranspose")]
    weight_is_int8 = [n.input[1] in dequantized for n in convolutions]
    assert weight_is_int8 == [False] + [True] * (len(convolutions) - 1)


def variant(parity_diff: float, fp32_s: float | None, variant_s: float | None,
            iou_loss: float) -> VariantResult:
    report = ParityReport("test", 1, 100, 0, parity_diff, parity_diff / 10, 0)
    return VariantResult("int8", "cpu", report, fp32_s, variant_s, 0.8, 0.8 - iou_loss)


@pytest.mark.parametrize(
    ("result", "kept", "why"),
    [
        (variant(0.01, 1.0, 0.5, 0.001), True, "2.00x fp32 on cpu"),
        (variant(0.5, 1.0, 0.5, 0.001), False, "parity beyond"),
        (variant(0.01, None, None, 0.001), False, "not timed"),
        (variant(0.01, 1.0, 0.95, 0.001), False, "not faster"),
        (variant(0.01, 1.0, 0.5, 0.006), False, "IoU 0.0060 below fp32"),
    ],
)
def test_variant_verdict(result, kept, why):
    keep, reason = result.verdict()
    assert keep == kept and why in reason
