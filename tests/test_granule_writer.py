"""The fake-granule writer and swath geometry: satpy reads the files as real MODIS L1B 500 m.

Figures printed by these tests (run with -s) are measured on synthetic granules.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from pyhdf.HDF import HDF
from pyhdf.SD import SD, SDC
from pyhdf.VS import VS  # noqa: F401  (HDF.vstart needs pyhdf.VS imported)

from runtime.solar import earth_sun_distance
from tests import fake_granules
from training import granule_writer as gw
from training.swath import (
    BAY_CENTRE,
    CENTRE_FRAME,
    FRAMES_1KM,
    IFOV_1KM_RAD,
    SCAN_PERIOD_S,
    build_swath,
)

log = logging.getLogger(__name__)
satpy = pytest.importorskip("satpy")

EARTH_RADIUS_M = 6371000.0
SAMPLE_DIR = Path(__file__).parent / "data" / "sample"


def _load_satpy(path, names):
    scene = satpy.Scene(reader="modis_l1b", filenames=[str(path)])
    scene.load(names, resolution=500)
    return scene


def _written(path):
    """SI, scales and offsets of bands 1..7 as stored in the file."""
    sd = SD(str(path))
    try:
        si, scales, offsets = [], [], []
        for name in ("EV_250_Aggr500_RefSB", "EV_500_RefSB"):
            sds = sd.select(name)
            attrs = sds.attributes()
            si.append(sds[:])
            scales += list(attrs["reflectance_scales"])
            offsets += list(attrs["reflectance_offsets"])
    finally:
        sd.end()
    return np.concatenate(si), np.array(scales), np.array(offsets)


def _distance_m(lat1, lon1, lat2, lon2):
    """Small-distance approximation on a sphere, metres."""
    dy = np.radians(lat2 - lat1) * EARTH_RADIUS_M
    dx = np.radians(lon2 - lon1) * EARTH_RADIUS_M * np.cos(np.radians(lat1))
    return np.hypot(dx, dy)


@pytest.mark.parametrize(
    ("fixture", "platform", "position", "start"),
    [
        ("terra_nadir", "Terra", "nadir", datetime(2024, 2, 9, 2, 10)),
        ("aqua_imapp", "Aqua", "nadir", datetime(2024, 2, 9, 4, 20)),
    ],
)
def test_satpy_reads_bands_platform_and_time(request, fixture, platform, position, start):
    path = request.getfixturevalue(fixture)
    truth = fake_granules.fake_reflectance(fake_granules.fake_swath(platform, position))
    si, scales, _ = _written(path)
    scene = _load_satpy(path, [str(b) for b in range(1, 8)])
    for b in range(7):
        data = scene[str(b + 1)]
        assert data.attrs["platform_name"] == platform
        assert data.attrs["start_time"].replace(tzinfo=None) == start
        values = data.values / 100.0  # satpy gives percent
        valid = si[b] <= 32767
        assert np.array_equal(np.isfinite(values), valid)
        error = np.abs(values[valid] - truth[b][valid])
        assert error.max() <= scales[b] * 0.5 + 1e-7  # rounding: within half an SI step
        assert valid.mean() > 0.9 or (platform == "Aqua" and b == 5)


def test_special_values(terra_nadir):
    si, _, _ = _written(terra_nadir)
    swath = fake_granules.fake_swath("Terra", "nadir")
    truth = fake_granules.fake_reflectance(swath)
    saturated = truth[0] == 3.0
    assert saturated.any()
    assert (si[1][saturated] == gw.SI_AGGREGATION_FAILED).all()  # band 2
    for b in (0, 2, 3, 4, 5, 6):
        assert (si[b][saturated] == gw.SI_SATURATED).all()
    missing = np.isnan(truth[0])
    missing[fake_granules.MISSING_SCAN * 20 : (fake_granules.MISSING_SCAN + 1) * 20] = False
    assert (si[:, missing] == gw.SI_MISSING).all()
    lost = slice(fake_granules.MISSING_SCAN * 20, (fake_granules.MISSING_SCAN + 1) * 20)
    assert (si[:, lost] == gw.SI_FILL).all()
    sd = SD(str(terra_nadir))
    ui = sd.select("EV_500_RefSB_Uncert_Indexes")[:]
    core = sd.attributes()["CoreMetadata.0"]
    sd.end()
    assert (ui[:, lost] == 255).all()
    assert (ui[si[2:] > 32767] >= 15).all()
    assert ui[si[2:] <= 32767].max() < 15
    assert 'VALUE                = "Day"' in core


def test_aqua_band6_dead_detectors(aqua_nadir):
    sd = SD(str(aqua_nadir))
    dead_list = sd.attributes(full=1)["Dead Detector List"]
    band6 = sd.select("EV_500_RefSB")[3]
    sd.end()
    assert dead_list[2] == SDC.INT8 and len(dead_list[0]) == 490
    dead = np.flatnonzero(np.array(dead_list[0])[140:160])
    assert list(dead) == list(gw.AQUA_BAND6_DEAD_DETECTORS)
    detector = np.arange(band6.shape[0]) % 20
    lost = (band6 == gw.SI_FILL).all(axis=1)  # the missing scan
    assert (band6[np.isin(detector, dead) & ~lost] == gw.SI_DEAD).all()
    values = _load_satpy(aqua_nadir, ["6"])["6"].values
    assert np.isnan(values[np.isin(detector, dead)]).all()
    alive_rows = ~np.isin(detector, dead) & ~lost
    assert np.isfinite(values[alive_rows]).mean() > 0.99


@pytest.mark.parametrize(
    ("fixture", "position"), [("terra_nadir", "nadir"), ("terra_edge", "edge")]
)
def test_satpy_geolocation_matches_exact_geometry(request, fixture, position):
    path = request.getfixturevalue(fixture)
    swath = fake_granules.fake_swath("Terra", position)
    scene = _load_satpy(path, ["longitude", "latitude"])
    lon = scene["longitude"].values.astype(np.float64)
    lat = scene["latitude"].values.astype(np.float64)
    error = _distance_m(swath.lat, swath.lon, lat, lon)
    log.info(
        "synthetic %s: satpy 500 m lon/lat vs exact geometry: max %.1f m, p99 %.1f m",
        position,
        error.max(),
        np.percentile(error, 99),
    )
    print(f"synthetic {position}: satpy vs exact 500 m positions: max {error.max():.1f} m")
    assert error.max() < 50.0  # a 500 m pixel is 500 m (nadir) to 2.5 km (edge) wide


def test_attribute_types_as_in_real_files(aqua_seadas):
    sd = SD(str(aqua_seadas))
    try:
        ev = sd.select("EV_500_RefSB")
        _, rank, _, dtype, _ = ev.info()
        assert (rank, dtype) == (3, SDC.UINT16)
        assert list(ev.dimensions()) == [
            "Band_500M:MODIS_SWATH_Type_L1B",
            "20*nscans:MODIS_SWATH_Type_L1B",
            "2*Max_EV_frames:MODIS_SWATH_Type_L1B",
        ]
        attrs = ev.attributes(full=1)
        for key in (
            "reflectance_scales",
            "reflectance_offsets",
            "radiance_scales",
            "radiance_offsets",
            "corrected_counts_scales",
            "corrected_counts_offsets",
        ):
            assert attrs[key][2] == SDC.FLOAT32 and len(attrs[key][0]) == 5
        assert attrs["valid_range"][0] == [0, 32767] and attrs["valid_range"][2] == SDC.UINT16
        assert attrs["_FillValue"][0] == 65535
        assert attrs["band_names"][0] == "3,4,5,6,7"
        assert ev.getcompress()[0] == SDC.COMP_DEFLATE
        assert gw.chunk_shape(ev) == (1, 20, 2708)  # one chunk per band and scan
        assert gw.chunk_shape(sd.select("Latitude")) == (10, FRAMES_1KM)
        assert gw.chunk_shape(sd.select("Band_500M")) is None
        ui = sd.select("EV_500_RefSB_Uncert_Indexes").attributes(full=1)
        assert ui["valid_range"][2] == SDC.UINT8
        used = sd.select("EV_250_Aggr500_RefSB_Samples_Used")
        assert used.info()[3] == SDC.INT8 and used.attributes(full=1)["valid_range"][2] == SDC.INT8
        lat = sd.select("Latitude")
        assert lat.info()[2] == [240, FRAMES_1KM] and lat.info()[3] == SDC.FLOAT32
        assert list(sd.select("Band_500M")[:]) == [3.0, 4.0, 5.0, 6.0, 7.0]
        glob = sd.attributes(full=1)
        assert glob["Number of Scans"][0] == 24 and glob["Number of Scans"][2] == SDC.INT32
        assert glob["Max Earth View Frames"][0] == FRAMES_1KM
        assert glob["Earth-Sun Distance"][2] == SDC.FLOAT32
        assert len(glob["Solar Irradiance on RSB Detectors over pi"][0]) == 330
        assert glob["HDFEOS_FractionalOffset_20*nscans_MODIS_SWATH_Type_L1B"][0] == 0.5
        assert "GRINGPOINTLATITUDE" in glob["CoreMetadata.0"][0]
        assert "BOUNDINGRECTANGLE" in glob["ArchiveMetadata.0"][0]
        assert 'DataFieldName="EV_500_RefSB"' in glob["StructMetadata.0"][0]
    finally:
        sd.end()


def test_calibration_relations_of_the_production_code():
    when = datetime(2024, 7, 4, 2, 0, tzinfo=timezone.utc)
    cal = gw.calibration_for(when)
    d = float(earth_sun_distance(when))
    assert math.isclose(cal.earth_sun_distance, d) and d > 1.016  # aphelion in July
    assert ((cal.reflectance_scales > 2e-5) & (cal.reflectance_scales < 6e-5)).all()
    band_esun = [
        cal.esun_over_pi_detectors[s : s + n].mean()
        for s, n in ((0, 40), (40, 40), (80, 20), (100, 20), (120, 20), (140, 20), (160, 20))
    ]
    ratio = cal.radiance_scales / cal.reflectance_scales
    np.testing.assert_allclose(ratio, np.array(band_esun) / d**2, rtol=1e-6)


@pytest.mark.parametrize(
    ("style", "name"),
    [
        ("nasa", "MOD02HKM.A2024040.0210.061.2024040130000.hdf"),
        ("nrt", "MOD02HKM.A2024040.0210.061.NRT.hdf"),
        ("imapp", "t1.24040.0210.500m.hdf"),
        ("seadas", "T2024040021000.L1B_HKM"),
    ],
)
def test_names_of_the_producers(style, name):
    start = datetime(2024, 2, 9, 2, 10, tzinfo=timezone.utc)
    assert gw.granule_filename("Terra", start, name_style=style) == name


def test_satpy_accepts_the_other_names(terra_nrt, aqua_seadas, terra_imapp):
    for path, platform in ((terra_nrt, "Terra"), (aqua_seadas, "Aqua"), (terra_imapp, "Terra")):
        scene = _load_satpy(path, ["4"])
        assert scene["4"].attrs["platform_name"] == platform
        assert scene["4"].shape == (480, 2708)


def test_pixel_footprint_grows_towards_the_edge():
    swath = build_swath("Terra", datetime(2024, 2, 9, 2, 10), 4)
    nadir = int(2 * CENTRE_FRAME)
    along_scan, along_track = swath.along_scan_km, swath.along_track_km
    print(
        f"synthetic footprint nadir {along_scan[nadir]:.3f} x {along_track[nadir]:.3f} km, "
        f"edge {along_scan[0]:.2f} x {along_track[0]:.2f} km"
    )
    # 500 m at nadir from 705 km (the bay lies at 43 N, where the ground is ~10 km closer).
    assert 0.49 < along_scan[nadir] < 0.52 and 0.49 < along_track[nadir] < 0.52
    for edge in (0, -1):
        assert 1.8 < along_track[edge] / along_track[nadir] < 2.2
        assert 4.5 < along_scan[edge] / along_scan[nadir] < 5.3


def _scan_boundary_step_km(swath, column):
    """Along-track distance from a scan's last detector to the next scan's first, per scan."""
    lat, lon = swath.lat[:, column], swath.lon[:, column]
    last, first = slice(19, -20, 20), slice(20, None, 20)
    mid_now, mid_next = slice(10, -20, 20), slice(30, None, 20)
    step = _distance_m(lat[mid_now], lon[mid_now], lat[mid_next], lon[mid_next])
    # Project last->first onto the direction between scan middles (the along-track direction).
    y = lambda a, b: np.radians(lat[b] - lat[a])  # noqa: E731
    x = lambda a, b: np.radians(lon[b] - lon[a]) * np.cos(np.radians(lat[a]))  # noqa: E731
    ux, uy = x(mid_now, mid_next), y(mid_now, mid_next)
    norm = np.hypot(ux, uy)
    projection = (x(last, first) * ux + y(last, first) * uy) / norm * EARTH_RADIUS_M
    assert (step > 9000).all()
    return projection / 1000.0


def test_bow_tie_overlap_at_the_edge_not_at_nadir():
    swath = build_swath("Aqua", datetime(2024, 2, 9, 4, 20), 6)
    nadir_step = _scan_boundary_step_km(swath, int(2 * CENTRE_FRAME))
    edge_step = _scan_boundary_step_km(swath, 0)
    print(
        f"synthetic scan-boundary step: nadir {nadir_step.mean():.2f} km, "
        f"edge {edge_step.mean():.2f} km"
    )
    # Nadir: the next scan's first detector follows the last one like any other detector.
    assert (nadir_step > 0.3).all() and (nadir_step < 0.7).all()
    # Edge: it lies kilometres behind it, i.e. the scans overlap (bow-tie).
    assert (edge_step < -5.0).all()


@pytest.mark.parametrize("platform", ["Terra", "Aqua"])
@pytest.mark.parametrize("angle", [0.0, 30.0, -50.0])
def test_swath_places_the_target(platform, angle):
    swath = build_swath(
        platform, datetime(2024, 2, 9, 3, 0), 10, scan_angle_deg=angle, target_scan=3
    )
    distance = _distance_m(BAY_CENTRE[1], BAY_CENTRE[0], swath.lat, swath.lon)
    row, col = np.unravel_index(distance.argmin(), distance.shape)
    assert row // 20 == 3 and row % 20 in (9, 10)
    expected_col = 2 * (CENTRE_FRAME + math.radians(angle) / IFOV_1KM_RAD)
    assert abs(col - expected_col) <= 1
    # Terra's daytime pass goes south (row 0 north), Aqua's north.
    north_first = swath.lat[0, 1354] > swath.lat[-1, 1354]
    assert north_first == (platform == "Terra")


def test_frame_and_scan_angle_agree():
    by_frame = build_swath("Terra", datetime(2024, 2, 9, 2, 10), 2, frame=1353.0)
    angle = math.degrees((1353.0 - CENTRE_FRAME) * IFOV_1KM_RAD)
    by_angle = build_swath("Terra", datetime(2024, 2, 9, 2, 10), 2, scan_angle_deg=angle)
    assert by_frame.orbit == pytest.approx(by_angle.orbit)
    np.testing.assert_allclose(by_frame.lat_1km, by_angle.lat_1km)


def test_one_km_points_sit_on_the_500m_grid():
    swath = build_swath("Terra", datetime(2024, 2, 9, 2, 10), 2)
    # 1 km (r, f) is the 500 m position (2r + 0.5, 2f): between rows 2r and 2r+1, column 2f.
    mid_lat = (swath.lat[0::2, 0::2] + swath.lat[1::2, 0::2]) / 2
    mid_lon = (swath.lon[0::2, 0::2] + swath.lon[1::2, 0::2]) / 2
    error = _distance_m(mid_lat, mid_lon, swath.lat_1km, swath.lon_1km)
    assert error.max() < 5.0


def test_write_is_atomic(tmp_path, monkeypatch):
    swath = build_swath("Terra", datetime(2024, 2, 9, 2, 10), 2)
    refl = np.full((7, 40, 2708), 0.1, np.float32)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(gw, "_write_qa", broken)
    with pytest.raises(OSError, match="disk full"):
        gw.write_granule(tmp_path, refl, swath)
    assert list(tmp_path.iterdir()) == []


def test_night_and_off_bay_granules(bad_granules):
    sd = SD(str(bad_granules["night"]))
    si = sd.select("EV_500_RefSB")[:]
    attrs = sd.attributes()
    sd.end()
    assert (si == gw.SI_FILL).all()
    assert 'VALUE                = "Night"' in attrs["CoreMetadata.0"]
    assert attrs["Number of Night mode scans"] == attrs["Number of Scans"]
    sd = SD(str(bad_granules["misses_bay"]))
    lat, lon = sd.select("Latitude")[:], sd.select("Longitude")[:]
    sd.end()
    distance = _distance_m(BAY_CENTRE[1], BAY_CENTRE[0], lat, lon)
    assert distance.min() > 150_000  # beyond the bay's half-size of about 120 km


def test_partial_granule_cuts_the_bay(terra_partial):
    sd = SD(str(terra_partial))
    lat, lon = sd.select("Latitude")[:], sd.select("Longitude")[:]
    sd.end()
    # The bay centre lies on the last 1 km frame (Terra by day: the eastern swath edge) of the
    # middle scan, so the eastern half of the bay is outside the swath.
    distance = _distance_m(BAY_CENTRE[1], BAY_CENTRE[0], lat, lon)
    row, frame = np.unravel_index(distance.argmin(), distance.shape)
    # (At the edge the bow-tie overlap lets the next scan see the same point too.)
    assert frame == FRAMES_1KM - 1 and row // 10 - fake_granules.N_SCANS // 2 in (0, 1)
    assert distance.min() < 2000
    east = BAY_CENTRE[0] + math.degrees(50.0 / 6371.0 / math.cos(math.radians(BAY_CENTRE[1])))
    assert _distance_m(BAY_CENTRE[1], east, lat, lon).min() > 20_000


def test_committed_sample_granule():
    path = SAMPLE_DIR / "MOD02HKM.A2024040.0210.061.2024040130000.hdf"
    assert path.stat().st_size < 5_000_000
    sd = SD(str(path))
    try:
        attrs = sd.attributes()
        lat, lon = sd.select("Latitude")[:], sd.select("Longitude")[:]
    finally:
        sd.end()
    assert attrs["Number of Scans"] == 20
    core = attrs["CoreMetadata.0"]
    for text in (
        '"MOD02HKM.A2024040.0210.061.2024040130000.hdf"',
        '"2024-02-09"',
        '"02:10:00.000000"',
    ):
        assert text in core
    # The whole bay lies inside the swath, away from its first and last scans.
    box = (lat > 42.25) & (lat < 43.35) & (lon > 130.6) & (lon < 133.25)
    rows = np.flatnonzero(box.any(axis=1))
    assert rows.min() >= 10 and rows.max() < 190


def test_per_scan_swath_metadata_vdata(terra_nadir):
    hdf = HDF(str(terra_nadir))
    vs = hdf.vstart()
    try:
        vd = vs.attach("Level 1B Swath Metadata")
        records = vd.read(vd.inquire()[0])
        fields = vd.inquire()[2]
        vd.detach()
    finally:
        vs.end()
        hdf.close()
    scans = [dict(zip(fields, r, strict=True)) for r in records]
    assert len(scans) == fake_granules.N_SCANS
    assert [s["Scan Number"] for s in scans] == list(range(1, fake_granules.N_SCANS + 1))
    assert scans[fake_granules.MISSING_SCAN]["Scan Type"] == "O   "
    assert scans[0]["Scan Type"] == "D   " and scans[0]["Mirror Side"] != scans[1]["Mirror Side"]
    # TAI93: seconds since 1993-01-01 00:00 UTC including the 10 leap seconds since then.
    start = fake_granules.START_TIMES["Terra"]
    tai93 = (start - datetime(1993, 1, 1, tzinfo=timezone.utc)).total_seconds() + 10
    assert scans[0]["EV Sector Start Time"] == pytest.approx(tai93, abs=1e-3)
    steps = np.diff([s["EV Sector Start Time"] for s in scans])
    np.testing.assert_allclose(steps, SCAN_PERIOD_S, atol=1e-6)
    middle = scans[fake_granules.N_SCANS // 2]
    assert abs(middle["Latitude of Nadir Frame"] - BAY_CENTRE[1]) < 0.2
    assert 55 < middle["Solar Zenith of Nadir Frame"] < 65  # winter morning


def test_equator_crossing_gives_the_local_times_of_the_orbits():
    for platform, start, node_hours in (
        ("Terra", datetime(2024, 2, 9, 2, 10, tzinfo=timezone.utc), 10.5),
        ("Aqua", datetime(2024, 2, 9, 4, 20, tzinfo=timezone.utc), 13.5),
    ):
        when, lon, orbit = build_swath(platform, start, 2).equator_crossing()
        local = (when.hour + when.minute / 60 + lon / 15) % 24
        # Placing the bay at nadir at these times puts the node near the platform's own time.
        assert abs(local - node_hours) < 0.5
        assert abs((when - start).total_seconds()) < 1800 and orbit > 100_000


def test_bad_granules_are_what_their_names_say(bad_granules):
    good = bad_granules["corrupt"].parent.parent / "good" / bad_granules["corrupt"].name
    assert bad_granules["truncated"].stat().st_size == good.stat().st_size // 2
    assert bad_granules["corrupt"].stat().st_size == good.stat().st_size
    assert bad_granules["corrupt"].read_bytes() != good.read_bytes()
    assert not bad_granules["not_hdf4_png"].read_bytes().startswith(b"\x0e\x03\x13\x01")
    assert bad_granules["not_hdf4_png"].read_bytes().startswith(b"\x89PNG")
    for key, short_name, absent in (
        ("mod021km", "MOD021KM", "EV_500_RefSB"),
        ("mod03", "MOD03", "EV_500_RefSB"),
        ("missing_ev500", "MOD02HKM", "EV_500_RefSB"),
    ):
        sd = SD(str(bad_granules[key]))
        core, names = sd.attributes()["CoreMetadata.0"], sd.datasets()
        sd.end()
        assert f'VALUE                = "{short_name}"' in core and absent not in names
    sd = SD(str(bad_granules["missing_scales"]))
    attrs = sd.select("EV_500_RefSB").attributes()
    sd.end()
    assert "reflectance_scales" not in attrs and "reflectance_offsets" in attrs


def test_mixed_day_and_night_scans(tmp_path):
    swath = build_swath("Aqua", datetime(2024, 2, 9, 4, 20), 3)
    refl = np.full((7, 60, 2708), 0.2, np.float32)
    path = gw.write_granule(tmp_path, refl, swath, night_scans=[False, True, False])
    sd = SD(str(path))
    si = sd.select("EV_250_Aggr500_RefSB")[:]
    used = sd.select("EV_250_Aggr500_RefSB_Samples_Used")[:]
    attrs = sd.attributes()
    sd.end()
    assert 'VALUE                = "Both"' in attrs["CoreMetadata.0"]
    assert (attrs["Number of Day mode scans"], attrs["Number of Night mode scans"]) == (2, 1)
    assert (si[:, 20:40] == gw.SI_FILL).all() and (used[:, 20:40] == -1).all()
    assert (si[:, :20] <= 32767).all() and (used[:, :20] == 6).all()


@pytest.mark.slow
def test_full_size_granule_reads_in_satpy(tmp_path):
    swath = fake_granules.fake_swath("Aqua", "mid", 203)
    path = gw.write_granule(tmp_path, fake_granules.fake_reflectance(swath), swath)
    scene = _load_satpy(path, ["4", "longitude", "latitude"])
    assert scene["4"].shape == (4060, 2708)
    lat = scene["latitude"].values.astype(np.float64)
    lon = scene["longitude"].values.astype(np.float64)
    assert _distance_m(swath.lat, swath.lon, lat, lon).max() < 50.0
