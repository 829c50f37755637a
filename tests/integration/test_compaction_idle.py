"""A continuous run that finds nothing new to read still compacts: the compactor waits while
the stream has a backlog, and an engine restarted on a caught-up topic runs no batch to say
there is none, so the empty polls must say it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

from deltalake import DeltaTable

sys.path.insert(0, os.path.dirname(__file__))
import crash_oracle as oracle  # noqa: E402


def _live_files(data, name: str) -> int:
    return len(DeltaTable(str(data / oracle.TABLES[name])).file_uris())


def test_an_idle_engine_compacts_what_an_earlier_run_left(tmp_path):
    brokers = oracle.ensure_shared_broker()
    topic = f"compact-idle-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(1501, n_events=2400)
    data, ckpt, log = tmp_path / "data", tmp_path / "ckpt", tmp_path / "run.log"
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "all.jsonl", ds.lines))
    oracle.run_until_caught_up(brokers, topic, data, ckpt, "--max-batch-records", "100", "--compaction", "off",
                               "--bronze-commit-interval", "0s")
    before = {name: _live_files(data, name) for name in ("bronze", "silver")}
    assert min(before.values()) >= 20, before

    env = {k: v for k, v in os.environ.items() if k != "MEDALLION_FAULT_POINT"}
    with open(log, "wb") as out:
        engine = subprocess.Popen(oracle.run_args(brokers, topic, data, ckpt, "--trigger-interval", "200ms",
                                                  "--compaction", "on", "--compaction-min-files", "4"),
                                  stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        merged = oracle.wait_for(lambda: all(_live_files(data, n) < 4 for n in before), 60)
    finally:
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=60) == 0, oracle.tail(log)
    after = {name: _live_files(data, name) for name in before}
    print(f"\nlive files before {before}, after an idle minute at most {after}")
    assert merged, f"nothing compacted while idle: {after}\n" + oracle.tail(log)
    assert "stopped after 0 batch(es)" in log.read_text(), oracle.tail(log)
    oracle.check_all(data, ds.lines, ds, topic, last_batch=oracle.last_committed(ckpt))
