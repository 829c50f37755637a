"""Kafka as real producers write it: transactions (commit and abort markers, aborted records),
tombstones, null keys and headers, compacted topics (gaps in the offsets), partitions added
while a run goes on, several partitions read in any fetch order, a broker that is down or
secured. `--until-caught-up` ends on all of them, and nothing a producer sends stops, stalls
or bends the stream."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

import conftest
import tables

BASE = dt.datetime(2026, 11, 24, 10, 0, 0, tzinfo=dt.timezone.utc)
KAFKA_DIR = Path(os.environ.get("MEDALLION_KAFKA_DIR", conftest.REPO / ".run" / "kafka"))
PORT = int(conftest.BROKERS.rsplit(":", 1)[1])
SASL_BROKERS = f"127.0.0.1:{os.environ.get('MEDALLION_KAFKA_SASL_PORT', PORT + 2)}"
SSL_BROKERS = f"127.0.0.1:{os.environ.get('MEDALLION_KAFKA_SSL_PORT', PORT + 3)}"
SASL_USER, SASL_PASSWORD = "medallion", "medallion-secret"


def event(i: int, *, at: dt.datetime | None = None, items: int = 2, prefix: str = "e") -> bytes:
    """A valid PAID order event (EVENTS.md) with `items` lines, event time BASE + i seconds."""
    t = at or BASE + dt.timedelta(seconds=i)
    return json.dumps({
        "event_id": f"{prefix}-{i}", "event_type": "order_status_changed",
        "event_time": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "order_id": f"ORD-{prefix}-{i}",
        "status": "PAID", "customer": {"customer_id": f"C-{i % 7}", "country": "DE"},
        "items": [{"product_id": f"P-{n}", "category": "Books", "quantity": 1, "unit_price": 2.5}
                  for n in range(items)],
        "payment": {"method": "card", "currency": "EUR", "amount": 2.5 * items},
        "schema_version": 1,
    }).encode()


def producer(**extra) -> Producer:
    return Producer({"bootstrap.servers": conftest.BROKERS, "linger.ms": 5, **extra})


def transactional() -> Producer:
    p = producer(**{"transactional.id": f"tx-{uuid.uuid4().hex[:8]}"})
    p.init_transactions(30)
    return p


def offsets_in_topic(topic: str, partition: int = 0) -> list[int]:
    """The offsets a read_committed consumer gets from a partition, start to end."""
    c = Consumer({"bootstrap.servers": conftest.BROKERS, "group.id": f"probe-{uuid.uuid4().hex[:6]}",
                  "isolation.level": "read_committed", "enable.partition.eof": True,
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, partition, 0)])
    seen = []
    deadline = time.time() + 30
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                break
            continue
        seen.append(m.offset())
    c.close()
    return seen


def bronze(data: Path) -> list[tuple]:
    return tables.Lake(data).rows(
        'SELECT "partition", "offset", key, value FROM bronze ORDER BY 1, 2')


def all_values(data: Path) -> set[bytes]:
    lake = tables.Lake(data)
    out = {r[0] for r in lake.rows("SELECT value FROM bronze")}
    out |= {r[0] for r in lake.rows("SELECT value FROM quarantine")}
    return out


def test_committed_transaction_is_read_once_and_the_run_ends(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    p = transactional()
    p.begin_transaction()
    sent = [event(i) for i in range(10)]
    for v in sent:
        p.produce(topic, v, key=b"k")
    p.commit_transaction(30)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    # The commit marker holds offset 10: the end offset is 11 and no record is ever there.
    medallion.run(topic, data, ckpt, "--until-caught-up", timeout=60)
    rows = bronze(data)
    assert [r[1] for r in rows] == list(range(10))
    assert [r[3] for r in rows] == sent
    assert tables.Lake(data).rows("SELECT count(*) FROM silver")[0][0] == 20
    # A second run has nothing to do and ends too.
    medallion.run(topic, data, ckpt, "--until-caught-up", timeout=60)
    assert len(bronze(data)) == 10


def committed_and_aborted(topic: str, rounds: int) -> tuple[list[bytes], list[bytes]]:
    """Per round, one transaction of 6 events over partitions 0 and 1 committed, then one
    aborted; returns the committed values and the aborted ones."""
    p = transactional()
    kept, aborted = [], []
    for round_ in range(rounds):
        for commit in (True, False):
            p.begin_transaction()
            batch = [event(round_ * 100 + i, prefix="ok" if commit else "ab") for i in range(6)]
            for n, v in enumerate(batch):
                p.produce(topic, v, partition=n % 2)
            p.flush()
            if commit:
                p.commit_transaction(30)
                kept += batch
            else:
                p.abort_transaction(30)
                aborted += batch
    return kept, aborted


def test_aborted_transactions_reach_no_table(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    kept, aborted = committed_and_aborted(topic, rounds=3)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 4, timeout=90)
    rows = bronze(data)
    assert sorted(r[3] for r in rows) == sorted(kept)
    assert not all_values(data) & set(aborted)
    silver_ids = {r[0] for r in tables.Lake(data).rows("SELECT DISTINCT event_id FROM silver")}
    assert silver_ids == {json.loads(v)["event_id"] for v in kept}
    # Offsets jump over the aborted records and the markers.
    for part in (0, 1):
        mine = [r[1] for r in rows if r[0] == part]
        assert len(mine) == 9 and max(mine) > 9, mine


def test_tombstones_null_keys_and_headers(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    p = producer()
    p.produce(topic, None, key=b"deleted-order")             # tombstone
    p.produce(topic, event(1), key=None)                      # null key
    p.produce(topic, event(2), key=b"ORD-e-2", headers=[("trace", b"abc"), ("empty", None)])
    p.produce(topic, None, key=None)                          # null key and value
    p.produce(topic, event(3), key=b"ORD-e-3")
    p.flush(30)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", timeout=60)
    rows = bronze(data)
    assert [r[1] for r in rows] == [0, 1, 2, 3, 4]
    assert [r[2] for r in rows] == [b"deleted-order", None, b"ORD-e-2", None, b"ORD-e-3"]
    quarantine = tables.Lake(data).rows('SELECT "offset", error FROM quarantine ORDER BY 1')
    assert quarantine == [(0, "not_json"), (3, "not_json")]
    assert tables.Lake(data).rows("SELECT count(*) FROM silver")[0][0] == 6


def make_compacted_topic(topic: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": conftest.BROKERS})
    futures = admin.create_topics([NewTopic(topic, partitions, 1, config={
        "cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.001",
        "min.compaction.lag.ms": "0", "delete.retention.ms": "100"})])
    futures[topic].result(30)


def compact(topic: str, keys: int, rounds: int, wait_s: float = 60) -> list[int]:
    """Writes `keys` keys, then `rounds - 1` new versions of the even ones (segments rolling
    in between) and waits until the cleaner removed old versions: returns the offsets left,
    which have gaps between the odd keys' records."""
    p = producer()
    for r in range(rounds):
        for k in range(keys):
            if r > 0 and k % 2:
                continue
            p.produce(topic, event(r * 1000 + k, prefix=f"c{r}"), key=f"key-{k}".encode())
        p.flush(30)
        time.sleep(0.3)
    deadline = time.time() + wait_s
    while True:
        p.produce(topic, event(999_999, prefix=f"roll{time.time()}"), key=b"roll")  # rolls a segment
        p.flush(30)
        offsets = offsets_in_topic(topic)
        if len(offsets) < offsets[-1] + 1:
            return offsets
        if time.time() > deadline:
            pytest.fail(f"no compaction within {wait_s}s: offsets {offsets[:20]}...")
        time.sleep(1)


def assert_each_record_once(rows, before: list[int], topic: str) -> None:
    """Bronze holds each record once, in offset order: every record the topic still holds, and
    none it did not hold when the runs began (`before`). The cleaner goes on compacting in the
    background, so a record read before it was removed may be in Bronze and gone from the topic."""
    got = [r[1] for r in rows]
    assert got == sorted(set(got)), got
    now = offsets_in_topic(topic)
    assert set(now) <= set(got), sorted(set(now) - set(got))
    assert set(got) <= set(before), sorted(set(got) - set(before))


def test_compacted_topic_with_a_crash_and_a_replay_across_gaps(medallion, tmp_path):
    topic = f"it-compacted-{uuid.uuid4().hex[:8]}"
    make_compacted_topic(topic)
    offsets = compact(topic, keys=20, rounds=3)
    gaps = [a for a, b in zip(offsets, offsets[1:]) if b != a + 1]
    assert gaps, offsets
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    # Batch 1 is planned (its range spans gaps), then the process dies before its commit.
    crashed = medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 7,
                            fault="batch.after_compute@2", check=False, timeout=60)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    plan = json.loads((ckpt / "offsets" / "1").read_text())
    start, end = plan["offsets"]["0"]
    assert end - start > 7, plan  # the range holds offsets that have no record
    done = medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 7, timeout=60)
    assert "replaying batch 1" in done.stderr + done.stdout
    assert_each_record_once(bronze(data), offsets, topic)


def test_held_bronze_read_again_across_compacted_gaps(medallion, tmp_path):
    # Bronze rows held by bronze_commit_interval are read again in one pass after a kill: the
    # held batches' ranges span offsets the cleaner removed, and each record lands once.
    topic = f"it-compacted-{uuid.uuid4().hex[:8]}"
    make_compacted_topic(topic)
    offsets = compact(topic, keys=20, rounds=3)
    assert [a for a, b in zip(offsets, offsets[1:]) if b != a + 1], offsets
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    flags = ["--until-caught-up", "--max-batch-records", 7, "--bronze-commit-interval", "30s"]
    # Batch 0 commits Bronze (a run's first commit), batches 1 and 2 hold theirs, batch 3 dies.
    crashed = medallion.run(topic, data, ckpt, *flags, fault="batch.after_compute@4", check=False, timeout=60)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    done = medallion.run(topic, data, ckpt, *flags, timeout=60)
    log = done.stderr + done.stdout
    held = re.search(r"read (\d+) held Bronze row\(s\) again", log)
    assert held and int(held.group(1)) == 14, log[-3000:]
    assert "hold no record" in log, log[-3000:]
    assert_each_record_once(bronze(data), offsets, topic)


def test_records_compacted_away_inside_a_planned_batch(medallion, tmp_path):
    topic = f"it-compacted-{uuid.uuid4().hex[:8]}"
    make_compacted_topic(topic)
    p = producer()
    for k in range(30):
        p.produce(topic, event(k, prefix="first"), key=f"key-{k}".encode())
    p.flush(30)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    # Batch 0 ([0, 30)) is planned, then the process dies: nothing is committed.
    crashed = medallion.run(topic, data, ckpt, "--until-caught-up", fault="plan.after_write",
                            check=False, timeout=60)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    # While it is down, new versions of half the keys make the cleaner remove the old ones,
    # inside the planned range.
    time.sleep(0.3)
    offsets = compact(topic, keys=15, rounds=1)
    assert offsets[0] > 0 or len([o for o in offsets if o < 30]) < 30, offsets
    done = medallion.run(topic, data, ckpt, "--until-caught-up", timeout=60)
    log = done.stderr + done.stdout
    assert "replaying batch 0" in log and "hold no record" in log, log[-3000:]
    assert_each_record_once(bronze(data), offsets, topic)


def test_partition_added_while_running_is_read_without_restart(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    p = producer()
    first = [event(i, prefix="before") for i in range(10)]
    for n, v in enumerate(first):
        p.produce(topic, v, partition=n % 2)
    p.flush(30)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    run = subprocess.Popen([str(conftest.BINARY), "run", "--brokers", conftest.BROKERS, "--topic", topic,
                            "--data-dir", data, "--checkpoint-dir", ckpt, "--trigger-interval", "200ms",
                            "--max-batch-wait", "200ms"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: count_bronze(data) == 10, 30)
        admin = AdminClient({"bootstrap.servers": conftest.BROKERS})
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result(30)
        time.sleep(1)
        later = [event(i, prefix="after") for i in range(5)]
        p = producer()  # knows the new partition
        for v in later:
            p.produce(topic, v, partition=2)
        p.flush(30)
        wait_for(lambda: count_bronze(data) == 15, 30)
    finally:
        sent = time.time()
        run.send_signal(signal.SIGTERM)
        out = run.communicate(timeout=20)[0]
    assert run.returncode == 0, out[-3000:]
    assert time.time() - sent < 3, "SIGTERM in a continuous run (trigger wait) took too long"
    rows = bronze(data)
    assert sorted(r[3] for r in rows if r[0] == 2) == sorted(later)
    plan = json.loads(max((ckpt / "offsets").iterdir(), key=lambda f: int(f.name)).read_text())
    assert plan["next"]["2"] == 5


def test_a_topic_created_after_the_start_is_waited_for_and_read(medallion, tmp_path):
    """A run started before its topic exists says so at once, naming the topic, waits for it
    (a deployment may create it later) and reads it once it is there."""
    topic = f"it-late-topic-{uuid.uuid4().hex[:8]}"
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    out_path = tmp_path / "run.log"
    with open(out_path, "wb") as out:
        run = subprocess.Popen([str(conftest.BINARY), "run", "--brokers", conftest.BROKERS, "--topic", topic,
                                "--data-dir", data, "--checkpoint-dir", ckpt, "--trigger-interval", "200ms",
                                "--max-batch-wait", "200ms"], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: f"topic '{topic}' does not exist" in out_path.read_text(), 30)
        assert run.poll() is None, out_path.read_text()[-3000:]
        admin = AdminClient({"bootstrap.servers": conftest.BROKERS})
        admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
        p = producer()
        values = [event(i, prefix="late-topic") for i in range(10)]
        for n, v in enumerate(values):
            p.produce(topic, v, partition=n % 2)
        p.flush(30)
        wait_for(lambda: count_bronze(data) == 10, 60)
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=20)
    log = out_path.read_text()
    assert run.returncode == 0, log[-3000:]
    assert log.count("does not exist") == 1, "the wait is reported once:\n" + log[-3000:]
    assert sorted(r[3] for r in bronze(data)) == sorted(values)


def count_bronze(data: Path) -> int:
    try:
        return len(bronze(data))
    except Exception:  # noqa: BLE001 - the table may not exist yet
        return 0


def wait_for(condition, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while not condition():
        if time.time() > deadline:
            pytest.fail(f"condition not met within {timeout_s}s")
        time.sleep(0.3)


def test_silver_does_not_depend_on_the_fetch_order(medallion, make_topic, tmp_path):
    """328 events on three partitions, one dated six days after the others, read in
    batches of 20: every run gives the same Silver, with no event declared late."""
    topic = make_topic(3)
    p = producer()
    values = []
    for i in range(328):
        if i == 3:  # early in partition 0
            values.append(event(i, at=BASE + dt.timedelta(days=6), items=1))
        else:
            values.append(event(i, items=2))
    for i, v in enumerate(values):
        p.produce(topic, v, partition=i % 3)
    p.flush(30)
    counts = set()
    for attempt in range(3):
        data, ckpt = tmp_path / f"data{attempt}", tmp_path / f"ckpt{attempt}"
        medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 20, timeout=120)
        lake = tables.Lake(data)
        assert lake.rows("SELECT count(*) FROM late WHERE reason = 'beyond_dedup_horizon'")[0][0] == 0
        counts.add(lake.rows("SELECT count(*) FROM silver")[0][0])
        # Batches take from every partition in turn.
        plan = json.loads((ckpt / "offsets" / "0").read_text())
        assert {k for k, r in plan["offsets"].items() if r[1] > r[0]} == {"0", "1", "2"}, plan
        assert set(plan["ends"]) == {"0", "1", "2"}
    assert counts == {327 * 2 + 1}


def test_sigterm_while_the_broker_is_down_ends_the_run(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    run = subprocess.Popen([str(conftest.BINARY), "run", "--brokers", dead, "--topic", "orders",
                            "--data-dir", tmp_path / "data", "--checkpoint-dir", tmp_path / "ckpt"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(3)
    assert run.poll() is None
    sent = time.time()
    run.send_signal(signal.SIGTERM)
    out = run.communicate(timeout=10)[0]
    assert time.time() - sent < 3, out
    assert run.returncode == 0, out


def config_with(tmp_path: Path, properties: dict[str, str]) -> Path:
    path = tmp_path / "medallion.toml"
    lines = ["[kafka.properties]"] + [f'"{k}" = "{v}"' for k, v in properties.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("key", ["isolation.level", "enable.auto.commit", "auto.offset.reset",
                                 "enable.auto.offset.store", "group.id", "enable.partition.eof"])
def test_protected_properties_cannot_be_overridden(medallion, tmp_path, key):
    value = "SECRET-VALUE-42"
    proc = medallion.run("orders", tmp_path / "data", tmp_path / "ckpt", "--config",
                         config_with(tmp_path, {key: value}), check=False, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert f"'{key}' cannot be set" in proc.stderr
    assert value not in proc.stdout + proc.stderr


def test_a_rejected_property_value_is_never_printed(medallion, tmp_path):
    secret = "hunter2-not-a-protocol"
    proc = medallion.run("orders", tmp_path / "data", tmp_path / "ckpt", "--config",
                         config_with(tmp_path, {"security.protocol": secret}), check=False, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "security.protocol" in proc.stderr
    assert secret not in proc.stdout + proc.stderr


def secured_listener(address: str) -> None:
    host, port = address.split(":")
    with socket.socket() as s:
        s.settimeout(1)
        if s.connect_ex((host, int(port))) != 0:
            pytest.skip(f"no secured listener on {address} (a broker started by an older "
                        "scripts/kafka.sh); restart it with scripts/kafka.sh")


def sasl_config(tmp_path: Path, security: dict[str, str] | None = None,
                password: str = SASL_PASSWORD) -> Path:
    """The test user's PLAIN credentials over `security` (SASL_PLAINTEXT unless given)."""
    security = security or {"security.protocol": "SASL_PLAINTEXT"}
    return config_with(tmp_path, {**security, "sasl.mechanism": "PLAIN", "sasl.username": SASL_USER,
                                  "sasl.password": password})


def produce_to_two_partitions(topic: str, values: list[bytes]) -> None:
    """Sends `values` alternately to partitions 0 and 1 and waits for every ack."""
    p = producer()
    for n, v in enumerate(values):
        p.produce(topic, v, partition=n % 2)
    p.flush(30)


SECURED = [
    pytest.param(SASL_BROKERS, {"security.protocol": "SASL_PLAINTEXT"}, id="sasl_plaintext"),
    pytest.param(SSL_BROKERS, {"security.protocol": "SASL_SSL",
                               "ssl.ca.location": str(KAFKA_DIR / "tls" / "ca.pem")}, id="sasl_ssl"),
]


@pytest.mark.parametrize("address,security", SECURED)
def test_secured_cluster_right_credentials(medallion, make_topic, tmp_path, address, security):
    secured_listener(address)
    topic = make_topic(2)
    sent = [event(i, prefix="sec") for i in range(12)]
    produce_to_two_partitions(topic, sent)
    cfg = sasl_config(tmp_path, security)
    proc = medallion("run", "--brokers", address, "--topic", topic, "--data-dir", tmp_path / "data",
                     "--checkpoint-dir", tmp_path / "ckpt", "--config", cfg, "--until-caught-up",
                     timeout=60)
    assert SASL_PASSWORD not in proc.stdout + proc.stderr
    assert sorted(r[3] for r in bronze(tmp_path / "data")) == sorted(sent)
    assert tables.Lake(tmp_path / "data").rows("SELECT count(*) FROM silver")[0][0] == 24


class CuttingProxy:
    """A TCP relay on 127.0.0.1 in front of `upstream` that cuts its first `cuts` connections in
    the middle of authenticating: the client's first request (ApiVersions) and its reply pass,
    its second (SASL's handshake) goes up, and the connection closes before that reply comes
    back. Kafka's requests and replies are frames of a 4-byte big-endian length and the bytes."""

    def __init__(self, upstream: str, cuts: int):
        host, port = upstream.split(":")
        self.upstream = (host, int(port))
        self.cuts_left = cuts
        self.cut = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                cut = self.cuts_left > 0
                self.cuts_left -= int(cut)
            threading.Thread(target=self._serve, args=(client, cut), daemon=True).start()

    @staticmethod
    def _frame(sock: socket.socket) -> bytes | None:
        head = b""
        while len(head) < 4:
            chunk = sock.recv(4 - len(head))
            if not chunk:
                return None
            head += chunk
        body = b""
        size = int.from_bytes(head, "big")
        while len(body) < size:
            chunk = sock.recv(size - len(body))
            if not chunk:
                return None
            body += chunk
        return head + body

    def _serve(self, client: socket.socket, cut: bool) -> None:
        with client, socket.create_connection(self.upstream) as up:
            if cut:
                for forward_reply in (True, False):
                    request = self._frame(client)
                    if request is None:
                        return
                    up.sendall(request)
                    if forward_reply:
                        reply = self._frame(up)
                        if reply is None:
                            return
                        client.sendall(reply)
                with self.lock:
                    self.cut += 1
                return  # both closed before the handshake's reply reaches the client

            def pump(src: socket.socket, dst: socket.socket) -> None:
                try:
                    while data := src.recv(65536):
                        dst.sendall(data)
                except OSError:
                    pass
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            back = threading.Thread(target=pump, args=(up, client), daemon=True)
            back.start()
            pump(client, up)
            back.join()

    def close(self) -> None:
        self.server.close()


def test_a_connection_cut_while_authenticating_is_waited_out(medallion, make_topic, tmp_path):
    """librdkafka reports a connection lost during SASL's handshake with the code of refused
    credentials ("SASL PLAIN mechanism handshake failed: Local: Broker transport failure");
    the run must wait it out as a broker down and read everything, not end on it."""
    secured_listener(SASL_BROKERS)
    topic = make_topic(2)
    sent = [event(i, prefix="cut") for i in range(10)]
    produce_to_two_partitions(topic, sent)
    cfg = sasl_config(tmp_path)
    proxy = CuttingProxy(SASL_BROKERS, cuts=2)
    try:
        proc = medallion("run", "--brokers", proxy.address, "--topic", topic, "--data-dir", tmp_path / "data",
                         "--checkpoint-dir", tmp_path / "ckpt", "--config", cfg, "--until-caught-up",
                         timeout=90)
    finally:
        proxy.close()
    assert proxy.cut == 2
    assert "authentication failed" not in proc.stderr, proc.stderr[-2000:]
    assert sorted(r[3] for r in bronze(tmp_path / "data")) == sorted(sent)
    assert tables.Lake(tmp_path / "data").rows("SELECT count(*) FROM silver")[0][0] == 20


@pytest.mark.parametrize("address,security", SECURED)
def test_secured_cluster_wrong_password_ends_at_once(medallion, make_topic, tmp_path, address, security):
    secured_listener(address)
    topic = make_topic(1)
    wrong = "wrong-password-7781"
    cfg = sasl_config(tmp_path, security, password=wrong)
    began = time.time()
    proc = medallion("run", "--brokers", address, "--topic", topic, "--data-dir", tmp_path / "data",
                     "--checkpoint-dir", tmp_path / "ckpt", "--config", cfg, "--until-caught-up",
                     check=False, timeout=60)
    assert time.time() - began < 20, proc.stderr
    assert proc.returncode != 0
    assert "authentication failed" in proc.stderr, proc.stderr[-2000:]
    assert wrong not in proc.stdout + proc.stderr


def deny(resource_type, name: str) -> None:
    """Denies the test user every operation on one topic or group (as the PLAINTEXT
    listener's super user)."""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType,
                                       ResourcePatternType)
    admin = AdminClient({"bootstrap.servers": conftest.BROKERS})
    binding = AclBinding(resource_type, name, ResourcePatternType.LITERAL, f"User:{SASL_USER}",
                         "*", AclOperation.ALL, AclPermissionType.DENY)
    for f in admin.create_acls([binding]).values():
        f.result(30)
    time.sleep(1)  # ACLs reach the authorizer through the metadata log


def test_topic_not_authorized_ends_at_once(medallion, make_topic, tmp_path):
    from confluent_kafka.admin import ResourceType
    secured_listener(SASL_BROKERS)
    topic = make_topic(1)
    producer().produce(topic, event(1))
    deny(ResourceType.TOPIC, topic)
    began = time.time()
    proc = medallion("run", "--brokers", SASL_BROKERS, "--topic", topic, "--data-dir",
                     tmp_path / "data", "--checkpoint-dir", tmp_path / "ckpt", "--config",
                     sasl_config(tmp_path), "--until-caught-up", check=False, timeout=60)
    assert time.time() - began < 20, proc.stderr
    assert proc.returncode != 0
    assert "not authorized to read the topic" in proc.stderr, proc.stderr[-2000:]
    assert SASL_PASSWORD not in proc.stdout + proc.stderr


def test_group_not_authorized_ends_at_once(medallion, make_topic, tmp_path):
    from confluent_kafka.admin import ResourceType
    secured_listener(SASL_BROKERS)
    topic = make_topic(1)
    p = producer()
    for i in range(5):
        p.produce(topic, event(i))
    p.flush(30)
    group = f"denied-{uuid.uuid4().hex[:6]}"
    deny(ResourceType.GROUP, group)
    began = time.time()
    proc = medallion("run", "--brokers", SASL_BROKERS, "--topic", topic, "--group-id", group,
                     "--data-dir", tmp_path / "data", "--checkpoint-dir", tmp_path / "ckpt",
                     "--config", sasl_config(tmp_path), "--trigger-interval", "200ms",
                     check=False, timeout=60)
    assert time.time() - began < 20, proc.stderr
    assert proc.returncode != 0
    assert "not authorized to use the consumer group" in proc.stderr, proc.stderr[-2000:]


def test_open_transaction_is_not_waited_for(medallion, make_topic, tmp_path):
    """Records of a transaction still open are not readable yet: the run reads up to it
    (the last stable offset) and ends; once committed, the next run reads them."""
    topic = make_topic(1)
    before = transactional()
    before.begin_transaction()
    for i in range(4):
        before.produce(topic, event(i, prefix="done"))
    before.commit_transaction(30)
    open_tx = transactional()
    open_tx.begin_transaction()
    for i in range(3):
        open_tx.produce(topic, event(i, prefix="open"))
    open_tx.flush(30)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", timeout=60)
    assert [r[1] for r in bronze(data)] == [0, 1, 2, 3]
    open_tx.commit_transaction(30)
    medallion.run(topic, data, ckpt, "--until-caught-up", timeout=60)
    assert [r[1] for r in bronze(data)] == [0, 1, 2, 3, 5, 6, 7]
