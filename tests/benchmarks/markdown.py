"""Writing a benchmark's results into its own section of BENCHMARKS.md."""

from __future__ import annotations

import os
import re
from pathlib import Path


def replace_section(path: Path, text: str, begin: str, end: str) -> None:
    """Replace the part of ``path`` between the ``begin`` and ``end`` markers with ``text``
    (which carries both markers), or append it; written atomically."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip() + "\n\n" + text
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new.rstrip() + "\n")
    os.replace(tmp, path)
