"""`ice-runtime crop`: outputs per granule, failures and copies in a batch, atomic writes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from runtime import grid
from runtime.cli import app
from runtime.cli import crop as crop_module
from runtime.errors import NightGranule, NotHDF4, OutputError, WrongProduct
from runtime.granule import read_crop


def run_crop(*args):
    return CliRunner().invoke(app, ["crop", *map(str, args)])


def test_writes_array_and_sidecar_per_granule(terra_nadir, aqua_mid, tmp_path):
    result = run_crop(terra_nadir, aqua_mid, "-o", tmp_path / "crops")
    assert result.exit_code == 0, result.output
    for path in (terra_nadir, aqua_mid):
        expected = read_crop(path)
        name = expected.info.granule_id
        array = np.load(tmp_path / "crops" / f"{name}.npy")
        assert array.dtype == np.float32 and array.shape == (7, grid.ROWS, grid.COLS)
        np.testing.assert_array_equal(array, expected.reflectance)
        sidecar = json.loads((tmp_path / "crops" / f"{name}.json").read_text())
        assert sidecar == expected.info.to_dict()
    assert sorted(p.suffix for p in (tmp_path / "crops").iterdir()) == [".json"] * 2 + [".npy"] * 2
    umask = os.umask(0)
    os.umask(umask)
    for path in (tmp_path / "crops").iterdir():  # readable like any new file, not 0600
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_failures_do_not_stop_the_batch_and_the_first_code_wins(
    bad_granules, terra_nadir, tmp_path
):
    mod03, text = bad_granules["mod03"], bad_granules["not_hdf4_text"]
    result = run_crop(mod03, terra_nadir, text, "-o", tmp_path)
    assert result.exit_code == WrongProduct.exit_code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert str(mod03) in lines[0] and str(text) in lines[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "MOD02HKM.A2024040.0210.061.json",
        "MOD02HKM.A2024040.0210.061.npy",
    ]
    assert run_crop(text, mod03, "-o", tmp_path / "b").exit_code == NotHDF4.exit_code


def test_a_batch_that_writes_nothing_leaves_no_folder(bad_granules, tmp_path):
    result = run_crop(bad_granules["mod03"], bad_granules["night"], "-o", tmp_path / "a" / "b")
    assert result.exit_code == WrongProduct.exit_code
    assert list(tmp_path.iterdir()) == []  # neither the folder nor the parent it made
    existing = tmp_path / "crops"
    existing.mkdir()
    assert run_crop(bad_granules["night"], "-o", existing).exit_code == NightGranule.exit_code
    assert existing.is_dir()  # a folder that was there stays


def test_an_output_error_stops_the_batch(terra_nadir, aqua_mid, tmp_path, monkeypatch):
    calls = []

    def disk_full(file, array, allow_pickle):
        calls.append(file)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(crop_module.np, "save", disk_full)
    result = run_crop(terra_nadir, aqua_mid, "-o", tmp_path)
    assert result.exit_code == OutputError.exit_code
    assert len(calls) == 1 and len(result.stderr.strip().splitlines()) == 1


def test_second_copy_of_a_granule_is_skipped_with_a_warning(aqua_nadir, aqua_imapp, tmp_path):
    """The NASA and the IMAPP file of one pass: the first given is kept, the batch succeeds."""
    result = run_crop(aqua_nadir, aqua_imapp, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    name = read_crop(aqua_nadir).info.granule_id
    assert result.stderr == (
        f"ice-runtime crop: warning: {aqua_imapp}: same granule {name} as {aqua_nadir}, skipped\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.json", f"{name}.npy"]
    assert json.loads((tmp_path / f"{name}.json").read_text())["source"] == aqua_nadir.name


def test_failed_write_leaves_no_file(terra_nadir, tmp_path, monkeypatch):
    def disk_full(file, array, allow_pickle):
        file.write(b"\x93NUMPY partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(crop_module.np, "save", disk_full)
    result = run_crop(terra_nadir, "-o", tmp_path)
    assert result.exit_code == OutputError.exit_code
    assert "No space left on device" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_output_directory_that_cannot_be_made(terra_nadir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output directory should go")
    result = run_crop(terra_nadir, "-o", blocker / "crops")
    assert result.exit_code == OutputError.exit_code
    assert str(blocker / "crops") in result.stderr


def test_console_script_runs_without_traceback(bad_granules, tmp_path):
    """Through a real process: stderr is the one-line message, exit code as documented."""
    path = bad_granules["night"]
    command = [sys.executable, "-c", "from runtime.cli import main; main()"]
    done = subprocess.run(
        [*command, "crop", str(path), "-o", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 8
    assert (
        done.stderr.strip() == f"ice-runtime crop: error: {path}: night granule (no daytime scans)"
    )


def test_failed_sidecar_removes_the_array_too(terra_nadir, tmp_path, monkeypatch):
    """The .npy is complete but the .json cannot be written: neither final name remains."""
    real_open = Path.open

    def no_room_for_json(self, *args, **kwargs):
        if ".json." in self.name:
            raise OSError(28, "No space left on device")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", no_room_for_json)
    result = run_crop(terra_nadir, "-o", tmp_path)
    assert result.exit_code == OutputError.exit_code
    assert list(tmp_path.iterdir()) == []


def test_command_line_start_up_does_not_load_onnxruntime():
    """Every command's module is imported at start-up; crop never runs a model."""
    code = "import sys, runtime.cli; sys.exit('onnxruntime' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
