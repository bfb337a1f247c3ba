"""Unattended station mode: segment every complete new granule that lands in a directory.

- A granule is taken once it is complete: its modification time is at least ``settle`` seconds
  old and its HDF4 structure is whole (every data descriptor lies inside the file). A file that
  stays incomplete for ``stale`` seconds is taken anyway and fails as truncated.
- Each granule is processed exactly once across restarts: a ledger (JSON lines, one fsync'd
  record per granule) in the output directory keys granules by content sha256 and remembers
  name, size and modification time, so known files are skipped without hashing. The same
  content under another name is recorded as a duplicate, and so is another file of a granule
  whose outputs are already in the output directory (its NASA / IMAPP twin, a re-delivery):
  the first outputs are kept, as `segment` keeps them within a batch.
- Granules are read and segmented in a worker process (spawned; one inference session for many
  granules). A granule that crashes the HDF4 library or runs past ``timeout`` seconds costs the
  worker, which is replaced; the granule is recorded as failed with the reason.
- SIGTERM/SIGINT: the granule in hand is finished, then the loop stops. A second signal
  abandons it at once (worker killed, its temporary files removed). Final names never hold
  half-written files.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from runtime.errors import (
    BayIceError,
    IncompatibleModel,
    MissesBay,
    ModelError,
    NightGranule,
    OutputError,
)
from runtime.granule import hdf4_complete
from runtime.inference import file_sha256
from runtime.outputs import PARTIAL, ensure_writable
from runtime.segment import is_granule_name

log = logging.getLogger(__name__)

LEDGER_NAME = "watch-ledger.jsonl"
#: Reader errors that are a normal part of a station's day, recorded as skipped, not failed.
SKIPPED = (NightGranule, MissesBay)
#: Seconds a fresh worker may take to import and load the model.
WORKER_START_TIMEOUT = 300.0


@dataclass(frozen=True)
class Options:
    """How granules are segmented and when they are taken."""

    model: Path | None = None
    device: str = "auto"
    threads: int | None = None
    threshold: float | None = None
    probability: bool = False
    interval: float = 10.0
    settle: float = 30.0
    stale: float = 900.0
    timeout: float = 300.0
    verbose: bool = False


class Ledger:
    """Append-only record of every granule the watcher has handled (JSON lines, fsync'd)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.by_sha: dict[str, dict] = {}
        self.by_stat: dict[tuple, dict] = {}
        try:
            if path.exists():
                self._load()
            self._file = path.open("a")
        except OSError as error:
            raise OutputError(f"cannot use the ledger ({error.strerror or error})", path) from None

    def _load(self) -> None:
        # a byte that is not UTF-8 (a damaged disk block) spoils its line only, not the ledger
        text = self.path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            try:
                self._index(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError):
                log.warning("%s: line %d is not a record (cut short by a crash?): ignored",
                            self.path, number)
        if text and not text.endswith("\n"):
            with self.path.open("a") as f:  # end a torn last line so the next record is whole
                f.write("\n")

    def _index(self, record: dict) -> None:
        self.by_sha.setdefault(record["sha256"], record)
        self.by_stat[(record["name"], record["size"], record["mtime_ns"])] = record

    def known(self, path: Path, stat: os.stat_result) -> bool:
        """True when this very file (name, size, modification time) was handled before."""
        return (path.name, stat.st_size, stat.st_mtime_ns) in self.by_stat

    def add(self, record: dict) -> None:
        """Append one record and make it durable before returning."""
        try:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as error:
            raise OutputError(f"cannot write the ledger ({error.strerror or error})",
                              self.path) from None
        self._index(record)

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:  # the write that failed has been reported by `add`
            log.debug("closing %s", self.path, exc_info=True)


@dataclass
class Outcome:
    """What happened to one granule in the worker."""

    status: str  # done | failed | skipped | duplicate
    reason: str = ""
    exit_code: int = 0
    granule_id: str | None = None


def _die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel kill this worker when the watcher dies (e.g. SIGKILL); exit now
    if it already has."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:
        os._exit(0)


def _serve(conn, options: Options, outdir: Path, parent_pid: int) -> None:
    """Worker process: load the model once, then segment each path sent until told to stop."""
    from runtime.cli.common import setup_logging
    from runtime.segment import Segmenter

    _die_with_parent(parent_pid)
    # the watcher decides when to stop, also when systemd signals the whole process group
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    setup_logging(options.verbose)
    try:
        segmenter = Segmenter(options.model, options.device, options.threads, options.threshold)
    except BayIceError as error:
        conn.send(("fatal", type(error), str(error)))
        return
    conn.send(("ready", segmenter.provider))
    while (path := conn.recv()) is not None:
        try:
            result = segmenter.segment(path)
            granule_id = result.summary["granule_id"]
            if (outdir / f"{granule_id}.json").exists():  # its NASA / IMAPP twin came first
                conn.send(("duplicate", 0, f"same granule {granule_id} as the outputs already "
                                           "there, kept"))
                continue
            summary = result.save(outdir, options.probability)
        except (OutputError, ModelError, IncompatibleModel) as error:  # every granule alike
            conn.send(("fatal", type(error), str(error)))
            return
        except SKIPPED as error:
            conn.send(("skipped", error.exit_code, str(error)))
        except BayIceError as error:
            conn.send(("failed", error.exit_code, str(error)))
        else:
            conn.send(("done", summary["granule_id"]))


class Worker:
    """A worker process that segments granules one at a time, replaced when it dies or hangs."""

    def __init__(self, options: Options, outdir: Path) -> None:
        self.options = options
        self.outdir = outdir
        self.process: multiprocessing.process.BaseProcess | None = None
        self.provider: str | None = None

    def start(self) -> None:
        """Start a worker and wait until its model is loaded; model errors are raised here."""
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, self.options, self.outdir, os.getpid()), daemon=True,
            name="bay-ice-worker")
        self.process.start()
        child.close()
        if not self.conn.poll(WORKER_START_TIMEOUT):
            self.kill()
            raise RuntimeError(f"worker did not start within {WORKER_START_TIMEOUT} s")
        message = self.conn.recv()
        if message[0] == "fatal":
            self.kill()
            _, kind, text = message
            raise kind(text)
        self.provider = message[1]
        log.info("worker %d ready on %s", self.process.pid, self.provider)

    def segment(self, path: Path) -> Outcome:
        """Segment one granule in the worker, within the timeout."""
        if self.process is None or not self.process.is_alive():
            self.start()
        self.conn.send(str(path))
        if not self.conn.poll(self.options.timeout):
            self.kill()
            return Outcome("failed", f"{path}: gave up after {self.options.timeout:g} s", 1)
        try:
            message = self.conn.recv()
        except EOFError:
            self.process.join(5)
            code = self.process.exitcode
            self.kill()
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
            return Outcome("failed", f"{path}: the worker died reading it ({how})", 1)
        status = message[0]
        if status == "fatal":
            self.kill()
            raise message[1](message[2])
        if status == "done":
            return Outcome("done", granule_id=message[1])
        return Outcome(status, message[2], message[1])

    def kill(self) -> None:
        """Kill the worker now and remove its half-written files."""
        if self.process is not None and self.process.is_alive():
            self.process.kill()
        if self.process is not None:
            self.process.join()
        self.process = None
        remove_partials(self.outdir)

    def stop(self) -> None:
        """Ask an idle worker to exit, or kill it."""
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(10)
            except (BrokenPipeError, OSError):
                pass
        self.kill()


def remove_partials(outdir: Path) -> None:
    """Delete temporary files left by an interrupted write (never final names)."""
    for partial in outdir.glob(f".*{PARTIAL}*"):
        partial.unlink(missing_ok=True)


class Watcher:
    """Polls ``incoming`` and segments each complete new granule into ``outdir`` once."""

    def __init__(self, incoming: Path, outdir: Path, options: Options,
                 report: Callable[[dict], None] | None = None) -> None:
        self.incoming = incoming
        self.outdir = outdir
        self.options = options
        self.report = report or (lambda record: None)
        self.stopping = threading.Event()
        self.waiting: set[Path] = set()  # incomplete files already reported
        self.incoming_missing = False
        self.ledger: Ledger | None = None

    def candidates(self) -> list[Path]:
        """Granule files in ``incoming`` that are complete and not yet in the ledger, oldest
        first; none while ``incoming`` is gone (an unmounted disk, say), which is waited out."""
        now = time.time()
        ready = []
        try:
            names = list(self.incoming.iterdir())
        except OSError as error:
            if not self.incoming_missing:
                log.warning("%s: cannot be listed (%s): waiting for it to come back",
                            self.incoming, error.strerror or error)
            self.incoming_missing = True
            return []
        if self.incoming_missing:
            log.warning("%s: back", self.incoming)
            self.incoming_missing = False
        for path in names:
            if not is_granule_name(path.name):
                continue
            try:
                stat = path.stat()
                if not path.is_file() or self.ledger.known(path, stat):
                    continue
                if self._complete(path, stat, now):
                    ready.append((stat.st_mtime, path))
            except FileNotFoundError:  # moved away meanwhile
                continue
        return [path for _, path in sorted(ready)]

    def _complete(self, path: Path, stat: os.stat_result, now: float) -> bool:
        age = now - stat.st_mtime
        if age < self.options.settle:
            return False
        if hdf4_complete(path):
            self.waiting.discard(path)
            return True
        if age >= self.options.stale:
            log.warning("%s: still incomplete %.0f s after its last change: taken as truncated",
                        path, age)
            return True
        if path not in self.waiting:
            log.info("%s: HDF4 structure incomplete, waiting for the rest", path)
            self.waiting.add(path)
        return False

    def handle(self, worker: Worker, path: Path) -> None:
        """Segment one granule (or note it as a duplicate) and record it in the ledger."""
        stat = path.stat()
        sha256 = file_sha256(path)
        record = {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                  "sha256": sha256}
        start = time.perf_counter()
        first = self.ledger.by_sha.get(sha256)
        if first is not None:
            outcome = Outcome("duplicate", f"same content as {first['name']}",
                              granule_id=first.get("granule_id"))
        else:
            outcome = worker.segment(path)
        record.update(asdict(outcome), seconds=round(time.perf_counter() - start, 3),
                      at=datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"))
        self.ledger.add(record)
        self.report(record)

    def _on_signal(self, signum: int, _frame) -> None:
        if self.stopping.is_set():  # the second one: drop the granule in hand
            raise KeyboardInterrupt(signal.Signals(signum).name)
        log.warning("%s: finishing the granule in hand, then stopping (again to abandon it)",
                    signal.Signals(signum).name)
        self.stopping.set()

    def run(self, once: bool = False) -> None:
        """Poll until stopped by a signal, or, with ``once``, handle what is ready and return.

        The model is loaded before the output directory is made or touched: a model or device
        error leaves no folder behind."""
        worker = Worker(self.options, self.outdir)
        worker.start()
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            ensure_writable(self.outdir)
            remove_partials(self.outdir)
            self.ledger = Ledger(self.outdir / LEDGER_NAME)
            while not self.stopping.is_set():
                for path in self.candidates():
                    if self.stopping.is_set():
                        break
                    try:
                        self.handle(worker, path)
                    except FileNotFoundError:
                        log.info("%s: gone before it was read", path)
                if once:
                    break
                self.stopping.wait(self.options.interval)
        except KeyboardInterrupt:
            log.warning("stop signal again: abandoning the granule in hand")
            worker.kill()
        finally:
            worker.stop()
            if self.ledger is not None:
                self.ledger.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
