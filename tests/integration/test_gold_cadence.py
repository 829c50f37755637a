"""`[gold] commit_interval` (--gold-commit-interval): the Gold snapshots are committed at most
that often, a batch that closes a window commits the windows table anyway, and a run commits what it deferred
before it ends, also when the run before it was killed with Gold deferred. `[batch]
side_commit_interval` (--side-commit-interval) does the same for Quarantine's and Late's rows,
which the checkpoint holds meanwhile. The tables are exact in each case (crash_oracle.check_all:
Gold against a computation over Silver, every bad record in Quarantine once)."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
import uuid

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

sys.path.insert(0, os.path.dirname(__file__))
import crash_oracle as oracle  # noqa: E402

# Small batches, often: a batch every 100 ms, Gold at most every 30 s (longer than the test's
# streams, so every Gold commit but the first comes from a closed window or the final flush).
FLAGS = ["--trigger-interval", "100ms", "--max-batch-wait", "100ms", "--max-batch-records", "150",
         "--gold-commit-interval", "30s"]


def _batches(txns: list[tuple[int, str, int]]) -> list[int]:
    return sorted(t for _, _, t in txns)


def _progress(data, ckpt) -> tuple[int, int]:
    """(last committed batch, Bronze rows), (-1, 0) before the first batch."""
    if not (ckpt / "state").is_dir():
        return -1, 0
    return oracle.last_committed(ckpt), oracle.row_count(data, "bronze")


def _start(brokers, topic, data, ckpt, log, flags=FLAGS):
    env = {k: v for k, v in os.environ.items() if k != "MEDALLION_FAULT_POINT"}
    with open(log, "wb") as out:
        return subprocess.Popen(oracle.run_args(brokers, topic, data, ckpt, *flags), stdout=out,
                                stderr=subprocess.STDOUT, env=env)


def _kill_once_read(engine, data, ckpt, log, records):
    """SIGKILLs `engine` half a second after Bronze holds all `records`."""
    try:
        assert oracle.wait_for(lambda: _progress(data, ckpt)[1] == records, 120), oracle.tail(log)
        time.sleep(0.5)
    finally:
        oracle.kill_process(engine)


def test_gold_commits_at_its_interval_and_a_stopped_run_flushes_it(tmp_path):
    brokers = oracle.ensure_shared_broker()
    topic = f"gold-cadence-{uuid.uuid4().hex[:8]}"
    # Ten minutes of event time (3,000 events 200 ms apart): minute windows close as it flows.
    ds = oracle.make_dataset(1401, n_events=3000, step_ms=200)
    data, ckpt, log = tmp_path / "data", tmp_path / "ckpt", tmp_path / "run.log"
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "all.jsonl", ds.lines))
    engine = _start(brokers, topic, data, ckpt, log)
    try:
        assert oracle.wait_for(lambda: _progress(data, ckpt)[1] == len(ds.lines), 120), oracle.tail(log)
        silver = _batches(oracle.delta_txns(data, "silver"))
        top = _batches(oracle.delta_txns(data, "gold_top"))
        windows = _batches(oracle.delta_txns(data, "gold_windows"))
        print(f"\nwhile running: {len(silver)} Silver commits, {len(top)} gold/top_products commits, "
              f"{len(windows)} window-table commits")
        assert len(silver) >= 15
        # The snapshots commit with the first batch (and once the interval has passed, which a
        # stream this short does not reach on a quiet machine); the windows table also with
        # every batch that closed a window, without the snapshots.
        assert len(top) < len(silver) / 2, (top, silver)
        assert top[0] == 0 and set(top) <= set(windows) and len(windows) >= 3, (top, windows)
        assert len(windows) >= len(top) + 2, ("the snapshots committed with closed windows", top, windows)
        # Whether the last batches left Gold deferred depends on where the watermark stood
        # after each (it moves with the partitions' fetch timing): the stop flushes exactly then.
        # (The checkpoint's last batch first: its Gold commit, if any, came before it.)
        last_read = oracle.last_committed(ckpt)
        deferred = _batches(oracle.delta_txns(data, "gold_top"))[-1] < last_read
    finally:
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=60) == 0, oracle.tail(log)
    text = log.read_text()
    assert ("committed the Gold snapshots deferred" in text) == deferred, oracle.tail(log)
    last = oracle.last_committed(ckpt)
    assert _batches(oracle.delta_txns(data, "gold_top"))[-1] == last
    oracle.check_all(data, ds.lines, ds, topic, last_batch=last)
    # The next start accepts Gold's batch beyond what the checkpoint recorded for it.
    oracle.run_until_caught_up(brokers, topic, data, ckpt, *FLAGS)


def test_a_restart_after_a_kill_with_gold_deferred_commits_it(tmp_path):
    brokers = oracle.ensure_shared_broker()
    topic = f"gold-cadence-kill-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(1402, n_events=2000)
    data, ckpt, log = tmp_path / "data", tmp_path / "ckpt", tmp_path / "run.log"
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "all.jsonl", ds.lines))
    _kill_once_read(_start(brokers, topic, data, ckpt, log), data, ckpt, log, len(ds.lines))
    last = oracle.last_committed(ckpt)
    assert _batches(oracle.delta_txns(data, "gold_top"))[-1] < last, "Gold was not deferred at the kill"
    # Nothing is left to read: the restart runs no batch and still brings Gold up to date.
    r = oracle.run_until_caught_up(brokers, topic, data, ckpt, *FLAGS)
    assert "committed the Gold snapshots deferred" in r.stdout + r.stderr, r.stdout + r.stderr
    assert oracle.last_committed(ckpt) == last
    assert _batches(oracle.delta_txns(data, "gold_top"))[-1] == last
    oracle.check_all(data, ds.lines, ds, topic, last_batch=last)


def test_the_default_is_one_second_and_0s_commits_gold_with_every_batch(tmp_path):
    """Without the flag Gold is committed at most once a second; with 0s by every batch that
    changes it. Both runs end with the same exact tables."""
    brokers = oracle.ensure_shared_broker()
    topic = f"gold-cadence-default-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(1403, n_events=3000)
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "all.jsonl", ds.lines))
    commits = {}
    for name, extra in (("default", []), ("0s", ["--gold-commit-interval", "0s"])):
        data, ckpt = tmp_path / name / "data", tmp_path / name / "ckpt"
        oracle.run_until_caught_up(brokers, topic, data, ckpt, "--max-batch-records", "100", *extra)
        last = oracle.last_committed(ckpt)
        oracle.check_all(data, ds.lines, ds, topic, last_batch=last)
        silver = _batches(oracle.delta_txns(data, "silver"))
        top = _batches(oracle.delta_txns(data, "gold_top"))
        assert len(silver) >= 25 and top[-1] == last, (silver, top)
        commits[name] = (silver, top)
    silver, top = commits["0s"]
    assert top == silver, "with 0s every batch with Silver lines commits Gold"
    silver, top = commits["default"]
    assert len(top) < len(silver) / 2, (top, silver)


def test_snapshots_that_cost_more_than_their_share_wait_longer(tmp_path):
    """`[gold] snapshot_share`: after a snapshot commit that took t, the next waits t / share if
    that is longer than commit_interval. With a share of 0.001 every commit of a few ms makes the
    next wait seconds, so a catch-up commits the snapshots a few times, where a share of 1 lets
    nearly every batch commit them (interval 1ms); both end with exact tables."""
    brokers = oracle.ensure_shared_broker()
    topic = f"gold-cadence-share-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(1404, n_events=3000)
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "all.jsonl", ds.lines))
    commits = {}
    for share in ("1", "0.001"):
        data, ckpt = tmp_path / share / "data", tmp_path / share / "ckpt"
        config = tmp_path / f"share-{share}.toml"
        config.write_text(f"[gold]\nsnapshot_share = {share}\n")
        r = oracle.run_until_caught_up(brokers, topic, data, ckpt, "--max-batch-records", "100",
                                       "--gold-commit-interval", "1ms", "--config", str(config))
        last = oracle.last_committed(ckpt)
        oracle.check_all(data, ds.lines, ds, topic, last_batch=last)
        silver = _batches(oracle.delta_txns(data, "silver"))
        top = _batches(oracle.delta_txns(data, "gold_top"))
        customers = _batches(oracle.delta_txns(data, "gold_customers"))
        assert len(silver) >= 25 and top[-1] == last and customers == top, (silver, top, customers)
        commits[share] = (silver, top, r.stdout + r.stderr)
    silver, top, _ = commits["1"]
    assert len(top) >= len(silver) / 2, (top, silver)
    silver, top, text = commits["0.001"]
    assert len(top) <= len(silver) / 4, (top, silver)
    assert "s at the earliest (gold snapshot_share 0.001, commit_interval 0.0 s)" in text, text[-3000:]


def test_side_rows_are_held_and_a_kill_loses_none(tmp_path):
    """Quarantine and Late commit at most every 30 s here: while the stream flows they hold
    their rows (the checkpoint has them), a kill loses none, and the restart, with nothing new
    to read, commits them; then the tables are exact."""
    brokers = oracle.ensure_shared_broker()
    topic = f"side-cadence-kill-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(1404, n_events=2000)
    data, ckpt, log = tmp_path / "data", tmp_path / "ckpt", tmp_path / "run.log"
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "all.jsonl", ds.lines))
    flags = [*FLAGS, "--side-commit-interval", "30s"]
    _kill_once_read(_start(brokers, topic, data, ckpt, log, flags), data, ckpt, log, len(ds.lines))
    last = oracle.last_committed(ckpt)
    silver = _batches(oracle.delta_txns(data, "silver"))
    quarantine = _batches(oracle.delta_txns(data, "quarantine"))
    print(f"\nat the kill: {len(silver)} Silver commits, Quarantine commits {quarantine}, last batch {last}")
    assert len(silver) >= 10
    # The first batch's rows were due at once; the rest were held.
    assert len(quarantine) <= 2 and (not quarantine or quarantine[-1] < last), quarantine
    r = oracle.run_until_caught_up(brokers, topic, data, ckpt, *flags)
    assert "held by side_commit_interval" in r.stdout + r.stderr, r.stdout + r.stderr
    assert oracle.last_committed(ckpt) == last
    assert _batches(oracle.delta_txns(data, "quarantine"))[-1] == last
    oracle.check_all(data, ds.lines, ds, topic, last_batch=last)
    # A second start holds nothing more and commits nothing.
    r = oracle.run_until_caught_up(brokers, topic, data, ckpt, *flags)
    assert "held by side_commit_interval" not in r.stdout + r.stderr
    oracle.check_all(data, ds.lines, ds, topic, last_batch=last)


def _silver_read_all(data, records: int) -> bool:
    """Whether Silver's commits have recorded positions past every one of `records` records
    (a topic's offsets start at 0, so the positions add up to the records read)."""
    return sum(v[-1] for v in oracle.partition_positions(data, "silver").values()) == records


def test_bronze_rows_are_held_and_a_kill_loses_none(tmp_path):
    """Bronze commits at most every 30 s here: the checkpoint keeps only the ranges and ingest
    times of the rows it holds. After a kill the restart reads them again from Kafka and
    commits them, with the ingest times (so the partitions) of the batches that first read
    them; Bronze is then exact: every record once, offsets dense."""
    brokers = oracle.ensure_shared_broker()
    topic = f"bronze-cadence-kill-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(1405, n_events=2000)
    data, ckpt, log = tmp_path / "data", tmp_path / "ckpt", tmp_path / "run.log"
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "all.jsonl", ds.lines))
    flags = [*FLAGS, "--bronze-commit-interval", "30s"]
    engine = _start(brokers, topic, data, ckpt, log, flags)
    try:
        assert oracle.wait_for(lambda: _silver_read_all(data, len(ds.lines)), 120), oracle.tail(log)
        time.sleep(0.5)
    finally:
        oracle.kill_process(engine)
    last = oracle.last_committed(ckpt)
    silver = _batches(oracle.delta_txns(data, "silver"))
    bronze = _batches(oracle.delta_txns(data, "bronze"))
    held_rows = len(ds.lines) - oracle.row_count(data, "bronze")
    print(f"\nat the kill: {len(silver)} Silver commits, Bronze commits {bronze}, last batch {last}, "
          f"{held_rows} records held")
    assert len(silver) >= 10
    # The first batch's rows were due at once; the rest were held.
    assert len(bronze) <= 2 and bronze[-1] < last and held_rows > 1000, (bronze, held_rows)
    first_ingest = pa.compute.min(oracle.read_table(data, "bronze")["ingest_time"]).as_py()  # batch 0
    restarted_at = datetime.datetime.now(datetime.timezone.utc)

    r = oracle.run_until_caught_up(brokers, topic, data, ckpt, *flags)
    out = r.stdout + r.stderr
    assert "Bronze held at the last commit again from" in out and "held by bronze_commit_interval" in out, out
    assert oracle.last_committed(ckpt) == last
    assert _batches(oracle.delta_txns(data, "bronze"))[-1] == last
    oracle.check_all(data, ds.lines, ds, topic, last_batch=last)
    # The rows read again carry their first reading's ingest time, not the restart's, and lie in
    # the partition folders of that time.
    b = oracle.read_table(data, "bronze")
    ingest = b["ingest_time"].to_pylist()
    assert min(ingest) >= first_ingest and max(ingest) < restarted_at, (min(ingest), max(ingest), restarted_at)
    for t, day, hour in zip(ingest, b["ingest_date"].to_pylist(), b["ingest_hour"].to_pylist()):
        assert (str(day), int(hour)) == (t.date().isoformat(), t.hour), (t, day, hour)
    # A second start holds nothing more and reads nothing again.
    r = oracle.run_until_caught_up(brokers, topic, data, ckpt, *flags)
    assert "again from" not in r.stdout + r.stderr and "held by" not in r.stdout + r.stderr
    oracle.check_all(data, ds.lines, ds, topic, last_batch=last)


def test_a_stream_gone_quiet_leaves_no_table_behind_for_longer_than_its_interval(tmp_path):
    """Held rows and deferred Gold wait for the next batch only while batches come: once polls
    find nothing, what is due is committed as of the last batch. With Gold and the side tables
    at 1 s, Bronze at its default 1 s, and the stream quiet after its records, every table is
    complete while the engine still runs."""
    brokers = oracle.ensure_shared_broker()
    topic = f"quiet-stream-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(1406, n_events=1500)
    data, ckpt, log = tmp_path / "data", tmp_path / "ckpt", tmp_path / "run.log"
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "all.jsonl", ds.lines))
    flags = ["--trigger-interval", "100ms", "--max-batch-wait", "100ms", "--max-batch-records", "150",
             "--gold-commit-interval", "1s", "--side-commit-interval", "1s"]
    engine = _start(brokers, topic, data, ckpt, log, flags)
    try:
        assert oracle.wait_for(lambda: _silver_read_all(data, len(ds.lines)), 120), oracle.tail(log)

        def complete() -> bool:
            last = oracle.last_committed(ckpt)
            return (oracle.row_count(data, "bronze") == len(ds.lines)
                    and all(_batches(oracle.delta_txns(data, t))[-1] == last
                            for t in ("bronze", "gold_top", "gold_customers")))

        assert oracle.wait_for(complete, 10), oracle.tail(log)
        last = oracle.last_committed(ckpt)
        oracle.check_all(data, ds.lines, ds, topic, last_batch=last)
    finally:
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=60) == 0, oracle.tail(log)
    text = log.read_text()
    assert "held since the stream went idle" in text, oracle.tail(log)
    # The stop found nothing left to commit.
    assert "before the run ends" not in text and "held by" not in text, oracle.tail(log)
    assert oracle.last_committed(ckpt) == last
