"""Stop and restart: the tables end up exactly as one uninterrupted run would make them."""

from __future__ import annotations

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
          "delta_log.after_commit@10", "state.before_write@2", "commit.before_write@2",
          "commit.after_write@2", "parquet.before_sync@9"]


@pytest.mark.parametrize("fault", FAULTS)
def test_crash_then_restart_is_exact(fault, medallion, make_topic, tmp_path):
    topic = make_topic(2)
    sent = events.EventStream(seed=47, prefix="k").take(900)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    env = dict(os.environ, MEDALLION_FAULT_POINT=fault)
    crashed = subprocess.run(
        [str(conftest.BINARY), "run", "--brokers", medallion.brokers, "--topic", topic,
         "--data-dir", str(data), "--checkpoint-dir", str(ckpt), "--until-caught-up",
         "--max-batch-records", "300"], env=env, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -signal.SIGKILL, (fault, crashed.stderr[-2000:])
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 300)
    tables.check_all(data, ckpt, topic, sent)
