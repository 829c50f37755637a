"""Soak: the engine runs continuously (100 ms trigger) under a steady trickle of events while
this driver samples, over time, what must stay bounded, kills the engine a few times (twice at
a compaction fault point, once at a random moment) and finally checks every table exactly.

Series sampled every few seconds: per table, the live files per partition (delta-rs), the
`_delta_log` entries and bytes and the data files on disk; the engine's RSS and CPU (/proc);
the state bytes each batch reports and the checkpoint directory's size; the
batch latency (the engine's batch lines: read, compute, write and commit). Beside them, the
same Delta logs replayed without compaction and without log cleanup give what the tables
would hold without them, the baseline the figures are compared with.

After a warm-up (at least the log retention, so cleanup is running), every series must be
bounded: the median of the last third of the run at most a factor (1.25 for the files per
partition, 1.5 for what follows the machine's load) times the median of the first third after
the warm-up, plus a small allowance; and at every sample, each table's log holds no more than
the entries written within the log retention (and 10 s) before its newest checkpoint and three
checkpoint intervals. A stall (10 s or more without a batch) and each series' recovery from it
are cut out of the run before the thirds are taken (`stalls`, `bounds`). The tables are then caught up and
checked by crash_oracle.check_all (every sent record once in Bronze, Silver exact, Gold equal
to DuckDB's recomputation) with no orphan files.

    python tests/integration/soak.py --seconds 1800 --out docs   # make soak
    tests/integration/test_soak_short.py                          # a short run in make test

The input is crash_oracle's data set (duplicates, late, malformed and invalid events), sent by
`medallion produce --from-file --rate R`. Event time advances `step_ms` per event, faster than
the clock, so that the dedup horizon (1 h of event time) and the Gold windows turn over within
minutes and the state reaches its steady size early in the run.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import dataclasses
import datetime as dt
import json
import os
import pathlib
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crash_oracle as oracle  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20

# "2026-12-02T00:50:08.123 info batch 12 (replayed): ... state: 5 dedup ids, 3 open window
# groups, 1234 bytes, 0.052 s (write 0.031; ..."
BATCH_LINE = re.compile(
    r"^(\S+) \S+ batch (\d+)( \(replayed\))?: (\d+) records, .*?state: (\d+) dedup ids, "
    r"(\d+) open window groups, (\d+) bytes, ([\d.]+) s \(write ([\d.]+);")
# The compactor's lines: "compaction: table silver/order_lines version 42: 4 files -> 1 (... bytes,
# ... rows; 1 files joined by copying row groups) in 0.123 s, 0.045 CPU-s" (earlier builds:
# "; 3 files' rows from memory" or nothing there), or "compaction: table T: abandoned, <why>",
# or a warning.
COMPACTION_LINE = re.compile(r"^(\S+) \S+ compaction: table (\S+?):? (.*)$")
COMPACTION_DONE = re.compile(r"version (\d+): (\d+) files -> (\d+) \((\d+) -> (\d+) bytes, (\d+) rows"
                             r"(?:; (\d+) files(?: joined by copying row groups|' rows from memory))?\) "
                             r"in ([\d.]+) s, ([\d.]+) CPU-s")


@dataclasses.dataclass
class SoakConfig:
    """What one soak run does; the defaults are the short run of `make test`."""

    seconds: float = 150.0
    rate: float = 30.0  # events per second
    step_ms: int = 3000  # event time between events: 90 s of event time per second
    trigger: str = "100ms"
    sample_every: float = 3.0
    log_retention: str = "30s"
    removed_file_retention: str = "20s"
    checkpoint_interval: int = 10
    compaction_min_files: int = 4
    compaction: bool = True  # off: the baseline without compaction (--compaction off)
    kills: bool = True  # off: one engine runs throughout (memory growth within a process)
    # When the kills happen, as fractions of the run: a SIGKILL at a random moment (the engine
    # restarts armed with compact.after_files@K), then a graceful restart armed with
    # compact.after_commit@K. Each armed engine dies at its fault point and restarts plain.
    kill_at: float = 0.30
    rearm_at: float = 0.55
    warmup: float | None = None  # default: max(20 % of the run, log retention + 30 s)
    factor: float = 1.5
    count_factor: float = 1.25
    seed: int = 0
    brokers: str = oracle.SHARED_BROKERS

    def retention_seconds(self) -> float:
        return duration_seconds(self.log_retention)

    def warmup_seconds(self) -> float:
        if self.warmup is not None:
            return self.warmup
        return max(0.2 * self.seconds, self.retention_seconds() + 30)


def duration_seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert m, f"not a duration: {text}"
    return float(m.group(1)) * {"ms": 1e-3, "s": 1, "m": 60, "h": 3600}[m.group(2)]


# ---------------------------------------------------------------------------------------------
# Reading the tables and the process
# ---------------------------------------------------------------------------------------------


def _partition_of(path: str) -> str:
    """The partition directory of a data file's log path ('' for an unpartitioned table)."""
    return os.path.dirname(urllib.parse.unquote(path))


class LogReplay:
    """Reads a table's `_delta_log` entries once each, as they appear, and keeps what the table
    would hold without compaction (only dataChange actions replayed) and without log cleanup
    (every entry and checkpoint ever written, and their bytes)."""

    def __init__(self, root: pathlib.Path):
        self.log = root / "_delta_log"
        self.next_version = 0
        self.commits = 0
        self.entry_bytes = 0
        self.checkpoints: dict[str, int] = {}  # name -> bytes
        self.files_nc: dict[str, set[str]] = collections.defaultdict(set)  # no compaction
        self.compaction_commits = 0
        self.data_adds = 0
        self.entry_mtimes: list[float] = []  # of every entry read, in version order
        self.newest_checkpoint_mtime: float | None = None

    def update(self) -> None:
        if not self.log.is_dir():
            return
        for p in self.log.glob("*.checkpoint*.parquet"):
            if p.name not in self.checkpoints:
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                self.checkpoints[p.name] = st.st_size
                self.newest_checkpoint_mtime = max(self.newest_checkpoint_mtime or 0.0, st.st_mtime)
        versions = sorted(int(p.name[:20]) for p in self.log.glob("*.json") if p.name[:20].isdigit())
        for v in versions:
            if v < self.next_version:
                continue
            assert v == self.next_version or self.next_version == 0, (
                f"{self.log}: entry {v} appeared after {self.next_version - 1}: entries were "
                f"cleaned up before the sampler read them (sample more often)")
            try:
                path = self.log / f"{v:020d}.json"
                mtime = path.stat().st_mtime
                text = path.read_text()
            except FileNotFoundError:
                break
            self.next_version = v + 1
            self.commits += 1
            self.entry_mtimes.append(mtime)
            self.entry_bytes += len(text.encode())
            compaction = False
            for line in text.splitlines():
                if not line.strip():
                    continue
                action = json.loads(line)
                if "commitInfo" in action and action["commitInfo"].get("operation") == "OPTIMIZE":
                    compaction = True
                for kind in ("add", "remove"):
                    a = action.get(kind)
                    if a is None or not a.get("dataChange", True):
                        continue
                    part = _partition_of(a["path"])
                    if kind == "add":
                        self.files_nc[part].add(a["path"])
                        self.data_adds += 1
                    else:
                        self.files_nc[part].discard(a["path"])
            self.compaction_commits += compaction

    def entries_since(self, t: float) -> int:
        """Entries written at or after epoch second `t`."""
        return len(self.entry_mtimes) - bisect.bisect_left(self.entry_mtimes, t)

    def max_files_per_partition_nc(self) -> int:
        return max((len(s) for s in self.files_nc.values()), default=0)


def table_sample(root: pathlib.Path) -> dict:
    """Live files (per partition), log entries and bytes, data files on disk of one table."""
    import deltalake

    out: dict = {}
    for attempt in range(3):  # the engine may delete a log file between listing and reading
        try:
            dt_ = deltalake.DeltaTable(str(root))
            paths = dt_.get_add_actions(flatten=True).column("path").to_pylist()
            out["version"] = dt_.version()
            break
        except Exception:  # noqa: BLE001 - a concurrent cleanup; try again
            if attempt == 2:
                return {}
            time.sleep(0.2)
    per_part = collections.Counter(_partition_of(p) for p in paths)
    out["live_files"] = len(paths)
    out["partitions"] = len(per_part)
    out["max_files_per_partition"] = max(per_part.values(), default=0)
    entries = checkpoints = log_bytes = 0
    for p in (root / "_delta_log").iterdir():
        try:
            size = p.stat().st_size
        except FileNotFoundError:
            continue
        log_bytes += size
        if p.name.endswith(".json") and p.name[:20].isdigit():
            entries += 1
        elif ".checkpoint" in p.name:
            checkpoints += 1
    out.update(log_entries=entries, log_checkpoints=checkpoints, log_bytes=log_bytes)
    disk = 0
    for p in root.rglob("*.parquet"):
        if "_delta_log" not in p.parts:
            disk += 1
    out["files_on_disk"] = disk
    return out


def dir_bytes(path: pathlib.Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except FileNotFoundError:
            pass
    return total


def pressure_seconds() -> dict[str, float]:
    """The machine's stall totals so far, in seconds: from Linux pressure stall information, the
    time in which some task waited for the CPU, some / every task waited for I/O; from
    /proc/stat, the CPU time stolen by the hypervisor."""
    out = {}
    for resource, kinds in (("cpu", ("some",)), ("io", ("some", "full"))):
        try:
            with open(f"/proc/pressure/{resource}") as f:
                for line in f:
                    kind, *fields = line.split()
                    if kind in kinds:
                        out[f"{resource} {kind}"] = int(dict(x.split("=") for x in fields)["total"]) / 1e6
        except (OSError, KeyError, ValueError):
            pass
    try:  # time the hypervisor ran something else on this machine's CPUs (all of them summed)
        with open("/proc/stat") as f:
            out["cpu steal"] = int(f.readline().split()[8]) / CLK_TCK
    except (OSError, IndexError, ValueError):
        pass
    return out


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def process_cpu(pid: int) -> float:
    """CPU seconds of the whole process, exited threads included."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def log_time(stamp: str) -> float:
    """Epoch seconds of an engine log time stamp (local time, as spdlog writes it)."""
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timestamp()


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


class Engine:
    """One `medallion run` process of the soak, its log and how it ended."""

    def __init__(self, number: int, cmd: list[str], log: pathlib.Path, fault: str | None):
        self.number, self.log_path, self.fault = number, log, fault
        env = {k: v for k, v in os.environ.items() if k != "MEDALLION_FAULT_POINT"}
        if fault:
            env["MEDALLION_FAULT_POINT"] = fault
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.started = time.time()
        self.cpu_seen = 0.0  # last CPU reading while alive (a dead process has no /proc entry)
        self.log_offset = 0
        self.ended: str | None = None

    def sample_cpu(self) -> None:
        if self.proc.poll() is None:
            cpu = process_cpu(self.proc.pid)
            if cpu:
                self.cpu_seen = cpu

    def new_log_lines(self) -> list[str]:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.log_offset += end
        return chunk[:end].decode(errors="replace").splitlines()


def compaction_supported(binary: str) -> bool:
    r = subprocess.run([binary, "run", "--help"], capture_output=True, text=True, timeout=30)
    return "--compaction-min-files" in r.stdout


def run_soak(cfg: SoakConfig, work: pathlib.Path, log=print) -> dict:
    """Runs the soak in `work` and returns its record: config, samples, batches, compactions,
    kills, bounds and the oracle's checks. Raises AssertionError if the engine misbehaves
    (exits on its own, the final tables are wrong); the bounds are returned, not asserted."""
    started_mono = time.monotonic()
    seed = cfg.seed or random.randrange(1, 1 << 30)
    rng = random.Random(seed)
    brokers = cfg.brokers
    if brokers == oracle.SHARED_BROKERS:
        oracle.ensure_shared_broker()
    binary = oracle.binary()
    compaction = compaction_supported(binary) and cfg.compaction
    topic = f"soak-{seed}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True, exist_ok=True)
    data, ckpt, logs = work / "data", work / "ckpt", work / "logs"
    logs.mkdir(exist_ok=True)
    n_events = int(cfg.rate * cfg.seconds)
    ds = oracle.make_dataset(seed, n_events=n_events, step_ms=cfg.step_ms,
                             start=time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() - 3 * 86400)))
    source = oracle.write_jsonl(logs / "events.jsonl", ds.lines)
    config = work / "medallion.toml"
    config.write_text(f'[delta]\ncheckpoint_interval = {cfg.checkpoint_interval}\n'
                      f'log_retention = "{cfg.log_retention}"\n'
                      f'removed_file_retention = "{cfg.removed_file_retention}"\n')
    # A batch waits for records at most one trigger interval, so a trickle makes a batch per trigger.
    flags = ["--config", str(config), "--trigger-interval", cfg.trigger, "--max-batch-wait", cfg.trigger]
    if compaction:
        flags += ["--compaction-min-files", str(cfg.compaction_min_files)]
    elif compaction_supported(binary):
        flags += ["--compaction", "off"]
    cmd = oracle.run_args(brokers, topic, data, ckpt, *flags)
    log(f"soak: seed {seed}, topic {topic}, {n_events} events at {cfg.rate}/s for {cfg.seconds:.0f} s, "
        f"compaction {'on' if compaction else 'off' if not cfg.compaction else 'ABSENT from this build'}, "
        f"work {work}")

    subprocess.run([binary, "produce", "--brokers", brokers, "--topic", topic, "--create-topic-partitions",
                    str(oracle.PARTITIONS), "--from-file", "/dev/null"], check=True, capture_output=True,
                   timeout=120)
    with open(logs / "produce.log", "wb") as out:
        producer = subprocess.Popen([binary, "produce", "--brokers", brokers, "--topic", topic,
                                     "--rate", str(cfg.rate), "--from-file", str(source)],
                                    stdout=out, stderr=subprocess.STDOUT)

    engines: list[Engine] = []
    kills: list[dict] = []
    samples: list[dict] = []
    batches: list[dict] = []
    compactions: list[dict] = []
    replays: dict[str, LogReplay] = {}
    t0 = time.time()

    def start(fault: str | None) -> Engine:
        e = Engine(len(engines), cmd, logs / f"run-{len(engines):02d}.log", fault)
        engines.append(e)
        log(f"  {time.time() - t0:6.1f} s: engine {e.number} started (pid {e.proc.pid}"
            f"{', fault ' + fault if fault else ''})")
        return e

    def read_logs(e: Engine) -> None:
        for line in e.new_log_lines():
            m = BATCH_LINE.match(line)
            if m:
                batches.append({"t": log_time(m.group(1)) - t0, "batch": int(m.group(2)),
                                "replayed": bool(m.group(3)), "records": int(m.group(4)),
                                "dedup_ids": int(m.group(5)), "open_windows": int(m.group(6)),
                                "state_bytes": int(m.group(7)), "seconds": float(m.group(8)),
                                "write_seconds": float(m.group(9)), "engine": e.number})
                continue
            m = COMPACTION_LINE.match(line)
            if m:
                c = {"t": log_time(m.group(1)) - t0, "table": m.group(2), "engine": e.number,
                     "committed": False, "text": m.group(3)}
                done = COMPACTION_DONE.search(m.group(3))
                if done:
                    c.update(committed=True, version=int(done.group(1)), files_in=int(done.group(2)),
                             files_out=int(done.group(3)), bytes_in=int(done.group(4)),
                             bytes_out=int(done.group(5)), rows=int(done.group(6)),
                             joined=int(done.group(7) or 0), seconds=float(done.group(8)),
                             cpu_seconds=float(done.group(9)))
                compactions.append(c)

    def end(e: Engine, how: str) -> None:
        e.ended = how
        read_logs(e)
        kills.append({"t": time.time() - t0, "engine": e.number, "how": how, "fault": e.fault})
        log(f"  {time.time() - t0:6.1f} s: engine {e.number} ended: {how}")

    def sample() -> None:
        e = engines[-1]
        e.sample_cpu()
        read_logs(e)
        s = {"t": time.time() - t0, "engine": e.number, "rss_kib": rss_kib(e.proc.pid),
             "load": os.getloadavg()[0], "pressure": pressure_seconds(), "tables": {}}
        s["cpu_s"] = sum(x.cpu_seen for x in engines)
        for name, rel in oracle.TABLES.items():
            root = data / rel
            if not (root / "_delta_log").is_dir():
                continue
            replay = replays.setdefault(name, LogReplay(root))
            replay.update()
            ts = table_sample(root)
            ts.update(commits=replay.commits, entry_bytes_total=replay.entry_bytes,
                      checkpoint_bytes_total=sum(replay.checkpoints.values()),
                      checkpoints_total=len(replay.checkpoints),
                      max_files_per_partition_nc=replay.max_files_per_partition_nc(),
                      compaction_commits=replay.compaction_commits, data_adds=replay.data_adds,
                      entries_in_retention=replay.entries_since(
                          min(time.time(), replay.newest_checkpoint_mtime or time.time()) - retention_window))
            s["tables"][name] = ts
        s["sampler_pause"] = pause.pop("longest", 0.0)  # the longest 0.2 s sleep's overshoot since the last sample
        s["ckpt_bytes"] = dir_bytes(ckpt) if ckpt.exists() else 0
        s["ckpt_state_bytes"] = dir_bytes(ckpt / "state") if (ckpt / "state").exists() else 0
        s["last_state_bytes"] = batches[-1]["state_bytes"] if batches else None
        samples.append(s)

    # An entry goes once it is older than the retention and a checkpoint newer than it has been
    # written (every checkpoint_interval commits), checked at each checkpoint on a background
    # thread: the log holds the entries of the retention window, up to two intervals' more, and
    # what the sampler's delay and a loaded machine's late checkpoint add (10 s, an interval).
    # The window ends at the table's newest checkpoint, not at the sampler's clock: a stream
    # that commits nothing (stalled, or the machine paused) writes no checkpoint, so nothing
    # deletes its old entries, as in any Delta writer.
    retention_window = cfg.retention_seconds() + 2 * cfg.sample_every + 10
    pause: dict[str, float] = {}
    engine = start(None)
    kill_t = cfg.kill_at * cfg.seconds * rng.uniform(0.9, 1.1)
    rearm_t = cfg.rearm_at * cfg.seconds
    stage = 0 if cfg.kills else 2  # 0: before the random kill, 1: before the re-arm, 2: after both
    next_sample = 0.0
    deadline = cfg.seconds
    while True:
        now = time.time() - t0
        if now >= deadline:
            break
        rc = engine.proc.poll()
        if rc is not None:
            if engine.fault and rc == -signal.SIGKILL:
                end(engine, f"killed at fault point {engine.fault}")
                engine = start(None)
            else:
                read_logs(engine)
                raise AssertionError(f"engine {engine.number} exited with {rc} on its own:\n"
                                     + oracle.tail(engine.log_path))
        if stage == 0 and now >= kill_t:
            engine.sample_cpu()
            oracle.kill_process(engine.proc)
            end(engine, "SIGKILL at a random moment")
            engine = start(f"compact.after_files@{rng.randint(1, 3)}" if compaction else None)
            stage = 1
        elif stage == 1 and now >= rearm_t:
            engine.sample_cpu()
            if engine.fault and engine.ended is None:  # its fault point never came
                oracle.kill_process(engine.proc)
                end(engine, f"SIGKILL: fault point {engine.fault} not reached")
            else:
                rc = oracle.kill_process(engine.proc, signal.SIGTERM, timeout=60)
                assert rc == 0, f"engine {engine.number}: SIGTERM ended it with {rc}:\n" + oracle.tail(engine.log_path)
                end(engine, "SIGTERM (graceful restart)")
            engine = start(f"compact.after_commit@{rng.randint(1, 3)}" if compaction else None)
            stage = 2
        if now >= next_sample:
            sample()
            next_sample = now + cfg.sample_every
            if len(samples) % 10 == 0:
                last = samples[-1]
                files = max((t.get("max_files_per_partition", 0) for t in last["tables"].values()), default=0)
                entries = max((t.get("log_entries", 0) for t in last["tables"].values()), default=0)
                log(f"  {now:6.1f} s: {len(batches)} batches, files/partition {files}, log entries "
                    f"{entries}, RSS {last['rss_kib'] // 1024} MiB, state {last['last_state_bytes']} B, "
                    f"load {last['load']:.1f}")
        slept = time.monotonic()
        time.sleep(0.2)
        pause["longest"] = max(pause.get("longest", 0.0), time.monotonic() - slept - 0.2)

    # End: the last sample, a graceful stop, the rest of the stream, a catch-up, the oracle.
    sample()
    engine.sample_cpu()
    if engine.proc.poll() is None:
        rc = oracle.kill_process(engine.proc, signal.SIGTERM, timeout=60)
        assert rc == 0 or (engine.fault and rc == -signal.SIGKILL), (
            f"engine {engine.number}: SIGTERM ended it with {rc}:\n" + oracle.tail(engine.log_path))
    read_logs(engine)
    try:
        assert producer.wait(timeout=max(60.0, 2 * n_events / cfg.rate - cfg.seconds + 60)) == 0, \
            oracle.tail(logs / "produce.log")
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait()
    final = oracle.run_until_caught_up(brokers, topic, data, ckpt, "--config", str(config), timeout=600)
    (logs / "final.log").write_text(final.stdout + final.stderr)
    last_batch = oracle.last_committed(ckpt)
    report = oracle.check_all(data, ds.lines, ds, topic, last_batch=last_batch)
    orphans = oracle.orphan_files(data)
    assert not orphans, f"data files outside the Delta logs: {orphans[:10]}"
    report.ok("no orphan data files")
    for c in report.checks:
        log(f"  oracle: {c}")

    record = {
        "config": {**dataclasses.asdict(cfg), "seed": seed, "warmup": cfg.warmup_seconds()},
        "compaction": compaction, "topic": topic, "events": n_events, "samples": samples,
        "batches": batches, "compactions": compactions, "kills": kills,
        "engines": [{"number": e.number, "started_t": e.started - t0, "fault": e.fault, "ended": e.ended,
                     "cpu_s": e.cpu_seen}
                    for e in engines],
        "oracle": report.checks, "rows": dict(report.rows), "last_batch": last_batch,
        "wall_seconds": time.monotonic() - started_mono,
    }
    record["stalls"] = stalls(record, cfg)
    record["bounds"] = bounds(record, cfg)
    record["figures"] = figures(record, cfg)
    return record


# ---------------------------------------------------------------------------------------------
# Bounds and figures
# ---------------------------------------------------------------------------------------------


def _series(samples: list[dict], key) -> list[tuple[float, float]]:
    out = []
    for s in samples:
        v = key(s)
        if v is not None:
            out.append((s["t"], v))
    return out


def _max_table(s: dict, field: str) -> int | None:
    values = [t[field] for t in s["tables"].values() if field in t]
    return max(values) if values else None


def _sum_table(s: dict, field: str) -> int | None:
    values = [t[field] for t in s["tables"].values() if field in t]
    return sum(values) if values else None


def series_of(record: dict) -> dict[str, list[tuple[float, float]]]:
    """Every bounded series as (seconds, value) points."""
    samples = record["samples"]
    out = {}
    for name in sorted({n for s in samples for n in s["tables"]}):
        out[f"files per partition: {name}"] = _series(
            samples, lambda s, n=name: s["tables"].get(n, {}).get("max_files_per_partition"))
    interval = record["config"]["checkpoint_interval"]
    out["log entries beyond retention"] = _series(samples, lambda s: max(
        (t["log_entries"] - t["entries_in_retention"] - 3 * interval - 2
         for t in s["tables"].values() if "entries_in_retention" in t), default=None))
    out.update({
        "data files on disk": _series(samples, lambda s: _sum_table(s, "files_on_disk")),
        "max _delta_log entries": _series(samples, lambda s: _max_table(s, "log_entries")),
        "_delta_log bytes (all tables)": _series(samples, lambda s: _sum_table(s, "log_bytes")),
        "RSS KiB": _series(samples, lambda s: s["rss_kib"] or None),
        "checkpoint dir bytes": _series(samples, lambda s: s["ckpt_bytes"]),
    })
    batches = [b for b in record["batches"] if not b["replayed"]]
    out["state bytes"] = [(b["t"], b["state_bytes"]) for b in batches]
    out["batch seconds"] = [(b["t"], b["seconds"]) for b in batches]
    return out


# What each series may grow by beyond `factor` times its early maximum: room for a checkpoint
# interval's entries, a partition's run of small files, a heap's noise.
ALLOWANCE = {
    "files per partition": 8,
    "log entries beyond retention": 0,
    "data files on disk": 64,
    "max _delta_log entries": 30,
    "_delta_log bytes (all tables)": 256 * 1024,
    "RSS KiB": 32 * 1024,
    "checkpoint dir bytes": 256 * 1024,
    "state bytes": 64 * 1024,
}


# Series whose level follows the machine's load (the commit rate, the files removed within the
# retention, the heap): they get cfg.factor; the files per partition, a sawtooth compaction
# holds, get cfg.count_factor. Medians, not maxima: a compaction paused by a backlog or a heap
# spike makes a peak, not a trend. A series growing linearly from the start has the median of
# its last third above that of its first third after the warm-up by (D - S/6) / (W + S/6),
# S = D - W: 1.8 for the short run, 2.4 for make soak's.
GROWS_WITH_LOAD = {"data files on disk", "max _delta_log entries", "_delta_log bytes (all tables)", "RSS KiB", "checkpoint dir bytes", "state bytes"}


# A stretch this long without a batch, while the producer sends 30 events a second, is a stall:
# of the engine, the broker, or the whole machine (a paused VM, a throttled disk). A start after
# a kill takes about half a second (up to 3.3 s before held Bronze was read in one pass).
STALL_SECONDS = 10.0


def stalls(record: dict, cfg: SoakConfig) -> list[dict]:
    """Stretches of at least STALL_SECONDS without a batch, each with what the machine did
    meanwhile: its pressure stall totals (seconds some task waited for the CPU or I/O, every
    task for I/O) and stolen CPU time (`pressure_seconds`), the sampler's longest pause (its own
    0.2 s sleeps overshooting: the test process was not running either) and the engines started
    within it."""
    samples = record["samples"]
    times = sorted(b["t"] for b in record["batches"])
    if not times or not samples:
        return []
    edges = list(zip(times, times[1:])) + [(times[-1], samples[-1]["t"])]
    out = []
    for a, b in edges:
        if b - a < STALL_SECONDS:
            continue
        before = [s for s in samples if s["t"] <= a] or samples[:1]
        after = [s for s in samples if s["t"] >= b] or samples[-1:]
        p0, p1 = before[-1].get("pressure", {}), after[0].get("pressure", {})
        out.append({
            "from": a, "to": b, "seconds": b - a,
            "pressure seconds": {k: p1[k] - p0[k] for k in p1 if k in p0},
            "longest sampler pause": max((s.get("sampler_pause", 0.0) for s in samples
                                            if before[-1]["t"] < s["t"] <= after[0]["t"]), default=0.0),
            "engines started": [e["number"] for e in record["engines"] if a <= e.get("started_t", -1) <= b],
        })
    return out


def _recovery(name: str, cfg: SoakConfig) -> float:
    """How long after a stall the series still shows it: the log's series until the retention
    has passed again (the first checkpoint after it deletes every entry the stall let age, and
    the log refills over a retention), the data files on disk likewise with the removed-file
    retention, the others a few samples."""
    base = 2 * cfg.sample_every + 10
    if name in ("max _delta_log entries", "_delta_log bytes (all tables)"):
        return cfg.retention_seconds() + base
    if name == "data files on disk":
        return duration_seconds(cfg.removed_file_retention) + base
    return base


def _without_stalls(pts: list[tuple[float, float]], cut: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points outside the intervals `cut` (sorted, disjoint), their times moved back by the
    length cut before them: the run as if the stretches had not happened."""
    out = []
    for t, v in pts:
        shift, inside = 0.0, False
        for a, b in cut:
            if t >= b:
                shift += b - a
            elif t >= a:
                inside = True
                break
        if not inside:
            out.append((t - shift, v))
    return out


def _merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def bounds(record: dict, cfg: SoakConfig) -> list[dict]:
    """For each series: the median over the first third after the warm-up and over the last
    third of the run, and whether the latter is within a factor of the former + allowance
    (batch latency: twice + 50 ms); the log entries against their absolute bound at every
    sample. A stall (`stalls`) and the time the series takes to recover from it are cut out
    of the run before the thirds are taken: a paused machine is not the engine's trend. A
    series left with less than half the span after the warm-up is reported, not judged."""
    warm = cfg.warmup_seconds()
    span = cfg.seconds - warm
    out = []
    for name, pts in series_of(record).items():
        if name == "log entries beyond retention":  # an absolute bound, at every sample
            kept = [(t, v) for t, v in pts if t >= warm]
        else:
            cut = _merged([(s["from"], s["to"] + _recovery(name, cfg)) for s in record.get("stalls", [])])
            kept = _without_stalls([(t, v) for t, v in pts if t >= warm], cut)
        first, last = (kept[0][0], kept[-1][0]) if kept else (0.0, 0.0)
        if last - first < span / 2 and record.get("stalls"):
            # Too little of the run is left to tell a trend from noise: said, not judged.
            out.append({"series": name, "ok": True, "kind": f"not judged: stalls left {last - first:.0f} s of "
                        f"{span:.0f}", "early": None, "late": None})
            continue
        early_end, late_start = first + (last - first) / 3, last - (last - first) / 3
        early = [v for t, v in kept if t < early_end]
        late = [v for t, v in kept if t >= late_start]
        if len(early) < 2 or len(late) < 2:
            out.append({"series": name, "ok": False, "why": "too few points", "early": None, "late": None})
            continue
        if name == "batch seconds":
            e, l = statistics.median(early), statistics.median(late)
            limit = 2 * e + 0.05
            kind = "median"
        elif name == "log entries beyond retention":
            e, l = max(early), max(v for t, v in kept)
            limit = 0
            kind = "max over the retention's entries"
        elif name == "state bytes":  # most batches write a delta; the maxima are the whole snapshots
            e, l = max(early), max(late)
            limit = cfg.factor * e + ALLOWANCE[name]
            kind = "max (whole snapshots)"
        else:
            e, l = statistics.median(early), statistics.median(late)
            factor = cfg.factor if name in GROWS_WITH_LOAD else cfg.count_factor
            limit = factor * e + ALLOWANCE[name.split(":")[0]]
            kind = "median"
        out.append({"series": name, "kind": kind, "early": e, "late": l, "limit": limit, "ok": l <= limit})
    return out


def figures(record: dict, cfg: SoakConfig) -> dict:
    """The figures of docs/soak.md: batches, files and log against the no-compaction /
    no-cleanup baseline extrapolated to a day, RSS and latency at start and end, CPU share."""
    samples = record["samples"]
    first, last = samples[0], samples[-1]
    warm = cfg.warmup_seconds()
    post = [s for s in samples if s["t"] >= warm]
    s0 = post[0] if post else first
    elapsed = max(1e-9, last["t"] - s0["t"])
    tables = {}
    for name, t in last["tables"].items():
        t0 = s0["tables"].get(name, {})
        commits_per_s = (t["commits"] - t0.get("commits", 0)) / elapsed
        adds_per_s = (t["data_adds"] - t0.get("data_adds", 0)) / elapsed
        mean_entry = t["entry_bytes_total"] / max(1, t["commits"])
        cps = t["checkpoint_bytes_total"] / max(1, t["checkpoints_total"])
        per_day_commits = commits_per_s * 86400
        tables[name] = {
            "live files": t["live_files"], "partitions": t["partitions"],
            "max files per partition": t["max_files_per_partition"],
            "max files per partition without compaction": t["max_files_per_partition_nc"],
            "data files added per second": adds_per_s,
            "log entries": t["log_entries"], "log checkpoints": t["log_checkpoints"], "log bytes": t["log_bytes"],
            "commits": t["commits"], "commits per second": commits_per_s,
            "compaction commits": t["compaction_commits"],
            "log entries in a day without cleanup": per_day_commits * (1 + 1 / cfg.checkpoint_interval),
            "log bytes in a day without cleanup": per_day_commits * (mean_entry + cps / cfg.checkpoint_interval),
            "log bytes written in the run": t["entry_bytes_total"] + t["checkpoint_bytes_total"],
            "files on disk": t["files_on_disk"],
        }
    real = [b for b in record["batches"] if not b["replayed"]]

    def window(lo: float, hi: float) -> list[dict]:
        return [b for b in real if lo <= b["t"] < hi]

    def rss_at(lo: float, hi: float) -> float | None:
        v = [s["rss_kib"] for s in samples if lo <= s["t"] < hi and s["rss_kib"]]
        return max(v) / 1024 if v else None

    def lat(bs: list[dict], q: float, key: str = "seconds") -> float | None:
        v = sorted(b[key] for b in bs)
        return v[min(len(v) - 1, int(q * len(v)))] if v else None

    start_w, end_w = window(warm, warm + 60), window(cfg.seconds - 60, cfg.seconds + 1)
    # From an engine's start to its first batch: restoring the state, reading held Bronze again.
    to_first_batch = {}
    for e in record["engines"]:
        first = min((b["t"] for b in record["batches"] if b["engine"] == e["number"]), default=None)
        if first is not None and "started_t" in e:
            to_first_batch[e["number"]] = first - e["started_t"]
    cpu = last["cpu_s"]
    done = [c for c in record["compactions"] if c["committed"]]
    compaction_cpu = sum(c["cpu_seconds"] for c in done)
    return {
        "duration s": last["t"], "batches": len(record["batches"]), "last batch id": record["last_batch"],
        "batches per second": len(real) / max(1e-9, last["t"]),
        "events": record["events"], "kills": len(record["kills"]),
        "seconds from start to first batch, per engine": to_first_batch,
        "tables": tables,
        "RSS MiB, first minute after warm-up (max)": rss_at(warm, warm + 60),
        "RSS MiB, last minute (max)": rss_at(cfg.seconds - 60, cfg.seconds + 1),
        "batch seconds, first minute after warm-up (median, p95)": (lat(start_w, 0.5), lat(start_w, 0.95)),
        "batch seconds, last minute (median, p95)": (lat(end_w, 0.5), lat(end_w, 0.95)),
        "write+commit seconds, first minute after warm-up (median, p95)": (
            lat(start_w, 0.5, "write_seconds"), lat(start_w, 0.95, "write_seconds")),
        "write+commit seconds, last minute (median, p95)": (
            lat(end_w, 0.5, "write_seconds"), lat(end_w, 0.95, "write_seconds")),
        "state bytes, first/last batch": (real[0]["state_bytes"], real[-1]["state_bytes"]) if real else None,
        "engine CPU seconds": cpu, "engine CPU share of one core": cpu / max(1e-9, last["t"]),
        "compaction commits": len(done),
        "compaction conflicts or errors": len(record["compactions"]) - len(done),
        "compaction files in -> out": (sum(c["files_in"] for c in done), sum(c["files_out"] for c in done)),
        "compaction files joined by copying row groups": sum(c["joined"] for c in done),
        "compaction bytes in": sum(c["bytes_in"] for c in done),
        "compaction CPU seconds (its commits)": compaction_cpu,
        "compaction share of the engine CPU": compaction_cpu / cpu if cpu else None,
        "compaction wall seconds (its commits)": sum(c["seconds"] for c in done),
    }


def plot(record: dict, path: pathlib.Path) -> None:
    """The series, one panel each, kill times marked: docs/soak.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = record["samples"]
    cfg = record["config"]
    fig, axes = plt.subplots(3, 2, figsize=(13, 11))
    ts = [s["t"] / 60 for s in samples]
    names = sorted({n for s in samples for n in s["tables"]})

    def per_table(ax, field, nc_field=None, title="", scale=1.0, ylabel=""):
        for n in names:
            ys = [s["tables"].get(n, {}).get(field) for s in samples]
            line, = ax.plot(ts, [y / scale if y is not None else None for y in ys], label=n, lw=1.2)
            if nc_field:
                ys = [s["tables"].get(n, {}).get(nc_field) for s in samples]
                ax.plot(ts, [y / scale if y is not None else None for y in ys], ls="--", lw=0.8,
                        color=line.get_color())
        ax.set_title(title)
        ax.set_ylabel(ylabel)

    per_table(axes[0, 0], "max_files_per_partition", "max_files_per_partition_nc",
              "Files in the largest partition (dashed: without compaction)", ylabel="files")
    axes[0, 0].set_yscale("symlog", linthresh=10)
    axes[0, 0].legend(fontsize=7, ncol=2)
    per_table(axes[0, 1], "log_entries", "commits", "_delta_log entries (dashed: without cleanup)",
              ylabel="entries")
    axes[0, 1].set_yscale("symlog", linthresh=10)
    ax = axes[1, 0]
    ax.plot(ts, [(_sum_table(s, "log_bytes") or 0) / MIB for s in samples], label="Delta logs (all tables)")
    ax.plot(ts, [((_sum_table(s, "entry_bytes_total") or 0) + (_sum_table(s, "checkpoint_bytes_total") or 0)) / MIB
                 for s in samples], ls="--", label="written (without cleanup)")
    ax.plot(ts, [s["ckpt_bytes"] / MIB for s in samples], label="checkpoint dir (engine state)")
    ax.set_title("Bytes")
    ax.set_ylabel("MiB")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    ax.plot(ts, [s["rss_kib"] / 1024 if s["rss_kib"] else None for s in samples], label="RSS")
    ax.set_ylabel("RSS MiB")
    ax2 = ax.twinx()
    real = [b for b in record["batches"] if not b["replayed"]]
    # Most batches write an incremental snapshot, every so often a whole one: points, not a line.
    ax2.scatter([b["t"] / 60 for b in real], [b["state_bytes"] / 1024 for b in real], color="tab:orange",
                s=2, label="state KiB")
    ax2.set_ylabel("state snapshot KiB (batch log, orange)")
    ax.set_title("Memory and state")
    ax = axes[2, 0]
    ax.scatter([b["t"] / 60 for b in real], [b["seconds"] * 1000 for b in real], s=1, alpha=0.3,
               label="batch")
    med_t, med_v = _rolling_median(real, 30.0)
    ax.plot([t / 60 for t in med_t], [v * 1000 for v in med_v], color="black", lw=1.2, label="median (30 s)")
    ax.set_yscale("log")
    ax.set_title("Batch latency (read, compute, write, commit)")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)
    ax = axes[2, 1]
    done = [c for c in record["compactions"] if c["committed"]]
    xs, total, comp = [], [], []
    for a, b in zip(samples, samples[1:]):
        if b["t"] <= a["t"] or b["cpu_s"] < a["cpu_s"]:
            continue
        xs.append(b["t"] / 60)
        total.append(100 * (b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"]))
        comp.append(100 * sum(c["cpu_seconds"] for c in done if a["t"] <= c["t"] < b["t"]) / (b["t"] - a["t"]))
    ax.plot(xs, total, lw=0.8, label="engine (all threads)")
    if done:
        ax.plot(xs, comp, lw=0.8, label="compaction (its commits)")
    ax.set_title("CPU (% of one core)")
    ax.legend(fontsize=7)
    for a in axes.flat:
        a.set_xlabel("minutes")
        a.axvline(cfg["warmup"] / 60, color="grey", ls=":", lw=0.8)
        for k in record["kills"]:
            a.axvline(k["t"] / 60, color="red", ls="-", lw=0.6, alpha=0.6)
    fig.suptitle(f"medallion soak: {record['events']} events at {cfg['rate']:.0f}/s, trigger {cfg['trigger']}, "
                 f"{len(record['kills'])} kills (red), warm-up (dotted); compaction "
                 f"{'on' if record['compaction'] else 'off'}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rolling_median(batches: list[dict], width: float) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    if not batches:
        return xs, ys
    t_end = batches[-1]["t"]
    t = batches[0]["t"]
    while t < t_end:
        v = [b["seconds"] for b in batches if t <= b["t"] < t + width]
        if v:
            xs.append(t + width / 2)
            ys.append(statistics.median(v))
        t += width
    return xs, ys


def summary(record: dict) -> str:
    """The run's figures and bounds as Markdown."""
    f = record["figures"]
    cfg = record["config"]
    lines = [f"Run: {f['duration s'] / 60:.1f} min, {record['events']} events at {cfg['rate']:.0f}/s, trigger "
             f"{cfg['trigger']}, log retention {cfg['log_retention']}, removed-file retention "
             f"{cfg['removed_file_retention']}, checkpoint every {cfg['checkpoint_interval']} commits, compaction "
             f"{'min files ' + str(cfg['compaction_min_files']) if record['compaction'] else 'off'}, "
             f"seed {cfg['seed']}.", "",
             f"- batches: {f['batches']} ({f['batches per second']:.2f}/s), last batch id {f['last batch id']}; "
             f"{f['kills']} engine ends: "
             + "; ".join(f"{k['t'] / 60:.1f} min {k['how']}" for k in record["kills"]) + "; from start to first "
             "batch: " + ", ".join(f"engine {n} {s:.2f} s"
                                   for n, s in f.get("seconds from start to first batch, per engine", {}).items()),
             f"- RSS (max): {_fmt(f['RSS MiB, first minute after warm-up (max)'])} MiB in the first minute after "
             f"warm-up, {_fmt(f['RSS MiB, last minute (max)'])} MiB in the last minute",
             "- batch latency (median, p95): first minute after warm-up "
             f"{_fmt_pair(f['batch seconds, first minute after warm-up (median, p95)'])} s, last minute "
             f"{_fmt_pair(f['batch seconds, last minute (median, p95)'])} s; of which writing the tables and "
             "committing them: "
             f"{_fmt_pair(f['write+commit seconds, first minute after warm-up (median, p95)'])} s and "
             f"{_fmt_pair(f['write+commit seconds, last minute (median, p95)'])} s",
             f"- engine CPU: {f['engine CPU seconds']:.0f} s, {100 * f['engine CPU share of one core']:.0f}% of one core; "
             f"compaction: {f['compaction commits']} commits ({f['compaction conflicts or errors']} abandoned or "
             f"failed), {f['compaction files in -> out'][0]} files -> {f['compaction files in -> out'][1]} "
             f"({f.get('compaction files joined by copying row groups', 0)} of them by joining row groups), "
             f"{f['compaction CPU seconds (its commits)']:.1f} CPU-s "
             f"({_pct(f['compaction share of the engine CPU'])} of the engine's CPU)",
             "- final tables, caught up and checked: " + "; ".join(record["oracle"])]
    for st in record.get("stalls", []):
        pressure = ", ".join(f"{k} {v:.1f} s" for k, v in st["pressure seconds"].items()) or "no PSI"
        lines.append(f"- stall: no batch from {st['from']:.1f} s to {st['to']:.1f} s ({st['seconds']:.1f} s; "
                     f"engines started in it: {st['engines started'] or 'none'}); the machine meanwhile: "
                     f"{pressure}, the sampler's longest pause {st['longest sampler pause']:.1f} s; "
                     "cut out of the bounds with the time each series takes to recover")
    lines += ["",
              "| table | live files | largest partition | same without compaction | data files/s "
              "| log entries | log KiB | log entries/day without cleanup | log MiB/day without cleanup |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, t in f["tables"].items():
        lines.append(f"| {name} | {t['live files']} | {t['max files per partition']} | "
                     f"{t['max files per partition without compaction']} | {t['data files added per second']:.2f} | "
                     f"{t['log entries']} | {t['log bytes'] / 1024:.0f} | "
                     f"{t['log entries in a day without cleanup']:,.0f} | "
                     f"{t['log bytes in a day without cleanup'] / MIB:,.0f} |")
    lines += ["", "| series | compared | first third after warm-up | last third | limit | bounded |",
              "|---|---|---|---|---|---|"]
    for b in record["bounds"]:
        lines.append(f"| {b['series']} | {b.get('kind', '')} | {_fmt(b['early'])} | {_fmt(b['late'])} | "
                     f"{_fmt(b.get('limit'))} | {'NO' if not b['ok'] else 'yes' if 'limit' in b else '-'} |")
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1:
        v = int(v)
    if isinstance(v, float):
        return f"{v:.3f}" if v < 10 else f"{v:,.0f}"
    return f"{v:,}"


def _fmt_pair(p) -> str:
    return "-" if p is None or p[0] is None else f"{p[0]:.3f} / {p[1]:.3f}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--rate", type=float, default=SoakConfig.rate)
    ap.add_argument("--step-ms", type=int, default=SoakConfig.step_ms)
    ap.add_argument("--log-retention", default="2m")
    ap.add_argument("--removed-file-retention", default="1m")
    ap.add_argument("--sample-every", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compaction", choices=["on", "off"], default="on",
                    help="off: the baseline without compaction")
    ap.add_argument("--no-kills", action="store_true", help="one engine throughout")
    ap.add_argument("--from-json", type=pathlib.Path, default=None,
                    help="no run: bounds, figures, plot and summary again from a run's soak.json")
    ap.add_argument("--work", type=pathlib.Path, default=None, help="work directory (default: a new one in /tmp)")
    ap.add_argument("--out", type=pathlib.Path, default=oracle.REPO / "docs",
                    help="where soak.png, soak.md and soak.json go")
    args = ap.parse_args()
    cfg = SoakConfig(seconds=args.seconds, rate=args.rate, step_ms=args.step_ms, log_retention=args.log_retention,
                     removed_file_retention=args.removed_file_retention, sample_every=args.sample_every,
                     seed=args.seed, compaction=args.compaction == "on", kills=not args.no_kills)
    if args.from_json:
        record = json.loads(args.from_json.read_text())
        cfg = SoakConfig(**{k: v for k, v in record["config"].items() if k in SoakConfig.__dataclass_fields__})
        record["stalls"] = stalls(record, cfg)
        record["bounds"], record["figures"] = bounds(record, cfg), figures(record, cfg)
        work = args.from_json.parent
    else:
        work = args.work or pathlib.Path(f"/tmp/medallion-soak-{time.strftime('%Y%m%d-%H%M%S')}")
        record = run_soak(cfg, work, log=lambda m: print(m, flush=True))
        (work / "soak.json").write_text(json.dumps(record, default=str))
    args.out.mkdir(parents=True, exist_ok=True)
    plot(record, args.out / "soak.png")
    text = summary(record)
    (args.out / "soak-figures.md").write_text("# Soak figures (written by tests/integration/soak.py)\n\n" + text)
    print(text)
    print(f"series: {work / 'soak.json'}; plot: {args.out / 'soak.png'}")
    return 0 if all(b["ok"] for b in record["bounds"]) else 1


if __name__ == "__main__":
    sys.exit(main())
