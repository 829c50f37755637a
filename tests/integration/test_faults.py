"""Faults the engine must survive without losing or duplicating anything:

- the broker stops and starts again while `medallion run` is running: the engine waits, says so
  in its log, resumes by itself and loses nothing (a private broker on another port is used, so
  the shared one is never stopped);
- a table write fails (a regular file sits where a partition folder must be created; tests run
  as root, so permission bits would not stop a write): the run fails with an error naming the
  path, the failed batch is not committed anywhere it would be visible twice, a retry with the
  obstacle still there fails the same way, and once the obstacle is gone a rerun makes every
  table exact.
"""

from __future__ import annotations

import json

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import crash_oracle as oracle  # noqa: E402

RUN_FLAGS = ["--max-batch-records", "400", "--trigger-interval", "50ms", "--max-batch-wait", "200ms"]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _records_logged(text: str) -> int:
    return sum(int(m) for m in re.findall(r"batch \d+(?: \(replayed\))?: (\d+) records", text))


@pytest.fixture
def private_broker(tmp_path):
    """A second single-node broker on its own port and run dir; stopped and removed at the end."""
    # The broker's four ports: plaintext, controller, SASL_PLAINTEXT, SASL_SSL.
    port = next((p for p in (29092, 29192, 29292, 29392) if all(_port_free(p + i) for i in range(4))), None)
    if port is None:
        pytest.skip("no free port pair for a private broker")
    env = {"MEDALLION_KAFKA_PORT": str(port), "MEDALLION_KAFKA_DIR": str(tmp_path / "kafka"),
           "MEDALLION_KAFKA_HEAP": "512m"}
    r = oracle.kafka_sh("start", env=env)
    assert r.returncode == 0, f"private broker did not start:\n{r.stderr}"
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        oracle.kafka_sh("stop", env=env)


def test_broker_restart_mid_run(tmp_path, private_broker):
    brokers, kenv = private_broker
    topic = f"faults-broker-{uuid.uuid4().hex[:8]}"
    a = oracle.make_dataset(101, 1500)
    b = oracle.make_dataset(102, 1500)
    data, ckpt, log = tmp_path / "data", tmp_path / "ckpt", tmp_path / "run.log"
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "a.jsonl", a.lines))

    env = {k: v for k, v in os.environ.items() if k != "MEDALLION_FAULT_POINT"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(oracle.run_args(brokers, topic, data, ckpt, *RUN_FLAGS),
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        assert oracle.wait_for(lambda: _records_logged(log.read_text()) >= len(a.lines), 60), \
            "engine did not consume the first part:\n" + oracle.tail(log)

        t0 = time.monotonic()
        size_at_stop = len(log.read_text())
        r = oracle.kafka_sh("stop", env=kenv)
        assert r.returncode == 0, r.stderr
        time.sleep(6)
        assert proc.poll() is None, "engine exited while the broker was down:\n" + oracle.tail(log)
        down_log = log.read_text()[size_at_stop:]
        print(f"\nbroker down {time.monotonic() - t0:.1f} s; engine log meanwhile:\n"
              + "\n".join(down_log.splitlines()[:8]))
        # medallion's own "waiting for Kafka" / "(retrying)" warnings, or librdkafka's
        # "brokers are down" / "Connect ... failed" lines.
        assert re.search(r"(?i)waiting|retrying|brokers are down|connect to .* failed", down_log), (
            "engine logged nothing about the lost broker:\n" + oracle.tail(log))

        r = oracle.kafka_sh("start", env=kenv)
        assert r.returncode == 0, r.stderr
        oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "b.jsonl", b.lines))
        assert oracle.wait_for(
            lambda: _records_logged(log.read_text()) >= len(a.lines) + len(b.lines), 90), \
            "engine did not resume after the broker came back:\n" + oracle.tail(log)
        assert proc.poll() is None
        assert oracle.kill_process(proc, signal.SIGTERM, timeout=30) == 0, oracle.tail(log)
    finally:
        if proc.poll() is None:
            oracle.kill_process(proc)

    consumed = _records_logged(log.read_text())
    assert consumed == len(a.lines) + len(b.lines), f"engine consumed {consumed} records"
    oracle.run_until_caught_up(brokers, topic, data, ckpt)
    ds = a + b
    rep = oracle.check_all(data, ds.lines, ds, topic, last_batch=oracle.last_committed(ckpt))
    print("broker restart: " + "; ".join(rep.checks))


# Where the obstacle goes, and the tables that run at or after the failing write (they must not
# commit the failed batch). A "gold_file" obstacle is a directory squatting on the name of the
# next Gold data file (part-<batch>-<index>-<query id>.parquet), so the rename into place fails after
# Bronze, Quarantine, Silver and the window table have committed the batch.
OBSTACLES = {
    "silver_partition": ("silver/order_lines/event_date=2026-11-25",
                         ["silver", "gold_windows", "gold_top", "gold_customers"]),
    "gold_file": ("gold/top_products/part-{batch:010d}-0000-{query}.parquet", ["gold_top", "gold_customers"]),
}


def test_broker_restarts_over_many_partitions(private_broker):
    """A restart over a data directory with many partitions (the integration tier leaves
    hundreds) is ready within scripts/kafka.sh's start timeout, and every topic is back."""
    from confluent_kafka.admin import AdminClient, NewTopic

    brokers, kenv = private_broker
    admin = AdminClient({"bootstrap.servers": brokers})
    names = [f"faults-many-{i:03d}" for i in range(60)]
    for future in admin.create_topics([NewTopic(n, 4, 1) for n in names]).values():
        future.result(60)
    assert oracle.kafka_sh("stop", env=kenv).returncode == 0
    r = oracle.kafka_sh("start", env=kenv)
    assert r.returncode == 0, f"restart over {len(names) * 4} partitions failed:\n{r.stderr}"
    listed = set(AdminClient({"bootstrap.servers": brokers}).list_topics(timeout=30).topics)
    assert set(names) <= listed


@pytest.mark.parametrize("where", sorted(OBSTACLES))
def test_table_write_error_then_retry(tmp_path, where):
    brokers = oracle.ensure_shared_broker()
    topic = f"faults-write-{where}-{uuid.uuid4().hex[:8]}"
    a = oracle.make_dataset(201, 1200, start="2026-11-24T10:00:00Z")
    b = oracle.make_dataset(202, 1200, start="2026-11-25T10:00:00Z")
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "a.jsonl", a.lines))
    oracle.run_until_caught_up(brokers, topic, data, ckpt, *RUN_FLAGS[:2])
    last_a = oracle.last_committed(ckpt)

    # Part B's events are of 2026-11-25: Silver must create event_date=2026-11-25.
    rel, blocked = OBSTACLES[where]
    query = json.loads((ckpt / "metadata").read_text())["id"]
    obstacle = data / rel.format(batch=last_a + 1, query=query)
    if where == "gold_file":
        obstacle.mkdir()
        (obstacle / "keep").write_text("a directory where a data file must go\n")
    else:
        obstacle.write_text("a regular file where a directory must go\n")
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp_path / "b.jsonl", b.lines))

    seen = []
    for attempt in (1, 2):  # the second attempt replays the failed batch, obstacle still there
        r = oracle.run_until_caught_up(brokers, topic, data, ckpt, *RUN_FLAGS[:2], check=False)
        out = r.stdout + r.stderr
        assert r.returncode != 0, (f"attempt {attempt}: run succeeded despite {obstacle} (has the "
                                   f"file naming changed?):\n{out}")
        assert obstacle.name in out, f"attempt {attempt}: error does not name the path:\n{out}"
        if attempt == 1:
            print(f"\n{where}: write error reported as: " + out.strip().splitlines()[-1])
        # The failed batch is not committed by the checkpoint nor by the blocked tables; tables
        # written before the failure may hold it, once.
        assert oracle.last_committed(ckpt) == last_a
        state = {}
        for name in oracle.TABLES:
            txns = oracle.delta_txns(data, name)
            if not txns and not oracle.table_exists(data, name):
                continue  # a table this engine version does not write (late/order_lines)
            top = max(v for _, _, v in txns)
            if name in blocked:
                assert top <= last_a, f"{name} committed the failed batch {top}"
            assert top <= last_a + 1, f"{name}: txn {top} after batch {last_a}"
            state[name] = (top, oracle.row_count(data, name))
        seen.append(state)
    assert seen[0] == seen[1], f"the retry changed the tables: {seen}"
    held = [name for name, (top, _) in seen[0].items() if top == last_a + 1]
    print(f"{where}: failed batch {last_a + 1} committed before the error by: {held or 'none'}; "
          f"the retry left every table unchanged")

    if obstacle.is_dir():
        (obstacle / "keep").unlink()
        obstacle.rmdir()
    else:
        obstacle.unlink()
    oracle.run_until_caught_up(brokers, topic, data, ckpt, *RUN_FLAGS[:2])
    ds = a + b
    rep = oracle.check_all(data, ds.lines, ds, topic, last_batch=oracle.last_committed(ckpt))
    orphans = oracle.orphan_files(data)
    assert not orphans, f"data files outside the Delta logs: {orphans[:10]}"
    print(f"{where}: write error then retry: " + "; ".join(rep.checks))


def test_start_log_check_reads_past_a_pipe_buffer(tmp_path):
    """kafka.sh's readiness check finds the start line however much log follows it. Through
    `tail | grep -q` under pipefail it failed once more than a pipe buffer (64 KiB) followed the
    match (tail died of SIGPIPE), so a broker restarted over many partitions never became ready:
    a CI run failed so."""
    log = tmp_path / "server.log"
    # The start line, then about 2 MiB of log after it.
    log.write_text("early line\n" * 10 + "[main] INFO Kafka Server started\n" + "later line\n" * 200000)
    script = f'source "{oracle.KAFKA_SH}"; LOG_FILE="{log}"; log_says_started 0 && echo yes; log_says_started {log.stat().st_size} || echo no'
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert r.stdout.split() == ["yes", "no"], r.stderr
