"""Benchmark: building a full 203-scan swath and writing a NASA-size MOD02HKM granule.

Times (median of a few runs) for: the swath geometry (``training.swath.build_swath``, exact
500 m and 1 km positions of 4060 x 2708 pixels), the L1B reflectance (rho * cos(solar zenith)
per pixel), and ``write_granule`` with chunked deflate (level 4) and without compression; the
granules' sizes; the test-fixture granule (24 scans); the peak memory of the whole run. The
reflectance is a synthetic blocky pattern (the test fixtures'), so sizes are those of
synthetic data; noisy real scenes compress less.

    python -m tests.benchmarks.bench_granule_writer [--write BENCHMARKS.md]

prints a Markdown section; --write replaces the "granule writer" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

from tests import fake_granules
from tests.benchmarks.markdown import replace_section
from training.granule_writer import l1b_reflectance, write_granule
from training.swath import build_swath

BEGIN = "<!-- granule writer benchmark: begin -->"
END = "<!-- granule writer benchmark: end -->"
RUNS = 3
START = fake_granules.START_TIMES["Terra"]


def median_seconds(run, runs: int = RUNS) -> tuple[float, object]:
    """Median wall time of ``run()`` and its last result."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def measure(workdir: Path) -> list[tuple[str, str]]:
    rows = []
    seconds, swath = median_seconds(lambda: build_swath("Terra", START, 203))
    rows.append(("swath geometry, 203 scans (4060 x 2708 pixels)", f"{seconds:.2f} s"))
    rho = fake_granules.fake_reflectance(swath) / 0.5
    seconds, refl = median_seconds(lambda: l1b_reflectance(rho, swath))
    rows.append(("L1B reflectance rho * cos(sza), 7 bands", f"{seconds:.2f} s"))
    for label, deflate in (("deflate 4, chunk per scan", 4), ("no compression", None)):
        folder = workdir / str(deflate)
        folder.mkdir()
        seconds, path = median_seconds(
            lambda f=folder, d=deflate: write_granule(f, refl, swath, deflate=d)
        )
        size = path.stat().st_size / 1e6
        rows.append((f"write_granule, 203 scans, {label}", f"{seconds:.2f} s, {size:.0f} MB"))
    folder = workdir / "fixture"
    folder.mkdir()
    seconds, path = median_seconds(lambda: fake_granules.make_granule(folder, "Terra", "nadir"))
    size = path.stat().st_size / 1e6
    rows.append(
        (
            "test fixture granule (24 scans, geometry + pattern + write)",
            f"{seconds:.2f} s, {size:.1f} MB",
        )
    )
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rows.append(("peak resident memory of the whole run", f"{peak_gib:.2f} GiB"))
    return rows


def section(rows: list[tuple[str, str]]) -> str:
    lines = [
        BEGIN,
        "## Granule writer and swath geometry (synthetic data)",
        "",
        f"Machine: 2-core x86_64 VM, 24 GiB, no GPU, Python {platform.python_version()}; "
        f"median of {RUNS} runs; blocky synthetic reflectance (the test fixtures' pattern). "
        "Measured by `python -m tests.benchmarks.bench_granule_writer --write BENCHMARKS.md`.",
        "",
        "| step | result |",
        "|---|---|",
        *(f"| {step} | {result} |" for step, result in rows),
        END,
    ]
    return "\n".join(lines)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="Markdown file whose section to replace")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        text = section(measure(Path(tmp)))
    print(text)
    if args.write:
        replace_section(args.write, text, BEGIN, END)


if __name__ == "__main__":
    main()
