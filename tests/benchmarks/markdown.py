"""Writing a benchmark's results into its section of BENCHMARKS.md; the machine they ran on."""

from __future__ import annotations

import re
from pathlib import Path

from runtime.outputs import write_bytes_atomic


def replace_section(path: Path, text: str, begin: str, end: str) -> None:
    """Replace the part of ``path`` between the ``begin`` and ``end`` markers with ``text``
    (which carries both markers), or append it; written atomically."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip() + "\n\n" + text
    write_bytes_atomic(path, (new.rstrip() + "\n").encode())


def vector_extensions() -> str:
    """The CPU's widest vector extensions, which set the speed of oneDNN's and ONNX Runtime's
    kernels: the project's VM has run on AVX-512 hosts and on AVX2-only ones, about half as fast."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next(line for line in cpuinfo if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "CPU extensions unknown"
    if "avx512f" in flags:
        extras = [name for flag, name in (("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16"),
                                          ("amx_tile", "AMX")) if flag in flags]
        return "AVX-512" + (f" with {', '.join(extras)}" if extras else "")
    return "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
