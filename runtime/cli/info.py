"""`ice-runtime info [--model PATH]`: the model card, the execution providers, the versions.

What a station operator checks first: which model would run (from its own metadata, plus the
``.md`` model card shipped beside it), which execution providers this onnxruntime build lists
and which of them really run here, and the versions of the pieces that matter.
"""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import typer

import models
from runtime.cli.common import ModelOption, reports_errors, setup_logging
from runtime.inference import Model, usable_cpus, working_providers

TOOL = "ice-runtime info"
PACKAGES = ("bay-ice", "onnxruntime-gpu", "onnxruntime", "numpy", "pyhdf", "typer", "tifffile")


def versions() -> dict[str, str]:
    """Installed versions of the packages that matter (those installed), and Python's."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def model_report(path: Path) -> dict:
    """What the model says about itself, its file, and its card beside it (if any)."""
    model = Model(path, device="cpu", threads=1)
    card = path.with_suffix(".md")
    return {
        "path": str(path),
        "sha256": model.sha256,
        **model.metadata.to_dict(),
        "card_path": str(card) if card.is_file() else None,
        "card": card.read_text() if card.is_file() else None,
    }


def report(model: Path | None) -> dict:
    """Everything `info` shows, as plain data. An explicit bad model raises ModelError."""
    import onnxruntime as ort  # here, not at the top: every command's module is imported

    path = model or models.default_model_path()
    found = model is not None or path.is_file()
    return {
        "model": model_report(path) if found else None,
        "default_model": str(models.default_model_path()),
        "shipped_models": [str(p) for p in models.available_models()],
        "providers_listed": ort.get_available_providers(),
        "providers_working": working_providers(path) if found else None,
        "usable_cpus": usable_cpus(),
        "versions": versions(),
    }


def _text(info: dict) -> str:
    lines = []
    m = info["model"]
    if m is None:
        lines.append(f"model         none: no shipped model at {info['default_model']}")
    else:
        grid = m["grid"]
        metrics = ", ".join(f"{k} {v}" for k, v in m["metrics"].items()
                            if not isinstance(v, (dict, list)))
        lines += [
            f"model         {m['name']} ({m['architecture']}, version {m['version']})",
            f"file          {m['path']}",
            f"sha256        {m['sha256']}",
            f"threshold     {m['threshold']}",
            f"input         {m['input']}, bands {' '.join(map(str, m['bands']))}, "
            f"normalisation {'in the graph' if m['normalisation']['in_graph'] else 'runtime'}",
            f"grid          {grid['crs']} {grid['rows']} x {grid['cols']}, lon {grid['west']}"
            f"..{grid['east']}, lat {grid['south']}..{grid['north']}",
            f"metrics       {metrics or '-'}",
            f"trained on    {m['trained_on'] or '-'}",
            f"checkpoint    {m['checkpoint_sha256'] or '-'}",
            f"card          {m['card_path'] or '-'}",
        ]
    lines.append(f"shipped       {', '.join(Path(p).name for p in info['shipped_models']) or '-'}")
    working = info["providers_working"]
    for provider in info["providers_listed"]:
        if working is None:
            state = "listed (no model to try it with)"
        elif provider in working:
            state = "runs here" if working[provider] else "listed, does not run here"
        else:
            state = "listed, not used by this runtime"
        lines.append(f"provider      {provider}: {state}")
    lines.append(f"cpus          {info['usable_cpus']} usable by this process")
    lines.append("versions      " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    if m is not None and m["card"]:
        lines += ["", m["card"].rstrip()]
    return "\n".join(lines)


@reports_errors(TOOL)
def info(
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
) -> None:
    """Show the model card, the execution providers that really run here, and versions."""
    setup_logging(verbose)
    found = report(model)
    typer.echo(json.dumps(found, indent=2) if as_json else _text(found))
