"""Measure ways to restore dead band-6 detector rows (the choice behind runtime/band6.py).

Band 6 of complete swath data is knocked out on Aqua's dead detectors and restored three ways:
- "interpolation": along track from the working detectors of the same scan;
- "regression": per-granule least squares of band 6 on bands 1-5 and 7;
- "regression+residual" (runtime.band6.restore): the regression plus its error at the working
  detectors (averaged over 5 columns), interpolated along track.
Scenes (all synthetic): the smooth and "realistic" ones of tests/band6_scenes.py and, optionally,
granule files given on the command line (read with runtime.granule.read_swath).

On the grid it also compares three rules for which pixel gives a cell its band 6:
- "measured first (1000 m)" (runtime.resample.resample_measured_first, what read_crop does): a
  working detector's pixel within 1000 m (satpy's radius) or within its footprint radius wins
  over a nearer restored one; restored pixels fill the rest;
- "measured first (footprint)": the same with only the footprint radius for working pixels;
- "nearest pixel": restored and measured pixels alike.
For a Terra file it writes a copy with Aqua's rows knocked out and compares each rule, and
satpy + pyresample, with the crop of the complete file (the truth). For an Aqua file it compares
each rule with satpy + pyresample on the cells valid in both, as issue 2's acceptance does.

Run from the repository root:
    python -m tests.benchmarks.band6_methods [GRANULE.hdf ...]
    python -m tests.benchmarks.band6_methods --simulate DIR   (writes 3 Terra + 3 Aqua granules
    of the scene simulator, partly or mostly cloudy, into DIR and measures them)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from pyhdf.SD import SD, SDC

from runtime import band6, grid, resample
from runtime.granule import read_crop, read_swath
from tests.band6_scenes import realistic_scene, smooth_scene
from tests.test_resample import satpy_crop
from training.granule_writer import AQUA_BAND6_DEAD_DETECTORS, SI_DEAD, UI_SPECIAL
from training.simulator.granule import write_scene_granule
from training.simulator.regimes import sample_specs
from training.simulator.render import render_scene

BAND4 = grid.BANDS.index(4)
SATPY = "satpy + pyresample (1000 m)"
#: The "measured first" rules: how far a measured pixel reaches over restored ones (m; at least
#: the pixel's footprint radius).
MEASURED_REACH = {
    "measured first (1000 m, ours)": resample.MEASURED_RADIUS_M,
    "measured first (footprint)": 0.0,
}


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


def pixel_choices(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Band 6 of a granule with dead rows on the grid by each pixel rule; band 4 on the grid."""
    _, swath = read_swath(path)
    radius = resample.search_radius(swath.along_scan, swath.along_track)
    restored = band6.restore(swath.reflectance, swath.dead_band6_detectors)
    crop = resample.resample_nearest(swath.xyz, radius, swath.reflectance)
    values = swath.reflectance[band6.BAND6]
    choices = {
        rule: resample.resample_measured_first(swath.xyz, radius, values, restored, reach)
        for rule, reach in MEASURED_REACH.items()
    }
    choices["nearest pixel"] = crop[band6.BAND6]
    return choices, crop[BAND4]


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


def difference(crop: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Median and 99th percentile of |crop - reference| over cells valid in both."""
    both = np.isfinite(crop) & np.isfinite(reference)
    error = np.abs(crop - reference)[both]
    return float(np.median(error)), float(np.percentile(error, 99))


def against_truth(path: Path, dead: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """Terra file, rows knocked out: each rule and satpy against the crop of the complete file.

    Returns per rule: share of cells with band 6, median and 99th percentile |error|.
    """
    truth = read_crop(path).reflectance[band6.BAND6]
    with tempfile.TemporaryDirectory() as directory:
        copy = knocked_out_copy(path, Path(directory), dead)
        crops, _ = pixel_choices(copy)
        crops[SATPY] = satpy_crop(copy)[band6.BAND6]
    return {
        name: (float(np.isfinite(crop).mean()), *difference(crop, truth))
        for name, crop in crops.items()
    }


def against_satpy(path: Path) -> dict[str, tuple[float, float, float]]:
    """Aqua file: each rule against satpy where both have band 6.

    Returns per rule: median and 99th percentile |difference|, and the share of grid cells
    without band 6 beyond those without band 4.
    """
    crops, band4 = pixel_choices(path)
    theirs = satpy_crop(path)[band6.BAND6]
    extra = float(np.isnan(band4).sum()) / band4.size
    return {
        name: (*difference(crop, theirs), float(np.isnan(crop).sum()) / crop.size - extra)
        for name, crop in crops.items()
    }


def simulate(directory: Path) -> list[Path]:
    """Three Terra and three Aqua granules of the scene simulator, not clear-sky (synthetic)."""
    specs = [s for s in sample_specs(40, 0, seed=11) if s.cloud_regime != "clear"]
    paths = []
    for platform in ("Terra", "Aqua"):
        for spec in [s for s in specs if s.platform == platform][:3]:
            folder = directory / spec.name
            folder.mkdir(parents=True, exist_ok=True)
            paths.append(write_scene_granule(render_scene(spec), folder, deflate=None))
            print(
                f"{paths[-1]}: {spec.ice_regime} ice, {spec.cloud_regime} cloudy, "
                f"scan angle {spec.scan_angle_deg:.0f} deg"
            )
    return paths


def label(path: Path) -> str:
    """Folder and file name: the fixtures share file names."""
    return f"{path.parent.name}/{path.name}"


def main(paths: list[Path]) -> None:
    rng = np.random.default_rng(6)
    dead = np.zeros(band6.DETECTORS, bool)
    dead[list(AQUA_BAND6_DEAD_DETECTORS)] = True
    platforms = {path: read_swath(path)[0].platform for path in paths}
    terra = [path for path in paths if platforms[path] == "Terra"]
    aqua = [path for path in paths if platforms[path] == "Aqua"]
    scenes = {
        "smooth (synthetic)": smooth_scene(rng),
        "realistic (synthetic)": realistic_scene(rng),
    }
    for path in terra:
        scenes[f"{label(path)} (synthetic granule)"] = read_swath(path)[1].reflectance
    print("Swath space, knocked-out rows only:\n")
    print("| scene | method | median abs error | 99th percentile |")
    print("|---|---|---|---|")
    for scene, truth in scenes.items():
        for method, (median, p99) in errors(truth, dead).items():
            print(f"| {scene} | {method} | {median:.4f} | {p99:.4f} |")
    print("\nOn the grid, Terra with Aqua's rows knocked out, against the complete crop:\n")
    print("| granule | pixel rule | cells with band 6 | median abs error | 99th percentile |")
    print("|---|---|---|---|---|")
    for path in terra:
        for rule, (share, median, p99) in against_truth(path, dead).items():
            print(f"| {label(path)} | {rule} | {share:.1%} | {median:.4f} | {p99:.4f} |")
    print("\nOn the grid, Aqua, against satpy + pyresample where both have band 6:\n")
    print("| granule | pixel rule | median abs diff | 99th percentile | no band 6 beyond band 4 |")
    print("|---|---|---|---|---|")
    for path in aqua:
        for rule, (median, p99, extra) in against_satpy(path).items():
            print(f"| {label(path)} | {rule} | {median:.4f} | {p99:.4f} | {extra:.2%} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("granules", nargs="*", type=Path)
    parser.add_argument("--simulate", type=Path, help="write simulator granules here first")
    args = parser.parse_args()
    main(args.granules + (simulate(args.simulate) if args.simulate else []))
