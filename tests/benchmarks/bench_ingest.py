"""Benchmark: a full-size granule (203 scans, 4060 x 2708 at 500 m) to a crop of the bay grid.

Makes a synthetic Terra granule with the test writer (bay mid-swath, in the middle scan), once
uncompressed and once deflate-compressed in chunks of one scan, then times in fresh processes:
- ``ice-runtime crop GRANULE -o DIR`` (interpreter start, imports, read, resample, write);
- the same job through satpy (``modis_l1b`` reader, reflectance, 7 bands) + pyresample nearest
  neighbour onto the grid, for comparison.
Wall time of the whole process (best and median of ``--repeat`` runs), its CPU time (user +
system, all threads; the figure that does not depend on other load on the machine) and its peak
resident memory (VmHWM). Prints a Markdown table for BENCHMARKS.md (the figures are synthetic-data
figures; the machine is printed with them).

Run from the repository root: python -m tests.benchmarks.bench_ingest [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import fake_granules

N_SCANS = 203

# Child programs: run the job, then print the process's peak RSS as JSON. VmHWM (Linux) rather
# than ru_maxrss, which a child inherits from the parent that forked it.
PEAK_RSS = """
def peak_rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""
OURS = (
    PEAK_RSS
    + """
import sys
from runtime.cli import app
try:
    app(["crop", sys.argv[1], "-o", sys.argv[2]])
except SystemExit as done:
    assert not done.code, done.code
print('{"maxrss_kib": %d}' % peak_rss_kib())
"""
)
SATPY = (
    PEAK_RSS
    + """
import sys
import numpy as np
from pyresample.geometry import AreaDefinition
from satpy import Scene
from runtime import grid
names = [str(b) for b in grid.BANDS]
area = AreaDefinition("bay", "bay", "bay", grid.CRS, grid.COLS, grid.ROWS,
                      (grid.WEST, grid.SOUTH, grid.EAST, grid.NORTH))
scene = Scene(reader="modis_l1b", filenames=[sys.argv[1]])
scene.load(names, calibration="reflectance")
out = scene.resample(area, resampler="nearest")
crop = np.stack([out[n].values / 100 for n in names]).astype(np.float32)
np.save(sys.argv[2] + "/satpy.npy", crop)
print('{"maxrss_kib": %d}' % peak_rss_kib())
"""
)


def make_granules(directory: Path) -> dict[str, Path]:
    """The full-size granule uncompressed and compressed (written once, reused)."""
    granules = {}
    for label, deflate in (("uncompressed", None), ("deflate-4, one chunk per scan", 4)):
        folder = directory / ("plain" if deflate is None else "deflate")
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(folder.glob("*.hdf"))
        granules[label] = (
            existing[0]
            if existing
            else fake_granules.make_granule(
                folder, "Terra", "mid", n_scans=N_SCANS, deflate=deflate, missing_scans=()
            )
        )
    return granules


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(program: str, granule: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of a fresh process running ``program``."""
    with tempfile.TemporaryDirectory() as out:
        cpu = _children_cpu_s()
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", program, str(granule), out],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - start
        cpu = _children_cpu_s() - cpu
    maxrss_kib = json.loads(done.stdout.strip().splitlines()[-1])["maxrss_kib"]
    return wall, cpu, maxrss_kib / 1024


def machine() -> str:
    cores = os.cpu_count()
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {cores} cores, {memory_gib:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench_ingest"
    )
    args = parser.parse_args()

    granules = make_granules(args.workdir)
    print(f"Machine: {machine()}. Synthetic Terra granule, {N_SCANS} scans, bay mid-swath.")
    print(f"Load average before: {os.getloadavg()[0]:.1f} (other work here slows wall time).\n")
    print(
        "| granule file | job | wall s (best / median) | CPU s user+sys (median) "
        "| peak RSS MiB (max) | file MiB |"
    )
    print("|---|---|---|---|---|---|")
    for label, granule in granules.items():
        size = granule.stat().st_size / 2**20
        for job, program in (("ice-runtime crop", OURS), ("satpy + pyresample", SATPY)):
            runs = [run_child(program, granule) for _ in range(args.repeat)]
            walls = [wall for wall, _, _ in runs]
            cpu = statistics.median(cpu for _, cpu, _ in runs)
            peak = max(rss for _, _, rss in runs)
            print(
                f"| {label} | {job} | {min(walls):.2f} / {statistics.median(walls):.2f} "
                f"| {cpu:.2f} | {peak:.0f} | {size:.0f} |"
            )
    print(f"\nLoad average after: {os.getloadavg()[0]:.1f}.")


if __name__ == "__main__":
    main()
