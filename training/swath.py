"""MODIS swath geometry from first principles: where every 500 m and 1 km pixel falls.

The model (numbers from the MODIS design; docs, modis-l1b-500m.md 1, 2.5, 7 and 10):

- Orbit: circular, 705 km above the WGS84 equatorial radius, inclination 98.2 degrees,
  sun-synchronous (the node turns eastwards by 360 degrees a year), Earth rotating beneath it.
  Terra observes the bay by day on the descending pass (row 0 = north), Aqua on the ascending one
  (row 0 = south).
- Attitude: the instrument looks at the geocentric nadir; the along-track axis is the orbital
  (inertial) velocity direction, so scan lines are perpendicular to the orbit, not to the ground
  track, as on the real spacecraft (a simplification: geocentric, not geodetic, nadir pointing).
- Scanning: one scan every 1.4771 s; the Earth-view sector covers scan angles -55 to +55 degrees
  in 1354 frames of 333.33 us; frame f looks at scan angle (f - 676.5) * IFOV_1KM with IFOV_1KM =
  1 km / 705 km. The scan starts on the right-hand side of the velocity (so a daytime Terra
  granule shows west on the left of the array and an Aqua one is rotated by 180 degrees; the
  direction of the real scan is unconfirmed). Detectors sit along track: 10 at 1 km, 20 at 500 m,
  one IFOV apart, detector 0 at the back, so the last detector of a scan abuts the first of the
  next one at nadir.
- Each pixel's ground position is the intersection of its view ray, at the time the pixel was
  seen, with the WGS84 ellipsoid. Pixel growth towards the edge (about 2x along track, 5x along
  scan) and the bow-tie overlap between scans follow from that; nothing is put in by hand.

Positions of 500 m pixels relative to 1 km frames follow doc 7.1: 1 km point (r, f) is the
500 m position (2r + 0.5, 2f), i.e. 500 m detector k looks at the along-track angle
(k - 9.5) * IFOV_500M and 500 m column i at the scan angle (i / 2 - 676.5) * IFOV_1KM.

Public API:
    Swath                                  dataclass: platform, start time, 1 km and 500 m
                                           lat/lon, scan times, footprint sizes, nadir track;
                                           scan_times(), pixel_times() (for the sun),
                                           equator_crossing() (for the ECS metadata)
    build_swath(platform, start_time, n_scans, ...) -> Swath
        places the orbit so that a chosen point (default the bay centre) is seen at a chosen scan
        angle (or 1 km frame) in a chosen scan
    swath_from_orbit(platform, start_time, n_scans, orbit) -> Swath
        the same for a given orbit (argument of latitude and node longitude at the start time)
    Orbit                                  dataclass: those two orbit elements
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from scipy.optimize import fsolve

from runtime.grid import WGS84_A, WGS84_F

log = logging.getLogger(__name__)

GM_KM3_S2 = 398600.4418
EARTH_A_KM = WGS84_A / 1000.0
EARTH_B_KM = EARTH_A_KM * (1 - WGS84_F)
E2 = WGS84_F * (2 - WGS84_F)
EARTH_ROTATION_RAD_S = 7.2921159e-5
ALTITUDE_KM = 705.0
INCLINATION_DEG = 98.2
#: Sun-synchronous nodal precession: one turn per tropical year.
NODE_RATE_RAD_S = 2 * math.pi / (365.2422 * 86400.0)
ORBIT_RADIUS_KM = EARTH_A_KM + ALTITUDE_KM
MEAN_MOTION_RAD_S = math.sqrt(GM_KM3_S2 / ORBIT_RADIUS_KM**3)

SCAN_PERIOD_S = 1.4771
FRAMES_1KM = 1354
SAMPLES_500M = 2 * FRAMES_1KM
DETECTORS_1KM = 10
DETECTORS_500M = 20
FRAME_PERIOD_S = 333.333e-6
IFOV_1KM_RAD = 1.0 / ALTITUDE_KM
IFOV_500M_RAD = IFOV_1KM_RAD / 2
#: Scan angle of 1 km frame f is (f - CENTRE_FRAME) * IFOV_1KM_RAD: +/-55.0 degrees at the ends.
CENTRE_FRAME = (FRAMES_1KM - 1) / 2

#: Bay centre (lon, lat), the default point to place in the swath.
BAY_CENTRE = (132.0, 42.8)

PLATFORMS = ("Terra", "Aqua")
#: Daytime pass direction of each platform: Terra descends, Aqua ascends.
ASCENDING = {"Terra": False, "Aqua": True}
#: Launch times, to number orbits (an estimate: the real count also follows orbit manoeuvres).
LAUNCH = {
    "Terra": datetime(1999, 12, 18, 18, 57, tzinfo=timezone.utc),
    "Aqua": datetime(2002, 5, 4, 9, 55, tzinfo=timezone.utc),
}


@dataclass(frozen=True)
class Orbit:
    """Orbit elements at the swath's start time: argument of latitude and node longitude.

    ``node_lon_deg`` is the Earth-fixed longitude of the ascending node at the start time.
    """

    arg_latitude_deg: float
    node_lon_deg: float


@dataclass(frozen=True)
class Swath:
    """Geometry of one granule of ``n_scans`` scans (arrays in file order, row 0 = first scan).

    lat_1km, lon_1km: float32 (10n, 1354), frame centres as stored in the file.
    lat, lon: float64 (20n, 2708), exact 500 m pixel centres from the same geometry.
    scan_offsets_s: float64 (n,), start of each scan's Earth view after ``start_time``.
    along_scan_km, along_track_km: float64 (2708,), 500 m pixel footprint (IFOV projected on the
        ground) per column, in the middle scan: 0.5 km at nadir, larger towards the edges.
    nadir_lat, nadir_lon: float64 (n,), ground point at scan angle 0 in the middle of each scan.
    """

    platform: str
    start_time: datetime
    n_scans: int
    orbit: Orbit
    lat_1km: np.ndarray
    lon_1km: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    scan_offsets_s: np.ndarray
    along_scan_km: np.ndarray
    along_track_km: np.ndarray
    nadir_lat: np.ndarray
    nadir_lon: np.ndarray

    @property
    def end_time(self) -> datetime:
        """End of the last scan."""
        return self.start_time + timedelta(seconds=self.n_scans * SCAN_PERIOD_S)

    def scan_times(self) -> np.ndarray:
        """UTC start time of each scan as datetime64[us] (n,)."""
        start = np.datetime64(self.start_time.replace(tzinfo=None), "us")
        return start + (self.scan_offsets_s * 1e6).astype("timedelta64[us]")

    def equator_crossing(self) -> tuple[datetime, float, int]:
        """Time, longitude (deg) and orbit number of this pass's equator crossing.

        The node of the pass (descending for a southbound pass, ascending for a northbound
        one) nearest to the granule start, as ECS metadata reports it.
        """
        u0 = self.orbit.arg_latitude_deg % 360.0
        node = 180.0 if 90.0 < u0 < 270.0 else 0.0
        du = (node - u0 + 180.0) % 360.0 - 180.0
        t = math.radians(du) / MEAN_MOTION_RAD_S
        pos, _ = _satellite_state(self.orbit, np.array(t))
        lon = math.degrees(math.atan2(pos[1], pos[0]))
        when = self.start_time + timedelta(seconds=t)
        period_s = 2 * math.pi / MEAN_MOTION_RAD_S
        orbit = int((when - LAUNCH[self.platform]).total_seconds() // period_s) + 1
        return when, lon, orbit

    def pixel_times(self) -> np.ndarray:
        """UTC time of each 500 m row's scan (mid-scan), datetime64[us] (20n, 1)."""
        mid = self.scan_times() + np.timedelta64(int(FRAMES_1KM * FRAME_PERIOD_S * 5e5), "us")
        return np.repeat(mid, DETECTORS_500M)[:, None]


def _utc(start_time: datetime) -> datetime:
    """The time as an aware UTC datetime (naive input is taken as UTC)."""
    if start_time.tzinfo is None:
        return start_time.replace(tzinfo=timezone.utc)
    return start_time.astimezone(timezone.utc)


def _check_platform(platform: str) -> None:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}")


def _satellite_state(orbit: Orbit, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Earth-fixed position (km) and unit along-track direction at times ``t`` (s), (..., 3)."""
    inc = math.radians(INCLINATION_DEG)
    u = math.radians(orbit.arg_latitude_deg) + MEAN_MOTION_RAD_S * t
    node = math.radians(orbit.node_lon_deg) + (NODE_RATE_RAD_S - EARTH_ROTATION_RAD_S) * t
    cu, su, cn, sn = np.cos(u), np.sin(u), np.cos(node), np.sin(node)
    ci, si = math.cos(inc), math.sin(inc)
    radial = np.stack([cu * cn - su * sn * ci, cu * sn + su * cn * ci, su * si], axis=-1)
    along = np.stack([-su * cn - cu * sn * ci, -su * sn + cu * cn * ci, cu * si], axis=-1)
    return ORBIT_RADIUS_KM * radial, along


def _intersect_ellipsoid(pos: np.ndarray, ray: np.ndarray) -> np.ndarray:
    """First intersection (km, Earth-fixed) of rays ``pos + s * ray`` with the WGS84 ellipsoid."""
    scale = np.array([EARTH_A_KM, EARTH_A_KM, EARTH_B_KM])
    p, v = pos / scale, ray / scale
    a = np.einsum("...k,...k->...", v, v)
    b = np.einsum("...k,...k->...", p, v)
    c = np.einsum("...k,...k->...", p, p) - 1.0
    s = (-b - np.sqrt(b * b - a * c)) / a
    return pos + s[..., None] * ray


def _geodetic(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geodetic latitude and longitude (degrees) of points on the ellipsoid surface."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    lat = np.degrees(np.arctan2(z, (1 - E2) * np.hypot(x, y)))
    return lat, np.degrees(np.arctan2(y, x))


def _scan_direction(pos: np.ndarray, along: np.ndarray, scan_angle: np.ndarray) -> np.ndarray:
    """Unit view direction in the scan plane (no along-track tilt) for scan angles (...)."""
    down = -pos / np.linalg.norm(pos, axis=-1, keepdims=True)
    right = np.cross(down, along)
    theta = scan_angle[..., None]
    # The scan moves from the right-hand side of the velocity (scan angle -55) to the left.
    return np.cos(theta) * down - np.sin(theta) * right


def _view_rays(along: np.ndarray, across: np.ndarray, track_angle: float) -> np.ndarray:
    """View directions of a detector looking ``track_angle`` (rad) ahead of the scan plane."""
    return math.sin(track_angle) * along + math.cos(track_angle) * across


def _ground(orbit: Orbit, t: np.ndarray, scan_angle: np.ndarray, track_angle: float) -> np.ndarray:
    pos, along = _satellite_state(orbit, t)
    across = _scan_direction(pos, along, scan_angle)
    return _intersect_ellipsoid(pos, _view_rays(along, across, track_angle))


def _column_times_and_angles(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time within the scan (s) and scan angle (rad) of 500 m column positions."""
    frame = columns / 2.0
    return frame * FRAME_PERIOD_S, (frame - CENTRE_FRAME) * IFOV_1KM_RAD


def _grid(orbit: Orbit, scan_offsets: np.ndarray, columns: np.ndarray, track_angles: np.ndarray):
    """Lat/lon (n * len(track_angles), len(columns)) of detectors at ``track_angles`` per scan."""
    dt, theta = _column_times_and_angles(columns)
    t = scan_offsets[:, None] + dt[None, :]
    pos, along = _satellite_state(orbit, t)
    across = _scan_direction(pos, along, np.broadcast_to(theta, t.shape))
    n, m = t.shape
    lat = np.empty((n, len(track_angles), m))
    lon = np.empty_like(lat)
    for k, delta in enumerate(track_angles):
        ground = _intersect_ellipsoid(pos, _view_rays(along, across, float(delta)))
        lat[:, k], lon[:, k] = _geodetic(ground)
    return lat.reshape(n * len(track_angles), m), lon.reshape(n * len(track_angles), m)


def _distance_km(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def _footprints(orbit: Orbit, scan_offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground size (km) of one 500 m IFOV along scan and along track, per 500 m column."""
    columns = np.arange(SAMPLES_500M, dtype=np.float64)
    dt, theta = _column_times_and_angles(columns)
    t = scan_offset + dt
    half = IFOV_500M_RAD / 2
    along_scan = _distance_km(
        _ground(orbit, t, theta - half, 0.0), _ground(orbit, t, theta + half, 0.0)
    )
    along_track = _distance_km(_ground(orbit, t, theta, -half), _ground(orbit, t, theta, half))
    return along_scan, along_track


def swath_from_orbit(platform: str, start_time: datetime, n_scans: int, orbit: Orbit) -> Swath:
    """Geolocate every pixel of an ``n_scans`` granule seen from ``orbit`` from ``start_time``."""
    _check_platform(platform)
    if n_scans < 1:
        raise ValueError(f"n_scans must be at least 1, got {n_scans}")
    scan_offsets = np.arange(n_scans) * SCAN_PERIOD_S
    det_1km = (np.arange(DETECTORS_1KM) - (DETECTORS_1KM - 1) / 2) * IFOV_1KM_RAD
    det_500 = (np.arange(DETECTORS_500M) - (DETECTORS_500M - 1) / 2) * IFOV_500M_RAD
    lat_1km, lon_1km = _grid(orbit, scan_offsets, 2.0 * np.arange(FRAMES_1KM), det_1km)
    lat, lon = _grid(orbit, scan_offsets, np.arange(SAMPLES_500M, dtype=np.float64), det_500)
    along_scan, along_track = _footprints(orbit, float(scan_offsets[n_scans // 2]))
    mid_scan = scan_offsets + CENTRE_FRAME * FRAME_PERIOD_S
    nadir_lat, nadir_lon = _geodetic(_ground(orbit, mid_scan, np.zeros(n_scans), 0.0))
    return Swath(
        platform=platform,
        start_time=_utc(start_time),
        n_scans=n_scans,
        orbit=orbit,
        lat_1km=lat_1km.astype(np.float32),
        lon_1km=lon_1km.astype(np.float32),
        lat=lat,
        lon=lon,
        scan_offsets_s=scan_offsets,
        along_scan_km=along_scan,
        along_track_km=along_track,
        nadir_lat=nadir_lat,
        nadir_lon=nadir_lon,
    )


def _first_guess(lon: float, lat: float, ascending: bool, t: float) -> np.ndarray:
    """Orbit elements that put the sub-satellite point at (lon, lat) at time ``t``."""
    inc = math.radians(INCLINATION_DEG)
    u = math.asin(max(-1.0, min(1.0, math.sin(math.radians(lat)) / math.sin(inc))))
    if not ascending:
        u = math.pi - u
    node = math.radians(lon) - math.atan2(math.cos(inc) * math.sin(u), math.cos(u))
    u0 = u - MEAN_MOTION_RAD_S * t
    node0 = node - (NODE_RATE_RAD_S - EARTH_ROTATION_RAD_S) * t
    return np.degrees([u0, node0])


def build_swath(
    platform: str,
    start_time: datetime,
    n_scans: int = 203,
    *,
    target: tuple[float, float] = BAY_CENTRE,
    scan_angle_deg: float | None = None,
    frame: float | None = None,
    target_scan: int | None = None,
    ascending: bool | None = None,
) -> Swath:
    """A daytime swath that sees ``target`` (lon, lat) at a chosen place in the granule.

    The across-track place is ``scan_angle_deg`` (-55 .. 55, 0 = nadir, negative = the first
    frames of a scan) or a 1 km ``frame`` (0 .. 1353, fractional allowed); default nadir. The
    target falls in scan ``target_scan`` (default the middle scan), between 500 m detectors 9
    and 10. By default the pass is the platform's daytime one (Terra southwards, Aqua
    northwards); ``ascending`` chooses the direction explicitly (e.g. a night pass).
    """
    _check_platform(platform)
    if scan_angle_deg is not None and frame is not None:
        raise ValueError("give scan_angle_deg or frame, not both")
    if frame is not None:
        scan_angle_deg = math.degrees((frame - CENTRE_FRAME) * IFOV_1KM_RAD)
    theta = math.radians(scan_angle_deg or 0.0)
    if abs(theta) > (CENTRE_FRAME + 0.5) * IFOV_1KM_RAD:
        raise ValueError(f"scan angle {scan_angle_deg} deg is outside the +/-55 deg Earth view")
    scan = n_scans // 2 if target_scan is None else target_scan
    if not 0 <= scan < n_scans:
        raise ValueError(f"target_scan {scan} is outside 0..{n_scans - 1}")
    lon0, lat0 = target
    coslat = math.cos(math.radians(lat0))
    t_nadir = scan * SCAN_PERIOD_S + CENTRE_FRAME * FRAME_PERIOD_S
    northwards = ASCENDING[platform] if ascending is None else ascending
    elements = _first_guess(lon0, lat0, northwards, t_nadir)
    # Continuation from nadir: Newton steps converge from the previous, nearby solution.
    for angle in np.linspace(0.0, theta, 2 + int(abs(theta) // math.radians(10.0))):
        t = scan * SCAN_PERIOD_S + (angle / IFOV_1KM_RAD + CENTRE_FRAME) * FRAME_PERIOD_S

        def miss(elements: np.ndarray, t: float = t, angle: float = angle) -> np.ndarray:
            ground = _ground(Orbit(*elements), np.array(t), np.array(angle), 0.0)
            lat, lon = _geodetic(ground)
            dlon = (float(lon) - lon0 + 180.0) % 360.0 - 180.0
            return np.array([float(lat) - lat0, dlon * coslat])

        elements, _, ok, message = fsolve(miss, elements, full_output=True, xtol=1e-12)
    if ok != 1 or np.abs(miss(elements)).max() > 1e-6:
        raise ValueError(f"cannot place {target} at scan angle {scan_angle_deg}: {message}")
    solution = elements
    orbit = Orbit(float(solution[0]), float((solution[1] + 180.0) % 360.0 - 180.0))
    log.debug("placed %s at %.2f deg in scan %d: %s", target, math.degrees(theta), scan, orbit)
    return swath_from_orbit(platform, start_time, n_scans, orbit)
