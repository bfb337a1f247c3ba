"""Scene simulator and synthetic datasets (issue 3). All figures here are synthetic."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import datetime, timezone

import numpy as np
import pytest
from typer.testing import CliRunner

from runtime import grid
from runtime.landmask import water_mask
from runtime.solar import cos_solar_zenith
from training.baselines import ndsi_ice_mask
from training.cli import app
from training.simulator import regimes
from training.simulator.granule import scene_swath, simulate
from training.simulator.noise import gaussian_field
from training.simulator.regimes import SceneSpec, sample_specs
from training.simulator.spectra import TABLE, draw_spectra
from training.simulator.statistics import class_statistics
from training.simulator.truth import CLASSES

runner = CliRunner()


def spec(**changes) -> SceneSpec:
    base = SceneSpec(
        name="MYD02HKM.A2021020.0420.061",
        platform="Aqua",
        start_time=datetime(2021, 1, 20, 4, 20, tzinfo=timezone.utc),
        ice_regime="drift",
        cloud_regime="partly",
        sun="low",
        certain_no_ice=False,
        scan_angle_deg=regimes.scan_angle("Aqua", datetime(2021, 1, 20, 4, 20)),
        seed=7,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def aqua_example():
    return simulate(spec())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth") / "ds"
    result = runner.invoke(
        app, ["synth", str(folder), "--labelled", "2", "--clear", "1", "--seed", "3",
              "--workers", "2"],
    )
    assert result.exit_code == 0, result.output
    return folder


def test_noise_fields_are_unit_variance_and_seeded():
    a = gaussian_field((120, 200), np.random.default_rng(1), 2, 50, stretch=3, angle_deg=20)
    b = gaussian_field((120, 200), np.random.default_rng(1), 2, 50, stretch=3, angle_deg=20)
    assert a.dtype == np.float32 and a.shape == (120, 200)
    assert abs(a.mean()) < 1e-5 and abs(a.std() - 1) < 1e-4
    np.testing.assert_array_equal(a, b)


def test_specs_are_seeded_and_spread_over_regimes():
    specs = sample_specs(370, 200, seed=0)
    assert specs == sample_specs(370, 200, seed=0)
    assert len({s.name for s in specs}) == 570
    assert {s.ice_regime for s in specs} == set(regimes.ICE_REGIMES)
    assert {s.cloud_regime for s in specs} == set(regimes.CLOUD_REGIMES)
    assert {s.sun for s in specs} == {"low", "high"}
    assert {s.platform for s in specs} == {"Terra", "Aqua"}
    assert sum(s.certain_no_ice for s in specs) == 200
    for s in specs:
        assert s.start_time.month in (12, 1, 2, 3) and 2004 <= s.start_time.year <= 2024
        minutes = s.start_time.hour * 60 + s.start_time.minute
        assert (90 <= minutes <= 160) if s.platform == "Terra" else (220 <= minutes <= 310)
        assert s.name.startswith("MOD02HKM.A" if s.platform == "Terra" else "MYD02HKM.A")


@pytest.mark.parametrize(("platform", "hour", "minute", "bay_east_of_nadir"),
                         [("Terra", 1, 30, False), ("Terra", 2, 40, True),
                          ("Aqua", 3, 40, False), ("Aqua", 5, 0, True)])
def test_overpass_time_places_the_bay_across_the_swath(platform, hour, minute, bay_east_of_nadir):
    start = datetime(2020, 1, 15, hour, minute, tzinfo=timezone.utc)
    angle = regimes.scan_angle(platform, start)
    s = spec(platform=platform, start_time=start, scan_angle_deg=angle)
    swath = scene_swath(s, n_scans=4)
    middle = swath.nadir_lon[2]
    assert (middle < 132.0) == bay_east_of_nadir


def test_spectra_stay_inside_table_11_1():
    for seed in range(50):
        spectra = draw_spectra(np.random.default_rng(seed), solar_zenith_deg=65)
        for name in ("water", "white_ice", "land", "snow_land", "snow_forest"):
            low, high = TABLE[name]
            value = getattr(spectra, name)
            assert np.all(value >= np.array(low) - 1e-6) and np.all(value <= np.array(high) + 1e-6)


def test_crop_comes_through_the_runtime_reader(aqua_example):
    crop = aqua_example.crop
    assert crop.reflectance.shape == (7, *grid.SHAPE) and crop.reflectance.dtype == np.float32
    assert crop.info.platform == "Aqua" and crop.info.granule_id == spec().name
    assert crop.info.coverage == 1.0
    # Aqua band 6 dead rows (65531 in the file) come back restored by the reader.
    assert np.isfinite(crop.reflectance[5]).mean() > 0.99


def test_stored_values_are_rho_times_cos_sza(aqua_example):
    lon, lat = grid.cell_centres()
    mu = cos_solar_zenith(spec().start_time, lon, lat)
    water = aqua_example.classes == 0
    rho = aqua_example.crop.reflectance[:, water] / mu[water]
    low, high = TABLE["water"]
    assert water.sum() > 300
    assert np.all((np.nanmean(rho, axis=1) >= low) & (np.nanmean(rho, axis=1) <= high))


def test_label_semantics(aqua_example):
    label, obscured = aqua_example.label, aqua_example.obscured
    assert label.dtype == np.uint8 and set(np.unique(label)) <= {0, 1}
    assert not label[~water_mask()].any()
    assert not label[obscured == 1].any()
    assert 0 < label.sum() < water_mask().sum()
    assert 0 < obscured.mean() < 1


def test_ice_free_scene_has_no_ice():
    example = simulate(spec(ice_regime="none", certain_no_ice=True, cloud_regime="clear",
                            platform="Terra", name="MOD02HKM.A2021020.0200.061",
                            start_time=datetime(2021, 1, 20, 2, 0, tzinfo=timezone.utc),
                            scan_angle_deg=regimes.scan_angle("Terra", datetime(2021, 1, 20, 2))))
    assert not example.label.any()


def test_dataset_folder_follows_the_contract(dataset):
    document = json.loads((dataset / "dataset.json").read_text())
    assert document["format"] == "bay-ice-dataset" and document["version"] == 1
    assert grid.matches(document["grid"]) and document["bands"] == list(grid.BANDS)
    assert "obscured" in document["label_semantics"]
    assert len(document["scenes"]) == 3
    for scene in document["scenes"]:
        name = scene["name"]
        assert scene["ice_regime"] in regimes.ICE_REGIMES
        assert scene["certain_no_ice"] == (scene["ice_regime"] == "none")
        crop = np.load(dataset / "crops" / f"{name}.npy")
        assert crop.shape == (7, *grid.SHAPE) and crop.dtype == np.float32
        sidecar = json.loads((dataset / "crops" / f"{name}.json").read_text())
        assert sidecar["granule_id"] == name
        assert sidecar["start_time"].startswith(scene["start_time"][:16])
        for folder in ("labels", "obscured", "classes"):
            mask = np.load(dataset / folder / f"{name}.npy")
            assert mask.shape == grid.SHAPE and mask.dtype == np.uint8


def test_dataset_does_not_depend_on_worker_count(dataset):
    document = json.loads((dataset / "dataset.json").read_text())
    first = document["scenes"][0]
    again = simulate(sample_specs(2, 1, seed=3)[0])
    np.testing.assert_array_equal(again.crop.reflectance,
                                  np.load(dataset / "crops" / f"{first['name']}.npy"))
    np.testing.assert_array_equal(again.label, np.load(dataset / "labels" / f"{first['name']}.npy"))


def test_class_statistics_match_table_11_1(dataset):
    statistics = class_statistics(dataset)
    assert "water" in statistics
    for name, entry in statistics.items():
        assert name in CLASSES.values()
        if entry["cells"] < 200:
            continue
        low, high = np.array(entry["table_low"]), np.array(entry["table_high"])
        assert np.all((np.array(entry["mean"]) >= low) & (np.array(entry["mean"]) <= high)), name


def test_stats_command_prints_a_table(dataset):
    result = runner.invoke(app, ["stats", str(dataset)])
    assert result.exit_code == 0, result.output
    assert "water" in result.output and "table 11.1" in result.output


def test_preview_writes_a_png(dataset, tmp_path):
    name = json.loads((dataset / "dataset.json").read_text())["scenes"][0]["name"]
    out = tmp_path / "p.png"
    result = runner.invoke(app, ["preview", str(dataset / "crops" / f"{name}.npy"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_commands_refuse_bad_folders(tmp_path, dataset):
    assert runner.invoke(app, ["stats", str(tmp_path)]).exit_code == 16
    result = runner.invoke(app, ["synth", str(dataset), "--labelled", "1", "--clear", "0"])
    assert result.exit_code == 12 and "not empty" in result.output
    picture = tmp_path / "x.png"
    missing = runner.invoke(app, ["preview", str(tmp_path / "nope.npy"), "-o", str(picture)])
    assert missing.exit_code == 3 and not picture.exists()
    nothing = runner.invoke(app, ["synth", str(tmp_path / "empty"), "--labelled", "0",
                                  "--clear", "0"])
    assert nothing.exit_code == 2 and not (tmp_path / "empty").exists()
    afile = tmp_path / "afile"
    afile.write_text("in the way")
    blocked = runner.invoke(app, ["synth", str(afile), "--labelled", "1", "--clear", "0"])
    assert blocked.exit_code == 12 and "the dataset folder is a file" in blocked.output


def test_an_unfinished_synth_build_is_not_taken_for_user_data(tmp_path, dataset):
    """A build stopped before dataset.json (written last) lacks the ice-free strata."""
    unfinished = shutil.copytree(dataset, tmp_path / "unfinished")
    (unfinished / "dataset.json").unlink()
    result = runner.invoke(app, ["train", str(unfinished), "-o", str(tmp_path / "run")])
    assert result.exit_code == 16
    assert "an unfinished `train-ssegm synth` build" in result.output


def test_ndsi_baseline_uses_literature_thresholds():
    def stack(b1, b2, b3, b4, b5, b6, b7):
        return np.array([b1, b2, b3, b4, b5, b6, b7], dtype=np.float32)[:, None]

    white_ice = stack(0.7, 0.65, 0.75, 0.72, 0.4, 0.08, 0.04)
    water = stack(0.05, 0.02, 0.12, 0.07, 0.01, 0.008, 0.005)
    water_cloud = stack(0.7, 0.7, 0.7, 0.7, 0.6, 0.4, 0.25)
    ice_cloud = stack(0.6, 0.6, 0.6, 0.6, 0.45, 0.15, 0.1)
    nilas = stack(0.12, 0.09, 0.16, 0.13, 0.05, 0.02, 0.01)
    reflectance = np.concatenate([white_ice, water, water_cloud, ice_cloud, nilas], axis=1)
    assert ndsi_ice_mask(reflectance).tolist() == [True, False, False, True, False]
    # Stored L1B values at low sun must be divided by cos(sza) first.
    stored = reflectance * 0.15
    assert not ndsi_ice_mask(stored)[0]
    assert ndsi_ice_mask(stored, np.full(5, 0.15, np.float32)).tolist()[0]
    assert not ndsi_ice_mask(np.full((7, 1), np.nan, np.float32))[0]


def test_error_anatomy_re_renders_the_stored_truth(dataset):
    """training/scripts/error_anatomy.py rebuilds each scene from dataset.json: its ice share
    gives back the stored label, and its parts split the cells without overlap."""
    from training.scripts.error_anatomy import cell_truth, parts

    entry = next(e for e in json.loads((dataset / "dataset.json").read_text())["scenes"]
                 if not e["certain_no_ice"])
    label = np.load(dataset / "labels" / f"{entry['name']}.npy") == 1
    obscured = np.load(dataset / "obscured" / f"{entry['name']}.npy") == 1
    truth = cell_truth(SceneSpec.from_dict(entry))
    assert label.any()
    np.testing.assert_array_equal((truth["share"] >= 0.5) & water_mask() & ~obscured, label)
    top = [mask for name, mask in parts(truth, label).items() if not name.startswith(" ")]
    np.testing.assert_array_equal(np.sum(top, axis=0), np.ones(label.shape))


def test_footprint_ceiling_oracle_lines_up_with_the_labels(dataset, tmp_path):
    """training/scripts/footprint_ceiling.py: the ice share its oracle saw is registered on
    the grid (it matches the scene's true cell share best unshifted) and, a cell away from ice
    edges, is on the label's side of 0.5; the oracle dataset it writes keeps DATASET's labels
    and hides obscured and no-data cells."""
    from scipy import ndimage

    from training.dataset import load_dataset
    from training.evaluate import counted_cells
    from training.scripts.footprint_ceiling import (
        all_seen_fields,
        ceiling_table,
        write_oracle_dataset,
    )
    from training.simulator.raster import fine_raster
    from training.simulator.render import render_scene
    from training.simulator.truth import ice_share

    source = load_dataset(dataset)
    seen = all_seen_fields(source.scenes, workers=1)
    i = next(i for i, e in enumerate(source.scenes) if not e["certain_no_ice"])
    share, fraction = seen[i]
    counted = counted_cells(source, i)
    ice = source.labels[i].numpy() == 1
    inner_ice = ndimage.binary_erosion(counted & ice)
    inner_water = ndimage.binary_erosion(counted & ~ice)
    assert inner_ice.sum() > 100 and inner_water.sum() > 100
    assert (share[inner_ice] >= 0.5).mean() > 0.995
    assert (share[inner_water] < 0.5).mean() > 0.995
    truth = ice_share(render_scene(SceneSpec.from_dict(source.scenes[i])).surface, fine_raster())
    inner = ndimage.binary_erosion(counted, iterations=2)
    misfit = {(dy, dx): np.abs(np.roll(share, (dy, dx), axis=(0, 1)) - truth)[inner].mean()
              for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    assert min(misfit, key=misfit.get) == (0, 0), misfit
    assert np.nanmin(share) >= 0 and np.nanmax(share) <= 1 + 1e-3
    assert np.nanmin(fraction) >= 0 and np.nanmax(fraction) <= 1 + 1e-3

    table = ceiling_table(source, list(range(len(source))), dict(enumerate(seen)))
    assert "| all validation scenes with ice | 2 |" in table

    write_oracle_dataset(source, seen, tmp_path / "oracle")
    oracle = load_dataset(tmp_path / "oracle")
    assert oracle.names == source.names
    np.testing.assert_array_equal(oracle.labels.numpy(), source.labels.numpy())
    crop = oracle.crops[i].numpy()
    np.testing.assert_array_equal(np.isfinite(crop).all(axis=0), counted | (
        np.isfinite(source.crops[i].numpy()).all(axis=0) & ~water_mask()
        & (source.obscured[i].numpy() == 0)))
    np.testing.assert_allclose(crop[0][counted], share[counted])
