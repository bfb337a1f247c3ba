"""Read a MODIS L1B 500 m granule (MOD02HKM / MYD02HKM, HDF4) and crop it onto the bay grid.

The product is identified from the file's content (its data sets and ECS metadata), never from
its name, so NASA archive, near-real-time and direct-broadcast (IMAPP, SeaDAS) files all work.
Only the whole scans and the frame range whose 1 km geolocation comes near the bay are read.
Steps: check the file -> identify -> metadata -> find the window -> read SI/UI windows ->
reflectance (``runtime.calibration``) -> restore Aqua band 6 (``runtime.band6``) -> 500 m
geolocation (``runtime.geolocation``) -> nearest neighbour onto the grid (``runtime.resample``;
band 6 measured pixels first).
Bad input raises the matching ``runtime.errors.BayIceError``.
"""

from __future__ import annotations

import logging
import re
import struct
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from pyhdf.error import HDF4Error
from pyhdf.SD import SD, SDC

from runtime import band6, calibration, grid, landmask, resample
from runtime.errors import (
    CorruptFile,
    InputNotFound,
    MissesBay,
    MissingDataset,
    NightGranule,
    NotHDF4,
    WrongProduct,
)
from runtime.geolocation import interpolate_500m, pixel_spacing_500m
from runtime.metadata import clean, odl_value

log = logging.getLogger(__name__)

HDF4_MAGIC = b"\x0e\x03\x13\x01"
_DD_BLOCK_HEADER = struct.Struct(">hi")  # number of descriptors, offset of the next block
_DD = struct.Struct(">HHii")  # tag, reference, offset, length
_DFTAG_NULL = 1
#: The two EV data sets and the bands they hold, in file order.
EV_DATASETS = {"EV_250_Aggr500_RefSB": (1, 2), "EV_500_RefSB": (3, 4, 5, 6, 7)}
GEO_DATASETS = ("Latitude", "Longitude")
REQUIRED_DATASETS = (
    *(name + suffix for name in EV_DATASETS for suffix in ("", "_Uncert_Indexes")),
    *GEO_DATASETS,
)
PLATFORM_PREFIX = {"Terra": "MOD", "Aqua": "MYD"}
#: Data sets that only other MODIS products carry, to say what a wrong file is.
OTHER_PRODUCTS = {
    "EV_1KM_RefSB": "a 1 km L1B granule (MOD021KM/MYD021KM)",
    "EV_500_Aggr1km_RefSB": "a 1 km L1B granule (MOD021KM/MYD021KM)",
    "EV_250_RefSB": "a 250 m L1B granule (MOD02QKM/MYD02QKM)",
    "SolarZenith": "a geolocation file (MOD03/MYD03)",
}
EXPECTED = "expected a MODIS L1B 500 m granule (MOD02HKM or MYD02HKM)"
#: 1 km geolocation within this distance of the grid's box decides which scans/frames are read.
WINDOW_MARGIN_KM = 10.0
#: Extra 1 km frames read on each side of the window (500 m positions at the window's last
#: frame are extrapolated; the margin keeps them away from the bay).
WINDOW_MARGIN_FRAMES = 2
ROWS_PER_SCAN_500M = 20
#: Index of band 6's first detector in the 490-element ``Dead Detector List``.
BAND6_DETECTOR_LIST_START = 140


@dataclass(frozen=True)
class GranuleInfo:
    """What a crop's sidecar says about its granule.

    ``granule_id`` is the talk's naming (MOD02HKM.A2024040.0210.061) built from the metadata,
    whatever the file's name (``source``). ``coverage`` is the fraction of the bay's water cells
    (``runtime.landmask``) with data in at least one band; NaN before resampling.
    """

    granule_id: str
    product: str
    platform: str
    start_time: datetime
    end_time: datetime | None
    day_night: str
    collection: str
    source: str
    coverage: float = float("nan")

    def to_dict(self) -> dict:
        """Plain JSON-ready data; times as ISO 8601 UTC strings."""
        out = asdict(self)
        for key in ("start_time", "end_time"):
            if out[key] is not None:
                out[key] = out[key].isoformat().replace("+00:00", "Z")
        return out


def start_time(record: dict) -> datetime | None:
    """The "start_time" of a crop sidecar (`GranuleInfo.to_dict`) or a dataset scene record,
    ISO 8601 with "Z" for UTC, as a datetime; None when it has none."""
    text = record.get("start_time")
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass(frozen=True)
class Crop:
    """L1B reflectance on the bay grid: float32 (7, ROWS, COLS), bands 1..7, NaN = no data."""

    reflectance: np.ndarray
    info: GranuleInfo


@dataclass(frozen=True)
class Swath:
    """The part of a granule read for the bay, in swath geometry."""

    reflectance: np.ndarray  # float32 (7, rows, cols), NaN = unusable
    xyz: np.ndarray  # float64 (rows, cols, 3) pixel centres, metres
    along_scan: np.ndarray  # float64 (rows, cols) pixel spacing, metres
    along_track: np.ndarray  # float64 (rows, cols)
    dead_band6_detectors: np.ndarray  # bool (20,)
    fill: np.ndarray  # bool (rows, cols): 65535 in every band (night or missing scan)
    window: tuple[slice, slice]  # the 500 m rows and columns of the granule read


def read_crop(path: str | Path) -> Crop:
    """The granule at ``path`` on the bay grid, with its metadata and water coverage."""
    path = Path(path)
    info, swath = read_swath(path)
    restored = band6.restore(swath.reflectance, swath.dead_band6_detectors)
    radius = resample.search_radius(swath.along_scan, swath.along_track)
    reflectance = resample.resample_nearest(swath.xyz, radius, swath.reflectance)
    reflectance[band6.BAND6] = resample.resample_measured_first(
        swath.xyz, radius, swath.reflectance[band6.BAND6], restored
    )
    has_data = np.isfinite(reflectance).any(axis=0)
    if not has_data.any():
        inside = resample.near_bay(swath.xyz, margin_km=0.0)
        if inside.any() and swath.fill[inside].all():
            raise NightGranule("no daytime data over the bay (night or missing scans)", path)
        if inside.any():
            raise CorruptFile("no valid data over the bay (every pixel flagged or out of range)",
                              path)
        raise MissesBay("the swath does not reach the bay", path)
    water = landmask.water_mask()
    coverage = float((has_data & water).sum() / water.sum())
    info = GranuleInfo(**{**asdict(info), "coverage": round(coverage, 6)})
    log.info("%s: %s, coverage of the bay's water %.1f %%", path, info.granule_id, 100 * coverage)
    return Crop(reflectance, info)


def read_swath(path: str | Path) -> tuple[GranuleInfo, Swath]:
    """Metadata and the bay's window of the granule in swath geometry (band 6 not restored)."""
    path = Path(path)
    check_file(path)
    try:
        sd = SD(str(path), SDC.READ)
    except HDF4Error as error:
        raise CorruptFile(f"HDF4 file cannot be opened ({error})", path) from None
    try:
        attributes = sd.attributes()
        info = read_info(sd, attributes, path)
        return info, _read_window(sd, attributes, path)
    except HDF4Error as error:
        raise CorruptFile(f"damaged or truncated HDF4 file ({error})", path) from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        # an attribute or data set of an unexpected type or size: the checks above name the
        # cases met so far; any other is still one line, not a traceback that stops a batch
        log.debug("reading %s", path, exc_info=True)
        raise CorruptFile(f"unexpected content ({type(error).__name__}: {error})", path) from None
    finally:
        sd.end()


def check_file(path: Path) -> None:
    """Raise InputNotFound/NotHDF4 unless ``path`` is a readable file starting like HDF4."""
    if not path.exists():
        raise InputNotFound("no such file", path)
    if path.is_dir():
        raise InputNotFound("is a directory, not a granule file", path)
    if not path.is_file():  # a FIFO or a device would block the read or never end
        raise InputNotFound("not a regular file", path)
    try:
        with path.open("rb") as file:
            magic = file.read(len(HDF4_MAGIC))
    except PermissionError:
        raise InputNotFound("permission denied", path) from None
    except OSError as error:
        raise InputNotFound(f"cannot be read ({error.strerror})", path) from None
    if magic != HDF4_MAGIC:
        raise NotHDF4(f"not an HDF4 file (starts with {magic.hex() or 'nothing'})", path)
    if not hdf4_complete(path):  # checked here: the HDF4 library may crash on such a file
        raise CorruptFile("truncated or damaged HDF4 file (a data descriptor points past its end)",
                          path)


def hdf4_complete(path: Path) -> bool:
    """False when an HDF4 file is still being written (or truncated): its header or data
    descriptor blocks are cut short, or a descriptor points past the end of the file.

    Pure Python, so an unfinished file never reaches the HDF4 library. Files that do not start
    like HDF4 count as complete: the reader will say what they are.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        magic = f.read(len(HDF4_MAGIC))
        if len(magic) < len(HDF4_MAGIC):
            return False
        if magic != HDF4_MAGIC:
            return True
        block = len(HDF4_MAGIC)
        visited = set()
        while block and block not in visited:
            visited.add(block)
            f.seek(block)
            header = f.read(_DD_BLOCK_HEADER.size)
            if len(header) < _DD_BLOCK_HEADER.size:
                return False
            count, block = _DD_BLOCK_HEADER.unpack(header)
            if count < 0 or block < 0 or block >= size:  # a damaged index, not a short file
                return False
            descriptors = f.read(count * _DD.size)
            if len(descriptors) < count * _DD.size:
                return False
            for tag, _ref, offset, length in _DD.iter_unpack(descriptors):
                if tag != _DFTAG_NULL and offset >= 0 and length > 0 and offset + length > size:
                    return False
    return True


def read_info(sd: SD, attributes: dict, path: Path) -> GranuleInfo:
    """Identify the product from the file's content and its ECS metadata (``attributes``)."""
    datasets = set(sd.datasets())
    core = attributes.get("CoreMetadata.0", "")
    if not isinstance(core, str):
        raise CorruptFile("global attribute CoreMetadata.0 is not text", path)
    core = clean(core)
    short_name = odl_value(core, "SHORTNAME")
    _identify(datasets, short_name, path)

    if not core:
        raise MissingDataset("global attribute CoreMetadata.0 (ECS metadata) is missing", path)
    platform = _platform(core, short_name, path)
    start = _time(core, "RANGEBEGINNING", path)
    if start is None:
        raise MissingDataset("CoreMetadata.0 has no RANGEBEGINNINGDATE/TIME", path)
    day_night = str(odl_value(core, "DAYNIGHTFLAG") or "unknown")
    if day_night == "Night" or attributes.get("Number of Day mode scans") == 0:
        raise NightGranule("night granule (no daytime scans)", path)
    collection = _collection(core, path)
    product = f"{PLATFORM_PREFIX[platform]}02HKM"
    return GranuleInfo(
        granule_id=f"{product}.A{start:%Y%j.%H%M}.{collection}",
        product=product,
        platform=platform,
        start_time=start,
        end_time=_time(core, "RANGEENDING", path),
        day_night=day_night,
        collection=collection,
        source=path.name,
    )


def _identify(datasets: set[str], short_name: object, path: Path) -> None:
    """Raise WrongProduct/MissingDataset unless the content is a 500 m L1B granule."""
    for name, what in OTHER_PRODUCTS.items():
        if name in datasets:
            raise WrongProduct(f"{what} (has {name}); {EXPECTED}", path)
    says_hkm = isinstance(short_name, str) and short_name.endswith("02HKM")
    if not (says_hkm or datasets & set(EV_DATASETS)):
        found = f"SHORTNAME {short_name}" if short_name else "no EV_500_RefSB/EV_250_Aggr500_RefSB"
        raise WrongProduct(f"not a 500 m L1B granule ({found}); {EXPECTED}", path)
    for name in REQUIRED_DATASETS:
        if name not in datasets:
            raise MissingDataset(f"required data set {name} is missing", path)


def _platform(core: str, short_name: object, path: Path) -> str:
    platform = odl_value(core, "ASSOCIATEDPLATFORMSHORTNAME")
    if platform not in PLATFORM_PREFIX and isinstance(short_name, str):
        platform = {v: k for k, v in PLATFORM_PREFIX.items()}.get(short_name[:3])
    if platform not in PLATFORM_PREFIX:
        raise WrongProduct(
            f"platform {platform!r} is not one of {', '.join(PLATFORM_PREFIX)}; {EXPECTED}", path
        )
    return str(platform)


def _time(core: str, prefix: str, path: Path) -> datetime | None:
    """UTC time from <prefix>DATE and <prefix>TIME ("2023-01-23", "02:30:00.000000")."""
    date, time = odl_value(core, f"{prefix}DATE"), odl_value(core, f"{prefix}TIME")
    if not (isinstance(date, str) and isinstance(time, str)):
        return None
    whole, _, fraction = time.partition(".")
    try:
        moment = datetime.strptime(f"{date} {whole}", "%Y-%m-%d %H:%M:%S")
        micro = round(float(f"0.{fraction}") * 1e6) if fraction else 0
    except ValueError:
        raise CorruptFile(
            f"CoreMetadata.0 has an unreadable {prefix} time {date} {time}", path
        ) from None
    return moment.replace(tzinfo=timezone.utc) + timedelta(microseconds=micro)


def _collection(core: str, path: Path) -> str:
    """Three-digit collection ("061") from VERSIONID, else from LOCALGRANULEID."""
    version = odl_value(core, "VERSIONID")
    if isinstance(version, int):
        return f"{version:03d}"
    match = re.search(r"\.A\d{7}\.\d{4}\.(\d{3})\.", str(odl_value(core, "LOCALGRANULEID")))
    if match:
        return match.group(1)
    raise MissingDataset("CoreMetadata.0 has no VERSIONID (collection)", path)


def _geolocation(sd: SD, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """1 km Latitude and Longitude, float64 with NaN outside their valid ranges."""
    out = []
    for name, limit in zip(GEO_DATASETS, (90.0, 180.0), strict=True):
        values = _read(sd, name, np.s_[:], path).astype(np.float64)
        values[~(np.abs(values) <= limit)] = np.nan
        out.append(values)
    lat, lon = out
    if lat.shape != lon.shape or lat.ndim != 2 or lat.shape[0] % 10:
        raise WrongProduct(f"Latitude/Longitude of shape {lat.shape} are not whole scans", path)
    if not (np.isfinite(lat) & np.isfinite(lon)).any():
        raise CorruptFile("Latitude/Longitude hold no valid position", path)
    return lat, lon


def _window(lat: np.ndarray, lon: np.ndarray, path: Path) -> tuple[slice, slice]:
    """Whole scans (1 km rows) and 1 km frames whose geolocation comes near the grid."""
    dlat = WINDOW_MARGIN_KM / 111.0
    dlon = dlat / np.cos(np.radians(grid.NORTH + dlat))
    with np.errstate(invalid="ignore"):
        near = (
            (lat >= grid.SOUTH - dlat)
            & (lat <= grid.NORTH + dlat)
            & (lon >= grid.WEST - dlon)
            & (lon <= grid.EAST + dlon)
        )
    if not near.any():
        raise MissesBay("the swath does not reach the bay", path)
    rows = np.flatnonzero(near.any(axis=1))
    frames = np.flatnonzero(near.any(axis=0))
    first_scan, last_scan = int(rows[0]) // 10, int(rows[-1]) // 10
    f0 = max(int(frames[0]) - WINDOW_MARGIN_FRAMES, 0)
    f1 = min(int(frames[-1]) + 1 + WINDOW_MARGIN_FRAMES, lat.shape[1])
    return slice(10 * first_scan, 10 * (last_scan + 1)), slice(f0, f1)


def _read_window(sd: SD, attributes: dict, path: Path) -> Swath:
    lat, lon = _geolocation(sd, path)
    rows_1km, frames = _window(lat, lon, path)
    rows = slice(2 * rows_1km.start, 2 * rows_1km.stop)
    cols = slice(2 * frames.start, 2 * frames.stop)

    bands, fill = {}, True
    for name, numbers in EV_DATASETS.items():
        data = sd.select(name)
        _check_ev_shape(data, name, lat.shape, path)
        si = _read(sd, name, np.s_[:, rows, cols], path)
        ui = _read(sd, f"{name}_Uncert_Indexes", np.s_[:, rows, cols], path)
        fill &= (si == calibration.SI_FILL).all(axis=0)
        attrs = data.attributes()
        for number in numbers:
            index = _band_index(attrs, name, number, path)
            scale, offset = _scale_offset(attrs, name, index, path)
            bands[number] = calibration.reflectance(si[index], ui[index], scale, offset)
            if number == 6:
                dead = _dead_band6_detectors(attributes, si[index])

    lat_w, lon_w = lat[rows_1km, frames], lon[rows_1km, frames]
    along_scan, along_track = pixel_spacing_500m(lat_w, lon_w)
    return Swath(
        reflectance=np.stack([bands[b] for b in grid.BANDS]),
        xyz=interpolate_500m(lat_w, lon_w),
        along_scan=along_scan,
        along_track=along_track,
        dead_band6_detectors=dead,
        fill=fill,
        window=(rows, cols),
    )


def _read(sd: SD, name: str, key: tuple | slice, path: Path) -> np.ndarray:
    """``sd.select(name)[key]``; a failed read (damaged compressed chunk) is a CorruptFile."""
    try:
        return sd.select(name)[key]
    except (HDF4Error, ValueError) as error:
        raise CorruptFile(f"cannot read {name} ({error})", path) from None


def _check_ev_shape(data, name: str, geo_shape: tuple[int, int], path: Path) -> None:
    shape = tuple(data.info()[2])
    nbands = len(EV_DATASETS[name])
    if shape != (nbands, 2 * geo_shape[0], 2 * geo_shape[1]):
        raise WrongProduct(
            f"{name} has shape {shape}, expected ({nbands}, {2 * geo_shape[0]}, "
            f"{2 * geo_shape[1]}) for Latitude {geo_shape}; {EXPECTED}",
            path,
        )


def _band_index(attrs: dict, name: str, number: int, path: Path) -> int:
    """Position of MODIS band ``number`` in the data set, from its ``band_names`` attribute."""
    names = [n.strip() for n in clean(str(attrs.get("band_names", ""))).split(",")]
    if str(number) not in names:
        raise MissingDataset(f"{name} has no band {number} (band_names {names})", path)
    return names.index(str(number))


def _scale_offset(attrs: dict, name: str, index: int, path: Path) -> tuple[float, float]:
    try:
        scale = np.atleast_1d(attrs["reflectance_scales"])[index]
        offset = np.atleast_1d(attrs["reflectance_offsets"])[index]
    except (KeyError, IndexError):
        raise MissingDataset(f"{name} lacks reflectance_scales/reflectance_offsets", path) from None
    try:
        scale, offset = float(scale), float(offset)
    except (TypeError, ValueError):
        raise CorruptFile(f"{name} reflectance_scales/offsets are not numbers", path) from None
    if not (np.isfinite(scale) and scale > 0 and np.isfinite(offset)):
        raise CorruptFile(f"{name} has reflectance scale {scale:g} and offset {offset:g}; "
                          "expected a positive scale", path)
    return scale, offset


def _dead_band6_detectors(attributes: dict, si: np.ndarray) -> np.ndarray:
    """Band-6 detectors to restore: flagged in ``Dead Detector List`` or dead in every row read.

    Row ``scan * 20 + k`` of the window belongs to detector ``k`` (the window starts on a scan).
    """
    per_detector = si.reshape(-1, ROWS_PER_SCAN_500M, si.shape[-1])
    dead = (per_detector == calibration.SI_DEAD_DETECTOR).all(axis=(0, 2))
    flags = np.atleast_1d(np.asarray(attributes.get("Dead Detector List", [])))
    start = BAND6_DETECTOR_LIST_START
    if flags.dtype.kind in "iuf" and flags.size >= start + ROWS_PER_SCAN_500M:
        dead |= flags.ravel()[start : start + ROWS_PER_SCAN_500M] == 1
    return dead
