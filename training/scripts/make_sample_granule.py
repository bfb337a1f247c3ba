"""Make the committed sample granule from a realistic simulated winter scene.

    python training/scripts/make_sample_granule.py [--seed N] [--preview PNG]

Writes ``tests/data/sample/MOD02HKM.A2024040.0210.061.2024040130000.hdf``: a Terra MODIS L1B
500 m granule of 2024-02-09 02:10 UTC in the format of NASA's archive, cut to a station-like
20 scans (about 200 km along track) with the whole bay about 15 degrees west of nadir. Its
content is a scene of the simulator (``training.simulator``): mid-winter drift ice off white
fast ice in Amur, Ussuri and Posyet Bays, partly cloudy, imaged with the footprint, noise and
stripes of the sensor. Synthetic, not a real observation.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timezone
from pathlib import Path

from runtime.granule import read_crop
from training.cli.preview import panels, save_png
from training.granule_writer import write_granule
from training.simulator.granule import sensor_view
from training.simulator.regimes import LOW_SUN_ZENITH_DEG, SceneSpec, solar_zenith_deg
from training.simulator.render import render_scene
from training.swath import build_swath

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "sample"
SAMPLE_NAME = "MOD02HKM.A2024040.0210.061.2024040130000.hdf"
START = datetime(2024, 2, 9, 2, 10, tzinfo=timezone.utc)
PRODUCED = datetime(2024, 2, 9, 13, 0, tzinfo=timezone.utc)
N_SCANS = 20
SCAN_ANGLE_DEG = -15.0
#: Chosen by looking at previews: drift ice and fast ice in view, cloud over part of the bay.
DEFAULT_SEED = 10


def sample_spec(seed: int) -> SceneSpec:
    """The scene spec matching the sample granule's platform, time and scan angle."""
    return SceneSpec(
        name=SAMPLE_NAME[:26],
        platform="Terra",
        start_time=START,
        ice_regime="drift",
        cloud_regime="partly",
        sun="low" if solar_zenith_deg(START) > LOW_SUN_ZENITH_DEG else "high",
        certain_no_ice=False,
        scan_angle_deg=SCAN_ANGLE_DEG,
        seed=seed,
    )


def make_sample(seed: int = DEFAULT_SEED, directory: Path = SAMPLE_DIR) -> Path:
    """Render the scene, image it on the sample's swath and write the granule; its path."""
    swath = build_swath("Terra", START, N_SCANS, scan_angle_deg=SCAN_ANGLE_DEG)
    reflectance = sensor_view(render_scene(sample_spec(seed)), swath)
    return write_granule(
        directory, reflectance, swath, production_time=PRODUCED, filename=SAMPLE_NAME, deflate=9
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--directory", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--preview", type=Path, help="also write a preview PNG of the crop")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = make_sample(args.seed, args.directory)
    logging.info("%s: %.1f MB", path, path.stat().st_size / 1e6)
    if args.preview:
        crop = read_crop(path)
        save_png(panels(crop.reflectance, None, None, path.name, crop.info.start_time),
                 args.preview)


if __name__ == "__main__":
    main()
