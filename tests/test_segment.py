"""`ice-runtime segment` end to end on test granules, and the Segmenter library API."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import rasterio
from affine import Affine
from typer.testing import CliRunner

import runtime.segment
from runtime import errors, grid, landmask
from runtime.cli import app
from runtime.granule import read_crop
from runtime.inference import CPU
from runtime.segment import Segmenter, find_granules, is_granule_name
from tests.onnx_models import expected_probability, make_model, make_odd_model, metadata
from tests.test_inference import cuda_really_runs

GRID_TRANSFORM = Affine(grid.DLON, 0.0, grid.WEST, 0.0, -grid.DLAT, grid.NORTH)
runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("model") / "test.onnx")


@pytest.fixture(scope="module")
def segmented(tmp_path_factory, model, terra_nadir):
    """The CLI run once on a Terra granule: (result, output directory)."""
    out = tmp_path_factory.mktemp("out")
    result = runner.invoke(app, ["segment", str(terra_nadir), "-o", str(out), "--model",
                                 str(model), "--probability", "--json"])
    assert result.exit_code == 0, result.output
    return result, out


def expected_codes(granule) -> np.ndarray:
    """The ice map computed here from the reader and the test model's known rule."""
    reflectance = read_crop(granule).reflectance
    water = landmask.water_mask()
    codes = np.where(expected_probability(reflectance) >= 0.5, 1, 0).astype(np.uint8)
    codes[water & ~np.isfinite(reflectance).any(axis=0)] = 255
    codes[~water] = 2
    return codes


def test_outputs_are_the_contract_set(segmented):
    _, out = segmented
    stem = "MOD02HKM.A2024040.0210.061"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}{suffix}" for suffix in (".ice.tif", ".json", ".png", ".prob.tif"))


def test_geotiff_is_georeferenced_and_holds_the_expected_codes(segmented, terra_nadir):
    _, out = segmented
    with rasterio.open(out / "MOD02HKM.A2024040.0210.061.ice.tif") as tif:
        assert tif.crs.to_epsg() == 4326
        assert tif.transform.almost_equals(GRID_TRANSFORM, precision=1e-12)
        assert tif.nodata == 255 and tif.dtypes[0] == "uint8"
        codes = tif.read(1)
    np.testing.assert_array_equal(codes, expected_codes(terra_nadir))
    assert set(np.unique(codes)) == {0, 1, 2, 255}


def test_json_summary_agrees_with_an_independent_computation(segmented, model, terra_nadir):
    result, out = segmented
    stem = "MOD02HKM.A2024040.0210.061"
    summary = json.loads((out / f"{stem}.json").read_text())
    with rasterio.open(out / f"{stem}.ice.tif") as tif:
        codes = tif.read(1)
    areas = grid.cell_areas_km2()
    assert summary["ice_area_km2"] == pytest.approx(areas[codes == 1].sum(), abs=1e-3)
    observed = areas[(codes == 0) | (codes == 1)].sum()
    assert summary["ice_fraction_of_observed_water"] == pytest.approx(
        areas[codes == 1].sum() / observed, abs=1e-6)
    assert summary["counts"] == {"open_water": int((codes == 0).sum()),
                                 "ice": int((codes == 1).sum()),
                                 "land": int((codes == 2).sum()),
                                 "no_data": int((codes == 255).sum())}
    water_cells = landmask.water_mask().sum()
    assert summary["no_data_fraction"] == pytest.approx((codes == 255).sum() / water_cells,
                                                        abs=1e-6)
    assert summary["coverage"] == read_crop(terra_nadir).info.coverage
    assert summary["granule_id"] == stem and summary["platform"] == "Terra"
    assert summary["start_time"] == "2024-02-09T02:10:00Z"
    assert summary["model"]["name"] == metadata()["name"]
    assert summary["model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert summary["threshold"] == 0.5
    assert summary["execution_provider"] == CPU and not cuda_really_runs(model)
    assert set(summary["timings_s"]) == {"read", "inference", "quicklook", "write", "total"}
    assert json.loads(result.stdout) == summary  # --json prints what the file holds


def test_probability_geotiff(segmented, terra_nadir):
    _, out = segmented
    with rasterio.open(out / "MOD02HKM.A2024040.0210.061.prob.tif") as tif:
        assert tif.dtypes[0] == "float32" and tif.crs.to_epsg() == 4326
        probability = tif.read(1)
    reflectance = read_crop(terra_nadir).reflectance
    observed = np.isfinite(reflectance).any(axis=0)
    assert np.isnan(probability[~observed]).all()
    np.testing.assert_allclose(probability[observed],
                               expected_probability(reflectance)[observed], atol=1e-6)


def test_many_granules_share_one_session(tmp_path, model, terra_nadir, aqua_seadas,
                                         monkeypatch):
    models_made = []
    real_model = runtime.segment.Model
    monkeypatch.setattr(runtime.segment, "Model",
                        lambda *args: models_made.append(args) or real_model(*args))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    shutil.copy(terra_nadir, incoming)
    shutil.copy(aqua_seadas, incoming)
    (incoming / "t1.24040.0210.1000m.hdf").write_text("a 1 km sibling: not picked up")
    result = runner.invoke(app, ["segment", str(incoming), "-o", str(tmp_path / "out"),
                                 "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert len(models_made) == 1
    assert len(list((tmp_path / "out").glob("*.ice.tif"))) == 2
    assert len(result.stdout.splitlines()) == 2


def test_second_copy_of_a_granule_is_skipped_with_a_warning(tmp_path, model, aqua_nadir,
                                                            aqua_imapp):
    """The NASA and the IMAPP file of one pass: the first one's outputs stay, exit code 0."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["segment", str(aqua_nadir), str(aqua_imapp), "-o", str(out),
                                 "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    name = read_crop(aqua_nadir).info.granule_id
    assert result.stderr == (
        f"ice-runtime segment: warning: {aqua_imapp}: same granule {name} as {aqua_nadir}, "
        "skipped\n")
    assert len(result.stdout.splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == [f"{name}.{x}" for x in ("ice.tif", "json",
                                                                             "png")]


def test_threshold_option_is_used_and_recorded(tmp_path, model, terra_nadir):
    result = runner.invoke(app, ["segment", str(terra_nadir), "-o", str(tmp_path),
                                 "--model", str(model), "--threshold", "0.9", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["threshold"] == 0.9


def test_library_api(tmp_path, model, terra_nadir):
    segmenter = Segmenter(model, device="cpu", threads=1)
    result = segmenter.segment(terra_nadir)
    np.testing.assert_array_equal(result.codes, expected_codes(terra_nadir))
    summary = result.save(tmp_path)
    assert (tmp_path / f"{summary['granule_id']}.ice.tif").is_file()
    assert summary["threads"] == 1


def assert_failed_cleanly(result, code: int, out) -> None:
    assert result.exit_code == code, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".")]


BAD_GRANULE_ERRORS = {
    "not_hdf4_text": errors.NotHDF4, "not_hdf4_png": errors.NotHDF4,
    "truncated": errors.CorruptFile, "corrupt": errors.CorruptFile,
    "mod021km": errors.WrongProduct, "mod03": errors.WrongProduct,
    "missing_ev500": errors.MissingDataset, "missing_scales": errors.MissingDataset,
    "night": errors.NightGranule, "misses_bay": errors.MissesBay,
}


@pytest.mark.parametrize("kind", sorted(BAD_GRANULE_ERRORS))
def test_bad_granules_fail_with_one_line_and_no_outputs(tmp_path, model, bad_granules, kind):
    out = tmp_path / "out"
    result = runner.invoke(app, ["segment", str(bad_granules[kind]), "-o", str(out),
                                 "--model", str(model)])
    assert_failed_cleanly(result, BAD_GRANULE_ERRORS[kind].exit_code, out)
    assert str(bad_granules[kind]) in result.stderr


def test_a_batch_that_writes_nothing_leaves_no_folder(tmp_path, model, bad_granules):
    out = tmp_path / "new" / "out"
    result = runner.invoke(app, ["segment", str(bad_granules["night"]), str(bad_granules["mod03"]),
                                 "-o", str(out), "--model", str(model)])
    assert result.exit_code == errors.NightGranule.exit_code
    assert list(tmp_path.iterdir()) == []  # neither the folder nor the parent it made


def test_a_bad_granule_does_not_stop_the_others(tmp_path, model, bad_granules, terra_nadir):
    out = tmp_path / "out"
    result = runner.invoke(app, ["segment", str(bad_granules["corrupt"]), str(terra_nadir),
                                 "-o", str(out), "--model", str(model)])
    assert result.exit_code == errors.CorruptFile.exit_code
    assert len(list(out.glob("*.json"))) == 1


@pytest.mark.parametrize("make, error", [
    (lambda p: p.write_bytes(b"\x08\x01garbage"), errors.ModelError),
    (lambda p: make_model(p, with_metadata=False), errors.ModelError),
    (lambda p: make_model(p, metadata(grid={**grid.describe(), "rows": 300})),
     errors.IncompatibleModel),
    (lambda p: make_model(p, metadata(bands=[1, 2, 3, 4, 5, 6])), errors.IncompatibleModel),
])
def test_bad_models_fail_with_one_line(tmp_path, terra_nadir, make, error):
    path = tmp_path / "model.onnx"
    make(path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["segment", str(terra_nadir), "-o", str(out),
                                 "--model", str(path)])
    assert_failed_cleanly(result, error.exit_code, out)
    assert not out.exists()  # the model is loaded before the output folder is made


def test_a_model_that_fails_when_it_runs_stops_the_batch(tmp_path, terra_nadir, aqua_nadir):
    """It would fail on every granule: one line, not one per granule, and no outputs."""
    path = make_odd_model(tmp_path / "short.onnx", "short_output")
    out = tmp_path / "out"
    result = runner.invoke(app, ["segment", str(terra_nadir), str(aqua_nadir), "-o", str(out),
                                 "--model", str(path)])
    assert_failed_cleanly(result, errors.IncompatibleModel.exit_code, out)
    assert not out.exists()


def test_missing_input_and_unwritable_output(tmp_path, model, terra_nadir):
    result = runner.invoke(app, ["segment", str(tmp_path / "none.hdf"), "-o", str(tmp_path),
                                 "--model", str(model)])
    assert_failed_cleanly(result, errors.InputNotFound.exit_code, tmp_path / "absent")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, ["segment", str(terra_nadir), "-o", str(blocker / "out"),
                                 "--model", str(model)])
    assert_failed_cleanly(result, errors.OutputError.exit_code, tmp_path / "absent")
    result = runner.invoke(app, ["segment", str(terra_nadir), "-o", str(blocker),
                                 "--model", str(model)])
    assert_failed_cleanly(result, errors.OutputError.exit_code, tmp_path / "absent")
    assert "the output path is a file, not a directory" in result.stderr


# segment with a PNG writer that stalls after writing: SIGTERM arrives while files are staged
STALLING_SEGMENT = """
import sys, time
from runtime import outputs
from runtime.cli import main
write_png = outputs._write_png
def stalling(path, image):
    write_png(path, image)
    time.sleep(60)
outputs._write_png = stalling
sys.argv = ["ice-runtime", "segment", *sys.argv[1:]]
main()
"""


def test_sigterm_while_writing_leaves_nothing_behind(tmp_path, model, terra_nadir):
    """systemd or `timeout` stopping a batch: no temporary files, no folder made for nothing."""
    out = tmp_path / "new" / "out"
    process = subprocess.Popen([sys.executable, "-c", STALLING_SEGMENT, str(terra_nadir),
                                "-o", str(out), "--model", str(model)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(".png" in p.name for p in out.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_a_folder_with_an_output_file_name_stops_before_any_rename(tmp_path, model,
                                                                   terra_nadir):
    name = read_crop(terra_nadir).info.granule_id
    (tmp_path / f"{name}.json").mkdir()
    result = runner.invoke(app, ["segment", str(terra_nadir), "-o", str(tmp_path),
                                 "--model", str(model)])
    assert result.exit_code == errors.OutputError.exit_code
    assert "a folder has the name of an output file" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.json"]


def test_device_cuda_is_refused_where_it_cannot_run(tmp_path, model, terra_nadir):
    if cuda_really_runs(model):
        pytest.skip("CUDA works on this machine")
    out = tmp_path / "out"
    result = runner.invoke(app, ["segment", str(terra_nadir), "-o", str(out),
                                 "--model", str(model), "--device", "cuda"])
    assert_failed_cleanly(result, errors.ProviderUnavailable.exit_code, out)
    assert not out.exists()


def test_directory_scan_names():
    for name in ("MOD02HKM.A2024040.0210.061.2024040130000.hdf", "a1.24040.0420.500m.hdf",
                 "A2024040042000.L1B_HKM", "MYD02HKM.A2024040.0420.061.NRT.hdf"):
        assert is_granule_name(name), name
    for name in ("t1.24040.0210.1000m.hdf", "t1.24040.0210.geo.hdf", "notes.txt",
                 "MOD03.A2024040.0210.061.hdf", "MOD021KM.A2024040.0210.061.hdf",
                 ".MOD02HKM.A2024040.0210.061.hdf.partial-1"):
        assert not is_granule_name(name), name


def test_a_directory_without_granules(tmp_path):
    with pytest.raises(errors.InputNotFound, match="no granules"):
        find_granules([tmp_path])
