"""Output files: GeoTIFF georeferencing (read back with rasterio), atomic sets, quick-look."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image

from runtime import grid, landmask, outputs
from runtime.errors import OutputError

GRID_TRANSFORM = Affine(grid.DLON, 0.0, grid.WEST, 0.0, -grid.DLAT, grid.NORTH)


def some_codes() -> np.ndarray:
    rng = np.random.default_rng(3)
    codes = rng.choice([outputs.OPEN_WATER, outputs.ICE], size=grid.SHAPE).astype(np.uint8)
    codes[~landmask.water_mask()] = outputs.LAND
    codes[:, -40:][codes[:, -40:] != outputs.LAND] = outputs.NO_DATA
    return codes


def test_ice_geotiff_reads_back_on_the_grid(tmp_path):
    codes = some_codes()
    path = tmp_path / "x.ice.tif"
    outputs.write_geotiff(path, codes, str(outputs.NO_DATA))
    with rasterio.open(path) as tif:
        assert tif.crs.to_epsg() == 4326
        assert tif.transform.almost_equals(GRID_TRANSFORM, precision=1e-12)
        assert (tif.height, tif.width, tif.count) == (grid.ROWS, grid.COLS, 1)
        assert tif.dtypes[0] == "uint8"
        assert tif.nodata == 255
        np.testing.assert_array_equal(tif.read(1), codes)
        west, south, east, north = tif.bounds
    assert (west, south, east, north) == pytest.approx(
        (grid.WEST, grid.SOUTH, grid.EAST, grid.NORTH), abs=1e-9)


def test_probability_geotiff_is_float32_with_nan_nodata(tmp_path):
    probability = np.random.default_rng(0).random(grid.SHAPE, dtype=np.float32)
    probability[:10] = np.nan
    path = tmp_path / "x.prob.tif"
    outputs.write_geotiff(path, probability, "nan")
    with rasterio.open(path) as tif:
        assert tif.dtypes[0] == "float32" and np.isnan(tif.nodata)
        assert tif.crs.to_epsg() == 4326
        np.testing.assert_array_equal(tif.read(1), probability)


def reflectance_with_ice(codes: np.ndarray) -> np.ndarray:
    reflectance = np.full((7, *grid.SHAPE), 0.05, np.float32)
    reflectance[:, codes == outputs.ICE] = 0.6
    reflectance[:, codes == outputs.NO_DATA] = np.nan
    return reflectance


def test_quicklook_shows_ice_coast_and_text(tmp_path):
    codes = some_codes()
    water = landmask.water_mask()
    image = outputs.quicklook(reflectance_with_ice(codes), codes, water, "title", "subtitle")
    pixels = np.asarray(image)
    assert image.width == 2 * grid.COLS and image.height > 2 * grid.ROWS
    assert (pixels == outputs._COAST_RGB).all(axis=-1).sum() > 1000
    top = image.height - 2 * grid.ROWS - (outputs._FONT_SIZE + 5) - 4  # the map's first row
    map_pixels = pixels[top:top + 2 * grid.ROWS:2, ::2]
    ice = codes == outputs.ICE
    coast = np.asarray(outputs._edges(water))
    tinted = map_pixels[ice & ~coast]
    assert (tinted[:, 1] < tinted[:, 0]).all()  # magenta: green below red
    assert (pixels[: top] != outputs._BAR_RGB).any()  # the title text is drawn


def test_products_are_a_complete_set_with_the_json_last(tmp_path):
    codes = some_codes()
    image = Image.new("RGB", (10, 10))
    summary = {"granule_id": "X", "timings_s": {"read": 0.5, "total": 0.5}}
    final = outputs.write_products(tmp_path, "X", codes, summary, image,
                                   probability=np.zeros(grid.SHAPE, np.float32))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["X.ice.tif", "X.json", "X.png", "X.prob.tif"]
    written = json.loads((tmp_path / "X.json").read_text())
    assert written == final
    assert written["timings_s"]["total"] == pytest.approx(0.5 + written["timings_s"]["write"])
    json_time = (tmp_path / "X.json").stat().st_mtime_ns
    assert all(json_time >= p.stat().st_mtime_ns for p in tmp_path.iterdir())


def test_a_failed_write_leaves_no_final_and_no_partial_files(tmp_path, monkeypatch):
    def full_disk(path, image):
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "_write_png", full_disk)
    with pytest.raises(OutputError, match="No space left"):
        outputs.write_products(tmp_path, "X", some_codes(), {}, Image.new("RGB", (1, 1)))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    with pytest.raises(OutputError, match="cannot write") as raised:
        outputs.ensure_writable(blocker / "out")
    assert str(blocker / "out") in str(raised.value)


def test_output_path_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    with pytest.raises(OutputError, match="the output path is a file, not a directory"):
        outputs.ensure_writable(blocker)


def test_output_directory_removes_only_the_empty_folders_it_made(tmp_path):
    with outputs.output_directory(tmp_path / "a" / "b" / "c"):
        assert (tmp_path / "a" / "b" / "c").is_dir()
    assert list(tmp_path.iterdir()) == []
    with outputs.output_directory(tmp_path / "a" / "b"):
        (tmp_path / "a" / "kept.txt").write_text("a file beside the new folder")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["kept.txt"]
    with outputs.output_directory(tmp_path / "a" / "c"):
        (tmp_path / "a" / "c" / "X.json").write_text("{}")
    assert (tmp_path / "a" / "c" / "X.json").is_file()
    with outputs.output_directory(tmp_path):
        pass
    assert tmp_path.is_dir()
    with outputs.output_directory(tmp_path / "x" / ".." / "y"):  # mkdir makes x as well
        assert (tmp_path / "x").is_dir() and (tmp_path / "y").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_composite_stretch_is_monotonic_and_blank_where_no_data():
    values = np.linspace(0, 1.2, 7 * grid.ROWS * grid.COLS, dtype=np.float32)
    reflectance = values.reshape(7, *grid.SHAPE)
    reflectance[:, 0, 0] = np.nan
    rgb = outputs.composite(reflectance)
    red = rgb[..., 0].ravel()[1:]
    assert (np.diff(red.astype(int)) >= 0).all()
    assert rgb[0, 0].tolist() == [0, 0, 0]
