"""`ice-runtime watch`: complete granules only, exactly once across a SIGKILL, failures recorded.

The watcher runs as a real process (it spawns its own worker), on small two-scan granules.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import rasterio
from PIL import Image

from runtime import grid
from runtime.errors import NotHDF4, OutputError
from runtime.granule import hdf4_complete
from runtime.watch import LEDGER_NAME, Ledger, Options, Watcher
from tests import fake_granules
from tests.onnx_models import make_model
from training import granule_writer

N_GOOD = 32  # distinct good granules; one of them arrives slowly
N_DUPLICATES = 5
SETTLE_S = 0.5
STALE_S = 3.0
WATCH = [sys.executable, "-c", "from runtime.cli import main; main()", "watch"]


def small_granule(directory: Path, index: int) -> Path:
    """A distinct two-scan granule: Terra on even, Aqua on odd days of early 2024."""
    platform = "Terra" if index % 2 == 0 else "Aqua"
    start = fake_granules.START_TIMES[platform].replace(month=1, day=1) + timedelta(days=index)
    swath = fake_granules.fake_swath(platform, "nadir", 2, start_time=start)
    return granule_writer.write_granule(directory, fake_granules.fake_reflectance(swath), swath)


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> list[Path]:
    directory = tmp_path_factory.mktemp("staged")
    return [small_granule(directory, i) for i in range(N_GOOD)]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "test.onnx")


def start_watch(incoming: Path, out: Path, model: Path, log: Path, *options: str,
                env: dict | None = None) -> subprocess.Popen:
    with log.open("a") as sink:
        return subprocess.Popen(
            [*WATCH, str(incoming), "-o", str(out), "--model", str(model), "--threads", "1",
             "--interval", "0.2", "--settle", str(SETTLE_S), "--stale", str(STALE_S),
             "--timeout", "60", "--verbose", *options],
            stdout=sink, stderr=subprocess.STDOUT, env=env)


def records(out: Path) -> list[dict]:
    path = out / LEDGER_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def hooked_env(tmp_path: Path, sitecustomize: str) -> dict:
    """An environment whose Python processes (the watcher's worker too) run `sitecustomize`."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(sitecustomize)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), os.getcwd()])}


def write_slowly(source: Path, target: Path) -> None:
    """Append the file in ten pieces, with one pause longer than the settle time."""
    data = source.read_bytes()
    step = len(data) // 10 + 1
    with target.open("wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i:i + step])
            f.flush()
            time.sleep(3 * SETTLE_S if i == 5 * step else 0.1)


def test_hdf4_completeness_check(tmp_path, staged):
    data = staged[0].read_bytes()
    assert hdf4_complete(staged[0])
    for fraction in (0.0001, 0.3, 0.9, 0.9999):
        cut = tmp_path / "cut.hdf"
        cut.write_bytes(data[: int(len(data) * fraction)])
        assert not hdf4_complete(cut), fraction
    (tmp_path / "text.hdf").write_text("not HDF4: the reader will say so")
    assert hdf4_complete(tmp_path / "text.hdf")
    for offset, value in ((4, b"\xff\xff"), (6, (-100).to_bytes(4, "big", signed=True))):
        damaged = tmp_path / "damaged.hdf"  # a negative descriptor count / next-block offset
        damaged.write_bytes(data[:offset] + value + data[offset + len(value):])
        assert not hdf4_complete(damaged)


def test_ledger_survives_a_torn_last_line(tmp_path):
    path = tmp_path / LEDGER_NAME
    record = {"name": "a.hdf", "size": 1, "mtime_ns": 2, "sha256": "f" * 64, "status": "done"}
    path.write_text(json.dumps(record) + "\n" + '{"name": "b.hdf", "si')
    ledger = Ledger(path)
    assert set(ledger.by_sha) == {"f" * 64}
    ledger.add({**record, "name": "c.hdf", "sha256": "e" * 64})
    ledger.close()
    assert set(Ledger(path).by_sha) == {"f" * 64, "e" * 64}


def test_ledger_with_a_damaged_byte_or_in_the_way(tmp_path):
    path = tmp_path / LEDGER_NAME
    record = {"name": "a.hdf", "size": 1, "mtime_ns": 2, "sha256": "f" * 64, "status": "done"}
    path.write_bytes(json.dumps(record).encode() + b"\n" + b'{"name": "\xff"}\n')
    assert set(Ledger(path).by_sha) == {"f" * 64}  # the damaged line alone is ignored
    folder = tmp_path / "elsewhere" / LEDGER_NAME
    folder.mkdir(parents=True)
    with pytest.raises(OutputError, match="cannot use the ledger"):
        Ledger(folder)


def test_a_missing_incoming_folder_is_named_so(tmp_path):
    done = subprocess.run([*WATCH, str(tmp_path / "nowhere"), "-o", str(tmp_path / "out"),
                           "--once"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    nowhere = tmp_path / "nowhere"
    assert done.stderr.strip() == f"ice-runtime watch: error: {nowhere}: no such directory"


def test_a_ledger_that_cannot_be_written_is_one_output_error(tmp_path, monkeypatch):
    ledger = Ledger(tmp_path / LEDGER_NAME)

    def file_too_large(fd):
        raise OSError(27, "File too large")

    monkeypatch.setattr(os, "fsync", file_too_large)
    record = {"name": "a.hdf", "size": 1, "mtime_ns": 2, "sha256": "f" * 64, "status": "done"}
    with pytest.raises(OutputError, match="cannot write the ledger \\(File too large\\)"):
        ledger.add(record)
    ledger.close()


def test_another_file_of_a_mapped_granule_is_a_duplicate(tmp_path, staged, model):
    """A re-delivery (other bytes, same granule): the first outputs are kept, not overwritten."""
    incoming, out = tmp_path / "incoming", tmp_path / "out"
    incoming.mkdir()
    shutil.copy(staged[0], incoming)
    watch = [*WATCH, str(incoming), "-o", str(out), "--model", str(model), "--threads", "1",
             "--settle", "0", "--once"]
    assert subprocess.run(watch, capture_output=True, timeout=120).returncode == 0
    first = {p.name: p.read_bytes() for p in out.glob("MOD02HKM*")}
    twin = incoming / staged[0].name.replace(".hdf", ".redelivered.hdf")
    twin.write_bytes(staged[0].read_bytes() + b"\0")
    assert subprocess.run(watch, capture_output=True, timeout=120).returncode == 0
    assert [r["status"] for r in records(out)] == ["done", "duplicate"]
    assert {p.name: p.read_bytes() for p in out.glob("MOD02HKM*")} == first


SLOW = """
import time
from pathlib import Path
import runtime.segment

_read = runtime.segment.read_crop

def read_crop(path):
    if "slow" in Path(path).name:
        (Path(path).parent.parent / "started").touch()
        time.sleep(3)
    return _read(path)

runtime.segment.read_crop = read_crop
"""


def test_sigterm_to_the_process_group_finishes_the_granule_in_hand(tmp_path, staged, model):
    """systemd signals every process of the service: the worker must not die of it."""
    env = hooked_env(tmp_path, SLOW)
    incoming, out = tmp_path / "incoming", tmp_path / "out"
    incoming.mkdir()
    shutil.copy(staged[0], incoming / f"slow-{staged[0].name}")
    watcher = subprocess.Popen([*WATCH, str(incoming), "-o", str(out), "--model", str(model),
                                "--threads", "1", "--settle", "0", "--interval", "0.2"],
                               env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (tmp_path / "started").exists(), 60, "the slow granule to start")
    os.killpg(watcher.pid, signal.SIGTERM)
    _, stderr = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, stderr
    assert [r["status"] for r in records(out)] == ["done"]


def test_an_incoming_folder_that_goes_away_is_waited_for(tmp_path, staged):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    watcher = Watcher(incoming, tmp_path / "out", Options(settle=0))
    watcher.ledger = Ledger(tmp_path / LEDGER_NAME)
    incoming.rmdir()  # an unmounted disk
    assert watcher.candidates() == []
    incoming.mkdir()
    shutil.copy(staged[0], incoming)
    assert watcher.candidates() == [incoming / staged[0].name]


def test_once_exits_with_the_first_failure_and_a_bad_model_leaves_no_folder(tmp_path, staged,
                                                                            model):
    incoming, out = tmp_path / "incoming", tmp_path / "new" / "out"
    incoming.mkdir()
    (incoming / staged[1].name).write_text("not HDF4, under a granule's name")
    shutil.copy(staged[0], incoming)
    bad_model = tmp_path / "bad.onnx"
    bad_model.write_text("not a model")
    common = ["--threads", "1", "--settle", "0", "--once"]
    refused = subprocess.run([*WATCH, str(incoming), "-o", str(out), "--model", str(bad_model),
                              *common], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 10, refused.stderr
    assert not (tmp_path / "new").exists()
    watcher = subprocess.run([*WATCH, str(incoming), "-o", str(out), "--model", str(model),
                              *common], capture_output=True, text=True, timeout=120)
    assert watcher.returncode == NotHDF4.exit_code, watcher.stderr
    assert sorted(r["status"] for r in records(out)) == ["done", "failed"]


def assert_final_files_complete(out: Path) -> None:
    """Every file under a final name is whole: JSON parses, GeoTIFF and PNG decode."""
    for path in out.glob("*.json"):
        json.loads(path.read_text())
    for path in out.glob("*.ice.tif"):
        with rasterio.open(path) as tif:
            assert tif.read(1).shape == grid.SHAPE
    for path in out.glob("*.png"):
        Image.open(path).verify()


def test_forty_arrivals_a_sigkill_and_a_restart(tmp_path, staged, model):
    incoming, out, log = tmp_path / "incoming", tmp_path / "out", tmp_path / "watch.log"
    incoming.mkdir()
    slow, good = staged[-1], staged[:-1]
    first, second = good[:18], good[18:]
    for path in first:
        shutil.copy(path, incoming)
    (incoming / "corrupt.hdf").write_bytes(os.urandom(50_000))
    truncated = incoming / "truncated.hdf"
    data = good[0].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    old = time.time() - 60
    os.utime(truncated, (old, old))

    watcher = start_watch(incoming, out, model, log)
    wait_for(lambda: len(records(out)) >= 10, 90, "ten granules before the kill")
    watcher.kill()  # SIGKILL: no chance to clean up
    watcher.wait()
    assert_final_files_complete(out)
    assert len(records(out)) < len(first) + 2  # killed midway

    watcher = start_watch(incoming, out, model, log)
    names_recorded = lambda: {r["name"] for r in records(out)}  # noqa: E731
    wait_for(lambda: names_recorded() >= {p.name for p in incoming.iterdir()}, 90,
             "the first arrivals in the ledger")
    write_slowly(slow, incoming / slow.name)  # the watcher is idle, polling
    for path in second:
        shutil.copy(path, incoming)
    for i, path in enumerate(good[1:1 + N_DUPLICATES]):
        shutil.copy(path, incoming / f"copy{i}-{path.name}")
    redelivered = incoming / good[0].name
    redelivered.unlink()
    shutil.copy(good[0], redelivered)
    arrivals = {p.name for p in incoming.iterdir()}
    assert len(arrivals) == len(good) + 1 + 2 + N_DUPLICATES == 39  # + the re-delivery = 40
    wait_for(lambda: names_recorded() >= arrivals
             and sum(r["name"] == redelivered.name for r in records(out)) >= 2,
             120, "every arrival in the ledger")
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(30) == 0, log.read_text()

    ledger = records(out)
    by_name: dict[str, list[dict]] = {}
    for record in ledger:
        by_name.setdefault(record["name"], []).append(record)
    assert by_name["corrupt.hdf"][0]["status"] == "failed"
    assert by_name["corrupt.hdf"][0]["exit_code"] == 4  # NotHDF4
    assert by_name["truncated.hdf"][0]["status"] == "failed"
    assert by_name["truncated.hdf"][0]["exit_code"] == 5  # CorruptFile
    for i in range(N_DUPLICATES):
        [record] = by_name[f"copy{i}-{good[1 + i].name}"]
        assert record["status"] == "duplicate"
    assert [r["status"] for r in by_name[redelivered.name]][-1] == "duplicate"
    done = [r for r in ledger if r["status"] == "done"]
    twice = len(done) - len({r["sha256"] for r in done})
    assert twice <= 1  # only a granule finished in the instant before the kill may be redone
    assert by_name[slow.name][0]["status"] == "done"
    assert f"{slow.name}: HDF4 structure incomplete, waiting" in log.read_text()

    ids = {r["granule_id"] for r in done}
    assert len(ids) == N_GOOD
    expected = {f"{i}{suffix}" for i in ids for suffix in (".ice.tif", ".png", ".json")}
    assert {p.name for p in out.iterdir()} == expected | {LEDGER_NAME}  # nothing partial
    for granule_id in ids:
        summary = json.loads((out / f"{granule_id}.json").read_text())
        assert summary["granule_id"] == granule_id
        with rasterio.open(out / f"{granule_id}.ice.tif") as tif:
            assert tif.read(1).shape == grid.SHAPE
        Image.open(out / f"{granule_id}.png").verify()


CRASH_AND_HANG = """
import os, signal, time
from pathlib import Path
import runtime.segment

_read = runtime.segment.read_crop

def read_crop(path):
    if "crash" in Path(path).name:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "hang" in Path(path).name:
        time.sleep(3600)
    return _read(path)

runtime.segment.read_crop = read_crop
"""


def test_a_granule_that_crashes_or_hangs_the_worker_is_recorded(tmp_path, staged, model):
    """sitecustomize makes the worker die of SIGSEGV or hang on chosen names, as a granule
    that breaks the HDF4 library would."""
    env = hooked_env(tmp_path, CRASH_AND_HANG)
    incoming, out = tmp_path / "incoming", tmp_path / "out"
    incoming.mkdir()
    shutil.copy(staged[0], incoming / f"crash-{staged[0].name}")
    shutil.copy(staged[1], incoming / f"hang-{staged[1].name}")
    shutil.copy(staged[2], incoming)
    old = time.time() - 60
    for path in incoming.iterdir():
        os.utime(path, (old, old))
    watcher = subprocess.run(
        [*WATCH, str(incoming), "-o", str(out), "--model", str(model), "--threads", "1",
         "--timeout", "5", "--settle", "0", "--once"],
        capture_output=True, text=True, env=env, timeout=120)
    assert watcher.returncode == 1, watcher.stderr  # --once: the first failure's code
    by_name = {r["name"]: r for r in records(out)}
    crashed = by_name[f"crash-{staged[0].name}"]
    assert crashed["status"] == "failed" and "signal 11" in crashed["reason"]
    hung = by_name[f"hang-{staged[1].name}"]
    assert hung["status"] == "failed" and "gave up after 5 s" in hung["reason"]
    assert by_name[staged[2].name]["status"] == "done"
    assert not list(out.glob(".*"))
