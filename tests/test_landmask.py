import numpy as np
import pytest

from runtime import grid, landmask


def cell_of(lon: float, lat: float) -> tuple[int, int]:
    return int((grid.NORTH - lat) / grid.DLAT), int((lon - grid.WEST) / grid.DLON)


def test_mask_has_the_grid_shape():
    mask = landmask.water_mask()
    assert mask.shape == grid.SHAPE and mask.dtype == bool
    fraction = landmask.water_fraction()
    assert fraction.shape == grid.SHAPE and fraction.min() >= 0 and fraction.max() <= 1


@pytest.mark.parametrize(
    ("name", "lon", "lat", "water"),
    [
        ("Vladivostok city", 131.90, 43.12, False),
        ("Russky Island", 131.85, 43.02, False),
        ("open bay", 131.90, 42.60, True),
        ("Amur Bay", 131.80, 43.20, True),
        ("Ussuri Bay", 132.30, 43.15, True),
        # 130.80E 42.65N is a headland in GSHHS full; the bay's water lies just west of it.
        ("Posyet Bay", 130.75, 42.65, True),
        ("inland north-east", 133.10, 43.30, False),
    ],
)
def test_known_points(name, lon, lat, water):
    assert landmask.water_mask()[cell_of(lon, lat)] == water, name


def test_water_share_is_plausible():
    # The box is a bit more than half sea (open sea in the south, land in the north).
    share = landmask.water_mask().mean()
    assert 0.5 < share < 0.62


def test_mask_is_the_half_water_rule():
    np.testing.assert_array_equal(landmask.water_mask(), landmask.water_fraction() >= 0.5)
