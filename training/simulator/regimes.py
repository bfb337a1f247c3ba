"""What each synthetic scene shows: ice and cloud regime, platform, date, overpass time.

A dataset is a list of :class:`SceneSpec` drawn here in one sequential pass from the dataset
seed, so the list (and each scene's own seed) does not depend on how many workers render it.

Dates fall in December-March of the winters 2005-2024, each ice regime in its season. Overpass
times follow the platforms over the bay: Terra descends at about 11:00 local solar time at 43N
and Aqua ascends at about 13:00, so the granule's time fixes where the bay lies across the swath
(bay east of nadir when its local time is later than the nadir's). Granules start on the
5-minute marks of the names (Terra 01:30-02:40 UTC, Aqua 03:40-05:10 UTC), as in the talk.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np

from runtime.granule import start_time as parse_start_time
from runtime.solar import cos_solar_zenith
from training.swath import BAY_CENTRE

ICE_REGIMES = ("none", "early-fast", "drift", "thin", "break-up")
CLOUD_REGIMES = ("clear", "partly", "mostly")
PLATFORM_PREFIX = {"Terra": "MOD02HKM", "Aqua": "MYD02HKM"}
COLLECTION = "061"
WINTERS = range(2005, 2025)  # the winter that ends in this year's March

#: Season of each ice regime as (first, last) day counted from 1 December.
SEASON_DAYS = {
    "none": (0, 120),
    "early-fast": (5, 50),
    "drift": (30, 90),
    "thin": (10, 80),
    "break-up": (80, 120),
}
ICE_WEIGHTS = {"early-fast": 0.25, "drift": 0.35, "thin": 0.2, "break-up": 0.2}
CLOUD_WEIGHTS = {"clear": 0.4, "partly": 0.4, "mostly": 0.2}
#: Granule start windows (UTC hour, minute) and the nadir's local solar time at 43N (hours).
OVERPASS_WINDOW = {"Terra": ((1, 30), (2, 40)), "Aqua": ((3, 40), (5, 10))}
NADIR_LOCAL_TIME_H = {"Terra": 11.0, "Aqua": 13.0}
#: Low sun: solar zenith at the bay centre above this (cos below 0.5).
LOW_SUN_ZENITH_DEG = 60.0
KM_PER_DEG = 111.2
MAX_SCAN_ANGLE_DEG = 54.0
ORBIT_ALTITUDE_KM = 705.0
EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class SceneSpec:
    """Everything that decides one synthetic scene; its own seed drives all the randomness."""

    name: str
    platform: str
    start_time: datetime
    ice_regime: str
    cloud_regime: str
    sun: str
    certain_no_ice: bool
    scan_angle_deg: float
    seed: int

    def to_dict(self) -> dict:
        """The scene's entry in dataset.json (plus the simulator's own fields)."""
        entry = asdict(self)
        entry["start_time"] = self.start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        return entry

    @classmethod
    def from_dict(cls, entry: dict) -> SceneSpec:
        """The spec of a dataset.json scene entry as `to_dict` wrote it (other keys ignored),
        to re-render a scene: the simulator is deterministic in the scene seed."""
        fields = {key: entry[key] for key in cls.__dataclass_fields__}
        fields["start_time"] = parse_start_time(entry)
        return cls(**fields)


def granule_name(platform: str, start_time: datetime) -> str:
    """The talk's granule naming, e.g. MOD02HKM.A2023023.0230.061."""
    stamp = start_time.strftime("A%Y%j.%H%M")
    return f"{PLATFORM_PREFIX[platform]}.{stamp}.{COLLECTION}"


def bay_offset_km(platform: str, start_time: datetime) -> float:
    """Ground distance of the bay centre east of the nadir track (negative: west)."""
    lon, lat = BAY_CENTRE
    hours = start_time.hour + start_time.minute / 60 + lon / 15
    local_minus_nadir = hours - NADIR_LOCAL_TIME_H[platform]
    return local_minus_nadir * 15 * KM_PER_DEG * math.cos(math.radians(lat))


def scan_angle_for_offset(offset_km: float) -> float:
    """Scan angle (degrees) that looks at a ground point offset_km across track (spherical)."""
    central = offset_km / EARTH_RADIUS_KM
    orbit_r = EARTH_RADIUS_KM + ORBIT_ALTITUDE_KM
    angle = math.atan2(
        EARTH_RADIUS_KM * math.sin(central), orbit_r - EARTH_RADIUS_KM * math.cos(central)
    )
    return max(-MAX_SCAN_ANGLE_DEG, min(MAX_SCAN_ANGLE_DEG, math.degrees(angle)))


def scan_angle(platform: str, start_time: datetime) -> float:
    """Scan angle of the bay centre, in the swath's sign convention.

    Negative angles are the first frames of a scan, on the right of the velocity: west for the
    southbound Terra, east for the northbound Aqua.
    """
    east = scan_angle_for_offset(bay_offset_km(platform, start_time))
    return east if platform == "Terra" else -east


def solar_zenith_deg(start_time: datetime) -> float:
    """Solar zenith at the bay centre at the granule's start."""
    lon, lat = BAY_CENTRE
    return math.degrees(math.acos(float(cos_solar_zenith(start_time, lon, lat))))


def _start_time(rng: np.random.Generator, platform: str, ice_regime: str) -> datetime:
    winter = int(rng.choice(list(WINTERS)))
    first, last = SEASON_DAYS[ice_regime]
    day = date(winter - 1, 12, 1) + timedelta(days=int(rng.integers(first, last + 1)))
    (h0, m0), (h1, m1) = OVERPASS_WINDOW[platform]
    slot = int(rng.integers(0, ((h1 * 60 + m1) - (h0 * 60 + m0)) // 5 + 1))
    start = datetime(day.year, day.month, day.day, h0, m0, tzinfo=timezone.utc)
    return start + timedelta(minutes=5 * slot)


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def sample_specs(n_labelled: int, n_clear: int, seed: int) -> list[SceneSpec]:
    """`n_labelled` scenes with ice regimes, then `n_clear` scenes certainly without ice."""
    rng = np.random.default_rng(seed)
    regimes = [_pick(rng, ICE_WEIGHTS) for _ in range(n_labelled)] + ["none"] * n_clear
    specs, names = [], set()
    for index, ice_regime in enumerate(regimes):
        while True:
            platform = "Terra" if rng.random() < 0.5 else "Aqua"
            start = _start_time(rng, platform, ice_regime)
            name = granule_name(platform, start)
            if name not in names:
                break
        names.add(name)
        zenith = solar_zenith_deg(start)
        specs.append(
            SceneSpec(
                name=name,
                platform=platform,
                start_time=start,
                ice_regime=ice_regime,
                cloud_regime=_pick(rng, CLOUD_WEIGHTS),
                sun="low" if zenith > LOW_SUN_ZENITH_DEG else "high",
                certain_no_ice=ice_regime == "none",
                scan_angle_deg=round(scan_angle(platform, start), 3),
                seed=int(np.random.SeedSequence([seed, index]).generate_state(1)[0]),
            )
        )
    return specs
