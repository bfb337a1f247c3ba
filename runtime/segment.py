"""The station's main job as a library: granule in, ice map and summary out.

    from runtime.segment import Segmenter

    segmenter = Segmenter()                      # the default shipped model, best device
    result = segmenter.segment("MOD02HKM.A2024040.0210.061.2024040130000.hdf")
    result.summary["ice_area_km2"]               # also result.codes, result.probability
    result.save("out/")                          # X.ice.tif, X.png, X.json (+ X.prob.tif)

One :class:`Segmenter` holds one inference session, so many granules share it.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

import models
import runtime
from runtime import grid, landmask, outputs
from runtime.errors import InputNotFound, ModelError
from runtime.granule import GranuleInfo, read_crop
from runtime.inference import Model

log = logging.getLogger(__name__)

#: Granule files picked up when a directory is given (case-insensitive name endings).
GRANULE_SUFFIXES = (".hdf", ".l1b_hkm")
# .hdf names that say they are another MODIS product (1 km, 250 m, geolocation).
_OTHER_PRODUCT = re.compile(r"(^m[oy]d(021km|02qkm|03)[._])|(\.(1000m|250m|geo)\.hdf$)", re.I)


def find_granules(paths: list[Path]) -> list[Path]:
    """The granule files named, and those found directly inside the directories named.

    A directory contributes its ``*.hdf`` and ``*.L1B_HKM`` files (hidden files and names of
    other MODIS products excluded), sorted by name. A path that does not exist raises
    :class:`InputNotFound`, as does a directory without granules.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if is_granule_name(p.name) and p.is_file())
            if not inside:
                raise InputNotFound("no granules (*.hdf, *.L1B_HKM) in this directory", path)
            found.extend(inside)
        elif path.exists():
            found.append(path)
        else:
            raise InputNotFound("no such file or directory", path)
    return found


def is_granule_name(name: str) -> bool:
    """True for names a directory scan takes as 500 m granules."""
    return (not name.startswith(".") and name.lower().endswith(GRANULE_SUFFIXES)
            and not _OTHER_PRODUCT.search(name))


def classify(probability: np.ndarray, threshold: float, water: np.ndarray,
             observed: np.ndarray) -> np.ndarray:
    """Ice map codes (uint8): land everywhere on land, no data on unobserved water,
    ice where the probability reaches the threshold, open water elsewhere."""
    codes = np.where(probability >= threshold, outputs.ICE, outputs.OPEN_WATER).astype(np.uint8)
    codes[water & ~observed] = outputs.NO_DATA
    codes[~water] = outputs.LAND
    return codes


def area_summary(codes: np.ndarray, cell_areas: np.ndarray) -> dict:
    """Counts per code, ice and water areas (km2, true cell areas) and fractions."""
    ice = codes == outputs.ICE
    open_water = codes == outputs.OPEN_WATER
    no_data = codes == outputs.NO_DATA
    water_cells = int((codes != outputs.LAND).sum())
    ice_km2 = float(cell_areas[ice].sum())
    observed_km2 = ice_km2 + float(cell_areas[open_water].sum())
    no_data_cells = int(no_data.sum())
    return {
        "counts": {
            "open_water": int(open_water.sum()),
            "ice": int(ice.sum()),
            "land": int((codes == outputs.LAND).sum()),
            "no_data": no_data_cells,
        },
        "ice_area_km2": round(ice_km2, 3),
        "observed_water_area_km2": round(observed_km2, 3),
        "ice_fraction_of_observed_water": (round(ice_km2 / observed_km2, 6)
                                           if observed_km2 else None),
        "no_data_fraction": round(no_data_cells / water_cells, 6) if water_cells else None,
    }


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class Result:
    """One segmented granule: the ice map, the probability, the summary, and what drew them."""

    path: Path
    info: GranuleInfo
    reflectance: np.ndarray
    probability: np.ndarray
    codes: np.ndarray
    water: np.ndarray
    summary: dict

    def quicklook(self) -> Image.Image:
        """The quick-look picture."""
        s = self.summary
        start = s["start_time"].replace("T", " ").replace("Z", " UTC")
        title = f"{s['granule_id']}   {s['platform']}   {start}"
        fraction = s["ice_fraction_of_observed_water"]
        subtitle = (
            f"ice {s['ice_area_km2']:.1f} km2"
            + (f" ({fraction:.1%} of observed water)" if fraction is not None else "")
            + f"   coverage {s['coverage']:.0%}   {s['model']['name']}, threshold {s['threshold']}"
        )
        return outputs.quicklook(self.reflectance, self.codes, self.water, title, subtitle)

    def save(self, outdir: str | Path, probability: bool = False) -> dict:
        """Write X.ice.tif, X.png, X.json (and X.prob.tif) into ``outdir``; the final summary."""
        outdir = Path(outdir)
        outputs.ensure_writable(outdir)
        start = time.perf_counter()
        image = self.quicklook()
        timings = dict(self.summary["timings_s"])
        timings["quicklook"] = round(time.perf_counter() - start, 4)
        timings["total"] = round(timings["total"] + timings["quicklook"], 4)
        self.summary = outputs.write_products(
            outdir, self.info.granule_id, self.codes, {**self.summary, "timings_s": timings},
            image, self.probability_raster() if probability else None,
        )
        return self.summary

    def probability_raster(self) -> np.ndarray:
        """Probability as float32 with NaN where the granule has no data."""
        observed = np.isfinite(self.reflectance).any(axis=0)
        return np.where(observed, self.probability, np.nan).astype(np.float32)


class Segmenter:
    """Segments granules with one model and one inference session.

    ``model_path`` None means the default shipped model; ``device`` is auto, cpu or cuda;
    ``threads`` None means every CPU this process may use; ``threshold`` None means the
    model's own.
    """

    def __init__(self, model_path: str | Path | None = None, device: str = "auto",
                 threads: int | None = None, threshold: float | None = None) -> None:
        if threshold is not None and not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if model_path is None and not models.default_model_path().is_file():
            raise ModelError("no shipped default model here; give a model file",
                             models.default_model_path())
        self.model = Model(model_path or models.default_model_path(), device, threads)
        self.threshold = self.model.metadata.threshold if threshold is None else threshold
        self.water = landmask.water_mask()
        self.cell_areas = grid.cell_areas_km2()

    @property
    def provider(self) -> str:
        """The execution provider the session really runs on."""
        return self.model.provider

    def segment(self, path: str | Path) -> Result:
        """Read a granule, run the model, classify; the granule reader's errors pass through."""
        path = Path(path)
        start = time.perf_counter()
        crop = read_crop(path)
        read_s = time.perf_counter() - start
        probability = self.model.probability(crop.reflectance)
        inference_s = time.perf_counter() - start - read_s
        observed = np.isfinite(crop.reflectance).any(axis=0)
        codes = classify(probability, self.threshold, self.water, observed)
        summary = self._summary(path, crop.info, codes)
        summary["timings_s"] = {"read": round(read_s, 4), "inference": round(inference_s, 4),
                                "total": round(time.perf_counter() - start, 4)}
        log.info("%s: ice %.1f km2", crop.info.granule_id, summary["ice_area_km2"])
        return Result(path, crop.info, crop.reflectance, probability, codes, self.water, summary)

    def _summary(self, path: Path, info: GranuleInfo, codes: np.ndarray) -> dict:
        meta = self.model.metadata
        return {
            "format": "bay-ice-result",
            "format_version": 1,
            "granule_id": info.granule_id,
            "platform": info.platform,
            "product": info.product,
            "start_time": _iso_utc(info.start_time),
            "coverage": info.coverage,
            "source_file": path.name,
            "granule": info.to_dict(),
            "model": {"name": meta.name, "architecture": meta.architecture,
                      "version": meta.version, "file": self.model.path.name,
                      "sha256": self.model.sha256},
            "execution_provider": self.model.provider,
            "threads": self.model.threads,
            "threshold": self.threshold,
            "codes": {"open_water": outputs.OPEN_WATER, "ice": outputs.ICE,
                      "land": outputs.LAND, "no_data": outputs.NO_DATA},
            **area_summary(codes, self.cell_areas),
            "grid": grid.describe(),
            "runtime_version": runtime.__version__,
        }
