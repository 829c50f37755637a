"""Start-up and recovery against states a restart can meet: a checkpoint older than its tables,
an output mode switched between runs, other writers' files in a table, a replayed batch whose
records were all deleted, a damaged checkpoint directory, an exception in any thread, and a
batch that fails every time it runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from deltalake import DeltaTable

import events
import tables

sys.path.insert(0, os.path.dirname(__file__))
import crash_oracle as oracle  # noqa: E402

KAFKA_SH = Path(__file__).resolve().parents[2] / "scripts" / "kafka.sh"
SMALL_BATCHES = ["--until-caught-up", "--max-batch-records", "100"]


def _log(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout[-3000:] + proc.stderr[-3000:]


def _txns(data: Path, query: str) -> dict[str, int]:
    return {name: DeltaTable(str(data / rel)).transaction_version(query)
            for name, rel in tables.TABLES.items()}


def _query(ckpt: Path) -> str:
    return json.loads((ckpt / "metadata").read_text())["id"]


def test_checkpoint_older_than_the_tables_is_refused(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    medallion.produce(topic, events.EventStream(seed=71, prefix="o", conflicts=False).take(300))
    data, ckpt, old = tmp_path / "data", tmp_path / "ckpt", tmp_path / "ckpt-copy"
    medallion.run(topic, data, ckpt, *SMALL_BATCHES, "--max-batches", 1)
    shutil.copytree(ckpt, old)  # a copy taken after batch 0
    medallion.run(topic, data, ckpt, *SMALL_BATCHES)
    newest = tables.Checkpoint.read(ckpt).last_committed
    assert newest >= 2

    shutil.rmtree(ckpt)
    shutil.copytree(old, ckpt)  # restored: it knows batch 0 only, the tables hold more
    before = _txns(data, _query(ckpt))
    refused = medallion.run(topic, data, ckpt, *SMALL_BATCHES, check=False)
    assert refused.returncode == 2, _log(refused)
    assert (f"holds batch {newest} of query {_query(ckpt)}" in refused.stderr
            and "last committed batch 0" in refused.stderr
            and "the checkpoint is older than the tables" in refused.stderr), _log(refused)
    assert _txns(data, _query(ckpt)) == before, "a refused run must not commit anything"


def test_tables_one_batch_ahead_with_its_plan_are_replayed(medallion, make_topic, tmp_path):
    """The legitimate case: the tables committed batch B, the crash came before state/B (Bronze,
    holding batch B's rows at its cadence, has not; the replay holds them again)."""
    topic = make_topic(2)
    sent = events.EventStream(seed=72, prefix="r", conflicts=False).take(300)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    crashed = medallion.run(topic, data, ckpt, *SMALL_BATCHES, check=False,
                            fault="commit.before_write@2")
    assert crashed.returncode == -signal.SIGKILL, _log(crashed)
    held = _txns(data, _query(ckpt))
    assert held["silver"] == 1 and all(v is None or v <= 1 for v in held.values()), held
    assert tables.Checkpoint.read(ckpt).last_committed == 0
    replay = medallion.run(topic, data, ckpt, *SMALL_BATCHES)
    assert "replaying batch 1" in replay.stdout + replay.stderr
    assert len(tables.Lake(data).arrow["bronze"]) == len(sent)


def _live(data: Path, rel: str) -> list[str]:
    return [Path(u).name for u in DeltaTable(str(data / rel)).file_uris()]


def _no_duplicate_windows(data: Path) -> None:
    rows = tables.Lake(data).rows(
        "SELECT window_start, category, count(*) FROM gold_windows GROUP BY 1, 2 HAVING count(*) > 1")
    assert rows == [], f"windows listed more than once: {rows[:5]}"


def test_output_mode_switch_leaves_no_stale_open_windows(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    stream = events.EventStream(seed=73, prefix="m", conflicts=False)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    windows = "gold/revenue_by_category_window"

    medallion.produce(topic, stream.take(400), "update")
    medallion.run(topic, data, ckpt, "--until-caught-up")  # update mode: open windows in a file
    assert any(f.startswith("open-") for f in _live(data, windows)), _live(data, windows)

    # Append mode from here on: the first batch removes the open file nothing would replace.
    medallion.produce(topic, stream.take(2000), "append")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--output-mode", "append")
    assert not any(f.startswith("open-") for f in _live(data, windows)), _live(data, windows)
    _no_duplicate_windows(data)

    # And back: update mode writes one open file again.
    medallion.produce(topic, stream.take(400), "update2")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--output-mode", "update")
    assert len([f for f in _live(data, windows) if f.startswith("open-")]) == 1
    _no_duplicate_windows(data)
    tables.Lake(data).check_readers_agree()


def test_startup_cleanup_removes_only_this_querys_files(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    sent = events.EventStream(seed=74, prefix="f", conflicts=False).take(300)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, *SMALL_BATCHES, "--max-batches", 1)
    crashed = medallion.run(topic, data, ckpt, *SMALL_BATCHES, check=False, fault="table.after_file@2")
    assert crashed.returncode == -signal.SIGKILL, _log(crashed)
    ours = oracle.orphan_files(data)
    assert ours and all(_query(ckpt) in f for f in ours), ours

    # Another writer's files in flight (Spark's and delta-rs's naming), not in any log yet.
    foreign = [data / "silver" / "order_lines" / "event_date=2026-11-24" /
               "part-00000-0b5e3c9a-1f2d-4c1e-9d7a-3e4f5a6b7c8d-c000.snappy.parquet",
               data / "gold" / "top_products" / "part-00001-writer2.parquet",
               data / "bronze" / "orders_raw" / "part-0000000001-0000.parquet"]
    for f in foreign:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"PAR1 another writer's file, not yet committed")

    medallion.run(topic, data, ckpt, *SMALL_BATCHES)
    for f in foreign:
        assert f.exists(), f"start-up cleanup deleted another writer's file {f}"
    left = sorted(oracle.orphan_files(data))
    assert left == sorted(str(f.relative_to(data)) for f in foreign), left
    assert len(tables.Lake(data).arrow["bronze"]) == len(sent)


def test_replayed_batch_whose_records_were_all_deleted(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    sent = events.EventStream(seed=75, prefix="z", conflicts=False).take(600)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    crashed = medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 200,
                            check=False, fault="plan.after_write@2")
    assert crashed.returncode == -signal.SIGKILL, _log(crashed)
    plan = json.loads((ckpt / "offsets" / "1").read_text())
    deleted = 0
    for p, (start, end) in plan["offsets"].items():
        subprocess.run(["bash", str(KAFKA_SH), "delete-records", topic, p, str(end)],
                       check=True, capture_output=True, timeout=120)
        deleted += end - start

    replay = medallion.run(topic, data, ckpt, "--until-caught-up", "--fail-on-data-loss", "false",
                           check=False)
    assert replay.returncode == 0, _log(replay)
    assert "batch 1 (replayed): 0 records" in replay.stdout + replay.stderr, _log(replay)
    cp = tables.Checkpoint.read(ckpt)
    assert cp.last_committed >= 1
    lake = tables.Lake(data)
    assert len(lake.arrow["bronze"]) == len(sent) - deleted
    gone = {(int(p), o) for p, (s, e) in plan["offsets"].items() for o in range(s, e)}
    have = set(lake.rows('SELECT "partition", "offset" FROM bronze'))
    assert not gone & have
    tables.check_log(lake, cp)
    lake.check_readers_agree()


def test_damaged_checkpoint_file_names_are_errors(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    stream = events.EventStream(seed=76, prefix="n", conflicts=False)
    medallion.produce(topic, stream.take(50))
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up")
    medallion.produce(topic, stream.take(50), "more")
    for name in ("offsets/99999999999999999999", "commits/abc"):
        bad = ckpt / name
        bad.write_text("{}\n")
        proc = medallion.run(topic, data, ckpt, "--until-caught-up", check=False)
        assert proc.returncode == 2, _log(proc)
        assert f"{name} is not named by a batch id" in proc.stderr, _log(proc)
        bad.unlink()
    # The plan of the last committed batch (its offsets) removed: named, nothing written.
    last = tables.Checkpoint.read(ckpt).last_committed
    plan = ckpt / "offsets" / str(last)
    saved = plan.read_bytes()
    plan.unlink()
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", check=False)
    assert proc.returncode == 2, _log(proc)
    assert f"batch {last} is committed but its offsets file is missing" in proc.stderr, _log(proc)
    plan.write_bytes(saved)
    medallion.run(topic, data, ckpt, "--until-caught-up")
    assert len(tables.Lake(data).arrow["bronze"]) == 100


def test_exception_in_a_read_ahead_thread_ends_the_run_with_a_message(medallion, make_topic,
                                                                        tmp_path):
    topic = make_topic(2)
    medallion.produce(topic, events.EventStream(seed=77, prefix="x", conflicts=False).take(500))
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    # Hit 1 prepares batch 0 on the main thread; hit 2 is batch 1, prepared ahead on another.
    proc = medallion.run(topic, data, ckpt, *SMALL_BATCHES, check=False,
                         fault="batch.after_prepare@2:throw")
    assert proc.returncode not in (0, -signal.SIGABRT), _log(proc)
    assert proc.returncode > 0, _log(proc)
    assert "preparing the next batch: exception std::bad_alloc" in proc.stderr, _log(proc)
    medallion.run(topic, data, ckpt, *SMALL_BATCHES)  # and a clean run completes it


def test_batch_failing_every_time_stops_with_exit_3(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    sent = events.EventStream(seed=78, prefix="a", conflicts=False).take(200)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    for attempt in (1, 2, 3):
        proc = medallion.run(topic, data, ckpt, "--until-caught-up", check=False,
                             fault="batch.after_compute:throw")
        assert proc.returncode == 2, _log(proc)
        assert "std::bad_alloc" in proc.stderr, _log(proc)
        assert (f"attempt {attempt} of 3" in proc.stdout + proc.stderr if attempt < 3
                else "failed 3 times" in proc.stdout + proc.stderr), _log(proc)
    attempts = ckpt / "attempts" / "0"
    assert json.loads(attempts.read_text())["failures"] == 3

    stopped = medallion.run(topic, data, ckpt, "--until-caught-up", check=False)
    assert stopped.returncode == 3, _log(stopped)
    message = stopped.stderr
    assert "batch 0 (offsets " in message and f"{topic}/0 [0, " in message, message
    assert "has failed 3 times; the last error: " in message and "std::bad_alloc" in message, message
    assert str(attempts) in message and "bug report" in message, message
    assert tables.Checkpoint.read(ckpt).last_committed == -1

    attempts.unlink()  # the operator's retry, once the cause is fixed
    medallion.run(topic, data, ckpt, "--until-caught-up")
    assert not attempts.exists()
    assert len(tables.Lake(data).arrow["bronze"]) == len(sent)
