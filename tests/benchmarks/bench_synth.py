"""Benchmark of the synthetic dataset builder, and the NDSI baseline scored on what it built.

    python -m tests.benchmarks.bench_synth OUT_DIR [--labelled 370 --clear 200 --seed 0
                                            --workers 2] [--write BENCHMARKS.md]

Builds a dataset with `train-ssegm synth` in a fresh process (the command a user runs), timing
the whole command (interpreter start, workers, every scene written and read back through the
runtime's reader) and its CPU time, then scores the classical NDSI threshold baseline
(`training.baselines.ndsi_ice_mask`, literature thresholds) per regime on the built dataset
(`training/scripts/score_ndsi_baseline.py`). Prints a Markdown section; --write replaces the
"synth" section of BENCHMARKS.md with it. All figures are synthetic.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training" / "scripts"))

from score_ndsi_baseline import score  # noqa: E402

from tests.benchmarks.markdown import replace_section  # noqa: E402

BEGIN = "<!-- synth benchmark: begin -->"
END = "<!-- synth benchmark: end -->"


def build(out_dir: Path, labelled: int, clear: int, seed: int, workers: int) -> dict:
    """Run `train-ssegm synth` once; wall and CPU seconds (children included)."""
    command = [
        str(Path(sys.executable).with_name("train-ssegm")), "synth", str(out_dir),
        "--labelled", str(labelled), "--clear", str(clear), "--seed", str(seed),
        "--workers", str(workers),
    ]
    load = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"scenes": labelled + clear, "wall_s": wall, "cpu_s": cpu, "load": load,
            "peak_rss_mib": after.ru_maxrss / 1024}


def section(run: dict, scores: dict, args: argparse.Namespace) -> str:
    """The Markdown section for BENCHMARKS.md."""
    n, wall, cpu = run["scenes"], run["wall_s"], run["cpu_s"]
    lines = [
        BEGIN,
        "## Synthetic dataset builder (`train-ssegm synth`) and the NDSI baseline (synthetic)",
        "",
        f"Machine: 2-core x86_64 VM, 24 GiB, no GPU, Python {platform.python_version()}; load "
        f"average before the run {run['load'][0]:.1f} / {run['load'][1]:.1f} / "
        f"{run['load'][2]:.1f} (other jobs on the machine slow the wall time; the CPU time is "
        "not affected). Each scene is rendered on the fine raster, written as an "
        "18-scan MOD02HKM/MYD02HKM granule and read back with `runtime.granule.read_crop`. "
        f"Measured by `python -m tests.benchmarks.bench_synth OUT --labelled {args.labelled} "
        f"--clear {args.clear} --seed {args.seed} --workers {args.workers} --write BENCHMARKS.md`."
        " Target: the default 570-scene dataset in under 20 minutes on 2 cores.",
        "",
        "| scenes | workers | wall | scenes/s | CPU s per scene | largest process RSS (MiB) |",
        "|---|---|---|---|---|---|",
        f"| {n} | {args.workers} | {wall / 60:.1f} min ({wall:.0f} s) | {n / wall:.2f} | "
        f"{cpu / n:.2f} | {run['peak_rss_mib']:.0f} |",
        "",
        "NDSI(B4, B6) >= 0.4, B2 > 0.11, B4 > 0.10 on rho = value / cos(sza) "
        "(`training/baselines.py`, literature thresholds, not tuned), scored on the same "
        "synthetic dataset: water cells of the land mask with data in every band, obscured "
        "cells left out; IoU pooled over the group's cells.",
        "",
        "| group | value | scenes | ice cells | IoU (synthetic) | accuracy (synthetic) |",
        "|---|---|---|---|---|---|",
    ]
    for group, values in scores.items():
        for value, entry in sorted(values.items()):
            lines.append(
                f"| {group} | {value} | {entry['scenes']} | {entry['ice_cells']} | "
                f"{entry['iou']:.3f} | {entry['accuracy']:.4f} |"
            )
    lines.append(END)
    return "\n".join(lines)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="new dataset folder")
    parser.add_argument("--labelled", type=int, default=370)
    parser.add_argument("--clear", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--write", type=Path, help="Markdown file whose synth section to replace")
    args = parser.parse_args()
    run = build(args.out_dir, args.labelled, args.clear, args.seed, args.workers)
    text = section(run, score(args.out_dir), args)
    print(text)
    if args.write:
        replace_section(args.write, text, BEGIN, END)


if __name__ == "__main__":
    main()
