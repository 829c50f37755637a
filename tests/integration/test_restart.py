"""Stop and restart: the tables end up exactly as one uninterrupted run would make them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

import conftest
import events
import tables


def test_stop_mid_stream_then_catch_up(medallion, make_topic, tmp_path):
    topic = make_topic(3)
    stream = events.EventStream(seed=23, prefix="r")
    part1, part2 = stream.take(1500), stream.take(1500)  # part 2 re-sends some of part 1
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"

    medallion.produce(topic, part1, "part1")
    medallion.run(topic, data, ckpt, "--max-batches", 2, "--max-batch-records", 400)
    lake = tables.Lake(data)
    assert lake.rows("SELECT count(*) FROM bronze")[0][0] == 800  # stopped mid-stream
    assert lake.delta["silver"].version() == 2

    medallion.produce(topic, part2, "part2")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 700)
    tables.check_all(data, ckpt, topic, part1 + part2)

    # Nothing new: a further run commits nothing and changes nothing.
    before = {name: t.version() for name, t in tables.Lake(data).delta.items()}
    medallion.run(topic, data, ckpt, "--until-caught-up")
    after = {name: t.version() for name, t in tables.Lake(data).delta.items()}
    assert after == before
    tables.check_all(data, ckpt, topic, part1 + part2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_finishes_the_batch_and_restart_is_exact(sig, medallion, make_topic, tmp_path):
    topic = make_topic(2)
    # No conflicting re-sends here: with many small batches the checkpoint may prune old
    # plans, and byte-identical duplicates share a partition, so offsets alone decide.
    stream = events.EventStream(seed=31, prefix="s", conflicts=False)
    chunks = [stream.take(400) for _ in range(4)]
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    cmd = [str(conftest.BINARY), "run", "--brokers", medallion.brokers, "--topic", topic,
           "--data-dir", str(data), "--checkpoint-dir", str(ckpt), "--trigger-interval", "200ms",
           "--max-batch-records", "150"]
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        for i, chunk in enumerate(chunks[:3]):
            medallion.produce(topic, chunk, f"chunk{i}")
            time.sleep(0.3)
        assert proc.poll() is None, "continuous run exited on its own"
        proc.send_signal(sig)
        started = time.monotonic()
        rc = proc.wait(timeout=15)
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log.seek(0)
    output = log.read()
    assert rc == 0, output[-3000:]
    assert "stopped after" in output and "batch 0:" in output, output[-3000:]

    medallion.produce(topic, chunks[3], "chunk3")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 500)
    tables.check_all(data, ckpt, topic, [r for c in chunks for r in c])


# Crash sites (see src/common/fault_point.h), each fired on a hit that falls in the second
# batch or later: six tables commit per batch, one Parquet file per table and partition.
FAULTS = ["plan.after_write@2", "batch.after_compute@2", "batch.before_gold@2",
          "table.after_file@8", "table.before_commit@9", "table.after_commit@8",
          "delta_log.after_commit@10", "commit.before_write@2",
          "commit.after_write@2", "parquet.before_sync@9"]


@pytest.mark.parametrize("fault", FAULTS)
def test_crash_then_restart_is_exact(fault, medallion, make_topic, tmp_path):
    topic = make_topic(2)
    sent = events.EventStream(seed=47, prefix="k").take(900)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    crashed = medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 300,
                            check=False, fault=fault)
    assert crashed.returncode == -signal.SIGKILL, (fault, crashed.stderr[-2000:])
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 300)
    tables.check_all(data, ckpt, topic, sent)


def test_second_checkpoint_on_the_same_tables_is_refused(medallion, make_topic, tmp_path):
    """A new checkpoint directory pointed at tables another checkpoint wrote would read the
    topic again from the start and repeat every row; a second process on a data directory in
    use could delete the first one's files in flight. Both are refused before anything is
    written, and the first checkpoint carries on."""
    topic = make_topic(2)
    stream = events.EventStream(seed=53, prefix="w")
    part1, part2 = stream.take(600), stream.take(600)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, part1, "part1")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 250)
    before = {name: t.version() for name, t in tables.Lake(data).delta.items()}
    query = json.loads((ckpt / "metadata").read_text())["id"]

    # A fresh checkpoint directory on the same tables.
    other = medallion.run(topic, data, tmp_path / "ckpt2", "--until-caught-up", check=False)
    assert other.returncode != 0
    assert f"was written by query {query}, not by this checkpoint's query" in other.stderr, (
        other.stderr[-2000:])
    assert "bronze_orders_raw" in other.stderr and "new data directory" in other.stderr

    # A second process while the first one runs (continuously) on the same data directory.
    running = subprocess.Popen(
        [str(conftest.BINARY), "run", "--brokers", medallion.brokers, "--topic", topic,
         "--data-dir", str(data), "--checkpoint-dir", str(ckpt), "--trigger-interval", "200ms"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not _flocked_by(data / ".writer.lock", running.pid):
            assert running.poll() is None and time.monotonic() < deadline, running.stderr.read()
            time.sleep(0.05)
        second = medallion.run(topic, data, tmp_path / "ckpt3", "--until-caught-up", check=False)
        assert second.returncode != 0
        assert f"data directory '{data}' is in use by another medallion process" in second.stderr, (
            second.stderr[-2000:])
    finally:
        running.send_signal(signal.SIGTERM)
        assert running.wait(timeout=15) == 0, running.stderr.read()[-2000:]

    after = {name: t.version() for name, t in tables.Lake(data).delta.items()}
    assert all(after[name] >= before[name] for name in before)
    assert not (tmp_path / "ckpt2" / "state" / "0").exists()
    medallion.produce(topic, part2, "part2")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 250)
    tables.check_all(data, ckpt, topic, part1 + part2)


def _flocked_by(path, pid: int) -> bool:
    """True if process `pid` holds a flock on `path` (read from /proc/locks, without taking
    the lock, which could make the engine's own attempt fail)."""
    try:
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        return False
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()  # N: FLOCK ADVISORY WRITE <pid> <maj:min:inode> <start> <end>
            if (len(fields) >= 6 and fields[1] == "FLOCK" and fields[4] == str(pid)
                    and fields[5].rsplit(":", 1)[-1] == str(inode)):
                return True
    return False
