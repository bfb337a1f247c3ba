"""Band-6 restoration: accuracy on knocked-out rows, and what an Aqua crop looks like after it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pyhdf.SD import SD, SDC

from runtime import band6, grid
from runtime.granule import read_crop, read_swath
from tests.band6_scenes import realistic_scene
from tests.test_resample import MEDIAN_MAX, P99_MAX, agreement
from training.granule_writer import AQUA_BAND6_DEAD_DETECTORS, SI_DEAD, UI_SPECIAL

BAND4, BAND6 = grid.BANDS.index(4), grid.BANDS.index(6)


def _aqua_dead() -> np.ndarray:
    dead = np.zeros(band6.DETECTORS, bool)
    dead[list(AQUA_BAND6_DEAD_DETECTORS)] = True
    return dead


def knocked_out_copy(path: Path, directory: Path, dead: np.ndarray) -> Path:
    """A copy of a granule whose band-6 rows of the ``dead`` detectors are 65531 (UI 15)."""
    copy = directory / path.name
    shutil.copy(path, copy)
    sd = SD(str(copy), SDC.WRITE)
    try:
        for name, code in (("EV_500_RefSB", SI_DEAD), ("EV_500_RefSB_Uncert_Indexes", UI_SPECIAL)):
            sds = sd.select(name)
            data = sds[:]
            rows = data[3].reshape(-1, band6.DETECTORS, data.shape[-1])  # band 6 is index 3
            rows[:, dead] = code
            sds[:] = data
            sds.endaccess()
        flags = np.array(sd.attributes()["Dead Detector List"], np.int8)
        flags[140:160] |= dead.astype(np.int8)
        sd.attr("Dead Detector List").set(SDC.INT8, flags.tolist())
    finally:
        sd.end()
    return copy


def _restoration_error(truth: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """|restored - truth| on the knocked-out band-6 pixels (finite ones)."""
    knocked = truth.copy()
    scans = knocked.reshape(7, -1, band6.DETECTORS, truth.shape[-1])
    scans[BAND6][:, dead] = np.nan
    band6.restore(knocked, dead)
    restored = scans[BAND6][:, dead]
    original = truth.reshape(scans.shape)[BAND6][:, dead]
    error = np.abs(restored - original)
    return error[np.isfinite(original)]


@pytest.mark.parametrize("name", ["terra_nadir", "terra_edge"])
def test_restores_terra_rows_knocked_out_like_aqua(name, request):
    _, swath = read_swath(request.getfixturevalue(name))
    error = _restoration_error(swath.reflectance, _aqua_dead())
    assert np.isfinite(error).mean() > 0.99
    assert np.nanmedian(error) <= 0.01


def test_restores_realistic_spectra():
    """Ice dark at 1.6 um but bright at 1.24 um, clouds bright in both (synthetic scene)."""
    error = _restoration_error(realistic_scene(np.random.default_rng(3)), _aqua_dead())
    assert np.median(error) <= 0.01
    assert np.percentile(error, 99) <= 0.03


def test_interpolation_alone_fails_at_sharp_edges():
    """Why the regression: along-track interpolation smears the edges of ice and cloud."""
    truth = realistic_scene(np.random.default_rng(3))
    dead = _aqua_dead()
    scans = truth.reshape(7, -1, band6.DETECTORS, truth.shape[-1])
    interpolated = band6.interpolate_detectors(
        np.where(dead[None, :, None], np.nan, scans[BAND6]), dead
    )
    error = np.abs(interpolated[:, dead] - scans[BAND6][:, dead])
    assert np.percentile(error, 99) > 2 * np.percentile(_restoration_error(truth, dead), 99)


def test_dead_detectors_come_from_the_file(aqua_nadir, terra_nadir):
    assert np.array_equal(read_swath(aqua_nadir)[1].dead_band6_detectors, _aqua_dead())
    assert not read_swath(terra_nadir)[1].dead_band6_detectors.any()


def test_nothing_to_restore_leaves_data_alone():
    truth = realistic_scene(np.random.default_rng(4))
    copy = truth.copy()
    band6.restore(copy, np.zeros(band6.DETECTORS, bool))
    assert np.array_equal(copy, truth, equal_nan=True)


@pytest.mark.parametrize("name", ["aqua_nadir", "aqua_mid", "aqua_edge"])
def test_aqua_crop_band6_as_complete_as_band4(name, request):
    refl = read_crop(request.getfixturevalue(name)).reflectance
    missing6 = np.isnan(refl[BAND6]).sum()
    missing4 = np.isnan(refl[BAND4]).sum()
    assert missing6 <= missing4 + 0.005 * grid.ROWS * grid.COLS


@pytest.mark.parametrize("name", ["terra_mid", "terra_edge"])
def test_knocked_out_crop_matches_the_complete_crop(name, request, tmp_path):
    """Issue 2's thresholds with the truth as reference: a Terra granule with Aqua's dead rows.

    Each cell takes its nearest pixel, restored or measured, so band 6 comes from the same place
    as bands 1-5 and 7. Preferring a farther working pixel (as satpy does) fails here: 99th
    percentile 0.04-0.05 (BENCHMARKS.md "Band-6 restoration").
    """
    path = request.getfixturevalue(name)
    truth = read_crop(path).reflectance[BAND6]
    ours = read_crop(knocked_out_copy(path, tmp_path, _aqua_dead())).reflectance[BAND6]
    median, p99, same_mask = agreement(ours, truth)
    assert median <= MEDIAN_MAX
    assert p99 <= P99_MAX
    assert same_mask == 1.0
