"""ONNX model loading: metadata checks, provider choice, threads, probabilities."""

from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from runtime import grid, inference
from runtime.cli import app
from runtime.errors import IncompatibleModel, ModelError, ProviderUnavailable
from runtime.inference import CPU, CUDA, Model
from tests.onnx_models import expected_probability, make_model, make_odd_model, metadata


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("model") / "test.onnx")


def cuda_really_runs(path) -> bool:
    """Independent of the runtime: does onnxruntime create a session that uses CUDA?"""
    if CUDA not in ort.get_available_providers():
        return False
    ort.set_default_logger_severity(4)
    try:
        session = ort.InferenceSession(str(path), providers=[CUDA, CPU])
    finally:
        ort.set_default_logger_severity(2)
    return session.get_providers()[0] == CUDA


def test_metadata_comes_from_the_file(model_path):
    model = Model(model_path, device="cpu")
    assert model.metadata.name == "Test brightness rule"
    assert model.metadata.threshold == 0.5
    assert model.metadata.bands == grid.BANDS
    assert len(model.sha256) == 64


def test_probability_is_the_graph_output_with_nan_input(model_path):
    rng = np.random.default_rng(1)
    reflectance = rng.uniform(0, 0.7, (7, grid.ROWS, grid.COLS)).astype(np.float32)
    reflectance[:, :20] = np.nan
    probability = Model(model_path, device="cpu").probability(reflectance)
    assert probability.shape == grid.SHAPE and probability.dtype == np.float32
    np.testing.assert_allclose(probability, expected_probability(reflectance), atol=1e-6)


def test_auto_reports_the_provider_that_really_runs(model_path):
    model = Model(model_path, device="auto")
    assert model.provider == model.session.get_providers()[0]
    assert model.provider == (CUDA if cuda_really_runs(model_path) else CPU)


def test_explicit_cuda_is_an_error_where_it_cannot_run(model_path):
    if cuda_really_runs(model_path):
        assert Model(model_path, device="cuda").provider == CUDA
    else:
        with pytest.raises(ProviderUnavailable, match="cuda"):
            Model(model_path, device="cuda")


def test_cuda_missing_from_the_build(model_path, monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    assert Model(model_path, device="auto").provider == CPU
    with pytest.raises(ProviderUnavailable, match="no CUDA provider"):
        Model(model_path, device="cuda")


def test_unknown_device_lists_the_choices(model_path):
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        Model(model_path, device="tpu")


def test_threads_follow_the_request_and_the_affinity(model_path):
    cpus = len(os.sched_getaffinity(0))
    assert inference.thread_count(None) == cpus
    assert inference.thread_count(1) == 1
    assert inference.thread_count(cpus + 5) == cpus
    with pytest.raises(ValueError):
        inference.thread_count(0)
    model = Model(model_path, device="cpu", threads=1)
    assert model.session.get_session_options().intra_op_num_threads == 1


def test_idle_worker_threads_do_not_spin(model_path):
    options = Model(model_path, device="cpu").session.get_session_options()
    assert options.get_session_config_entry(inference.SPINNING) == "0"


def test_normalisation_outside_the_graph_is_applied_here(tmp_path):
    mean, std = [0.1 * (b + 1) for b in range(7)], [0.5] * 7
    path = make_model(tmp_path / "m.onnx", metadata(
        normalisation={"in_graph": False, "mean": mean, "std": std}))
    reflectance = np.full((7, grid.ROWS, grid.COLS), 0.6, np.float32)
    reflectance[:, 0, 0] = np.nan
    x = Model(path, device="cpu").prepare(reflectance)
    assert x.shape == (1, 7, grid.ROWS, grid.COLS)
    np.testing.assert_allclose(x[0, :, 0, 0], 0.0)  # NaN -> band mean -> 0
    np.testing.assert_allclose(x[0, :, 1, 1], (0.6 - np.array(mean)) / 0.5, atol=1e-6)


@pytest.mark.parametrize("make, error, message", [
    (lambda p: p.write_bytes(b"not an onnx model at all"), ModelError, "cannot load"),
    (lambda p: make_model(p, with_metadata=False), ModelError, "no 'bay_ice' metadata"),
    (lambda p: make_model(p, metadata(format_version=7)), ModelError, "format_version"),
    (lambda p: make_model(p, {"format_version": 1}), ModelError, "lacks"),
    (lambda p: make_model(p, metadata(threshold=1.5)), ModelError, "threshold"),
    (lambda p: make_model(p, metadata(grid={**grid.describe(), "west": 120.0})),
     IncompatibleModel, "grid"),
    (lambda p: make_model(p, metadata(bands=[1, 2, 3, 4])), IncompatibleModel, "bands"),
    (lambda p: make_model(p, metadata(input="surface_reflectance")), IncompatibleModel, "input"),
    (lambda p: make_model(p, rows=100, cols=100), IncompatibleModel, "shape"),
    (lambda p: make_model(p, metadata(bands=7)), IncompatibleModel, "bands"),
    (lambda p: make_model(p, metadata(threshold=True)), ModelError, "threshold"),
    (lambda p: make_model(p, metadata(metrics="good")), ModelError, "metrics"),
    (lambda p: make_model(p, metadata(normalisation={"in_graph": False, "mean": ["a"] * 7,
                                                     "std": [1.0] * 7})), ModelError, "numbers"),
    (lambda p: make_model(p, metadata(normalisation={"in_graph": False, "mean": [0.1] * 7,
                                                     "std": [0.0] * 7})), ModelError, "positive"),
    (lambda p: make_odd_model(p, "float16"), IncompatibleModel, "tensor\\(float16\\)"),
    (lambda p: make_odd_model(p, "two_inputs"), ModelError, "must take only 'reflectance'"),
    (lambda p: p.mkdir(), ModelError, "is a folder"),
    (lambda p: make_model(p, metadata(normalisation={"in_graph": "false", "mean": [0.1] * 7,
                                                     "std": [0.05] * 7})), ModelError, "in_graph"),
    (lambda p: make_model(p, metadata(grid={**grid.describe(), "rows": float("inf")})),
     IncompatibleModel, "grid"),
])
def test_bad_models_are_refused(tmp_path, make, error, message):
    path = tmp_path / "bad.onnx"
    make(path)
    with pytest.raises(error, match=message) as raised:
        Model(path, device="cpu")
    assert str(path) in str(raised.value)


def test_a_model_whose_run_breaks_the_contract_fails_when_it_runs(tmp_path):
    """Symbolic dimensions hide an output of 10 rows until the model runs."""
    model = Model(make_odd_model(tmp_path / "short.onnx", "short_output"), device="cpu")
    with pytest.raises(IncompatibleModel, match=r"shape \(1, 1, 10, 430\)"):
        model.probability(np.zeros((7, *grid.SHAPE), np.float32))


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Model(tmp_path / "nothing.onnx")


def test_metadata_that_is_not_json(tmp_path):
    with pytest.raises(ModelError, match="not valid JSON"):
        inference.parse_metadata("{broken", tmp_path / "m.onnx")


def test_info_shows_the_card_the_providers_and_the_versions(tmp_path):
    path = make_model(tmp_path / "m.onnx")
    (tmp_path / "m.md").write_text("# Test model card\nTrained on nothing.\n")
    result = CliRunner().invoke(app, ["info", "--model", str(path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["model"]["name"] == "Test brightness rule"
    assert info["model"]["card"].startswith("# Test model card")
    assert info["providers_working"][CPU] is True
    if CUDA in info["providers_listed"]:
        assert info["providers_working"][CUDA] == cuda_really_runs(path)
    assert {"onnxruntime", "numpy", "pyhdf", "bay-ice"} <= {
        k.removesuffix("-gpu") for k in info["versions"]}
    text = CliRunner().invoke(app, ["info", "--model", str(path)])
    assert "CPUExecutionProvider: runs here" in text.stdout
    assert "Trained on nothing." in text.stdout


def test_info_with_a_bad_model_fails_with_one_line(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"junk")
    result = CliRunner().invoke(app, ["info", "--model", str(tmp_path / "bad.onnx")])
    assert result.exit_code == ModelError.exit_code
    assert len(result.stderr.strip().splitlines()) == 1


def test_threads_are_capped_by_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert inference.thread_count(None) == 1
    assert inference.thread_count(4) == 1
