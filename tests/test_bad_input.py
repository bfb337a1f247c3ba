"""Every kind of bad input: its own exit code, one line naming the file and the reason, no
traceback, and no output file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runtime.cli import app
from runtime.errors import (
    CorruptFile,
    InputNotFound,
    MissesBay,
    MissingDataset,
    NightGranule,
    NotHDF4,
    WrongProduct,
)
from tests import fake_granules

# bad_granules key -> (error class, words the reason must contain)
CASES = {
    "not_hdf4_text": (NotHDF4, "not an HDF4 file"),
    "not_hdf4_png": (NotHDF4, "not an HDF4 file"),
    "truncated": (CorruptFile, "HDF4"),
    "corrupt": (CorruptFile, "cannot read"),
    "bad_index": (CorruptFile, "a data descriptor points past its end"),
    "mod021km": (WrongProduct, "1 km L1B"),
    "mod03": (WrongProduct, "geolocation file"),
    "missing_ev500": (MissingDataset, "EV_500_RefSB is missing"),
    "missing_scales": (MissingDataset, "reflectance_scales"),
    "night": (NightGranule, "night"),
    "misses_bay": (MissesBay, "does not reach the bay"),
    "core_not_text": (CorruptFile, "CoreMetadata.0 is not text"),
    "scales_not_numbers": (CorruptFile, "reflectance_scales/offsets are not numbers"),
    "scales_negative": (CorruptFile, "expected a positive scale"),
    "no_geolocation": (CorruptFile, "Latitude/Longitude hold no valid position"),
    "all_flagged": (CorruptFile, "no valid data over the bay"),
}


def run_crop(path: Path, out: Path):
    return CliRunner().invoke(app, ["crop", str(path), "-o", str(out)])


def assert_refused(result, path: Path, error: type, reason: str, out: Path) -> None:
    assert result.exit_code == error.exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0]
    assert reason in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists() or list(out.iterdir()) == []  # a folder made for nothing is removed


def test_exit_codes_are_distinct():
    classes = {InputNotFound, *(e for e, _ in CASES.values())}
    assert len({error.exit_code for error in classes}) == len(classes)


@pytest.mark.parametrize("case", CASES)
def test_bad_granule_is_refused(case, bad_granules, tmp_path):
    error, reason = CASES[case]
    path = bad_granules[case]
    assert_refused(run_crop(path, tmp_path), path, error, reason, tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "MOD02HKM.A2024040.0210.061.2024040130000.hdf"
    path.touch()
    out = tmp_path / "out"
    assert_refused(run_crop(path, out), path, NotHDF4, "not an HDF4 file", out)


def test_fifo_is_refused_not_waited_on(tmp_path):
    path = tmp_path / "MOD02HKM.A2024040.0210.061.2024040130000.hdf"
    os.mkfifo(path)
    out = tmp_path / "out"
    assert_refused(run_crop(path, out), path, InputNotFound, "not a regular file", out)


def test_missing_path(tmp_path):
    path = tmp_path / "nowhere.hdf"
    out = tmp_path / "out"
    assert_refused(run_crop(path, out), path, InputNotFound, "no such file", out)


def test_directory(tmp_path):
    path = tmp_path / "a_folder.hdf"
    path.mkdir()
    out = tmp_path / "out"
    assert_refused(run_crop(path, out), path, InputNotFound, "is a directory", out)


def test_permission_denied_reported(tmp_path, monkeypatch, terra_nadir):
    """Opening fails with EACCES (simulated: the tests may run as root, who reads anything)."""
    real_open = Path.open

    def denied(self, *args, **kwargs):
        if self == terra_nadir:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    out = tmp_path / "out"
    assert_refused(run_crop(terra_nadir, out), terra_nadir, InputNotFound, "permission denied", out)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_unreadable_file(tmp_path, terra_nadir):
    path = tmp_path / terra_nadir.name
    path.write_bytes(terra_nadir.read_bytes())
    path.chmod(0)
    out = tmp_path / "out"
    assert_refused(run_crop(path, out), path, InputNotFound, "permission denied", out)


def test_mixed_granule_with_night_over_the_bay(tmp_path):
    """DAYNIGHTFLAG "Both", but every scan that sees the bay is a night scan (all 65535)."""
    night = [scan >= 4 for scan in range(fake_granules.N_SCANS)]
    path = fake_granules.make_granule(tmp_path, "Terra", "nadir", night_scans=night)
    out = tmp_path / "out"
    assert_refused(run_crop(path, out), path, NightGranule, "no daytime data over the bay", out)
