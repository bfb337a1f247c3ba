"""A scene as a granule: swath geometry, sensor, the granule writer, then the runtime's reader.

Training crops go through exactly the path of the station: the scene is imaged at the 500 m
pixel positions of a swath (``training.swath``) placed so that the bay centre lies at the spec's
scan angle, the stored values rho * cos(sza) (``training.granule_writer.l1b_reflectance``, with
each pixel's own sun) get the sensor's noise and stripes, the writer makes a MOD02HKM/MYD02HKM
file (Aqua band-6 dead rows 65531), and ``runtime.granule.read_crop`` reads, restores,
geolocates and resamples it onto the grid. So there is no train/serve skew. Training granules
hold just enough scans to cover the bay.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime import grid
from runtime.granule import Crop, read_crop
from training.granule_writer import l1b_reflectance, write_granule
from training.simulator.raster import fine_raster
from training.simulator.regimes import SceneSpec
from training.simulator.render import Scene, observe, render_scene, sensor_effects
from training.simulator.truth import class_map, ice_label, obscured_mask
from training.swath import CENTRE_FRAME, IFOV_1KM_RAD, Swath, build_swath

#: Scans of a training granule: the bay (about 120 km north-south, tilted against the track)
#: needs 16 scans of 10 km at nadir; 18 leave a margin.
TRAINING_SCANS = 18
BAY_MARGIN_DEG = 0.05


@dataclass
class Example:
    """One training example: the crop as the runtime reads it and the truth on the grid."""

    crop: Crop
    label: np.ndarray  # uint8 (ROWS, COLS), 1 = ice
    obscured: np.ndarray  # uint8 (ROWS, COLS), 1 = hidden by opaque cloud
    classes: np.ndarray  # uint8 (ROWS, COLS), see truth.CLASSES


def scene_swath(spec: SceneSpec, n_scans: int = TRAINING_SCANS) -> Swath:
    """The spec's swath: its platform and start time, the bay centre at its scan angle."""
    return build_swath(spec.platform, spec.start_time, n_scans, scan_angle_deg=spec.scan_angle_deg)


def _bay_window(swath: Swath) -> tuple[slice, slice]:
    """The swath rows and columns that see the grid's box (with a margin of BAY_MARGIN_DEG)."""
    near = (
        (swath.lon > grid.WEST - BAY_MARGIN_DEG)
        & (swath.lon < grid.EAST + BAY_MARGIN_DEG)
        & (swath.lat > grid.SOUTH - BAY_MARGIN_DEG)
        & (swath.lat < grid.NORTH + BAY_MARGIN_DEG)
    )
    rows, columns = np.flatnonzero(near.any(axis=1)), np.flatnonzero(near.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(columns[0]), int(columns[-1]) + 1)


def sensor_view(scene: Scene, swath: Swath, noise: bool = True) -> np.ndarray:
    """The stored L1B reflectance of the whole swath, float32 (7, 20n, 2708).

    Only the part of the swath that sees the bay is imaged; the rest, which no reader of the
    bay looks at, holds the scene's mean reflectance. The footprint is the one at the bay
    centre's column (it changes little across the bay). `noise=False` leaves out the sensor's
    noise and stripes: the footprint and the geometry alone (for analyses of what they cost).
    """
    column = round(2 * (math.radians(scene.spec.scan_angle_deg) / IFOV_1KM_RAD + CENTRE_FRAME))
    rows, columns = _bay_window(swath)
    rho = np.empty((scene.rho.shape[0], *swath.lat.shape), dtype=np.float32)
    rho[:] = scene.rho.mean(axis=(1, 2))[:, None, None]
    rho[:, rows, columns] = observe(
        scene.rho,
        swath.lon[rows, columns],
        swath.lat[rows, columns],
        along_scan_km=float(swath.along_scan_km[column]),
        along_track_km=float(swath.along_track_km[column]),
    )
    l1b = l1b_reflectance(rho, swath)
    if not noise:
        return l1b
    rng = np.random.default_rng([scene.spec.seed, 1])
    l1b[:, rows, columns] = sensor_effects(l1b[:, rows, columns], swath.platform, rng, rows.start)
    return l1b


def write_scene_granule(
    scene: Scene,
    directory: str | Path,
    n_scans: int = TRAINING_SCANS,
    noise: bool = True,
    **writer_options,
) -> Path:
    """Write the scene as a granule of `n_scans` scans into `directory`; return its path."""
    swath = scene_swath(scene.spec, n_scans)
    return write_granule(directory, sensor_view(scene, swath, noise), swath, **writer_options)


def truth(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label, obscured mask and class map of a scene on the grid."""
    raster = fine_raster()
    obscured = obscured_mask(scene.clouds)
    return (
        ice_label(scene.surface, raster, obscured),
        obscured,
        class_map(scene.surface, raster, scene.clouds, scene.sunlit),
    )


def simulate(spec: SceneSpec) -> Example:
    """Render `spec`, pass it through a granule file and the runtime's reader, with its truth."""
    scene = render_scene(spec)
    with tempfile.TemporaryDirectory(prefix="bay-ice-synth-") as directory:
        path = write_scene_granule(scene, directory, deflate=None)
        crop = read_crop(path)
    label, obscured, classes = truth(scene)
    return Example(crop=crop, label=label, obscured=obscured, classes=classes)
