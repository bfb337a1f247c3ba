"""The station install: `pip install .` (no extras) in a fresh venv runs `ice-runtime segment`
on the committed sample with the shipped default model, and torch is not importable there.

Slow (a fresh virtual environment, packages from PyPI): run by tests/run_slow.sh.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import models

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests/data/sample/MOD02HKM.A2024040.0210.061.2024040130000.hdf"
STEM = "MOD02HKM.A2024040.0210.061"
# What the package build needs; the copy keeps build files out of the working tree.
SOURCES = ("pyproject.toml", "README.md", "runtime", "training", "export", "models")


@pytest.mark.slow
def test_runtime_alone_segments_the_sample_without_torch(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python, ice_runtime = venv / "bin/python", venv / "bin/ice-runtime"
    subprocess.run([python, "-m", "pip", "install", "-q", str(source)], check=True)

    no_torch = subprocess.run([python, "-c", "import torch"], capture_output=True)
    assert no_torch.returncode != 0

    out = tmp_path / "out"
    run = subprocess.run([ice_runtime, "segment", str(SAMPLE), "-o", str(out), "--json"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{STEM}{suffix}" for suffix in (".ice.tif", ".json", ".png"))
    summary = json.loads((out / f"{STEM}.json").read_text())
    assert json.loads(run.stdout) == summary
    assert summary["execution_provider"] == "CPUExecutionProvider"
    assert summary["model"]["file"] == models.DEFAULT_MODEL
    codes = tifffile.imread(out / f"{STEM}.ice.tif")
    assert codes.shape == (285, 430) and set(np.unique(codes)) <= {0, 1, 2, 255}
    assert summary["counts"]["ice"] == int((codes == 1).sum())

    info = subprocess.run([ice_runtime, "info"], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "CPUExecutionProvider: runs here" in info.stdout
