"""Benchmark: `ice-runtime segment`, a full-size granule to its outputs, warm and cold.

- warm: one Segmenter (session loaded), a full-size granule (203 scans, the bay at nadir, made
  with tests/fake_granules.py: synthetic) read, segmented and written (GeoTIFF, PNG, JSON);
  median of several runs after a warm-up, with 1 and with every usable CPU; in a child process
  so its peak memory is its own.
- cold: the whole command, `ice-runtime segment GRANULE -o DIR`, as a fresh process (imports,
  session, one granule), on the committed sample (20 scans) and on the full-size granule.

    python -m tests.benchmarks.bench_segment [--model PATH] [--write BENCHMARKS.md]

prints a Markdown section; --write replaces the "segment" section of BENCHMARKS.md with it.
Without --model it uses the shipped default model.
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

import onnxruntime as ort

import models
from runtime.inference import Model, usable_cpus
from tests.benchmarks.markdown import replace_section, vector_extensions

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests/data/sample/MOD02HKM.A2024040.0210.061.2024040130000.hdf"
ICE_RUNTIME = Path(sys.executable).parent / "ice-runtime"
FULL_SCANS = 203
RUNS = 5
BEGIN = "<!-- segment benchmark: begin -->"
END = "<!-- segment benchmark: end -->"


def make_full_granule(directory: Path) -> Path:
    """A synthetic full-size Terra granule with the bay at nadir, made in another process:
    Linux children inherit the peak memory of the process that forks them."""
    code = ("import sys; from tests import fake_granules; print(fake_granules.make_granule("
            f"sys.argv[1], 'Terra', 'nadir', n_scans={FULL_SCANS}))")
    result = subprocess.run([sys.executable, "-c", code, str(directory)], capture_output=True,
                            text=True, check=True, cwd=ROOT)
    return Path(result.stdout.strip())


def warm_child(granule: Path, model: Path, threads: int, runs: int) -> dict:
    """In this process: load once, then time granule -> outputs; medians and peak memory."""
    from runtime.segment import Segmenter

    segmenter = Segmenter(model, device="cpu", threads=threads)
    walls, parts = [], []
    with tempfile.TemporaryDirectory() as out:
        for run in range(runs + 1):
            start = time.perf_counter()
            summary = segmenter.segment(granule).save(out)
            if run:  # the first run is the warm-up
                walls.append(time.perf_counter() - start)
                parts.append(summary["timings_s"])
    return {
        "threads": threads,
        "wall_s": statistics.median(walls),
        "min_s": min(walls),
        **{f"{k}_s": statistics.median(p[k] for p in parts)
           for k in ("read", "inference", "quicklook", "write")},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def warm(granule: Path, model: Path, threads: int) -> dict:
    """warm_child in a fresh Python process."""
    result = subprocess.run(
        [sys.executable, "-m", __spec__.name, "--warm-child", str(granule), "--model", str(model),
         "--threads", str(threads)],
        capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(result.stdout)


def cold(granule: Path, model: Path) -> dict:
    """Wall time (median of 3) and peak memory of the whole command in a fresh process."""
    walls, peaks = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            process = subprocess.Popen([str(ICE_RUNTIME), "segment", str(granule), "-o", out,
                                        "--model", str(model)], stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            walls.append(time.perf_counter() - start)
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"ice-runtime segment {granule} failed")
            peaks.append(usage.ru_maxrss / 1024)
    return {"wall_s": statistics.median(walls), "peak_rss_mib": max(peaks)}


def describe_model(path: Path) -> str:
    """Name, architecture and version from the model's own metadata."""
    meta = Model(path, device="cpu", threads=1).metadata
    return f"{meta.name}, architecture {meta.architecture}, version {meta.version}"


def section(model: Path, warm_rows: list[dict], cold_rows: dict[str, dict],
            load: tuple[float, float, float]) -> str:
    lines = [
        BEGIN,
        "## Segment: granule to outputs (`ice-runtime segment`)",
        "",
        f"Machine: 2-core x86_64 VM ({vector_extensions()}), 24 GiB, no GPU, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}, Python {platform.python_version()}; "
        f"onnxruntime {ort.__version__} on CPUExecutionProvider, {usable_cpus()} CPUs usable; "
        f"load average before the run {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(other work on the machine slows every figure). "
        f"Model: `{model.name}` ({describe_model(model)}; speed does not depend on the "
        "weights). Granules are **synthetic** (tests/fake_granules.py full-size "
        f"{FULL_SCANS}-scan Terra granule, the bay at nadir; the committed 20-scan sample). "
        "Outputs: X.ice.tif, X.png, X.json (no probability GeoTIFF). "
        "Measured in one run by `python -m tests.benchmarks.bench_segment --write BENCHMARKS.md`.",
        "",
        f"Warm (session loaded), full-size granule, median of {RUNS} runs after a warm-up "
        "(target: <= 1.0 s on 2 cores):",
        "",
        "| threads | granule -> outputs (s) | fastest (s) | read | inference | quick-look "
        "| write | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in warm_rows:
        lines.append(
            f"| {row['threads']} | {row['wall_s']:.2f} | {row['min_s']:.2f} | "
            f"{row['read_s']:.2f} | {row['inference_s']:.2f} | {row['quicklook_s']:.2f} | "
            f"{row['write_s']:.2f} | {row['peak_rss_mib']:.0f} |")
    lines += [
        "",
        "Cold: the whole command in a fresh process (Python start, imports, session, one "
        "granule), median of 3:",
        "",
        "| command | wall (s) | peak RSS (MiB) |",
        "|---|---|---|",
    ]
    for name, row in cold_rows.items():
        lines.append(f"| `{name}` | {row['wall_s']:.2f} | {row['peak_rss_mib']:.0f} |")
    lines.append(END)
    return "\n".join(lines)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=models.default_model_path())
    parser.add_argument("--write", type=Path, help="Markdown file whose segment section to replace")
    parser.add_argument("--warm-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm_child:
        print(json.dumps(warm_child(args.warm_child, args.model, args.threads, RUNS)))
        return
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        granule = make_full_granule(Path(tmp))
        warm_rows = [warm(granule, args.model, threads)
                     for threads in sorted({1, usable_cpus()})]
        cold_rows = {
            f"ice-runtime segment {SAMPLE.name} (20 scans)": cold(SAMPLE, args.model),
            f"ice-runtime segment (full-size, {FULL_SCANS} scans)": cold(granule, args.model),
        }
    text = section(args.model, warm_rows, cold_rows, load)
    print(text)
    if args.write:
        replace_section(args.write, text, BEGIN, END)


if __name__ == "__main__":
    main()
