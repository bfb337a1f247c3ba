"""Write faithful MOD02HKM / MYD02HKM (MODIS L1B 500 m, Collection 6/6.1) granules with pyhdf.

Layout, types and attributes follow docs/modis-l1b-500m.md sections 2, 4, 5, 6, 7 and 10: the EV
SDSs with their uncertainty indexes and Samples_Used, Band_250M/Band_500M, 1 km Latitude/Longitude,
the thermal/DC-restore QA SDSs, the global attributes a reader may look at, the ECS metadata
(CoreMetadata.0, ArchiveMetadata.0, StructMetadata.0) and the per-scan "Level 1B Swath Metadata"
Vdata. Attribute types are set explicitly (float32 scales, uint16/uint8/int8 valid ranges).

What the writer models:
- Scaled integers from L1B reflectance (rho * cos(solar zenith)): SI = round(refl / scale +
  offset). Per-granule scales follow the production code's relations (doc 3.2): equal offsets for
  reflectance, radiance and counts; reflectance scale proportional to d^2 (Earth-Sun distance of
  the granule's middle); radiance scale = reflectance scale * band-mean E_sun/pi / d^2.
- Special values (doc 4.1): NaN -> 65534 (L1A DN missing); above the top of the scale -> 65533
  (saturated; band 2 -> 65528, the aggregation failure its 250 m saturation becomes); below the
  scale -> 65530; dead detectors -> 65531 in every scan (listed in `Dead Detector List`);
  night-mode or missing scans -> 65535 with UI 255. Every other special value has UI 15.
- Chunked deflate compression, one chunk per band and scan, so a reader can read a window without
  decompressing the whole SDS (HDF4 SDsetchunk through ctypes: pyhdf does not wrap it).
- Atomic writes: a temporary name in the target folder, then os.replace.

Not modelled: the HDF-EOS Vgroup structure (GDAL sees a plain HDF4 file; pyhdf and satpy do not
care), the per-band QA percentages, LUT serial numbers and the other QA global attributes.

Public API:
    write_granule(directory, reflectance, swath, ...) -> Path     the granule file
    granule_filename(platform, start_time, ...) -> str            the producer's naming (doc 6)
    l1b_reflectance(rho, swath) -> ndarray                         rho * cos(solar zenith)
    calibration_for(time) -> Calibration                           per-granule scales and offsets
    encode(reflectance, calibration) -> (si, ui)                   SI and uncertainty indexes
    chunk_shape(sds) -> tuple | None                               chunk lengths of an open SDS
    NAME_STYLES, AQUA_BAND6_DEAD_DETECTORS; helpers for look-alike products: write_sds,
    set_attribute, core_metadata, archive_metadata, struct_metadata, odl_document, odl_object
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyhdf
from pyhdf.HDF import HC, HDF
from pyhdf.SD import SD, SDC
from pyhdf.VS import VS  # noqa: F401  (HDF.vstart needs pyhdf.VS imported)

from runtime.solar import cos_solar_zenith, earth_sun_distance
from training.swath import (
    DETECTORS_1KM,
    DETECTORS_500M,
    FRAMES_1KM,
    SAMPLES_500M,
    Swath,
)

log = logging.getLogger(__name__)

SWATH_NAME = "MODIS_SWATH_Type_L1B"
NAME_STYLES = ("nasa", "nrt", "imapp", "seadas")
BANDS = (1, 2, 3, 4, 5, 6, 7)

SI_MAX = 32767
SI_FILL = 65535  # night scans, missing L1A scans
SI_MISSING = 65534  # L1A DN missing within a scan
SI_SATURATED = 65533
SI_DEAD = 65531
SI_BELOW_RANGE = 65530
SI_AGGREGATION_FAILED = 65528
UI_SPECIAL = 15
UI_FILL = 255

#: Aqua band-6 detectors (product order, 0-based) written as dead by default: 15 of 20, as
#: commonly quoted; the real list changes with time and is read from `Dead Detector List`.
AQUA_BAND6_DEAD_DETECTORS = (0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 13, 14, 16, 17, 19)

# Calibration tables, band order 1..7. dn** range per band (counts) and m1 (reflectance per dn**
# at 1 AU) chosen so that reflectance scales fall in 2e-5..6e-5 and offsets near 317 (doc 3.2).
_DN_MIN = np.array([-40.0, -40.0, -35.0, -38.0, -45.0, -30.0, -30.0])
_DN_MAX = np.array([4095.0, 4095.0, 4095.0, 4095.0, 4095.0, 4095.0, 4095.0])
_M1 = np.array([4.15e-4, 2.47e-4, 4.57e-4, 3.60e-4, 2.69e-4, 2.22e-4, 1.86e-4])
#: Band-mean E_sun / pi (W m-2 um-1 sr-1) of the 22 reflective bands in the 330-detector order
#: 1, 2, 3..12, 13lo, 13hi, 14lo, 14hi, 15..19, 26 (doc 2.3 / 3.2; approximate).
_ESUN_OVER_PI = {
    1: 511.46,
    2: 316.2,
    3: 655.3,
    4: 590.1,
    5: 146.2,
    6: 75.1,
    7: 25.3,
    8: 541.0,
    9: 605.0,
    10: 620.0,
    11: 592.0,
    12: 589.0,
    "13lo": 484.0,
    "13hi": 484.0,
    "14lo": 471.0,
    "14hi": 471.0,
    15: 407.0,
    16: 312.0,
    17: 287.0,
    18: 270.0,
    19: 268.0,
    26: 115.0,
}
_DETECTORS = {1: 40, 2: 40, 3: 20, 4: 20, 5: 20, 6: 20, 7: 20}
#: First index of bands 1..7 in the 490-detector lists (bands 1,2: 40 detectors; 3..7: 20).
_DETECTOR_LIST_START = {1: 0, 2: 40, 3: 80, 4: 100, 5: 120, 6: 140, 7: 160}
_SPECIFIED_UNCERTAINTY = 1.5  # percent, UI 0
_UI_SCALING_FACTOR = 7.0  # percent = specified * exp(UI / scaling)

_SHORT = {"Terra": "MOD02HKM", "Aqua": "MYD02HKM"}


@dataclass(frozen=True)
class Calibration:
    """Per-granule calibration attributes, band order 1..7 (float32 arrays of 7)."""

    earth_sun_distance: float
    reflectance_scales: np.ndarray
    reflectance_offsets: np.ndarray
    radiance_scales: np.ndarray
    counts_scales: np.ndarray
    esun_over_pi_detectors: np.ndarray  # float32 (330,)


def _esun_detectors() -> np.ndarray:
    """E_sun/pi per reflective detector (330), with a small detector-to-detector spread."""
    values = []
    for band, mean in _ESUN_OVER_PI.items():
        n = _DETECTORS.get(band, 10) if isinstance(band, int) else 10
        spread = 1 + 0.002 * np.sin(np.arange(n) * 1.7 + len(values))
        values.append(mean * spread)
    return np.concatenate(values).astype(np.float32)


def calibration_for(time: datetime) -> Calibration:
    """Scales and offsets of a granule observed at ``time`` (its middle scan), doc 3.2."""
    d = float(earth_sun_distance(time))
    counts_scale = (_DN_MAX - _DN_MIN) / SI_MAX
    offsets = -SI_MAX * _DN_MIN / (_DN_MAX - _DN_MIN)
    refl_scale = _M1 * d**2 * counts_scale
    esun = _esun_detectors()
    band_esun = np.array(
        [esun[start : start + _DETECTORS[b]].mean() for b, start in _DETECTOR_LIST_START.items()]
    )
    return Calibration(
        earth_sun_distance=d,
        reflectance_scales=refl_scale.astype(np.float32),
        reflectance_offsets=offsets.astype(np.float32),
        radiance_scales=(refl_scale * band_esun / d**2).astype(np.float32),
        counts_scales=counts_scale.astype(np.float32),
        esun_over_pi_detectors=esun,
    )


def l1b_reflectance(rho: np.ndarray, swath: Swath) -> np.ndarray:
    """What the file stores for reflectance factors ``rho`` (7, 20n, 2708): rho * cos(sza).

    The solar zenith comes from each scan's time and each pixel's position; pixels where the
    sun is below the horizon get 0.
    """
    mu = np.clip(cos_solar_zenith(swath.pixel_times(), swath.lon, swath.lat), 0.0, None)
    return rho.astype(np.float32) * mu.astype(np.float32)


def encode(reflectance: np.ndarray, calibration: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """Scaled integers (uint16) and uncertainty indexes (uint8) of bands 1..7 (7, rows, cols).

    NaN -> 65534, above the scale -> 65533 (band 2: 65528), below it -> 65530, all with UI 15.
    Valid pixels get a UI that grows for dark pixels (uncertainty about 1.6 % + 0.02 / refl).
    """
    si = np.empty(reflectance.shape, dtype=np.uint16)
    ui = np.empty(reflectance.shape, dtype=np.uint8)
    for b in range(len(BANDS)):
        refl = reflectance[b].astype(np.float32)
        value = np.rint(
            refl / calibration.reflectance_scales[b] + calibration.reflectance_offsets[b]
        )
        with np.errstate(invalid="ignore"):
            over, under = value > SI_MAX, value < 0
        saturated = SI_AGGREGATION_FAILED if BANDS[b] == 2 else SI_SATURATED
        band_si = np.where(over, saturated, np.where(under, SI_BELOW_RANGE, value))
        band_si = np.where(np.isnan(refl), SI_MISSING, band_si)
        si[b] = band_si
        percent = 1.6 + 0.02 / np.maximum(np.nan_to_num(refl), 1e-3)
        index = np.rint(_UI_SCALING_FACTOR * np.log(percent / _SPECIFIED_UNCERTAINTY))
        ui[b] = np.where(si[b] > SI_MAX, UI_SPECIAL, np.clip(index, 0, UI_SPECIAL - 1))
    return si, ui


def granule_filename(
    platform: str,
    start_time: datetime,
    *,
    collection: int = 61,
    name_style: str = "nasa",
    production_time: datetime | None = None,
) -> str:
    """File name of a 500 m granule as its producer writes it (doc 6).

    nasa   MOD02HKM.A2024040.0210.061.2024040130000.hdf   (production time last)
    nrt    MOD02HKM.A2024040.0210.061.NRT.hdf
    imapp  t1.24040.0210.500m.hdf (Terra) / a1.24040.0210.500m.hdf (Aqua)
    seadas T2024040021000.L1B_HKM / A2024040021000.L1B_HKM
    """
    if name_style not in NAME_STYLES:
        raise ValueError(
            f"unknown name style {name_style!r}; choose one of {', '.join(NAME_STYLES)}"
        )
    short = _SHORT[platform]
    t = start_time
    if name_style == "nasa":
        produced = production_time or _default_production_time(start_time)
        return f"{short}.A{t:%Y%j.%H%M}.{collection:03d}.{produced:%Y%j%H%M%S}.hdf"
    if name_style == "nrt":
        return f"{short}.A{t:%Y%j.%H%M}.{collection:03d}.NRT.hdf"
    letter = platform[0].lower()
    if name_style == "imapp":
        return f"{letter}1.{t:%y%j.%H%M}.500m.hdf"
    return f"{letter.upper()}{t:%Y%j%H%M%S}.L1B_HKM"


def _default_production_time(start_time: datetime) -> datetime:
    """Archive products are made hours after observation: 10 h 50 min later, whole minutes."""
    return (start_time + timedelta(hours=10, minutes=50)).replace(second=0, microsecond=0)


# --------------------------------------------------------------------------------------------
# Low-level HDF4 helpers (also used by the test fixtures to build look-alike products)

_HDF_TYPES = {
    np.dtype(np.uint8): SDC.UINT8,
    np.dtype(np.int8): SDC.INT8,
    np.dtype(np.uint16): SDC.UINT16,
    np.dtype(np.int16): SDC.INT16,
    np.dtype(np.int32): SDC.INT32,
    np.dtype(np.uint32): SDC.UINT32,
    np.dtype(np.float32): SDC.FLOAT32,
    np.dtype(np.float64): SDC.FLOAT64,
}


class _ChunkDef(ctypes.Structure):
    """HDF4's HDF_CHUNK_DEF union as 96 int32 words (chunk lengths, comp type, model, info)."""

    _fields_ = (("words", ctypes.c_int32 * 96),)


@functools.cache
def _mfhdf() -> ctypes.CDLL:
    """The HDF4 library that pyhdf itself loaded (wheel-bundled or system)."""
    libs = Path(pyhdf.__file__).parent.parent / "pyhdf.libs"
    bundled = sorted(libs.glob("libmfhdf*"))
    lib = ctypes.CDLL(str(bundled[0]) if bundled else "libmfhdf.so.0")
    lib.SDsetchunk.argtypes = (ctypes.c_int32, _ChunkDef, ctypes.c_int32)
    lib.SDsetchunk.restype = ctypes.c_int
    lib.SDgetchunkinfo.argtypes = (
        ctypes.c_int32,
        ctypes.POINTER(_ChunkDef),
        ctypes.POINTER(ctypes.c_int32),
    )
    lib.SDgetchunkinfo.restype = ctypes.c_int
    return lib


_HDF_CHUNK_AND_COMP = 0x3
_COMP_CODE_DEFLATE = 4


def _set_chunked_deflate(sds, chunk: Sequence[int], level: int) -> None:
    """Chunk an SDS (before writing data) and deflate each chunk on its own."""
    definition = _ChunkDef()
    definition.words[0 : len(chunk)] = list(chunk)
    definition.words[32] = _COMP_CODE_DEFLATE
    definition.words[34] = level
    if _mfhdf().SDsetchunk(sds._id, definition, _HDF_CHUNK_AND_COMP) != 0:
        raise OSError(f"SDsetchunk failed for chunk {tuple(chunk)}")


def chunk_shape(sds) -> tuple[int, ...] | None:
    """Chunk lengths of an open pyhdf SDS, or None when it is stored contiguously."""
    definition, flags = _ChunkDef(), ctypes.c_int32()
    if _mfhdf().SDgetchunkinfo(sds._id, ctypes.byref(definition), ctypes.byref(flags)) != 0:
        raise OSError("SDgetchunkinfo failed")
    if flags.value == 0:
        return None
    return tuple(definition.words[: len(sds.info()[2])])


def set_attribute(obj, name: str, value, dtype=None) -> None:
    """Set an HDF attribute with an explicit type: str -> CHAR8, else numpy ``dtype``."""
    if isinstance(value, str):
        obj.attr(name).set(SDC.CHAR8, value)
        return
    array = np.atleast_1d(np.asarray(value, dtype=dtype))
    values = array.tolist()
    obj.attr(name).set(_HDF_TYPES[array.dtype], values if len(values) > 1 else values[0])


def write_sds(
    sd: SD,
    name: str,
    data: np.ndarray,
    dims: Sequence[str],
    attributes: Sequence[tuple[str, object, object]] = (),
    *,
    fill=None,
    chunk: Sequence[int] | None = None,
    deflate: int | None = None,
    omit: Collection[str] = (),
) -> None:
    """Create SDS ``name`` with HDF-EOS dimension names, fill value, attributes and data.

    ``attributes`` are (name, value, numpy dtype or None for text). With ``deflate`` and
    ``chunk`` the SDS is stored in chunks, each compressed with deflate at that level.
    ``omit`` names SDSs ("name") or attributes ("name.attribute") to leave out (test files).
    """
    if name in omit:
        return
    attributes = [a for a in attributes if f"{name}.{a[0]}" not in omit]
    sds = sd.create(name, _HDF_TYPES[data.dtype], data.shape)
    try:
        for axis, dim in enumerate(dims):
            sds.dim(axis).setname(f"{dim}:{SWATH_NAME}")
        if fill is not None:
            sds.setfillvalue(fill.item() if isinstance(fill, np.generic) else fill)
        if deflate is not None and chunk is not None:
            _set_chunked_deflate(sds, chunk, deflate)
        for attr_name, value, dtype in attributes:
            set_attribute(sds, attr_name, value, dtype)
        sds[:] = data
    finally:
        sds.endaccess()


def odl(node: tuple, depth: int = 0) -> list[str]:
    """ECS ODL text lines (SDP-toolkit layout) of one GROUP or OBJECT node.

    A node is (kind, name, items); an item is a (keyword, formatted value) pair or a nested node.
    """
    kind, name, items = node
    pad = "  " * depth
    lines = [f"{pad}{kind:<23}= {name}"]
    for item in items:
        if len(item) == 2:
            lines.append(f"{pad}  {item[0]:<21}= {item[1]}")
        else:
            lines.append("")
            lines.extend(odl(item, depth + 1))
    if kind == "GROUP":
        lines.append("")
    lines.append(f"{pad}{'END_' + kind:<23}= {name}")
    return lines


def odl_document(root: tuple) -> str:
    """A whole metadata string: one top-level GROUP (a MASTERGROUP) and the closing END."""
    kind, name, items = root
    return "\n".join([*odl((kind, name, [("GROUPTYPE", "MASTERGROUP"), *items])), "", "END", ""])


def _format(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_format(v) for v in value) + ")"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def odl_object(name: str, value, klass: str | None = None) -> tuple:
    """An OBJECT node holding one value (or a tuple of values), optionally in a CLASS."""
    items = [("CLASS", f'"{klass}"')] if klass else []
    count = len(value) if isinstance(value, tuple) else 1
    items += [("NUM_VAL", str(count)), ("VALUE", _format(value))]
    return ("OBJECT", name, items)


# --------------------------------------------------------------------------------------------
# Metadata


def gring(lat: np.ndarray, lon: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The four corners of a swath's 1 km geolocation, clockwise seen from above (ECS rule)."""
    rows, cols = lat.shape
    corners = [(0, 0), (0, cols - 1), (rows - 1, cols - 1), (rows - 1, 0)]
    lats = [float(lat[r, c]) for r, c in corners]
    lons = [float(lon[r, c]) for r, c in corners]
    # Shoelace on (lon, lat): a positive area means counterclockwise, so reverse.
    area = sum(lons[k] * lats[(k + 1) % 4] - lons[(k + 1) % 4] * lats[k] for k in range(4))
    if area > 0:
        lats, lons = lats[::-1], lons[::-1]
    return tuple(round(v, 6) for v in lons), tuple(round(v, 6) for v in lats)


def core_metadata(
    short_name: str,
    platform: str,
    start: datetime,
    end: datetime,
    *,
    collection: int,
    local_granule_id: str,
    day_night: str,
    production_time: datetime,
    lat: np.ndarray,
    lon: np.ndarray,
    parameters: Sequence[str],
    inputs: Sequence[str] = (),
    near_real_time: bool = False,
    equator_crossing: tuple[datetime, float, int] | None = None,
) -> str:
    """CoreMetadata.0 (INVENTORYMETADATA) of a MODIS swath product (doc 5.1).

    ``equator_crossing`` (time, longitude, orbit number) adds ORBITCALCULATEDSPATIALDOMAIN.
    """
    gring_lon, gring_lat = gring(lat, lon)
    orbit_domain = []
    if equator_crossing is not None:
        when, crossing_lon, orbit_number = equator_crossing
        orbit_domain = [
            (
                "GROUP",
                "ORBITCALCULATEDSPATIALDOMAIN",
                [
                    (
                        "OBJECT",
                        "ORBITCALCULATEDSPATIALDOMAINCONTAINER",
                        [
                            ("CLASS", '"1"'),
                            odl_object("EQUATORCROSSINGDATE", f"{when:%Y-%m-%d}", "1"),
                            odl_object("EQUATORCROSSINGTIME", f"{when:%H:%M:%S.%f}", "1"),
                            odl_object("ORBITNUMBER", orbit_number, "1"),
                            odl_object("EQUATORCROSSINGLONGITUDE", round(crossing_lon, 6), "1"),
                        ],
                    )
                ],
            )
        ]
    measured = [
        (
            "OBJECT",
            "MEASUREDPARAMETERCONTAINER",
            [
                ("CLASS", f'"{k}"'),
                (
                    "GROUP",
                    "QASTATS",
                    [
                        odl_object("QAPERCENTMISSINGDATA", 0, str(k)),
                        odl_object("QAPERCENTOUTOFBOUNDSDATA", 0, str(k)),
                    ],
                ),
                (
                    "GROUP",
                    "QAFLAGS",
                    [
                        odl_object("AUTOMATICQUALITYFLAG", "Passed", str(k)),
                        odl_object("AUTOMATICQUALITYFLAGEXPLANATION", "Run was successful", str(k)),
                    ],
                ),
                odl_object("PARAMETERNAME", name, str(k)),
            ],
        )
        for k, name in enumerate(parameters, start=1)
    ]
    reprocessing = "Near Real Time" if near_real_time else "processed once"
    platform_container = (
        "OBJECT",
        "ASSOCIATEDPLATFORMINSTRUMENTSENSORCONTAINER",
        [
            ("CLASS", '"1"'),
            odl_object("ASSOCIATEDSENSORSHORTNAME", "MODIS", "1"),
            odl_object("ASSOCIATEDPLATFORMSHORTNAME", platform, "1"),
            odl_object("ASSOCIATEDINSTRUMENTSHORTNAME", "MODIS", "1"),
        ],
    )
    gpolygon = (
        "GROUP",
        "GPOLYGON",
        [
            (
                "OBJECT",
                "GPOLYGONCONTAINER",
                [
                    ("CLASS", '"1"'),
                    ("GROUP", "GRING", [odl_object("EXCLUSIONGRINGFLAG", "N", "1")]),
                    (
                        "GROUP",
                        "GRINGPOINT",
                        [
                            odl_object("GRINGPOINTLONGITUDE", gring_lon, "1"),
                            odl_object("GRINGPOINTLATITUDE", gring_lat, "1"),
                            odl_object("GRINGPOINTSEQUENCENO", (1, 2, 3, 4), "1"),
                        ],
                    ),
                ],
            )
        ],
    )
    root = (
        "GROUP",
        "INVENTORYMETADATA",
        [
            (
                "GROUP",
                "ECSDATAGRANULE",
                [
                    odl_object("REPROCESSINGPLANNED", "further update is anticipated"),
                    odl_object("REPROCESSINGACTUAL", reprocessing),
                    odl_object("LOCALGRANULEID", local_granule_id),
                    odl_object("DAYNIGHTFLAG", day_night),
                    odl_object("PRODUCTIONDATETIME", f"{production_time:%Y-%m-%dT%H:%M:%S}.000Z"),
                    odl_object("LOCALVERSIONID", "6.2.1_obcal"),
                ],
            ),
            ("GROUP", "MEASUREDPARAMETER", measured),
            *orbit_domain,
            (
                "GROUP",
                "COLLECTIONDESCRIPTIONCLASS",
                [odl_object("SHORTNAME", short_name), odl_object("VERSIONID", collection)],
            ),
            ("GROUP", "INPUTGRANULE", [odl_object("INPUTPOINTER", tuple(inputs))]),
            (
                "GROUP",
                "SPATIALDOMAINCONTAINER",
                [("GROUP", "HORIZONTALSPATIALDOMAINCONTAINER", [gpolygon])],
            ),
            (
                "GROUP",
                "RANGEDATETIME",
                [
                    odl_object("RANGEENDINGDATE", f"{end:%Y-%m-%d}"),
                    odl_object("RANGEENDINGTIME", f"{end:%H:%M:%S.%f}"),
                    odl_object("RANGEBEGINNINGDATE", f"{start:%Y-%m-%d}"),
                    odl_object("RANGEBEGINNINGTIME", f"{start:%H:%M:%S.%f}"),
                ],
            ),
            ("GROUP", "PGEVERSIONCLASS", [odl_object("PGEVERSION", "6.2.1")]),
            ("GROUP", "ASSOCIATEDPLATFORMINSTRUMENTSENSOR", [platform_container]),
        ],
    )
    return odl_document(root)


def bounding_rectangle(lat: np.ndarray, lon: np.ndarray) -> dict[str, float]:
    """North/south/east/west limits of the valid geolocation (no antimeridian handling)."""
    ok = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    return {
        "NORTH": float(lat[ok].max()),
        "SOUTH": float(lat[ok].min()),
        "EAST": float(lon[ok].max()),
        "WEST": float(lon[ok].min()),
    }


def archive_metadata(long_name: str, lat: np.ndarray, lon: np.ndarray, package: str) -> str:
    """ArchiveMetadata.0 (ARCHIVEDMETADATA): bounding rectangle, algorithm, long name."""
    box = bounding_rectangle(lat, lon)
    root = (
        "GROUP",
        "ARCHIVEDMETADATA",
        [
            (
                "GROUP",
                "BOUNDINGRECTANGLE",
                [
                    odl_object(f"{side}BOUNDINGCOORDINATE", round(box[side], 6))
                    for side in ("NORTH", "SOUTH", "EAST", "WEST")
                ],
            ),
            odl_object("ALGORITHMPACKAGEACCEPTANCEDATE", "1998-01-01"),
            odl_object("ALGORITHMPACKAGEMATURITYCODE", "Normal"),
            odl_object("ALGORITHMPACKAGENAME", package),
            odl_object("ALGORITHMPACKAGEVERSION", "6.2.1"),
            odl_object("INSTRUMENTNAME", "Moderate Resolution Imaging SpectroRadiometer"),
            odl_object("PROCESSINGCENTER", "MODAPS"),
            odl_object("DESCRREVISION", "6.1"),
            odl_object("LONGNAME", long_name),
            odl_object("PROCESSINGENVIRONMENT", "Linux x86_64"),
        ],
    )
    return odl_document(root)


def struct_metadata(
    dimensions: Sequence[tuple[str, int]],
    dimension_maps: Sequence[tuple[str, str, int, int]],
    geo_fields: Sequence[tuple[str, str, Sequence[str]]],
    data_fields: Sequence[tuple[str, str, Sequence[str]]],
) -> str:
    """StructMetadata.0: the HDF-EOS2 swath definition (tab-indented, doc 5.1)."""
    lines = ["GROUP=SwathStructure", "\tGROUP=SWATH_1", f'\t\tSwathName="{SWATH_NAME}"']

    def group(name: str, prefix: str, entries: list[list[str]]) -> None:
        lines.append(f"\t\tGROUP={name}")
        for k, entry in enumerate(entries, start=1):
            lines.append(f"\t\t\tOBJECT={prefix}_{k}")
            lines.extend(f"\t\t\t\t{text}" for text in entry)
            lines.append(f"\t\t\tEND_OBJECT={prefix}_{k}")
        lines.append(f"\t\tEND_GROUP={name}")

    def dim_list(dims: Sequence[str]) -> str:
        return "DimList=(" + ",".join(f'"{d}"' for d in dims) + ")"

    group(
        "Dimension",
        "Dimension",
        [[f'DimensionName="{name}"', f"Size={size}"] for name, size in dimensions],
    )
    group(
        "DimensionMap",
        "DimensionMap",
        [
            [
                f'GeoDimension="{geo}"',
                f'DataDimension="{data}"',
                f"Offset={off}",
                f"Increment={inc}",
            ]
            for geo, data, off, inc in dimension_maps
        ],
    )
    group("IndexDimensionMap", "IndexDimensionMap", [])
    group(
        "GeoField",
        "GeoField",
        [[f'GeoFieldName="{n}"', f"DataType={t}", dim_list(d)] for n, t, d in geo_fields],
    )
    group(
        "DataField",
        "DataField",
        [[f'DataFieldName="{n}"', f"DataType={t}", dim_list(d)] for n, t, d in data_fields],
    )
    lines += ["\t\tGROUP=MergedFields", "\t\tEND_GROUP=MergedFields", "\tEND_GROUP=SWATH_1"]
    lines += ["END_GROUP=SwathStructure", "GROUP=GridStructure", "END_GROUP=GridStructure"]
    lines += ["GROUP=PointStructure", "END_GROUP=PointStructure", "END", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The 500 m granule

_EV = {
    "EV_250_Aggr500_RefSB": (
        (1, 2),
        "Band_250M",
        "Earth View 250M Aggregated 500M Reflective Solar Bands",
    ),
    "EV_500_RefSB": ((3, 4, 5, 6, 7), "Band_500M", "Earth View 500M Reflective Solar Bands"),
}
_ROWS, _COLS = "20*nscans", "2*Max_EV_frames"
_GEO_ROWS, _GEO_COLS = "10*nscans", "Max_EV_frames"


def _scan_rows(scans: np.ndarray) -> np.ndarray:
    """Boolean per 500 m row from a boolean per scan."""
    return np.repeat(np.asarray(scans, dtype=bool), DETECTORS_500M)


def _detector_lists(dead: Mapping[int, Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """`Dead Detector List` (int8[490]) and `Detector Quality Flag` (uint8[490], bit 1 dead)."""
    dead_list = np.zeros(490, dtype=np.int8)
    for band, detectors in dead.items():
        dead_list[_DETECTOR_LIST_START[band] + np.asarray(detectors, dtype=int)] = 1
    return dead_list, (dead_list.astype(np.uint8) << 1)


def _apply_scan_states(
    si: np.ndarray,
    ui: np.ndarray,
    dead: Mapping[int, Sequence[int]],
    fill_rows: np.ndarray,
) -> None:
    """Dead detectors -> 65531 / UI 15 in every scan; night or missing scans -> 65535 / UI 255."""
    detector = np.arange(si.shape[1]) % DETECTORS_500M
    for band, detectors in dead.items():
        rows = np.isin(detector, detectors)
        si[band - 1, rows] = SI_DEAD
        ui[band - 1, rows] = UI_SPECIAL
    si[:, fill_rows] = SI_FILL
    ui[:, fill_rows] = UI_FILL


def _samples_used(si: np.ndarray) -> np.ndarray:
    """EV_250_Aggr500_RefSB_Samples_Used: 6 for aggregated pixels, 0 for special, -1 for fill."""
    used = np.where(si <= SI_MAX, 6, 0).astype(np.int8)
    used[si == SI_FILL] = -1
    return used


def _write_ev(sd: SD, si: np.ndarray, ui: np.ndarray, cal: Calibration, deflate, omit) -> None:
    for name, (bands, band_dim, long_name) in _EV.items():
        idx = [b - 1 for b in bands]
        dims = (band_dim, _ROWS, _COLS)
        chunk = (1, DETECTORS_500M, SAMPLES_500M)
        f32 = np.float32
        attributes = [
            ("long_name", f"{long_name} Scaled Integers", None),
            ("units", "none", None),
            ("valid_range", [0, SI_MAX], np.uint16),
            ("band_names", ",".join(str(b) for b in bands), None),
            ("radiance_scales", cal.radiance_scales[idx], f32),
            ("radiance_offsets", cal.reflectance_offsets[idx], f32),
            ("radiance_units", "Watts/m^2/micrometer/steradian", None),
            ("reflectance_scales", cal.reflectance_scales[idx], f32),
            ("reflectance_offsets", cal.reflectance_offsets[idx], f32),
            ("reflectance_units", "none", None),
            ("corrected_counts_scales", cal.counts_scales[idx], f32),
            ("corrected_counts_offsets", cal.reflectance_offsets[idx], f32),
            ("corrected_counts_units", "counts", None),
        ]
        write_sds(
            sd,
            name,
            si[idx],
            dims,
            attributes,
            fill=np.uint16(SI_FILL),
            chunk=chunk,
            deflate=deflate,
            omit=omit,
        )
        write_sds(
            sd,
            f"{name}_Uncert_Indexes",
            ui[idx],
            dims,
            [
                ("long_name", f"{long_name} Uncertainty Indexes", None),
                ("units", "none", None),
                ("valid_range", [0, UI_SPECIAL], np.uint8),
                ("specified_uncertainty", [_SPECIFIED_UNCERTAINTY] * len(bands), f32),
                ("scaling_factor", [_UI_SCALING_FACTOR] * len(bands), f32),
                ("uncertainty_units", "percent", None),
            ],
            fill=np.uint8(UI_FILL),
            chunk=chunk,
            deflate=deflate,
            omit=omit,
        )
        if band_dim == "Band_250M":
            write_sds(
                sd,
                f"{name}_Samples_Used",
                _samples_used(si[idx]),
                dims,
                [
                    ("long_name", "Samples used to aggregate 250M data to 500M", None),
                    ("units", "none", None),
                    ("valid_range", [0, 6], np.int8),
                ],
                fill=np.int8(-1),
                chunk=chunk,
                deflate=deflate,
                omit=omit,
            )
        write_sds(
            sd,
            band_dim,
            np.asarray(bands, dtype=np.float32),
            (band_dim,),
            [("long_name", f"{band_dim[-4:]} Band Numbers for Subsetting", None)],
            omit=omit,
        )


def _write_geolocation(sd: SD, swath: Swath, deflate, omit) -> None:
    chunk = (DETECTORS_1KM, FRAMES_1KM)
    for name, data, limit in (
        ("Latitude", swath.lat_1km, 90.0),
        ("Longitude", swath.lon_1km, 180.0),
    ):
        write_sds(
            sd,
            name,
            data.astype(np.float32),
            (_GEO_ROWS, _GEO_COLS),
            [
                ("units", "degrees", None),
                ("valid_range", [-limit, limit], np.float32),
            ],
            fill=np.float32(-999.0),
            chunk=chunk,
            deflate=deflate,
            omit=omit,
        )


_EMISSIVE = ("number of emissive bands", "detectors per 1km band")
#: QA SDSs: name -> (shape, dims, per scan?). All written as zeros (no anomalies).
_QA = {
    "Noise in Thermal Detectors": ((16, 10), _EMISSIVE, False),
    "Change in relative responses of thermal detectors": ((16, 10), _EMISSIVE, False),
    "DC Restore Change for Thermal Bands": ((16, 10), _EMISSIVE, True),
    "DC Restore Change for Reflective 250m Bands": (
        (2, 40),
        ("number of 250m bands", "detectors per 250m band"),
        True,
    ),
    "DC Restore Change for Reflective 500m Bands": (
        (5, 20),
        ("number of 500m bands", "detectors per 500m band"),
        True,
    ),
    "DC Restore Change for Reflective 1km Bands": (
        (15, 10),
        ("reflective 1km bands", "detectors per 1km band"),
        True,
    ),
}


def _write_qa(sd: SD, n_scans: int, omit: Collection[str]) -> None:
    """The thermal-noise and DC-restore QA SDSs, all zero (uint8 constants, int8 per scan)."""
    for name, (shape, dims, per_scan) in _QA.items():
        if per_scan:
            write_sds(sd, name, np.zeros((n_scans, *shape), np.int8), ("nscans", *dims), omit=omit)
        else:
            write_sds(sd, name, np.zeros(shape, np.uint8), dims, omit=omit)


def _global_attributes(
    sd: SD,
    swath: Swath,
    cal: Calibration,
    day_scans: int,
    missing_scans: int,
    dead: Mapping[int, Sequence[int]],
    omit: Collection[str],
) -> None:
    dead_list, quality = _detector_lists(dead)
    f32 = np.float32
    for name, value, dtype in (
        ("HDFEOSVersion", "HDFEOS_V2.19", None),
        ("Number of Scans", swath.n_scans, np.int32),
        ("Number of Day mode scans", day_scans, np.int32),
        ("Number of Night mode scans", swath.n_scans - day_scans - missing_scans, np.int32),
        ("Incomplete Scans", missing_scans, np.int32),
        ("Max Earth View Frames", FRAMES_1KM, np.int32),
        ("Earth-Sun Distance", cal.earth_sun_distance, f32),
        ("Solar Irradiance on RSB Detectors over pi", cal.esun_over_pi_detectors, f32),
        ("Dead Detector List", dead_list, np.int8),
        ("Noisy Detector List", np.zeros(490), np.int8),
        ("Detector Quality Flag", quality, np.uint8),
        (f"HDFEOS_FractionalOffset_{_ROWS}_{SWATH_NAME}", 0.5, f32),
        (f"HDFEOS_FractionalOffset_{_COLS}_{SWATH_NAME}", 0.0, f32),
    ):
        if name not in omit:
            set_attribute(sd, name, value, dtype)


def _struct_metadata(n_scans: int) -> str:
    ev_dims = {name: (band_dim, _ROWS, _COLS) for name, (_, band_dim, _) in _EV.items()}
    return struct_metadata(
        dimensions=[
            ("Band_250M", 2),
            ("Band_500M", 5),
            (_ROWS, DETECTORS_500M * n_scans),
            (_COLS, SAMPLES_500M),
            (_GEO_ROWS, DETECTORS_1KM * n_scans),
            (_GEO_COLS, FRAMES_1KM),
        ],
        dimension_maps=[(_GEO_ROWS, _ROWS, 0, 2), (_GEO_COLS, _COLS, 0, 2)],
        geo_fields=[
            ("Latitude", "DFNT_FLOAT32", (_GEO_ROWS, _GEO_COLS)),
            ("Longitude", "DFNT_FLOAT32", (_GEO_ROWS, _GEO_COLS)),
        ],
        data_fields=[
            ("EV_500_RefSB", "DFNT_UINT16", ev_dims["EV_500_RefSB"]),
            ("EV_500_RefSB_Uncert_Indexes", "DFNT_UINT8", ev_dims["EV_500_RefSB"]),
            ("EV_250_Aggr500_RefSB", "DFNT_UINT16", ev_dims["EV_250_Aggr500_RefSB"]),
            ("EV_250_Aggr500_RefSB_Uncert_Indexes", "DFNT_UINT8", ev_dims["EV_250_Aggr500_RefSB"]),
            ("EV_250_Aggr500_RefSB_Samples_Used", "DFNT_INT8", ev_dims["EV_250_Aggr500_RefSB"]),
            ("Band_250M", "DFNT_FLOAT32", ("Band_250M",)),
            ("Band_500M", "DFNT_FLOAT32", ("Band_500M",)),
        ],
    )


_TAI_EPOCH = datetime(1993, 1, 1, tzinfo=timezone.utc)
#: Leap seconds inserted since 1993-01-01 (TAI-UTC 27 s then, 37 s since 2017-01-01): TAI93
#: seconds count them. Right for granules after 2016, a few seconds off for older ones.
_LEAP_SECONDS_SINCE_1993 = 37.0 - 27.0


def _write_scan_vdata(path: Path, swath: Swath, scan_types: Sequence[str]) -> None:
    """The per-scan "Level 1B Swath Metadata" Vdata (doc 2.4)."""
    hdf = HDF(str(path), HC.WRITE)
    vs = hdf.vstart()
    try:
        vd = vs.create(
            "Level 1B Swath Metadata",
            (
                ("Scan Number", HC.INT32, 1),
                ("Complete Scan Flag", HC.INT32, 1),
                ("Scan Type", HC.CHAR8, 4),
                ("Mirror Side", HC.INT32, 1),
                ("EV Sector Start Time", HC.FLOAT64, 1),
                ("EV_Frames", HC.INT32, 1),
                ("Nadir_Frame_Number", HC.INT32, 1),
                ("Latitude of Nadir Frame", HC.FLOAT32, 1),
                ("Longitude of Nadir Frame", HC.FLOAT32, 1),
                ("Solar Azimuth of Nadir Frame", HC.FLOAT32, 1),
                ("Solar Zenith of Nadir Frame", HC.FLOAT32, 1),
                ("No. OBC BB thermistor outliers", HC.INT32, 1),
                ("Bit QA Flags", HC.UINT32, 1),
                ("Sector Rotation Angle", HC.FLOAT32, 1),
            ),
        )
        start_tai = (swath.start_time - _TAI_EPOCH).total_seconds() + _LEAP_SECONDS_SINCE_1993
        mu = cos_solar_zenith(swath.scan_times(), swath.nadir_lon, swath.nadir_lat)
        zenith = np.degrees(np.arccos(np.clip(mu, -1, 1)))
        vd.write(
            [
                [
                    s + 1,
                    int(scan_types[s] != "O"),
                    f"{scan_types[s]:<4}",
                    s % 2,
                    start_tai + float(swath.scan_offsets_s[s]),
                    FRAMES_1KM,
                    FRAMES_1KM // 2,
                    float(swath.nadir_lat[s]),
                    float(swath.nadir_lon[s]),
                    0.0,
                    float(zenith[s]),
                    0,
                    0,
                    0.0,
                ]
                for s in range(swath.n_scans)
            ]
        )
        vd.detach()
    finally:
        vs.end()
        hdf.close()


def write_granule(
    directory: str | Path,
    reflectance: np.ndarray,
    swath: Swath,
    *,
    collection: int = 61,
    name_style: str = "nasa",
    production_time: datetime | None = None,
    night_scans: bool | Sequence[bool] = False,
    missing_scans: Sequence[int] = (),
    dead_detectors: Mapping[int, Sequence[int]] | None = None,
    deflate: int | None = 4,
    filename: str | None = None,
    omit: Collection[str] = (),
) -> Path:
    """Write a MOD02HKM/MYD02HKM granule of ``swath`` into ``directory``; return its path.

    reflectance: float32 (7, 20n, 2708), bands 1..7, L1B reflectance rho * cos(solar zenith)
        (see ``l1b_reflectance``); NaN = missing (65534); values above a band's scale saturate.
    night_scans: True (a night granule: every scan 65535, DAYNIGHTFLAG "Night") or one flag per
        scan ("Both" when mixed). missing_scans: indices of scans lost entirely (65535, UI 255).
    dead_detectors: band -> product-order detector indices (0..19) written as 65531 in every
        scan; default Aqua {6: AQUA_BAND6_DEAD_DETECTORS}, Terra none.
    deflate: deflate level of the chunked EV and geolocation SDSs (one chunk per scan); None
        writes them uncompressed and contiguous.
    filename: overrides the producer's name (``granule_filename``, ``name_style``).
    omit: names of SDSs, global attributes, or "SDS.attribute" to leave out: for making
        defective test files.
    """
    n = swath.n_scans
    expected = (len(BANDS), DETECTORS_500M * n, SAMPLES_500M)
    if reflectance.shape != expected:
        raise ValueError(f"reflectance has shape {reflectance.shape}, expected {expected}")
    if dead_detectors is None:
        dead_detectors = {6: AQUA_BAND6_DEAD_DETECTORS} if swath.platform == "Aqua" else {}
    night = np.broadcast_to(np.asarray(night_scans, dtype=bool), (n,)).copy()
    missing = np.zeros(n, dtype=bool)
    missing[list(missing_scans)] = True
    night &= ~missing
    day = ~night & ~missing
    day_night = "Day" if not night.any() else ("Night" if not day.any() else "Both")

    start, end = swath.start_time, swath.end_time
    produced = production_time or _default_production_time(start)
    name = filename or granule_filename(
        swath.platform,
        start,
        collection=collection,
        name_style=name_style,
        production_time=produced,
    )
    cal = calibration_for(start + (end - start) / 2)
    si, ui = encode(reflectance, cal)
    _apply_scan_states(si, ui, dead_detectors, _scan_rows(night | missing))

    directory = Path(directory)
    final = directory / name
    tmp = directory / f".{name}.{os.getpid()}.tmp"
    short = _SHORT[swath.platform]
    try:
        sd = SD(str(tmp), SDC.WRITE | SDC.CREATE | SDC.TRUNC)
        try:
            metadata = {
                "CoreMetadata.0": core_metadata(
                    short,
                    swath.platform,
                    start,
                    end,
                    collection=collection,
                    local_granule_id=name,
                    day_night=day_night,
                    production_time=produced,
                    lat=swath.lat_1km,
                    lon=swath.lon_1km,
                    parameters=("EV_500_RefSB", "EV_250_Aggr500_RefSB"),
                    inputs=_input_pointer(swath.platform, start, collection),
                    near_real_time=name_style == "nrt",
                    equator_crossing=swath.equator_crossing(),
                ),
                "ArchiveMetadata.0": archive_metadata(
                    f"MODIS/{swath.platform} Calibrated Radiances 5-Min L1B Swath 500m",
                    swath.lat_1km,
                    swath.lon_1km,
                    "MOD_PR02",
                ),
                "StructMetadata.0": _struct_metadata(n),
            }
            for key, text in metadata.items():
                if key not in omit:
                    set_attribute(sd, key, text)
            _global_attributes(
                sd, swath, cal, int(day.sum()), int(missing.sum()), dead_detectors, omit
            )
            _write_ev(sd, si, ui, cal, deflate, omit)
            _write_geolocation(sd, swath, deflate, omit)
            _write_qa(sd, n, omit)
        finally:
            sd.end()
        scan_types = [
            "O" if m else ("N" if nt else "D") for m, nt in zip(missing, night, strict=True)
        ]
        _write_scan_vdata(tmp, swath, scan_types)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("wrote %s (%d scans, %s)", final, n, day_night)
    return final


def _input_pointer(platform: str, start: datetime, collection: int) -> tuple[str, ...]:
    """Names of the L1A and geolocation inputs and LUTs, as INPUTPOINTER lists them."""
    prefix = "MOD" if platform == "Terra" else "MYD"
    stamp = f"A{start:%Y%j.%H%M}.{collection:03d}"
    return (
        f"{prefix}01.{stamp}.hdf",
        f"{prefix}03.{stamp}.hdf",
        f"{prefix}02_Reflective_LUTs.V6.1.hdf",
        f"{prefix}02_Emissive_LUTs.V6.1.hdf",
        f"{prefix}02_QA_LUTs.V6.1.hdf",
    )
