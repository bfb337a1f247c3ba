"""The granule reader: identification from content, metadata, calibration, geolocation, window."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from geotiepoints.simple_modis_interpolator import modis_1km_to_500m
from pyhdf.SD import SD, SDC

from runtime import calibration, grid
from runtime.geolocation import interpolate_500m, lonlat_to_xyz, xyz_to_lonlat
from runtime.granule import read_crop, read_swath
from runtime.metadata import odl_value
from tests import fake_granules

TERRA_ID = "MOD02HKM.A2024040.0210.061"
AQUA_ID = "MYD02HKM.A2024040.0420.061"


@pytest.mark.parametrize(
    ("name", "granule_id", "platform"),
    [
        ("terra_nadir", TERRA_ID, "Terra"),
        ("aqua_nadir", AQUA_ID, "Aqua"),
        ("terra_imapp", TERRA_ID, "Terra"),
        ("aqua_imapp", AQUA_ID, "Aqua"),
        ("terra_nrt", TERRA_ID, "Terra"),
        ("aqua_seadas", AQUA_ID, "Aqua"),
    ],
)
def test_metadata_from_content_whatever_the_name(name, granule_id, platform, request):
    info = read_crop(request.getfixturevalue(name)).info
    assert info.granule_id == granule_id
    assert info.platform == platform
    assert info.product == granule_id[:8]
    assert info.collection == "061"
    assert info.day_night == "Day"
    assert info.start_time == fake_granules.START_TIMES[platform]
    assert info.end_time > info.start_time


def test_misleading_name_does_not_matter(aqua_nadir, tmp_path):
    renamed = tmp_path / "t1.24040.0210.500m.hdf"  # an IMAPP *Terra* name on an Aqua file
    shutil.copy(aqua_nadir, renamed)
    info = read_crop(renamed).info
    assert (info.platform, info.granule_id, info.source) == ("Aqua", AQUA_ID, renamed.name)


def test_crop_contract(terra_mid):
    crop = read_crop(terra_mid)
    assert crop.reflectance.shape == (len(grid.BANDS), grid.ROWS, grid.COLS)
    assert crop.reflectance.dtype == np.float32
    values = crop.reflectance[np.isfinite(crop.reflectance)]
    assert values.size > 0.95 * crop.reflectance.size
    assert values.min() >= 0 and values.max() < 1.5
    assert crop.info.coverage > 0.99


def test_partial_coverage_is_not_an_error(terra_partial):
    crop = read_crop(terra_partial)
    assert 0.1 < crop.info.coverage < 0.9
    assert np.isnan(crop.reflectance).all(axis=0).any()


def test_info_to_dict_is_json(aqua_mid):
    data = json.loads(json.dumps(read_crop(aqua_mid).info.to_dict()))
    assert data["granule_id"] == AQUA_ID
    assert data["start_time"] == "2024-02-09T04:20:00Z"
    assert set(data) >= {"product", "platform", "end_time", "day_night", "collection", "coverage"}


def test_reads_only_whole_scans_near_the_bay(terra_nadir):
    _, swath = read_swath(terra_nadir)
    rows, cols = swath.reflectance.shape[1:]
    assert rows % 20 == 0
    assert rows < 20 * fake_granules.N_SCANS
    assert cols < 2708


def test_values_are_the_files_own_calibration(terra_nadir):
    """The window holds scale * (SI - offset) with this file's attributes, NaN where unusable."""
    _, swath = read_swath(terra_nadir)
    rows, cols = swath.window
    sd = SD(str(terra_nadir))
    ev = sd.select("EV_500_RefSB")
    scale, offset = (
        ev.attributes()["reflectance_scales"][1],
        ev.attributes()["reflectance_offsets"][1],
    )
    si = ev[1, rows, cols]
    ui = sd.select("EV_500_RefSB_Uncert_Indexes")[1, rows, cols]
    sd.end()
    expected = np.float32(scale) * (si.astype(np.float32) - np.float32(offset))
    expected[(si > 32767) | (ui >= 15)] = np.nan
    np.testing.assert_array_equal(swath.reflectance[grid.BANDS.index(4)], expected)
    assert np.isnan(expected).any()  # the pattern's missing and saturated pixels


def test_calibration_masks():
    si = np.array([0, 1000, 32767, 32768, 65528, 65531, 65533, 65535], np.uint16)
    ui = np.array([0, 3, 14, 0, 15, 15, 15, 255], np.uint8)
    refl = calibration.reflectance(si, ui, 5e-5, 316.97)
    np.testing.assert_allclose(refl[:3], 5e-5 * (si[:3] - np.float32(316.97)), rtol=1e-6)
    assert np.isnan(refl[3:]).all()
    ui_max = ui.copy()
    ui_max[1] = 15  # calibrated but too uncertain
    assert np.isnan(calibration.reflectance(si, ui_max, 5e-5, 0.0)[1])


def test_geolocation_matches_geotiepoints_and_the_true_positions():
    swath = fake_granules.fake_swath("Terra", "edge", 4)
    xyz = interpolate_500m(swath.lat_1km.astype(np.float64), swath.lon_1km.astype(np.float64))
    lon, lat = xyz_to_lonlat(xyz)
    ref_lon, ref_lat = modis_1km_to_500m(swath.lon_1km, swath.lat_1km)
    assert np.abs(lon - ref_lon).max() < 1e-4 and np.abs(lat - ref_lat).max() < 1e-4
    # Against the exact 500 m pixel centres of the simulated instrument, away from scan ends.
    error_m = np.linalg.norm(xyz - lonlat_to_xyz(swath.lon, swath.lat), axis=-1)
    assert np.median(error_m) < 50


def test_geolocation_needs_whole_scans():
    with pytest.raises(ValueError, match="whole scans"):
        interpolate_500m(np.zeros((15, 1354)), np.zeros((15, 1354)))


def test_odl_lookup():
    text = """GROUP = INVENTORYMETADATA
  OBJECT = SHORTNAME
    NUM_VAL = 1
    VALUE = "MYD02HKM"
  END_OBJECT = SHORTNAME
  OBJECT = GRINGPOINTLATITUDE
    NUM_VAL = 4
    CLASS = "1"
    VALUE = (42.1, 43.2,
      44.3, 45.4)
  END_OBJECT = GRINGPOINTLATITUDE
END_GROUP = INVENTORYMETADATA
END
"""
    assert odl_value(text, "SHORTNAME") == "MYD02HKM"
    assert odl_value(text, "GRINGPOINTLATITUDE") == (42.1, 43.2, 44.3, 45.4)
    assert odl_value(text, "VERSIONID") is None


def test_gap_of_missing_scans_stays_empty(tmp_path):
    """A scan lost over the bay (65535) leaves a strip of NaN cells, not far-away values."""
    middle = fake_granules.N_SCANS // 2
    path = fake_granules.make_granule(tmp_path, "Terra", "nadir", missing_scans=(middle,))
    refl = read_crop(path).reflectance
    empty_per_column = np.isnan(refl).all(axis=0).sum(axis=0)
    # About 10 km of lost scan, less the footprint radius on each side (cells are 0.43 km tall).
    assert 15 < np.median(empty_per_column) < 30


def test_missing_geolocation_is_skipped(terra_nadir, tmp_path):
    """Latitude/Longitude fill (-999) in one scan: its pixels are dropped, the rest is read."""
    path = tmp_path / terra_nadir.name
    shutil.copy(terra_nadir, path)
    sd = SD(str(path), SDC.WRITE)
    for name in ("Latitude", "Longitude"):
        sds = sd.select(name)
        values = sds[:]
        values[120:130] = -999.0  # scan 12, over the bay
        sds[:] = values
        sds.endaccess()
    sd.end()
    crop = read_crop(path)
    assert 0.5 < crop.info.coverage < 1.0
