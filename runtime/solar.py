"""Position of the sun: cosine of the solar zenith angle and the Earth-Sun distance (numpy only).

The L1B "reflectance" is rho * cos(solar zenith) (see docs, modis-l1b-500m.md 3.3); converting
between the two needs the solar zenith of each pixel, computed here from time and position.

Formulas: NOAA Global Monitoring Laboratory solar calculator (after Meeus, "Astronomical
Algorithms"): solar declination and equation of time from the Julian century, accurate to about
0.01 degree for 1950-2050, far better than the few-percent effects they are used for.

Public API:
    cos_solar_zenith(time_utc, lon, lat) -> ndarray   cos of the solar zenith (may be < 0: night)
    earth_sun_distance(time_utc) -> ndarray            Earth-Sun distance in astronomical units

``time_utc`` is a ``datetime`` (naive = UTC) or anything ``numpy.asarray(..., "datetime64[us]")``
accepts; it broadcasts against ``lon`` and ``lat`` (degrees east / north).
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

_J2000 = np.datetime64("2000-01-01T12:00:00", "us")
_US_PER_DAY = 86_400e6


def _as_datetime64(time_utc) -> np.ndarray:
    """Times as datetime64[us] UTC; aware datetimes are converted, naive ones taken as UTC."""
    if isinstance(time_utc, datetime):
        if time_utc.tzinfo is not None:
            time_utc = time_utc.astimezone(timezone.utc).replace(tzinfo=None)
        return np.asarray(np.datetime64(time_utc, "us"))
    return np.asarray(time_utc, dtype="datetime64[us]")


def _sun_terms(time_utc) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Declination (rad), equation of time (min), UTC minutes of the day, distance (AU)."""
    t64 = _as_datetime64(time_utc)
    days = (t64 - _J2000).astype(np.float64) / _US_PER_DAY
    T = days / 36525.0  # Julian centuries since J2000
    L0 = np.radians((280.46646 + T * (36000.76983 + 0.0003032 * T)) % 360.0)
    M = np.radians(357.52911 + T * (35999.05029 - 0.0001537 * T))
    e = 0.016708634 - T * (0.000042037 + 0.0000001267 * T)
    C = np.radians(
        np.sin(M) * (1.914602 - T * (0.004817 + 0.000014 * T))
        + np.sin(2 * M) * (0.019993 - 0.000101 * T)
        + np.sin(3 * M) * 0.000289
    )
    omega = np.radians(125.04 - 1934.136 * T)
    apparent_lon = L0 + C - np.radians(0.00569 + 0.00478 * np.sin(omega))
    eps0 = 23.0 + (26.0 + (21.448 - T * (46.815 + T * (0.00059 - T * 0.001813))) / 60.0) / 60.0
    eps = np.radians(eps0 + 0.00256 * np.cos(omega))
    declination = np.arcsin(np.sin(eps) * np.sin(apparent_lon))
    y = np.tan(eps / 2) ** 2
    eq_time_min = 4 * np.degrees(
        y * np.sin(2 * L0)
        - 2 * e * np.sin(M)
        + 4 * e * y * np.sin(M) * np.cos(2 * L0)
        - 0.5 * y**2 * np.sin(4 * L0)
        - 1.25 * e**2 * np.sin(2 * M)
    )
    minutes = (t64 - t64.astype("datetime64[D]")).astype(np.float64) / 60e6
    distance_au = 1.000001018 * (1 - e**2) / (1 + e * np.cos(M + C))
    return declination, eq_time_min, minutes, distance_au


def cos_solar_zenith(time_utc, lon, lat) -> np.ndarray:
    """Cosine of the solar zenith angle at ``(lon, lat)`` degrees and UTC time (float64)."""
    declination, eq_time_min, minutes, _ = _sun_terms(time_utc)
    true_solar_min = minutes + eq_time_min + 4.0 * np.asarray(lon, dtype=np.float64)
    hour_angle = np.radians(true_solar_min / 4.0 - 180.0)
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    return np.sin(phi) * np.sin(declination) + np.cos(phi) * np.cos(declination) * np.cos(
        hour_angle
    )


def earth_sun_distance(time_utc) -> np.ndarray:
    """Earth-Sun distance in astronomical units (about 0.983 in January, 1.017 in July)."""
    return _sun_terms(time_utc)[3]
