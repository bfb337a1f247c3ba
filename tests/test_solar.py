"""Solar position (runtime.solar) against pyorbital's independent implementation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from runtime.solar import cos_solar_zenith, earth_sun_distance

astronomy = pytest.importorskip("pyorbital.astronomy")


def test_cos_solar_zenith_matches_pyorbital_over_a_year():
    start = datetime(2024, 1, 1, 0, 30)
    times = [start + timedelta(days=d, hours=d % 24) for d in range(0, 366, 7)]
    lon = np.array([132.0, 131.0, 0.0, -75.0, 170.0])
    lat = np.array([42.8, 43.3, 51.5, -33.0, 70.0])
    for t in times:
        ours = np.degrees(np.arccos(cos_solar_zenith(t, lon, lat)))
        theirs = np.degrees(np.arccos(astronomy.cos_zen(t, lon, lat)))
        assert np.abs(ours - theirs).max() < 0.02  # degrees


def test_times_broadcast_and_timezones():
    times = np.array(["2024-02-09T02:10", "2024-02-09T04:20"], dtype="datetime64[s]")
    mu = cos_solar_zenith(times[:, None], np.array([131.0, 132.0, 133.0]), 42.8)
    assert mu.shape == (2, 3)
    aware = datetime(2024, 2, 9, 11, 10, tzinfo=timezone(timedelta(hours=9)))
    assert cos_solar_zenith(aware, 132.0, 42.8) == pytest.approx(mu[0, 1])
    # Winter morning over the bay: the sun about 60 degrees from the zenith at 02:10 UTC.
    assert 55 < np.degrees(np.arccos(mu[0, 1])) < 65


def test_earth_sun_distance_through_the_year():
    assert float(earth_sun_distance(datetime(2024, 1, 3))) == pytest.approx(0.9833, abs=2e-4)
    assert float(earth_sun_distance(datetime(2024, 7, 5))) == pytest.approx(1.0167, abs=2e-4)
    when = datetime(2024, 2, 9, 2, 10)
    # pyorbital's first-order formula (1 - 0.0167 cos(...)) gives the distance itself, in AU.
    expected = astronomy.sun_earth_distance_correction(when)
    assert float(earth_sun_distance(when)) == pytest.approx(expected, abs=5e-4)
