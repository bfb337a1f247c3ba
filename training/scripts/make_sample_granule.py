"""Re-make the committed sample granule from a realistic simulated winter scene.

    python training/scripts/make_sample_granule.py [--seed N] [--preview PNG]

The granule's geometry, name and writing options belong to
``tests/data/sample/make_sample.py`` (``sample_swath``, ``write_sample``): a Terra MOD02HKM of
2024-02-09 02:10 UTC, 20 scans, the bay about 15 degrees west of nadir. This script fills it
with a scene of the simulator (``training.simulator``): mid-winter drift ice off white fast ice
in Amur, Ussuri and Posyet Bays, partly cloudy, imaged with the footprint, noise and stripes
of the sensor. The content is synthetic, not a real observation.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from pathlib import Path

from runtime.granule import read_crop
from training.cli.preview import panels, save_png
from training.simulator.granule import sensor_view
from training.simulator.regimes import LOW_SUN_ZENITH_DEG, SceneSpec, solar_zenith_deg
from training.simulator.render import render_scene

REPO = Path(__file__).resolve().parents[2]
MAKE_SAMPLE = REPO / "tests" / "data" / "sample" / "make_sample.py"
#: Chosen by looking at previews: drift ice and fast ice in view, cloud over part of the bay.
DEFAULT_SEED = 10


def load_make_sample():
    """The sample's own make script as a module (it is not inside a package)."""
    module_spec = importlib.util.spec_from_file_location("make_sample", MAKE_SAMPLE)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def sample_spec(make_sample, seed: int) -> SceneSpec:
    """The scene spec matching the sample granule's platform, time and scan angle."""
    start = make_sample.START
    return SceneSpec(
        name=make_sample.SAMPLE_NAME[:26],
        platform="Terra",
        start_time=start,
        ice_regime="drift",
        cloud_regime="partly",
        sun="low" if solar_zenith_deg(start) > LOW_SUN_ZENITH_DEG else "high",
        certain_no_ice=False,
        scan_angle_deg=make_sample.SCAN_ANGLE_DEG,
        seed=seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--directory", type=Path, default=MAKE_SAMPLE.parent)
    parser.add_argument("--preview", type=Path, help="also write a preview PNG of the crop")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    make_sample = load_make_sample()
    scene = render_scene(sample_spec(make_sample, args.seed))
    path = make_sample.write_sample(sensor_view(scene, make_sample.sample_swath()), args.directory)
    logging.info("%s: %.1f MB", path, path.stat().st_size / 1e6)
    if args.preview:
        crop = read_crop(path)
        save_png(panels(crop.reflectance, None, None, path.name, crop.info.start_time),
                 args.preview)


if __name__ == "__main__":
    main()
