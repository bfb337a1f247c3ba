"""Small, deterministic MODIS L1B 500 m test granules and the broken files reader tests need.

Every granule is a faithful MOD02HKM/MYD02HKM file (``training.granule_writer``) on real swath
geometry (``training.swath``) with few scans (default 24, about 240 km along track, enough for
the whole bay) at the full 2708-sample width. The reflectance is a simple pattern, not a scene:
blocks of "ice", a cloud band and dark "water", varied per band, plus a saturated patch, a few
pixels of missing DN (65534) and one missing scan (65535, outside the bay).

Public API:
    fake_swath(platform, position, n_scans) -> Swath      geometry of a test granule
    fake_reflectance(swath) -> ndarray                   the pattern (7, 20n, 2708), L1B refl.
    make_granule(directory, platform, position, ...)     a good granule -> Path
    make_bad_granules(directory) -> dict[str, Path]      broken / wrong / night / off-bay files
    POSITIONS                                            where the bay sits across the swath

Run ``python -m tests.fake_granules DIR`` to write them all into DIR for a look.
"""

from __future__ import annotations

import argparse
import math
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image
from pyhdf.SD import SD, SDC

from training import granule_writer as gw
from training.swath import BAY_CENTRE, Swath, build_swath

#: Scan angle (degrees) at which the bay centre is seen. "partial": the bay centre on the last
#: frame, so half the bay is beyond the swath edge.
POSITIONS = {"nadir": 0.0, "mid": 30.0, "edge": 50.0, "partial": 55.0}
START_TIMES = {
    "Terra": datetime(2024, 2, 9, 2, 10, tzinfo=timezone.utc),
    "Aqua": datetime(2024, 2, 9, 4, 20, tzinfo=timezone.utc),
}
N_SCANS = 24
#: Scan lost entirely in every good test granule (65535); 2 of 24 lies outside the bay.
MISSING_SCAN = 2
SATURATED_BOX = (132.25, 132.35, 42.95, 43.02)  # lon0, lon1, lat0, lat1: a bright patch

_WATER = np.array([0.030, 0.015, 0.070, 0.045, 0.008, 0.005, 0.003])
_ICE = np.array([0.350, 0.320, 0.380, 0.370, 0.200, 0.050, 0.030])
_CLOUD = np.array([0.450, 0.440, 0.470, 0.450, 0.400, 0.300, 0.200])


def fake_swath(
    platform: str = "Terra",
    position: str = "nadir",
    n_scans: int = N_SCANS,
    *,
    target: tuple[float, float] = BAY_CENTRE,
    start_time: datetime | None = None,
    ascending: bool | None = None,
) -> Swath:
    """Swath of a test granule: ``target`` (default the bay centre) at ``position``, mid-granule."""
    if position not in POSITIONS:
        raise ValueError(f"unknown position {position!r}; choose one of {', '.join(POSITIONS)}")
    angle = POSITIONS[position]
    kwargs = {"frame": 1353.0} if position == "partial" else {"scan_angle_deg": angle}
    return build_swath(
        platform,
        start_time or START_TIMES[platform],
        n_scans,
        target=target,
        ascending=ascending,
        **kwargs,
    )


def fake_reflectance(swath: Swath) -> np.ndarray:
    """The deterministic test pattern, L1B reflectance (7, 20n, 2708) float32.

    Geographic and blocky, so the same ground shows the same values in every test granule and
    the files compress well: 0.15-degree checkerboard blocks, half of them "ice", a diagonal band
    of "cloud", the rest "water", each 0.05-degree cell scaled by its own factor 0.85..1.15. A
    small patch over the bay saturates every band, and every 997th pixel has its DN missing (NaN).
    """
    lon, lat = swath.lon, swath.lat
    block = (np.floor(lon / 0.15) + np.floor(lat / 0.15)).astype(np.int64)
    cell_i, cell_j = np.floor(lon / 0.05).astype(np.int64), np.floor(lat / 0.05).astype(np.int64)
    cell_hash = ((cell_i * 73856093) ^ (cell_j * 19349663)) % 97
    ice = (block % 2 == 0) & (((block * 2654435761) >> 7) % 3 != 0)
    cloud = np.abs((lon - 131.2) - 1.5 * (lat - 42.4)) < 0.12
    kind = np.where(cloud, 2, ice.astype(np.int64))
    levels = np.stack([_WATER, _ICE, _CLOUD]).astype(np.float32)  # (3, 7)
    scale = (0.85 + 0.3 * cell_hash / 96.0).astype(np.float32)
    refl = np.moveaxis(levels[kind], -1, 0) * scale
    lon0, lon1, lat0, lat1 = SATURATED_BOX
    bright = (lon >= lon0) & (lon <= lon1) & (lat >= lat0) & (lat <= lat1)
    refl[:, bright] = 3.0
    refl.reshape(7, -1)[:, ::997] = np.nan
    return refl


def make_granule(
    directory: str | Path,
    platform: str = "Terra",
    position: str = "nadir",
    *,
    name_style: str = "nasa",
    n_scans: int = N_SCANS,
    **write_options,
) -> Path:
    """A good test granule (Day, bay at ``position``); ``write_options`` go to write_granule."""
    swath = fake_swath(platform, position, n_scans)
    write_options.setdefault("missing_scans", (MISSING_SCAN,))
    return gw.write_granule(
        directory, fake_reflectance(swath), swath, name_style=name_style, **write_options
    )


# --------------------------------------------------------------------------------------------
# Broken and wrong inputs


def _not_hdf4(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    text = directory / "text" / "MOD02HKM.A2024040.0210.061.2024040130000.hdf"
    text.parent.mkdir()
    text.write_text("This is not an HDF4 file, only text with a granule's name.\n")
    png = directory / "png" / "MOD02HKM.A2024040.0210.061.2024040130000.hdf"
    png.parent.mkdir()
    Image.new("RGB", (16, 16), (10, 80, 160)).save(png, format="PNG")
    return {"not_hdf4_text": text, "not_hdf4_png": png}


def _damaged(good: Path, directory: Path) -> dict[str, Path]:
    """A truncated copy (first half of the bytes), a corrupt copy (middle overwritten) and one
    whose index points past the end of the file."""
    data = good.read_bytes()
    truncated = directory / "truncated" / good.name
    truncated.parent.mkdir()
    truncated.write_bytes(data[: len(data) // 2])
    corrupt = directory / "corrupt" / good.name
    corrupt.parent.mkdir()
    middle = len(data) // 2
    garbage = np.random.default_rng(7).integers(0, 256, 65536, dtype=np.uint8).tobytes()
    corrupt.write_bytes(data[:middle] + garbage + data[middle + len(garbage) :])
    # the first data descriptor (after the 4-byte magic and the 6-byte block header) claims
    # 2 GB: the kind of damage that can crash the HDF4 library itself
    bad_index = directory / "bad_index" / good.name
    bad_index.parent.mkdir()
    length_at = 4 + 6 + 8
    bad_index.write_bytes(data[:length_at] + (2**31 - 1).to_bytes(4, "big") + data[length_at + 4:])
    return {"truncated": truncated, "corrupt": corrupt, "bad_index": bad_index}


def _edited_copy(good: Path, directory: Path, key: str, edit) -> Path:
    """A copy of ``good`` in ``directory/key`` with ``edit(sd)`` applied to its HDF4 content."""
    path = _subdir(directory, key) / good.name
    shutil.copyfile(good, path)
    sd = SD(str(path), SDC.WRITE)
    try:
        edit(sd)
    finally:
        sd.end()
    return path


def _malformed(good: Path, directory: Path) -> dict[str, Path]:
    """Copies of ``good`` whose attributes or data sets hold the wrong kind of value."""

    def core_not_text(sd):
        sd.attr("CoreMetadata.0").set(SDC.INT32, 5)

    def scales_not_numbers(sd):
        sd.select("EV_500_RefSB").attr("reflectance_scales").set(SDC.CHAR8, "abc")

    def scales_negative(sd):
        sd.select("EV_500_RefSB").attr("reflectance_scales").set(SDC.FLOAT32, [-1.0] * 5)

    def no_geolocation(sd):
        latitude = sd.select("Latitude")
        latitude[:] = np.full(latitude.info()[2], np.nan, np.float32)

    edits = {"core_not_text": core_not_text, "scales_not_numbers": scales_not_numbers,
             "scales_negative": scales_negative, "no_geolocation": no_geolocation}
    return {key: _edited_copy(good, directory, key, edit) for key, edit in edits.items()}


def _write_look_alike(
    path: Path,
    short_name: str,
    swath: Swath,
    long_name: str,
    datasets: dict[str, tuple[np.ndarray, tuple[str, ...], list]],
) -> Path:
    """An HDF4 file with another MODIS product's ECS metadata and data sets."""
    sd = SD(str(path), SDC.WRITE | SDC.CREATE | SDC.TRUNC)
    try:
        gw.set_attribute(
            sd,
            "CoreMetadata.0",
            gw.core_metadata(
                short_name,
                swath.platform,
                swath.start_time,
                swath.end_time,
                collection=61,
                local_granule_id=path.name,
                day_night="Day",
                production_time=swath.start_time,
                lat=swath.lat_1km,
                lon=swath.lon_1km,
                parameters=tuple(datasets),
            ),
        )
        gw.set_attribute(
            sd,
            "ArchiveMetadata.0",
            gw.archive_metadata(long_name, swath.lat_1km, swath.lon_1km, ""),
        )
        for name, (data, dims, attributes) in datasets.items():
            gw.write_sds(sd, name, data, dims, attributes)
    finally:
        sd.end()
    return path


def _mod021km(directory: Path, swath: Swath) -> Path:
    """A 1 km L1B look-alike: EV_1KM_RefSB, EV_250_Aggr1km_RefSB, 5 km geolocation."""
    n = swath.n_scans
    si = np.full((15, 10 * n, 1354), 1200, np.uint16)
    refsb = [
        ("band_names", "8,9,10,11,12,13lo,13hi,14lo,14hi,15,16,17,18,19,26", None),
        ("valid_range", [0, 32767], np.uint16),
        ("reflectance_scales", [5e-5] * 15, np.float32),
        ("reflectance_offsets", [316.97] * 15, np.float32),
    ]
    agg = [
        ("band_names", "1,2", None),
        ("valid_range", [0, 32767], np.uint16),
        ("reflectance_scales", [5e-5] * 2, np.float32),
        ("reflectance_offsets", [316.97] * 2, np.float32),
    ]
    rows, cols = "10*nscans", "Max_EV_frames"
    path = directory / "mod021km" / "MOD021KM.A2024040.0210.061.2024040130000.hdf"
    path.parent.mkdir()
    return _write_look_alike(
        path,
        "MOD021KM",
        swath,
        "MODIS/Terra Calibrated Radiances 5-Min L1B Swath 1km",
        {
            "EV_1KM_RefSB": (si, ("Band_1KM_RefSB", rows, cols), refsb),
            "EV_250_Aggr1km_RefSB": (si[:2], ("Band_250M", rows, cols), agg),
            "Latitude": (swath.lat_1km[2::5, 2::5].copy(), ("2*nscans", "1KM_geo_dim"), []),
            "Longitude": (swath.lon_1km[2::5, 2::5].copy(), ("2*nscans", "1KM_geo_dim"), []),
        },
    )


def _mod03(directory: Path, swath: Swath) -> Path:
    """A geolocation look-alike (MOD03): 1 km Latitude/Longitude, angles, height."""
    shape = swath.lat_1km.shape
    dims = ("nscans*10", "mframes")
    scaled = [("scale_factor", 0.01, np.float64), ("units", "degrees", None)]
    path = directory / "mod03" / "MOD03.A2024040.0210.061.2024040130000.hdf"
    path.parent.mkdir()
    return _write_look_alike(
        path,
        "MOD03",
        swath,
        "MODIS/Terra Geolocation Fields 5-Min L1A Swath 1km",
        {
            "Latitude": (swath.lat_1km, dims, [("units", "degrees", None)]),
            "Longitude": (swath.lon_1km, dims, [("units", "degrees", None)]),
            "Height": (np.zeros(shape, np.int16), dims, [("units", "meters", None)]),
            "SensorZenith": (np.full(shape, 3000, np.int16), dims, scaled),
            "SolarZenith": (np.full(shape, 6500, np.int16), dims, scaled),
        },
    )


def make_bad_granules(directory: str | Path) -> dict[str, Path]:
    """Every kind of input the reader must refuse, each in its own folder under ``directory``.

    Keys: not_hdf4_text, not_hdf4_png, truncated, corrupt, mod021km, mod03, missing_ev500
    (no EV_500_RefSB), missing_scales (EV_500_RefSB without reflectance_scales), night (Terra
    night pass, DAYNIGHTFLAG "Night", all 65535), misses_bay (swath centred 1500 km east),
    core_not_text (CoreMetadata.0 an integer), scales_not_numbers (reflectance_scales a string),
    scales_negative, no_geolocation (Latitude all NaN), all_flagged (over the bay, every pixel
    flagged as missing).
    All but the not-HDF4 files carry valid granule names, so only the content tells.
    """
    directory = Path(directory)
    small = fake_swath("Terra", "nadir", 4)
    bad = _not_hdf4(directory)
    good = make_granule(_subdir(directory, "good"), "Terra", "nadir")
    bad.update(_damaged(good, directory))
    bad.update(_malformed(gw.write_granule(_subdir(directory, "plain"), fake_reflectance(small),
                                           small, deflate=None), directory))
    bad["all_flagged"] = gw.write_granule(
        _subdir(directory, "all_flagged"), np.full_like(fake_reflectance(small), np.nan), small
    )
    bad["mod021km"] = _mod021km(directory, small)
    bad["mod03"] = _mod03(directory, small)
    refl = fake_reflectance(small)
    for key, omit in (
        ("missing_ev500", {"EV_500_RefSB"}),
        ("missing_scales", {"EV_500_RefSB.reflectance_scales"}),
    ):
        bad[key] = gw.write_granule(_subdir(directory, key), refl, small, omit=omit)
    night_start = datetime(2024, 2, 9, 13, 0, tzinfo=timezone.utc)
    night = fake_swath("Terra", "nadir", 8, start_time=night_start, ascending=True)
    bad["night"] = gw.write_granule(
        _subdir(directory, "night"), fake_reflectance(night), night, night_scans=True
    )
    # 1500 km east of the bay along its parallel: beyond the swath half-width (about 1170 km).
    lon_far = BAY_CENTRE[0] + math.degrees(1500.0 / 6371.0 / math.cos(math.radians(BAY_CENTRE[1])))
    far = fake_swath("Terra", "nadir", 8, target=(lon_far, BAY_CENTRE[1]))
    bad["misses_bay"] = gw.write_granule(
        _subdir(directory, "misses_bay"), fake_reflectance(far), far
    )
    return bad


def _subdir(directory: Path, name: str) -> Path:
    path = directory / name
    path.mkdir()
    return path


def main() -> None:
    """Write every test granule into a folder to look at: python -m tests.fake_granules DIR."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("directory", type=Path)
    args = parser.parse_args()
    for platform in START_TIMES:
        for position in POSITIONS:
            folder = args.directory / f"{platform.lower()}_{position}"
            folder.mkdir(parents=True, exist_ok=True)
            print(make_granule(folder, platform, position))
    for key, path in make_bad_granules(args.directory / "bad").items():
        print(f"{key}: {path}")


if __name__ == "__main__":
    main()
