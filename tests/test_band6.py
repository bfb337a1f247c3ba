"""Band-6 restoration: accuracy on knocked-out rows (swath space), and Aqua crops' coverage."""

from __future__ import annotations

import numpy as np
import pytest

from runtime import band6, grid
from runtime.granule import read_crop, read_swath
from tests.band6_scenes import realistic_scene
from training.granule_writer import AQUA_BAND6_DEAD_DETECTORS

BAND4, BAND6 = grid.BANDS.index(4), grid.BANDS.index(6)


def _aqua_dead() -> np.ndarray:
    dead = np.zeros(band6.DETECTORS, bool)
    dead[list(AQUA_BAND6_DEAD_DETECTORS)] = True
    return dead


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
    restored = band6.restore(copy, np.zeros(band6.DETECTORS, bool))
    assert np.array_equal(copy, truth, equal_nan=True)
    assert not restored.any()


def test_flags_exactly_the_pixels_it_filled():
    """The flag tells the resampler which band-6 values are restored, not measured."""
    reflectance = realistic_scene(np.random.default_rng(5))
    dead = _aqua_dead()
    rows = np.tile(dead, reflectance.shape[1] // band6.DETECTORS)
    reflectance[band6.BAND6, rows] = np.nan
    missing = np.isnan(reflectance[band6.BAND6])
    restored = band6.restore(reflectance, dead)
    assert np.array_equal(restored, missing & np.isfinite(reflectance[band6.BAND6]))
    assert restored[rows].mean() > 0.99 and not restored[~rows].any()


@pytest.mark.parametrize("name", ["aqua_nadir", "aqua_mid", "aqua_edge"])
def test_aqua_crop_band6_as_complete_as_band4(name, request):
    refl = read_crop(request.getfixturevalue(name)).reflectance
    missing6 = np.isnan(refl[BAND6]).sum()
    missing4 = np.isnan(refl[BAND4]).sum()
    assert missing6 <= missing4 + 0.005 * grid.ROWS * grid.COLS
