"""Benchmark: per-image latency of ONNX Runtime (CPU) against PyTorch eager, M20.1 and M21.1.

Both run the same model on the same crops in one process, at batch 1 and 8, with every CPU this
process may use. Latency does not depend on the weights, so freshly initialised models are
exported (no checkpoint needed). ONNX Runtime is also timed with other session options (basic
graph optimisation, two intra-op threads) so their effect is on record, and so are the int8
variant (calibrated on the same kind of inputs) and the fp16 variant, which is meant for CUDA
and only shown here to record what it costs on a CPU.

    python -m tests.benchmarks.bench_export [--write BENCHMARKS.md]

prints a Markdown section; --write replaces the "export" section of BENCHMARKS.md with it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from export.onnx_export import to_onnx
from export.quantize import convert_fp16, quantize_int8
from runtime import grid
from runtime.inference import SPINNING, usable_cpus
from tests.benchmarks.markdown import replace_section
from training.models import build_model

ARCHITECTURES = ("m20.1", "m21.1")
BATCHES = (1, 8)
RUNS = 7
BEGIN = "<!-- export benchmark: begin -->"
END = "<!-- export benchmark: end -->"


def crops(count: int, seed: int = 0) -> np.ndarray:
    """Reflectance-like inputs with a no-data wedge (timing does not depend on content)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.6, (count, len(grid.BANDS), grid.ROWS, grid.COLS)).astype(np.float32)
    x[:, :, :, -60:] = np.nan
    return x


def median_seconds(runs: dict[str, Callable[[], object]], repeats: int = RUNS) -> dict[str, float]:
    """Median wall time of each callable after one warm-up call. The callables take turns,
    so a burst of load from other processes hits all of them alike."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeats):
        for label, run in runs.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in times.items()}


def ort_session(path: Path, level: ort.GraphOptimizationLevel, threads: int):
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.intra_op_num_threads = threads
    options.add_session_config_entry(SPINNING, "0")  # as the runtime: sessions take turns here
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def bench_architecture(name: str, workdir: Path) -> list[dict]:
    """Per-image latency rows for one architecture."""
    model = build_model(name).eval()
    path = workdir / f"{name}.onnx"
    onnx.save(to_onnx(model), str(path))
    int8, fp16 = workdir / f"{name}.int8.onnx", workdir / f"{name}.fp16.onnx"
    quantize_int8(path, int8, crops(4, seed=1))
    convert_fp16(path, fp16)
    cpus = usable_cpus()
    full = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sessions = {
        f"ORT, all optimisations, {cpus} threads": ort_session(path, full, cpus),
        "ORT, basic optimisations, 2 threads": ort_session(
            path, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, 2
        ),
        f"ORT int8 QDQ, {cpus} threads": ort_session(int8, full, cpus),
        f"ORT fp16 (a CUDA variant, on CPU), {cpus} threads": ort_session(fp16, full, cpus),
    }
    rows = []
    for batch in BATCHES:
        x = crops(batch)
        tensor = torch.from_numpy(x)

        def eager(t=tensor):
            with torch.no_grad():
                return torch.sigmoid(model(t))

        runs = {"PyTorch eager": eager}
        for label, session in sessions.items():
            runs[label] = lambda s=session, a=x: s.run(None, {"reflectance": a})
        seconds = median_seconds(runs)
        rows.append({"model": name, "batch": batch}
                    | {label: value / batch for label, value in seconds.items()})
    return rows


def markdown(rows: list[dict]) -> str:
    labels = [k for k in rows[0] if k not in ("model", "batch")]
    head = "| model | batch | " + " | ".join(f"{k} (ms/image)" for k in labels)
    head += " | eager / ORT (first ORT column) |"
    lines = [head, "|---" * (len(labels) + 3) + "|"]
    for row in rows:
        cells = " | ".join(f"{row[k] * 1000:.1f}" for k in labels)
        ratio = row["PyTorch eager"] / row[labels[1]]
        lines.append(f"| {row['model']} | {row['batch']} | {cells} | {ratio:.2f}x |")
    return "\n".join(lines)


def section(rows: list[dict], load: float) -> str:
    return "\n".join([
        BEGIN,
        "## Export: ONNX Runtime (CPU) vs PyTorch eager",
        "",
        f"Machine: 2-core x86_64 VM, 24 GiB, no GPU, Python {platform.python_version()}; "
        f"torch {torch.__version__}, onnxruntime {ort.__version__}, {usable_cpus()} CPUs usable; "
        f"median of {RUNS} runs after a warm-up (all variants taking turns), freshly "
        "initialised weights, "
        f"input (N, 7, {grid.ROWS}, {grid.COLS}) with a no-data strip; 1-minute load average "
        f"{load:.1f} at the start (the machine is shared, so expect noise). "
        "Measured in one run by `python -m tests.benchmarks.bench_export --write BENCHMARKS.md`.",
        "",
        markdown(rows),
        END,
    ])




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="Markdown file whose export section to replace")
    args = parser.parse_args()
    torch.set_num_threads(usable_cpus())
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for name in ARCHITECTURES for row in bench_architecture(name, Path(tmp))]
    text = section(rows, load)
    print(text)
    if args.write:
        replace_section(args.write, text, BEGIN, END)


if __name__ == "__main__":
    main()
