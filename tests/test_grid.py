import math

import numpy as np

from runtime import grid


def test_cell_centres_follow_the_contract():
    lon, lat = grid.cell_centres()
    assert lon.shape == lat.shape == (285, 430)
    assert math.isclose(lat[0, 0], 43.35 - 0.5 * 1.10 / 285)
    assert math.isclose(lon[0, 0], 130.60 + 0.5 * 2.65 / 430)
    assert math.isclose(lat[-1, -1], 42.25 + 0.5 * 1.10 / 285)
    assert math.isclose(lon[-1, -1], 133.25 - 0.5 * 2.65 / 430)


def test_cell_areas_on_the_ellipsoid():
    areas = grid.cell_areas_km2()
    # Independent check: numerical integration of the ellipsoid's area element
    # M(phi) N(phi) cos(phi) dphi dlambda over the whole grid.
    a, f = grid.WGS84_A, grid.WGS84_F
    e2 = f * (2 - f)
    phi = np.radians(np.linspace(grid.SOUTH, grid.NORTH, 200_001))
    s2 = np.sin(phi) ** 2
    m = a * (1 - e2) / (1 - e2 * s2) ** 1.5
    n = a / np.sqrt(1 - e2 * s2)
    integrand = m * n * np.cos(phi)
    total = np.trapezoid(integrand, phi) * math.radians(grid.EAST - grid.WEST) / 1e6
    assert math.isclose(areas.sum(), total, rel_tol=1e-7)
    assert areas[0, 0] < areas[-1, 0]  # cells shrink northwards


def test_grid_description_round_trip():
    assert grid.matches(grid.describe())
    other = dict(grid.describe(), rows=300)
    assert not grid.matches(other)
    assert not grid.matches({"crs": "EPSG:4326"})
