"""Measure ways to restore dead band-6 detector rows (the choice behind runtime/band6.py).

Band 6 of complete swath data is knocked out on Aqua's dead detectors and restored three ways:
- "interpolation": along track from the working detectors of the same scan;
- "regression": per-granule least squares of band 6 on bands 1-5 and 7;
- "regression+residual" (runtime.band6.restore): the regression plus its error at the working
  detectors, interpolated along track.
Scenes (all synthetic): the smooth and "realistic" ones of tests/band6_scenes.py and, optionally,
Terra granule files given on the command line (read with runtime.granule.read_swath).

Run from the repository root: python -m tests.benchmarks.band6_methods [TERRA_GRANULE.hdf ...]
"""

from __future__ import annotations

import sys

import numpy as np

from runtime import band6
from runtime.granule import read_swath
from tests.band6_scenes import realistic_scene, smooth_scene


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


def main(paths: list[str]) -> None:
    rng = np.random.default_rng(6)
    dead = np.zeros(band6.DETECTORS, bool)
    dead[[0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 13, 14, 16, 17, 19]] = True
    scenes = {
        "smooth (synthetic)": smooth_scene(rng),
        "realistic (synthetic)": realistic_scene(rng),
    }
    for path in paths:
        scenes[f"{path} (synthetic granule)"] = read_swath(path)[1].reflectance
    print("| scene | method | median abs error | 99th percentile |")
    print("|---|---|---|---|")
    for scene, truth in scenes.items():
        for method, (median, p99) in errors(truth, dead).items():
            print(f"| {scene} | {method} | {median:.4f} | {p99:.4f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
