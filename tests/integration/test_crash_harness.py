"""Crash harness: medallion's exactly-once promise under repeated SIGKILLs.

A stream with duplicates, late, malformed and invalid events, version 1 events and then
version 2 ones, is produced in chunks while the engine runs, and beside it a payments stream
for those orders (matched, missing, orphan, mismatched, late, re-sent and bad payments), which
the engine joins with the orders. The engine is killed again and again: half of the time by a fault point armed in
the environment (cycling through every named point, so each phase of a batch is hit on purpose),
otherwise by a SIGKILL after a random delay. After each kill it is restarted. At the end it runs
until caught up, and every table is checked against an independent oracle (crash_oracle.py) and
against a crash-free run of the same topic.

Knobs (environment): MEDALLION_CRASH_KILLS (default 40, at least 20), MEDALLION_CRASH_SEED.
"""

from __future__ import annotations

import collections
import os
import random
import re
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import crash_oracle as oracle  # noqa: E402
import payments_oracle as pay  # noqa: E402
from test_payments import join_watermark  # noqa: E402

# Every fault point the engine honours, in batch order, with the range of N in "name@N". Points
# hit once per batch get 1..3 (batch 1, 2 or 3 of a process); points hit once per table or per
# file get a wider range so the kill lands in different tables (Bronze, Quarantine, Silver, Gold).
FAULT_POINTS = {
    "plan.before_write": (1, 3),
    "plan.after_write": (1, 3),
    "batch.after_compute": (1, 3),
    "parquet.before_sync": (1, 12),
    "table.after_file": (1, 12),
    "table.before_commit": (1, 10),
    "delta_log.before_commit": (1, 10),
    "delta_log.after_commit": (1, 10),
    "delta_log.before_checkpoint": (1, 1),  # every 10th commit of a table (CONFIG): up to 10 batches away
    "delta_log.after_checkpoint": (1, 1),
    "table.after_commit": (1, 10),
    "batch.before_gold": (1, 3),
    "commit.before_write": (1, 3),
    "commit.after_write": (1, 3),
    # The compactor's merge beside the stream (a thread of its own, between batches).
    "compact.after_files": (1, 2),
    "compact.after_commit": (1, 2),
    # After an fsync of a file or a directory: a file synced and not yet renamed into place, a
    # directory synced after a rename or a new file. Dozens a run (start-up, every table file,
    # log entry and checkpoint file), so N reaches from start-up into the batches and merges.
    "fsync.after": (1, 60),
}
# Points only a local file system reaches (an object store has no fsync): left out on a store.
LOCAL_ONLY_FAULT_POINTS = {"fsync.after"}
# Points hit only at start-up when a table written by an earlier build gains columns (the schema
# evolution commit of each such table): never reached by this harness's tables, which this build
# creates; test_upgrade.py crashes at each over the tables of the previous release.
START_UP_FAULT_POINTS = ["delta_log.before_evolve", "delta_log.after_evolve"]
RUN_FLAGS = ["--max-batch-records", "150", "--trigger-interval", "50ms", "--max-batch-wait", "100ms",
             "--compaction-min-files", "3"]
FAULT_WAIT_S = 8.0  # a fault point not reached within this is a timer kill
# A log checkpoint every 10 commits (the default is 100), so that the checkpoint's fault points
# come within reach of a killed run.
CONFIG = '[delta]\ncheckpoint_interval = 10\n'
# On an object-store server (one local Python or Node.js process) start-up and batches are
# slower: a fault point gets longer to fire, and the loop's budget need not reach every point;
# at least STORE_MIN_POINTS distinct points must fire (and 20 kills, as everywhere).
STORE_FAULT_WAIT_S = 12.0
STORE_MIN_POINTS = 12
# Points that fire only every 10th commit may need ten batches (with restart and fsyncs) first.
SLOW_FAULT_WAIT_S = 20.0
LOOP_BUDGET_S = 170.0
LINES_PER_CHUNK = 400
# Event time between order events: the stream spans hours, so the payment join's intervals
# (an hour after an order) close while the engine is being killed.
STEP_MS = 600


def _phase_of_timer_kill(log_text: str) -> str:
    if "last committed batch" not in log_text:
        return "timer:startup"
    last = [l for l in log_text.splitlines() if re.search(r"replaying batch|batch \d+", l)]
    if last and "replaying" in last[-1]:
        return "timer:replay"
    return "timer:batches"


def test_crash_harness(tmp_path):
    run_harness(tmp_path, max(20, int(os.environ.get("MEDALLION_CRASH_KILLS", "40"))))


def test_crash_harness_on_s3(tmp_path, s3):
    """The same harness with the data and checkpoint directories on the local S3 server: at
    least 20 kills, then the tables (downloaded) pass the same checks. The removed-file
    retention is 2 s there, so that the final run's start-up may take the killed runs' files
    for orphans (on an object store only files older than the retention are; see README)."""
    bucket = s3.make_bucket(f"crash-{uuid.uuid4().hex[:12]}")
    run_harness(tmp_path, max(20, int(os.environ.get("MEDALLION_CRASH_KILLS_STORE", "20"))),
                store=(f"s3://{bucket}/data", f"s3://{bucket}/ckpt", s3), config='removed_file_retention = "2s"\n')


def test_crash_harness_on_azure(tmp_path, azurite):
    """The same on Azurite (Azure Blob Storage's emulator), abfs:// URLs."""
    container = azurite.make_container(f"crash-{uuid.uuid4().hex[:12]}")
    base = f"abfs://{container}@devstoreaccount1"
    run_harness(tmp_path, max(20, int(os.environ.get("MEDALLION_CRASH_KILLS_STORE", "20"))),
                store=(f"{base}/data", f"{base}/ckpt", azurite), config='removed_file_retention = "2s"\n')


def run_harness(tmp_path, target: int, store=None, config: str = "") -> None:
    """The kill loop and the checks. `store` = (data URL, checkpoint URL, server) puts the
    crashed run's directories on an object store (object_stores.py); its tables are downloaded
    for the checks, and the crash-free run they are compared with stays on local disk.
    `config`: more lines of the [delta] section of every run's config file."""
    started = time.monotonic()
    points = {k: v for k, v in FAULT_POINTS.items() if store is None or k not in LOCAL_ONLY_FAULT_POINTS}
    brokers = oracle.ensure_shared_broker()
    config_file = tmp_path / "harness.toml"
    config_file.write_text(CONFIG + config)
    extra = ["--config", str(config_file)]
    seed = int(os.environ.get("MEDALLION_CRASH_SEED", str(random.randrange(1, 1 << 30))))
    rng = random.Random(seed)
    topic = f"crash-{seed}-{uuid.uuid4().hex[:8]}"
    payments_topic = f"{topic}-payments"
    join = ["--payments-topic", payments_topic]
    print(f"\ncrash harness: seed {seed}, topics {topic} and {payments_topic}, target {target} kills")

    # More chunks than cycles: the engine must always have a backlog to be killed in. What the
    # loop does not send is sent before the final catch-up.
    n_chunks = 2 * max(target, len(points)) + 8
    # The stream switches from version 1 to version 2 events half way, so kills land before,
    # across and after the switch.
    ds = oracle.make_dataset(seed, n_events=n_chunks * LINES_PER_CHUNK, v2_from=0.5, step_ms=STEP_MS)
    chunks = ds.chunks(n_chunks)
    payments = pay.make_payments(ds.events, seed, tail_minutes=120)
    payment_chunks = payments.chunks(n_chunks)
    data, ckpt, logs = tmp_path / "data", tmp_path / "ckpt", tmp_path / "logs"
    if store is not None:
        data, ckpt = store[0], store[1]
    logs.mkdir()
    # The topic exists (4 partitions) before the engine first starts.
    oracle.produce_file(brokers, topic, oracle.write_jsonl(logs / "chunk-0.jsonl", chunks[0]))
    oracle.produce_file(brokers, payments_topic, oracle.write_jsonl(logs / "payments-0.jsonl", payment_chunks[0]))
    next_chunk = 1
    producer = payment_producer = None

    kills: collections.Counter = collections.Counter()
    not_reached: collections.Counter = collections.Counter()
    pending = collections.deque(points)
    attempts: collections.Counter = collections.Counter()
    cycle = 0
    env_base = {k: v for k, v in os.environ.items() if k != "MEDALLION_FAULT_POINT"}
    fired: set[str] = set()
    fault_wait = FAULT_WAIT_S if store is None else STORE_FAULT_WAIT_S
    min_points = len(points) if store is None else STORE_MIN_POINTS
    while ((sum(kills.values()) < target or len(fired) < min_points)
           and time.monotonic() - started < LOOP_BUDGET_S):
        # Keep the stream flowing: one producer at a time, a chunk per cycle.
        if producer is not None and producer.poll() is not None and payment_producer.poll() is not None:
            assert producer.returncode == 0, oracle.tail(logs / f"produce-{next_chunk - 1}.log")
            assert payment_producer.returncode == 0, oracle.tail(logs / f"produce-payments-{next_chunk - 1}.log")
            producer = payment_producer = None
        if producer is None and next_chunk < len(chunks):
            path = oracle.write_jsonl(logs / f"chunk-{next_chunk}.jsonl", chunks[next_chunk])
            producer = oracle.start_produce(brokers, topic, path, logs / f"produce-{next_chunk}.log")
            path = oracle.write_jsonl(logs / f"payments-{next_chunk}.jsonl", payment_chunks[next_chunk])
            payment_producer = oracle.start_produce(brokers, payments_topic, path,
                                                    logs / f"produce-payments-{next_chunk}.log")
            next_chunk += 1

        log = logs / f"run-{cycle:03d}.log"
        env = dict(env_base)
        fault = None
        if cycle % 2 == 0:
            if not pending:  # next round over every point (one never reached is dropped after 3 tries)
                pending.extend(f for f in points if attempts[f] < 3)
            fault = pending.popleft() if pending else None
        if fault is not None:
            lo, hi = points[fault]
            env["MEDALLION_FAULT_POINT"] = f"{fault}@{rng.randint(lo, hi)}"
        flags = list(RUN_FLAGS) + join + extra
        if fault is not None and "checkpoint" in fault:
            # Smaller batches, so the backlog of a chunk or two spans the ten commits.
            flags[flags.index("--max-batch-records") + 1] = "30"
        with open(log, "wb") as out:
            proc = subprocess.Popen(oracle.run_args(brokers, topic, data, ckpt, *flags),
                                    stdout=out, stderr=subprocess.STDOUT, env=env)
        if fault is None:
            wait = rng.uniform(0.05, 1.5)
        else:
            wait = SLOW_FAULT_WAIT_S if "checkpoint" in fault or "compact" in fault else fault_wait
        try:
            rc = proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            rc = None
        if rc is not None:
            # Only a fault point may end a continuous run, and it does so with SIGKILL.
            assert fault is not None and rc == -9, (
                f"cycle {cycle}: engine exited with {rc} (fault {env.get('MEDALLION_FAULT_POINT')}):\n"
                + oracle.tail(log))
            kills[fault] += 1
            fired.add(fault)
        else:
            oracle.kill_process(proc)
            if fault is not None:
                not_reached[fault] += 1
                attempts[fault] += 1
                kills["timer:fault-not-reached"] += 1
            else:
                kills[_phase_of_timer_kill(log.read_text(errors="replace"))] += 1
        cycle += 1

    loop_s = time.monotonic() - started
    # Send the rest of the stream, then let the engine catch up without faults.
    if producer is not None:
        assert producer.wait(timeout=120) == 0
        assert payment_producer.wait(timeout=120) == 0
    if next_chunk < len(chunks):
        rest = [line for c in chunks[next_chunk:] for line in c]
        oracle.produce_file(brokers, topic, oracle.write_jsonl(logs / "chunk-rest.jsonl", rest))
        rest = [line for c in payment_chunks[next_chunk:] for line in c]
        oracle.produce_file(brokers, payments_topic, oracle.write_jsonl(logs / "payments-rest.jsonl", rest))
    if store is not None:
        time.sleep(2.5)  # the killed runs' unlogged files pass the 2 s retention
    final = oracle.run_until_caught_up(brokers, topic, data, ckpt, *RUN_FLAGS[:2], *join, *extra)
    again = oracle.run_until_caught_up(brokers, topic, data, ckpt, *join, *extra)
    assert "stopped after 0 batch(es)" in again.stdout + again.stderr, again.stdout + again.stderr

    replays = sum(p.read_text(errors="replace").count("replaying batch") for p in logs.glob("run-*.log"))
    replays += (final.stdout + final.stderr).count("replaying batch")
    total_kills = sum(kills.values())
    fault_kills = {k: v for k, v in kills.items() if not k.startswith("timer")}
    print(f"kills: {total_kills} in {cycle} restarts ({loop_s:.1f} s), replayed batches: {replays}")
    for phase in list(points) + sorted(k for k in kills if k.startswith("timer")):
        print(f"  {phase:28s} {kills.get(phase, 0)}")
    if not_reached:
        print(f"  fault points not reached in {fault_wait:.0f} s (retried): {dict(not_reached)}")

    if store is not None:
        data = store[2].download(store[0], tmp_path / "from-store" / "data")
        ckpt = store[2].download(store[1], tmp_path / "from-store" / "ckpt")
    # Oracle on the crashed run, then on a crash-free run of the same topic, then equality.
    last = oracle.last_committed(ckpt)
    report = oracle.check_all(data, ds.lines, ds, topic, last_batch=last)
    run_logs = [p.read_text(errors="replace") for p in sorted(logs.glob("run-*.log"))] + [final.stdout + final.stderr]
    joined = pay.check_join(data, None, payments.lines, payments, final_watermark_us=join_watermark(*run_logs),
                            topic=payments_topic)
    report.checks += [f"payments: {c}" for c in joined.checks]
    report.rows.update({f"payments {k}": v for k, v in joined.rows.items()})
    orphans = oracle.orphan_files(data)
    assert not orphans, f"data files outside the Delta logs: {orphans[:10]}"
    report.ok("no orphan data files after the final run")
    clean_data, clean_ckpt = tmp_path / "clean-data", tmp_path / "clean-ckpt"
    clean = oracle.run_until_caught_up(brokers, topic, clean_data, clean_ckpt, "--max-batch-records", "2000", *join)
    oracle.check_all(clean_data, ds.lines, ds, topic, last_batch=oracle.last_committed(clean_ckpt))
    pay.check_join(clean_data, None, payments.lines, payments,
                   final_watermark_us=join_watermark(clean.stdout + clean.stderr), topic=payments_topic)
    compared = oracle.compare_runs(data, clean_data)
    report.ok(f"crashed run == crash-free run: {', '.join(compared)}")

    print(f"input: {len(ds.lines)} records {dict(ds.counts)}; last batch {last}")
    print("rows checked: " + ", ".join(f"{k} {v}" for k, v in report.rows.items()))
    print("checks passed:")
    for c in report.checks:
        print(f"  ok  {c}")
    print(f"duration {time.monotonic() - started:.1f} s")

    assert total_kills >= target, f"only {total_kills} kills within {LOOP_BUDGET_S:.0f} s"
    missing = [f for f in points if f not in fault_kills]
    if store is None:
        assert not missing, f"fault points never fired: {missing}"
    else:
        assert len(fault_kills) >= min_points, f"only {len(fault_kills)} fault points fired; never: {missing}"
