"""Issue 13: medallion beside another writer's table maintenance (delta-rs OPTIMIZE and VACUUM).

Users run delta-rs' or Spark's OPTIMIZE and VACUUM on medallion's tables while the engine
writes them. In the main test the engine runs continuously (`run --trigger-interval 100ms`)
while a data set is produced in chunks, and a thread of this test calls delta-rs'
`optimize.compact()`, `vacuum()` (the table's own delta.deletedFileRetentionDuration, 20 s
here) and now and then `create_checkpoint()` on the append tables (Bronze, Quarantine, Silver,
Late), retrying a call that loses a commit race. Half way the engine is killed (SIGKILL) and
started again from checkpoints delta-rs wrote: its start-up RemoveOrphans must leave delta-rs'
files alone. At the end the engine is stopped (SIGTERM), runs once more until caught up, and:

- every table is exact (crash_oracle.check_all: no row lost or duplicated);
- delta-rs' OPTIMIZE commits happened and removed files, in Bronze and Silver at least, and no
  commit removed a file that was no longer live;
- every file the final snapshots reference exists, and DuckDB reads as many rows from them as
  delta-rs does;
- no file removed less than the retention ago is gone (neither medallion's tombstone expiry
  nor delta-rs' VACUUM cut the retention short), and older removed files were deleted;
- the Bronze versions around each delta-rs OPTIMIZE whose files are all still there read
  (time travel) the same Kafka records before and after it, each record once and the offsets of
  every partition dense from 0.

test_both_compactors_race runs medallion's own compaction beside delta-rs' (see there: delta-rs
1.6.6 commits a stale OPTIMIZE without a conflict check, which duplicates rows whoever the
other compactor is). A separate, clearly unsafe check runs delta-rs' VACUUM with zero retention
(test_zero_retention_vacuum_beside_the_engine).

The Gold tables are maintained apart, once each: test_optimize_of_gold_windows_keeps_open_rows_apart
and test_optimize_of_gold_windows_while_the_engine_runs have delta-rs merge the window table's
"open-" file into a file of final rows, which the next batch must find by content, stopped and
running; test_optimize_of_gold_replace_tables checks the two tables each batch rewrites whole.

Knobs (environment): MEDALLION_EXTMAINT_SEED.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import random
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

import duckdb
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError

sys.path.insert(0, os.path.dirname(__file__))
import crash_oracle as oracle  # noqa: E402

APPEND_TABLES = ["bronze", "quarantine", "silver", "late"]
RUN_FLAGS = ["--trigger-interval", "100ms", "--max-batch-records", "200", "--max-batch-wait", "100ms"]
# The removed-file retention medallion records in the tables it creates (and so the one a
# default delta-rs VACUUM honours): short enough that VACUUM deletes files during the test.
RETENTION_S = 20
N_CHUNKS = 24
LINES_PER_CHUNK = 300
CHUNK_EVERY_S = 1.5
# Event time between events: the stream spans hours, so windows close while the engine runs.
STEP_MS = 600
# medallion's data files ("part-<batch:10>-<index:4>-...", "open-..."); delta-rs names its
# own "part-<5 digits>-<uuid>-c000...".
OWN_FILE = re.compile(r"^(part|open)-\d{10}-")
# A conflict of delta-rs' commit with another writer's (medallion's compactor; medallion's
# batches never conflict with an OPTIMIZE): delta-rs raises CommitFailedError, or a DeltaError
# naming the conflict.
CONFLICT = re.compile(r"conflict|concurrent|already exists", re.I)


def _compaction_flags(on: bool) -> list[str]:
    """medallion's own compaction, on with small thresholds or off, when this build has the
    flags (none otherwise: a build without compaction)."""
    r = subprocess.run([oracle.binary(), "run", "--help"], capture_output=True, text=True, timeout=30)
    if "--compaction-min-files" not in r.stdout + r.stderr:
        return []
    return ["--compaction", "on", "--compaction-min-files", "4"] if on else ["--compaction", "off"]


def _config(tmp_path: pathlib.Path) -> pathlib.Path:
    config = tmp_path / "medallion.toml"
    config.write_text(f'[delta]\nremoved_file_retention = "{RETENTION_S}s"\n')
    return config


class Maintenance(threading.Thread):
    """delta-rs maintenance over some of medallion's tables, in a loop until stopped: per table
    optimize.compact(), then vacuum(); a call that loses a commit race is retried (up to 10
    times). `vacuum_kwargs` are VACUUM's (default: the table's retention). Anything else
    delta-rs raises is kept in `errors` and fails the test."""

    def __init__(self, data: pathlib.Path, names: list[str], seed: int, vacuum_kwargs: dict | None = None,
                 checkpoint_every: int = 0):
        super().__init__(daemon=True)
        self.data, self.names = data, names
        # Pauses of 0.2 to 4 s between rounds: medallion's compactor (which looks every 2 s and
        # waits for 4 small files) sometimes merges first, sometimes delta-rs, sometimes both.
        self.rng = random.Random(seed)
        self.vacuum_kwargs = vacuum_kwargs or {}
        self.checkpoint_every = checkpoint_every
        self.stop_event = threading.Event()
        self.rounds = 0
        self.optimize_commits: collections.Counter = collections.Counter()
        self.files_removed: collections.Counter = collections.Counter()
        self.vacuumed: collections.Counter = collections.Counter()
        self.checkpoints = 0
        self.retries: collections.Counter = collections.Counter()
        self.errors: list[str] = []

    def _call(self, name: str, what: str, fn):
        for attempt in range(10):
            try:
                return fn(DeltaTable(str(self.data / oracle.TABLES[name])))
            except (CommitFailedError, DeltaError) as e:
                if not (isinstance(e, CommitFailedError) or CONFLICT.search(str(e))):
                    raise
                self.retries[f"{name} {what}"] += 1
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError(f"{name}: delta-rs {what} lost its commit race 10 times")

    def run(self) -> None:
        while not self.stop_event.is_set():
            for name in self.names:
                if self.stop_event.is_set() or not oracle.table_exists(self.data, name):
                    continue
                try:
                    metrics = self._call(name, "optimize", lambda t: t.optimize.compact())
                    if metrics["numFilesRemoved"] > 0:
                        self.optimize_commits[name] += 1
                        self.files_removed[name] += metrics["numFilesRemoved"]
                    gone = self._call(name, "vacuum",
                                      lambda t: t.vacuum(dry_run=False, **self.vacuum_kwargs))
                    self.vacuumed[name] += len(gone)
                    if self.checkpoint_every and (self.rounds + 1) % self.checkpoint_every == 0:
                        self._call(name, "checkpoint", lambda t: t.create_checkpoint())
                        self.checkpoints += 1
                except Exception:  # noqa: BLE001 - reported by the test, with the traceback
                    self.errors.append(f"{name}: {traceback.format_exc()}")
            self.rounds += 1
            self.stop_event.wait(self.rng.uniform(0.2, 4.0))

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=120)
        assert not self.is_alive(), "delta-rs maintenance did not stop"

    def summary(self) -> str:
        return (f"{self.rounds} rounds; OPTIMIZE commits {dict(self.optimize_commits)}, files "
                f"removed {dict(self.files_removed)}; paths VACUUM reported {dict(self.vacuumed)}; "
                f"checkpoints {self.checkpoints}; retried {dict(self.retries)}")


class Engine:
    """`medallion run` in the background, one log per start."""

    def __init__(self, brokers: str, topic: str, data: pathlib.Path, ckpt: pathlib.Path,
                 logs: pathlib.Path, flags: list[str]):
        self.args = oracle.run_args(brokers, topic, data, ckpt, *flags)
        self.logs, self.starts, self.proc = logs, 0, None
        self.env = {k: v for k, v in os.environ.items() if k != "MEDALLION_FAULT_POINT"}

    def start(self) -> None:
        log = self.logs / f"run-{self.starts}.log"
        self.starts += 1
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("run-*.log")))

    def assert_running(self) -> None:
        assert self.proc.poll() is None, (f"the engine exited with {self.proc.returncode}:\n"
                                          + oracle.tail(self.logs / f"run-{self.starts - 1}.log", 40))

    def stop(self, sig: int) -> int:
        return oracle.kill_process(self.proc, sig, timeout=60)


def _records_logged(text: str) -> int:
    return sum(int(m) for m in re.findall(r"batch \d+(?: \(replayed\))?: (\d+) records", text))


def _produce(brokers: str, topic: str, logs: pathlib.Path, i: int, lines: list[bytes]) -> None:
    oracle.produce_file(brokers, topic, oracle.write_jsonl(logs / f"chunk-{i}.jsonl", lines))


def _local_path(uri: str) -> pathlib.Path:
    """The file a delta-rs file URI names."""
    return pathlib.Path(urllib.parse.unquote(uri.removeprefix("file://")))


def _log_entries(root: pathlib.Path) -> dict[int, list[dict]]:
    """Every JSON log entry still in the table's log, by version."""
    out = {}
    for path in sorted((root / "_delta_log").glob("*.json")):
        out[int(path.name[:20])] = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    return out


def _is_delta_rs(entry: list[dict]) -> bool:
    info = next((a["commitInfo"] for a in entry if "commitInfo" in a), {})
    return "delta-rs" in json.dumps(info)


def _operation(entry: list[dict]) -> str:
    return next((a["commitInfo"].get("operation", "") for a in entry if "commitInfo" in a), "")


def _removes_of_files_not_live(root: pathlib.Path) -> list[tuple[int, str, str]]:
    """(version, engine, file) of every remove that names a file not live at the version before
    it: an OPTIMIZE that rewrote files another writer had already rewritten, whose rows are
    then live twice. A correct writer's conflict check never lets one through."""
    live: set[str] = set()
    out = []
    for version, entry in _log_entries(root).items():
        info = next((a["commitInfo"] for a in entry if "commitInfo" in a), {})
        for a in entry:
            if "remove" in a:
                path = urllib.parse.unquote(a["remove"]["path"])
                if path not in live:
                    out.append((version, info.get("engineInfo", "?"), path.rsplit("/", 1)[-1]))
                live.discard(path)
        live |= {urllib.parse.unquote(a["add"]["path"]) for a in entry if "add" in a}
    return out


def _check_files_and_retention(data: pathlib.Path, names: list[str], report: oracle.Report) -> dict[str, int]:
    """Live files exist and DuckDB reads them; removed files are kept for the retention.
    Returns how many removed files are gone, by table."""
    now_ms = time.time() * 1000
    deleted: dict[str, int] = {}
    for name in names:
        root = data / oracle.TABLES[name]
        table = DeltaTable(str(root))
        live = [_local_path(u) for u in table.file_uris()]
        missing = [str(p) for p in live if not p.exists()]
        assert not missing, f"{name}: the snapshot references files that are gone: {missing[:5]}"
        rows = table.to_pyarrow_table().num_rows
        if live:
            con = duckdb.connect()
            files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in live)
            duck = con.execute(f"SELECT count(*) FROM read_parquet([{files}])").fetchone()[0]
            con.close()
            assert duck == rows, f"{name}: DuckDB reads {duck} rows from the live files, delta-rs {rows}"
        removed: dict[str, int] = {}
        for entry in _log_entries(root).values():
            for a in entry:
                if "remove" in a:
                    path = urllib.parse.unquote(a["remove"]["path"])
                    removed[path] = max(removed.get(path, 0), a["remove"]["deletionTimestamp"])
        live_rel = {str(p.relative_to(root)) for p in live}
        gone = {p: ts for p, ts in removed.items() if p not in live_rel and not (root / p).exists()}
        early = [p for p, ts in gone.items() if now_ms - ts < RETENTION_S * 1000 - 2000]
        assert not early, f"{name}: files removed less than {RETENTION_S} s ago are gone: {early[:5]}"
        deleted[name] = len(gone)
        report.ok(f"{name}: {len(live)} live files exist, DuckDB reads their {rows} rows; "
                  f"no file removed within the retention is gone ({len(gone)} older ones are)")
    return deleted


def _check_bronze_time_travel(data: pathlib.Path, report: oracle.Report) -> int:
    """The Bronze versions before and after each delta-rs OPTIMIZE read the same records, each
    once, offsets dense per partition; only versions whose files all still exist are read.
    Returns how many OPTIMIZE versions were read."""
    root = data / oracle.TABLES["bronze"]
    entries = _log_entries(root)
    optimizes = [v for v, e in entries.items() if _is_delta_rs(e) and _operation(e) == "OPTIMIZE"
                 and v - 1 in entries]
    read = 0
    for v in optimizes:
        tables = []
        for version in (v - 1, v):
            t = DeltaTable(str(root), version=version)
            if not all(_local_path(u).exists() for u in t.file_uris()):
                break  # vacuumed after the retention: this version is no longer readable
            tables.append(t.to_pyarrow_table(columns=["partition", "offset"]))
        if len(tables) < 2:
            continue
        before, after = (collections.Counter(zip(t.column("partition").to_pylist(),
                                                  t.column("offset").to_pylist())) for t in tables)
        assert before == after, f"bronze: OPTIMIZE version {v} changed the rows (time travel)"
        assert all(n == 1 for n in after.values()), f"bronze version {v}: a record twice"
        per_part = collections.defaultdict(list)
        for p, o in after:
            per_part[p].append(o)
        for p, offsets in per_part.items():
            assert sorted(offsets) == list(range(len(offsets))), f"bronze version {v}: partition {p} has gaps"
        read += 1
    assert read > 0, f"bronze: no delta-rs OPTIMIZE version readable by time travel ({optimizes})"
    report.ok(f"bronze: time travel across {read} of {len(optimizes)} delta-rs OPTIMIZE versions "
              f"reads the same records before and after, each once, offsets dense")
    return read


def _stream_with_maintenance(tmp_path: pathlib.Path, seed: int, make_maintenance, kill_mid_way: bool,
                             compaction: bool, n_chunks: int = N_CHUNKS):
    """Produces the data set in chunks while the engine runs (its own compaction on or off)
    and `make_maintenance(data)` maintains the tables; kills and restarts the engine half way
    if asked; stops it with SIGTERM; runs it once more until caught up. Returns (data set,
    topic, data, ckpt, engine, maintenance, final run)."""
    brokers = oracle.ensure_shared_broker()
    topic = f"extmaint-{seed}-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(seed, n_events=n_chunks * LINES_PER_CHUNK, step_ms=STEP_MS)
    chunks = ds.chunks(n_chunks)
    data, ckpt, logs = tmp_path / "data", tmp_path / "ckpt", tmp_path / "logs"
    logs.mkdir()
    config = ["--config", str(_config(tmp_path))]
    flags = [*config, *RUN_FLAGS, *_compaction_flags(compaction)]
    _produce(brokers, topic, logs, 0, chunks[0])
    engine = Engine(brokers, topic, data, ckpt, logs, flags)
    engine.start()
    # The tables exist once the engine has committed its first batch.
    assert oracle.wait_for(lambda: _records_logged(engine.log_text()) > 0, 60), \
        oracle.tail(logs / "run-0.log")
    maintenance = make_maintenance(data)
    maintenance.start()
    try:
        for i in range(1, len(chunks)):
            time.sleep(CHUNK_EVERY_S)
            engine.assert_running()
            _produce(brokers, topic, logs, i, chunks[i])
            if kill_mid_way and i == len(chunks) // 2:
                assert engine.stop(signal.SIGKILL) == -signal.SIGKILL
                # The restart replays each append table from a checkpoint delta-rs wrote.
                for name in APPEND_TABLES:
                    DeltaTable(str(data / oracle.TABLES[name])).create_checkpoint()
                engine.start()
        # Let the engine and both compactors work on the last chunk a little.
        sent = sum(len(c) for c in chunks)
        oracle.wait_for(lambda: _records_logged(engine.log_text()) >= sent, 30)
        time.sleep(3)
        engine.assert_running()
    finally:
        maintenance.stop()
        if engine.proc.poll() is None and maintenance.errors:
            engine.stop(signal.SIGKILL)
    assert not maintenance.errors, "delta-rs maintenance failed:\n" + "\n".join(maintenance.errors[:3])
    rc = engine.stop(signal.SIGTERM)
    last_log = logs / f"run-{engine.starts - 1}.log"
    assert rc == 0, f"SIGTERM: the engine exited with {rc}:\n" + oracle.tail(last_log)
    final = oracle.run_until_caught_up(brokers, topic, data, ckpt, *config, *_compaction_flags(compaction))
    return ds, topic, data, ckpt, engine, maintenance, final


def _compaction_summary(text: str) -> tuple[int, int, list[str]]:
    commits = len(re.findall(r"compaction: table \S+ version \d+:", text))
    abandoned = len(re.findall(r"compaction: table \S+: abandoned", text))
    errors = [l for l in text.splitlines() if "compaction: table" in l and "tried again later" in l]
    return commits, abandoned, errors


def _seed() -> int:
    return int(os.environ.get("MEDALLION_EXTMAINT_SEED", str(random.randrange(1, 1 << 30))))


def _print_report(ds: oracle.Dataset, maint: Maintenance, report: oracle.Report, started: float) -> None:
    print(f"input: {len(ds.lines)} records {dict(ds.counts)}")
    print(f"delta-rs: {maint.summary()}")
    print("rows checked: " + ", ".join(f"{k} {v}" for k, v in report.rows.items()))
    for c in report.checks:
        print(f"  ok  {c}")
    print(f"duration {time.monotonic() - started:.1f} s")


def test_delta_rs_optimize_and_vacuum_beside_the_engine(tmp_path):
    """delta-rs is the only compactor here (medallion's own is off; test_both_compactors_race
    has both): every check of the module docstring."""
    started = time.monotonic()
    seed = _seed()
    print(f"\nexternal maintenance: seed {seed}")
    ds, topic, data, ckpt, engine, maint, final = _stream_with_maintenance(
        tmp_path, seed, lambda d: Maintenance(d, APPEND_TABLES, seed, checkpoint_every=3),
        kill_mid_way=True, compaction=False)

    report = oracle.check_all(data, ds.lines, ds, topic, last_batch=oracle.last_committed(ckpt))
    for name in ("bronze", "silver"):
        history = DeltaTable(str(data / oracle.TABLES[name])).history()
        ours = [h for h in history if h.get("operation") == "OPTIMIZE" and "delta-rs" in json.dumps(h)
                and int(h.get("operationMetrics", {}).get("numFilesRemoved", 0)) > 0]
        assert ours, f"{name}: no delta-rs OPTIMIZE that removed files in the history"
        report.ok(f"{name}: {len(ours)} delta-rs OPTIMIZE commits in the history, "
                  f"{sum(int(h['operationMetrics']['numFilesRemoved']) for h in ours)} files removed")
    for name in APPEND_TABLES:
        twice = _removes_of_files_not_live(data / oracle.TABLES[name])
        assert not twice, f"{name}: removes of files no longer live: {twice[:5]}"
    report.ok("no commit removed a file that was no longer live")
    deleted = _check_files_and_retention(data, list(oracle.TABLES), report)
    _check_bronze_time_travel(data, report)
    # Both VACUUMs delete the files removed more than the retention ago: delta-rs' in its loop,
    # medallion's at each commit of the table (ExpireTombstones), whichever comes first.
    assert sum(deleted[n] for n in APPEND_TABLES) > 0, f"no removed file was ever deleted: {maint.summary()}"
    # Files a delta-rs commit that lost its race left behind are delta-rs' own business.
    orphans = [f for f in oracle.orphan_files(data) if OWN_FILE.match(f.rsplit("/", 1)[-1])]
    assert not orphans, f"medallion's data files outside the Delta logs: {orphans[:10]}"
    report.ok("no data file of medallion's outside the Delta logs after the SIGKILL and restart")
    assert engine.starts == 2
    _print_report(ds, maint, report, started)


def test_both_compactors_race(tmp_path):
    """medallion's compaction (min 4 files, looking every 2 s) and delta-rs' OPTIMIZE (every
    0.2 to 4 s) merge the same small files. medallion's side must hold: a merge whose inputs
    delta-rs removed first is abandoned (logged, the stream goes on), never an error, and no
    commit of medallion's removes a file that is no longer live.

    delta-rs 1.6.6 does not hold its side: an OPTIMIZE planned on a snapshot that another
    writer's OPTIMIZE has since changed commits on top of it without a conflict check (its
    commit replaces the stale read snapshot by the newest one before comparing them), removing
    files already removed and adding their rows a second time; two delta-rs OPTIMIZEs race the
    same way without medallion. When that happens (in 4 of 6 runs here) the rows are
    duplicated by delta-rs' commit, and this test xfails with the evidence from the log."""
    started = time.monotonic()
    seed = _seed()
    if not _compaction_flags(True):
        pytest.skip("this build has no compaction of its own")
    print(f"\nboth compactors: seed {seed}")
    ds, topic, data, ckpt, engine, maint, final = _stream_with_maintenance(
        tmp_path, seed, lambda d: Maintenance(d, APPEND_TABLES, seed), kill_mid_way=False, compaction=True)
    commits, abandoned, errors = _compaction_summary(engine.log_text() + final.stdout + final.stderr)
    print(f"medallion compaction: {commits} commits, {abandoned} abandoned on a conflict, "
          f"{len(errors)} errors")
    assert not errors, "medallion's compaction failed beside delta-rs':\n" + "\n".join(errors[:5])
    assert commits > 0, "medallion's compactor never merged: the two compactors did not race"
    twice = {name: _removes_of_files_not_live(data / oracle.TABLES[name]) for name in APPEND_TABLES}
    ours = [(name, r) for name, rs in twice.items() for r in rs if r[1] == "medallion"]
    assert not ours, f"medallion removed files that were no longer live: {ours[:5]}"
    theirs = [(name, r) for name, rs in twice.items() for r in rs]
    try:
        report = oracle.check_all(data, ds.lines, ds, topic, last_batch=oracle.last_committed(ckpt))
    except AssertionError as e:
        if theirs:
            pytest.xfail(f"delta-rs bug: its OPTIMIZE removed files another writer had already "
                         f"removed, e.g. {theirs[:3]}: {str(e)[:300]}")
        raise
    assert not theirs, f"removes of files no longer live, yet no row twice: {theirs[:5]}"
    report.ok(f"medallion's compaction: {commits} commits beside delta-rs', {abandoned} abandoned "
              f"on a conflict, no errors")
    _print_report(ds, maint, report, started)


def test_zero_retention_vacuum_beside_the_engine(tmp_path):
    """UNSAFE BY DELTA'S OWN DOCUMENTATION: VACUUM with zero retention deletes every removed
    file at once, so readers of older versions fail. A lite VACUUM (delta-rs' default) deletes
    only files a remove names, never files not yet committed: medallion's batches must still
    not lose a row, and no live file may go."""
    started = time.monotonic()
    seed = _seed() + 1
    print(f"\nzero-retention VACUUM: seed {seed}")
    ds, topic, data, ckpt, engine, maint, final = _stream_with_maintenance(
        tmp_path, seed,
        lambda d: Maintenance(d, APPEND_TABLES, seed,
                              {"retention_hours": 0, "enforce_retention_duration": False}),
        kill_mid_way=False, compaction=False, n_chunks=12)
    report = oracle.check_all(data, ds.lines, ds, topic, last_batch=oracle.last_committed(ckpt))
    for name in oracle.TABLES:
        gone = [u for u in DeltaTable(str(data / oracle.TABLES[name])).file_uris() if not _local_path(u).exists()]
        assert not gone, f"{name}: live files deleted: {gone[:5]}"
    report.ok("every live file exists")
    assert sum(maint.vacuumed.values()) > 0, maint.summary()
    _print_report(ds, maint, report, started)


def _gold_fixture(tmp_path: pathlib.Path, seed: int):
    """A topic with the first half of a data set in it, run until caught up in small batches, so
    that the Gold window table holds several files of final rows and one "open-" file."""
    brokers = oracle.ensure_shared_broker()
    topic = f"extmaint-gold-{seed}-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(seed, n_events=3000, step_ms=STEP_MS)
    first, second = ds.chunks(2)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "first.jsonl", first))
    oracle.run_until_caught_up(brokers, topic, data, ckpt, "--max-batch-records", "300")
    return brokers, topic, ds, first, second, data, ckpt


def _optimize_once(data: pathlib.Path, name: str) -> tuple[dict, list[str], list[str]]:
    root = str(data / oracle.TABLES[name])
    before = [u.rsplit("/", 1)[-1] for u in DeltaTable(root).file_uris()]
    metrics = DeltaTable(root).optimize.compact()
    after = [u.rsplit("/", 1)[-1] for u in DeltaTable(root).file_uris()]
    return metrics, before, after


def test_optimize_of_gold_replace_tables(tmp_path):
    """gold/top_products and gold/customer_spend: each batch replaces the whole table with one
    file, so delta-rs' OPTIMIZE finds nothing to merge, and the next batches are exact."""
    brokers, topic, ds, first, second, data, ckpt = _gold_fixture(tmp_path, 1301)
    for name in ("gold_top", "gold_customers"):
        metrics, before, after = _optimize_once(data, name)
        assert len(before) == 1 and metrics["numFilesRemoved"] == 0 and after == before, (name, metrics)
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "second.jsonl", second))
    oracle.run_until_caught_up(brokers, topic, data, ckpt, "--max-batch-records", "300")
    oracle.check_all(data, ds.lines, ds, topic, last_batch=oracle.last_committed(ckpt))


def test_optimize_of_gold_windows_keeps_open_rows_apart(tmp_path):
    """In output mode 'update' the Gold window table keeps its open windows in an "open-" file.
    delta-rs' OPTIMIZE (the table is unpartitioned) merges that file with the files of final
    rows. The next batch must find the open rows in delta-rs' file by content (window_end after
    the watermark), remove the file and write its final rows again; removing only files named
    "open-" left the open rows live beside their replacement, every such window twice."""
    brokers, topic, ds, first, second, data, ckpt = _gold_fixture(tmp_path, 1302)
    metrics, before, after = _optimize_once(data, "gold_windows")
    # The mechanism: the open file was among the files delta-rs merged.
    assert any(f.startswith("open-") for f in before), before
    assert metrics["numFilesRemoved"] == len(before) > 1 and not any(f.startswith("open-") for f in after)
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "second.jsonl", second))
    oracle.run_until_caught_up(brokers, topic, data, ckpt, "--max-batch-records", "300")
    oracle.check_all(data, ds.lines, ds, topic, last_batch=oracle.last_committed(ckpt))


def test_optimize_of_gold_windows_while_the_engine_runs(tmp_path):
    """The running engine's side of the one above: its snapshot predates delta-rs' OPTIMIZE, so
    its next commit would remove the "open-" file OPTIMIZE already removed (a concurrent delete).
    It must read OPTIMIZE's entry and plan the removal again, not fail the batch."""
    brokers = oracle.ensure_shared_broker()
    topic = f"extmaint-goldrun-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(1303, n_events=3000, step_ms=STEP_MS)
    chunks = ds.chunks(6)
    data, ckpt, logs = tmp_path / "data", tmp_path / "ckpt", tmp_path / "logs"
    logs.mkdir()
    _produce(brokers, topic, logs, 0, chunks[0])
    engine = Engine(brokers, topic, data, ckpt, logs, RUN_FLAGS)
    engine.start()
    try:
        for i in range(1, 3):
            time.sleep(CHUNK_EVERY_S)
            _produce(brokers, topic, logs, i, chunks[i])
        assert oracle.wait_for(lambda: _records_logged(engine.log_text()) >= sum(map(len, chunks[:3])), 60)
        metrics, before, _ = _optimize_once(data, "gold_windows")
        assert any(f.startswith("open-") for f in before) and metrics["numFilesRemoved"] > 1, metrics
        for i in range(3, len(chunks)):
            time.sleep(CHUNK_EVERY_S)
            _produce(brokers, topic, logs, i, chunks[i])
        oracle.wait_for(lambda: _records_logged(engine.log_text()) >= len(ds.lines), 30)
        # The engine must still run, its batches committed beside delta-rs' OPTIMIZE.
        engine.assert_running()
    finally:
        if engine.proc.poll() is None:
            engine.stop(signal.SIGTERM)
        oracle.run_until_caught_up(brokers, topic, data, ckpt)
    oracle.check_all(data, ds.lines, ds, topic, last_batch=oracle.last_committed(ckpt))
