"""The grid's land/water mask, shipped as a small data file made from GSHHS full resolution.

The file ``runtime/data/landmask.npz`` holds the sea share of every grid cell in percent; it is
made by ``training/scripts/make_landmask.py`` (8 x 8 sample points per cell, inland lakes count
as land). A cell is water when at least half of it is sea.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from runtime import grid

DATA_FILE = Path(__file__).parent / "data" / "landmask.npz"

#: A cell is water when its sea share is at least this many percent.
WATER_PERCENT_MIN = 50


@functools.cache
def _water_percent() -> np.ndarray:
    with np.load(DATA_FILE) as data:
        percent = data["water_percent"]
    if percent.shape != grid.SHAPE:
        raise ValueError(f"{DATA_FILE}: land mask shape {percent.shape}, grid is {grid.SHAPE}")
    percent.flags.writeable = False
    return percent


def water_fraction() -> np.ndarray:
    """Sea share of each cell, float32 (ROWS, COLS), 0..1."""
    return _water_percent().astype(np.float32) / 100


def water_mask() -> np.ndarray:
    """True where a cell is water (sea share >= 50 %), bool (ROWS, COLS); a fresh copy."""
    return _water_percent() >= WATER_PERCENT_MIN
