"""Measure ways to restore dead band-6 detector rows (the choice behind runtime/band6.py).

Band 6 of complete swath data is knocked out on Aqua's dead detectors and restored three ways:
- "interpolation": along track from the working detectors of the same scan;
- "regression": per-granule least squares of band 6 on bands 1-5 and 7;
- "regression+residual" (runtime.band6.restore): the regression plus its error at the working
  detectors (averaged over 5 columns), interpolated along track.
Scenes (all synthetic): the smooth and "realistic" ones of tests/band6_scenes.py and, optionally,
Terra granule files given on the command line (read with runtime.granule.read_swath). For those
files it also writes a copy with the rows knocked out and compares, on the grid, our crop and
satpy + pyresample's with the crop of the complete file.

Run from the repository root: python -m tests.benchmarks.band6_methods [TERRA_GRANULE.hdf ...]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from pyhdf.SD import SD, SDC

from runtime import band6
from runtime.granule import read_crop, read_swath
from tests.band6_scenes import realistic_scene, smooth_scene
from tests.test_resample import satpy_crop
from training.granule_writer import AQUA_BAND6_DEAD_DETECTORS, SI_DEAD, UI_SPECIAL


def errors(truth: np.ndarray, dead: np.ndarray) -> dict[str, tuple[float, float]]:
    """Median and 99th percentile |error| on the dead rows for each method."""
    knocked = truth.copy()
    rows = knocked.reshape(7, -1, band6.DETECTORS, truth.shape[-1])
    rows[band6.BAND6][:, dead] = np.nan
    estimates = {
        "interpolation": band6.interpolate_detectors(rows[band6.BAND6], dead),
        "regression": band6.regression_estimate(rows, dead),
    }
    restored = knocked.copy()
    band6.restore(restored, dead)
    estimates["regression+residual"] = restored[band6.BAND6].reshape(rows.shape[1:])
    target = truth[band6.BAND6].reshape(rows.shape[1:])[:, dead]
    out = {}
    for name, estimate in estimates.items():
        error = np.abs(estimate[:, dead] - target)
        error = error[np.isfinite(error)]
        out[name] = (float(np.median(error)), float(np.percentile(error, 99)))
    return out


def knocked_out_copy(path: Path, directory: Path, dead: np.ndarray) -> Path:
    """A copy of a granule whose band-6 rows of the ``dead`` detectors are 65531 (UI 15)."""
    copy = directory / path.name
    shutil.copy(path, copy)
    sd = SD(str(copy), SDC.WRITE)
    try:
        for name, code in (("EV_500_RefSB", SI_DEAD), ("EV_500_RefSB_Uncert_Indexes", UI_SPECIAL)):
            sds = sd.select(name)
            data = sds[:]
            rows = data[3].reshape(-1, band6.DETECTORS, data.shape[-1])  # band 6 is index 3
            rows[:, dead] = code
            sds[:] = data
            sds.endaccess()
        flags = np.array(sd.attributes()["Dead Detector List"], np.int8)
        flags[140:160] |= dead.astype(np.int8)
        sd.attr("Dead Detector List").set(SDC.INT8, flags.tolist())
    finally:
        sd.end()
    return copy


def grid_errors(path: Path, dead: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """On the grid: ours and satpy on the knocked-out copy against our crop of the original.

    Returns per reader: share of cells with band 6, median and 99th percentile |error|.
    """
    truth = read_crop(path).reflectance[band6.BAND6]
    with tempfile.TemporaryDirectory() as directory:
        copy = knocked_out_copy(path, Path(directory), dead)
        crops = {
            "ours (restored)": read_crop(copy).reflectance[band6.BAND6],
            "satpy + pyresample (1000 m)": satpy_crop(copy)[band6.BAND6],
        }
    out = {}
    for name, crop in crops.items():
        both = np.isfinite(crop) & np.isfinite(truth)
        error = np.abs(crop - truth)[both]
        out[name] = (
            float(np.isfinite(crop).mean()),
            float(np.median(error)),
            float(np.percentile(error, 99)),
        )
    return out


def main(paths: list[Path]) -> None:
    rng = np.random.default_rng(6)
    dead = np.zeros(band6.DETECTORS, bool)
    dead[list(AQUA_BAND6_DEAD_DETECTORS)] = True
    scenes = {
        "smooth (synthetic)": smooth_scene(rng),
        "realistic (synthetic)": realistic_scene(rng),
    }
    for path in paths:
        scenes[f"{path.name} (synthetic granule)"] = read_swath(path)[1].reflectance
    print("Swath space, knocked-out rows only:\n")
    print("| scene | method | median abs error | 99th percentile |")
    print("|---|---|---|---|")
    for scene, truth in scenes.items():
        for method, (median, p99) in errors(truth, dead).items():
            print(f"| {scene} | {method} | {median:.4f} | {p99:.4f} |")
    print("\nOn the grid, against the crop of the complete granule:\n")
    print("| granule | reader | cells with band 6 | median abs error | 99th percentile |")
    print("|---|---|---|---|---|")
    for path in paths:
        for reader, (share, median, p99) in grid_errors(path, dead).items():
            print(f"| {path.name} | {reader} | {share:.1%} | {median:.4f} | {p99:.4f} |")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
