"""Differential test: an independent Python implementation of the contract
(contract_oracle.py) judges ~5,000 hostile messages (hostile.py), and the engine's Bronze,
Quarantine and Silver must agree with it message by message. A second run does the same for a
stream that mixes version-1 and version-2 events: the version-2 family of hostile.py and what
`medallion produce --v2-fraction` generates.

Every message is sent with confluent_kafka to its own partition and a fixed Kafka timestamp
t0, so the reference instant of the future rule is t0 for all of them. The disagreements are
listed (message name, input, engine's verdict, oracle's verdict) in the failure and written to
<tmp>/disagreements.txt.
"""

from __future__ import annotations

import collections
import os
import re
import time
import uuid

import pyarrow as pa
from deltalake import DeltaTable

import contract_oracle as oracle
import hostile
import tables

PARTITIONS = 3
SILVER_STRINGS = ["event_id", "order_id", "status", "customer_id", "customer_name", "customer_email",
                  "customer_country", "customer_segment", "product_id", "product_name", "category",
                  "payment_method", "currency", "channel", "customer_loyalty_tier", "sku"]
MISSING = "<no such column>"


def as_bytes(col: pa.ChunkedArray) -> list[bytes | None]:
    """A string column's values as bytes, without decoding (so invalid UTF-8 shows as such)."""
    return col.cast(pa.binary()).to_pylist()


def read_table(data, rel: str) -> pa.Table:
    return DeltaTable(str(data / rel)).to_pyarrow_table()


def engine_silver(data) -> dict[tuple[int, int], list[dict]]:
    t = read_table(data, "silver/order_lines")
    cols = {n: (as_bytes(t.column(n)) if n in SILVER_STRINGS else t.column(n).to_pylist())
            for n in t.schema.names if n != "event_time"}
    cols["event_time"] = t.column("event_time").cast(pa.int64()).to_pylist()
    lines: dict[tuple[int, int], list[dict]] = collections.defaultdict(list)
    for i in range(t.num_rows):
        row = {n: c[i] for n, c in cols.items()}
        lines[(row["kafka_partition"], row["kafka_offset"])].append(row)
    return lines


def expected_lines(v: oracle.Verdict, p: int, o: int) -> list[dict]:
    e = v.event
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    return [{"event_id": enc(e.event_id), "order_id": enc(e.order_id), "status": enc(e.status),
             "customer_id": enc(e.customer_id), "customer_name": enc(e.customer_name),
             "customer_email": enc(e.customer_email), "customer_country": enc(e.customer_country),
             "customer_segment": enc(e.customer_segment), "line_no": ln.line_no,
             "product_id": enc(ln.product_id), "product_name": enc(ln.product_name),
             "category": enc(ln.category), "quantity": ln.quantity, "unit_price": ln.unit_price,
             "line_amount": ln.line_amount, "payment_method": enc(e.payment_method),
             "currency": enc(e.currency), "kafka_partition": p, "kafka_offset": o,
             "event_time": e.event_time_us, "schema_version": e.schema_version,
             "channel": enc(e.channel), "customer_loyalty_tier": enc(e.customer_loyalty_tier),
             "sku": enc(ln.sku), "discount": ln.discount} for ln in e.lines]


def show(value: bytes | None, limit: int = 160) -> str:
    if value is None:
        return "None"
    text = repr(value[:limit])
    return text + (f"... ({len(value)} bytes)" if len(value) > limit else "")


def exclude(msgs: list[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None]]:
    """Diagnosis only: MEDALLION_DIFF_EXCLUDE (a regex over message names) leaves messages out,
    e.g. the ones that stop an engine without the amount rules, to see the rest."""
    if os.environ.get("MEDALLION_DIFF_EXCLUDE"):
        msgs = [m for m in msgs if not re.search(os.environ["MEDALLION_DIFF_EXCLUDE"], m[0])]
    return msgs


def with_normal_last(msgs, t0_ms: int):
    normal = hostile.Gen(t0_ms * 1000, seed=1).event(status="PAID", items=2)
    normal["event_id"] = "normal-after-hostile"
    return msgs + [("normal_after_hostile", hostile.Gen.dump(normal))]


def test_engine_agrees_with_the_contract_oracle(medallion, make_topic, broker, tmp_path):
    topic = make_topic(PARTITIONS)
    t0_ms = (int(time.time()) - 60) * 1000
    msgs = with_normal_last(exclude(hostile.messages(t0_ms * 1000)), t0_ms)
    assert len(msgs) >= 5000 or os.environ.get("MEDALLION_DIFF_EXCLUDE")
    agree_with_oracle(medallion, broker, topic, tmp_path, msgs, t0_ms, keys=hostile.kafka_keys(len(msgs)))


def test_engine_agrees_with_the_contract_oracle_under_hostile_kafka_timestamps(medallion, broker, tmp_path):
    """The hostile messages again, each stamped with a Kafka timestamp a producer may set where
    the topic accepts any (message.timestamp.after.max.ms unbounded, Kafka's default before 4.0):
    now, 1 ms after the epoch (every later event is then in the future of its reference), the year 12026,
    the last millisecond whose microseconds fit 64 bits, 2^62 and the largest (null in Bronze).
    Bronze holds each as sent, every verdict is the oracle's, and no record fails its batch."""
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"it-diff-kafka-timestamps-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1,
                                  config={"message.timestamp.after.max.ms": str(2 ** 63 - 1)})])[topic].result(30)
    t0_ms = (int(time.time()) - 60) * 1000
    msgs = with_normal_last(exclude(hostile.messages(t0_ms * 1000)), t0_ms)
    # 1, not 0: a client sends 0 as "no timestamp" and the broker stamps it now.
    cycle = [t0_ms, 1, 317336745600000, (2 ** 63 - 1) // 1000, 2 ** 62, 2 ** 63 - 1]
    stamps = [cycle[i % len(cycle)] for i in range(len(msgs) - 1)] + [t0_ms]  # the normal event: now
    agree_with_oracle(medallion, broker, topic, tmp_path, msgs, t0_ms, stamps=stamps)


def test_engine_agrees_with_the_contract_oracle_with_partition_scoped_dedup(medallion, make_topic, broker, tmp_path):
    """The same hostile messages with watermark.dedup_scope = partition (ops::PartitionDedup
    reads every valid event's partition and time): every verdict as the oracle's, and no
    record fails its batch."""
    topic = make_topic(PARTITIONS)
    t0_ms = (int(time.time()) - 60) * 1000
    msgs = with_normal_last(exclude(hostile.messages(t0_ms * 1000)), t0_ms)
    agree_with_oracle(medallion, broker, topic, tmp_path, msgs, t0_ms, "--dedup-scope", "partition")


def test_engine_agrees_with_the_contract_oracle_on_v1_v2_mix(medallion, make_topic, broker, tmp_path):
    """Version-1 and version-2 events share the topic: the version-2 family of hostile.py, the
    generator's mixed stream (valid, duplicate, out-of-order, malformed and invalid records, half
    of the objects version 2) and version-1 hostile events, interleaved."""
    topic = make_topic(PARTITIONS)
    t0_ms = (int(time.time()) - 60) * 1000
    start = hostile.iso((t0_ms - 5 * 60_000) * 1000)
    generated = tmp_path / "generated.jsonl"
    medallion("produce", "--to-file", generated, "--count", 3000, "--seed", 7, "--start-time", start,
              "--event-step-ms", 20, "--v2-fraction", 0.5, "--invalid-fraction", 0.1,
              "--malformed-fraction", 0.02, "--duplicate-fraction", 0.03, "--out-of-order-fraction", 0.05)
    gen = [(f"generated:{i}", line) for i, line in enumerate(generated.read_bytes().splitlines())]
    assert len(gen) == 3000
    assert sum(b'"schema_version":2' in v for _, v in gen) > 1000
    v2 = hostile.v2_messages(t0_ms * 1000)
    v1 = hostile.Gen(t0_ms * 1000, seed=5, id_prefix="h1")
    v1.valid(300)
    v1.structure()
    # Interleaved, so that every partition and every batch holds both versions.
    mixed, parts = [], [gen, v2, v1.out]
    for i in range(max(map(len, parts))):
        mixed.extend(p[i] for p in parts if i < len(p))
    agree_with_oracle(medallion, broker, topic, tmp_path, with_normal_last(exclude(mixed), t0_ms), t0_ms)


def bronze_micros(stamp_ms: int) -> int | None:
    """Bronze's kafka_timestamp for a record stamped `stamp_ms`: its microseconds, or None when
    they do not fit 64 bits."""
    us = stamp_ms * 1000
    return us if -2 ** 63 <= us < 2 ** 63 else None


def agree_with_oracle(medallion, broker, topic: str, tmp_path, msgs, t0_ms: int, *run_args,
                      stamps: list[int] | None = None, keys: list[bytes | None] | None = None) -> None:
    """Sends `msgs` (the normal event last) with Kafka timestamp t0_ms (or message i with
    stamps[i]) and key b"k" (or keys[i]), runs the engine to the end (with `run_args` added), and
    fails with the list of the records where engine and oracle disagree."""
    coords = hostile.send(broker, topic, [v for _, v in msgs], stamps or t0_ms, PARTITIONS, keys)
    # The normal event is the last record of its partition.
    assert coords[-1][1] == max(o for p, o in coords if p == coords[-1][0])

    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", "2000", *run_args, timeout=900)

    # Every table opens in delta-rs and in DuckDB over the files its log lists, with the same
    # rows (Spark reads the same stream's tables in tests/spark/test_spark_reads_hostile.py).
    tables.Lake(data).check_readers_agree()

    # Bronze: every record exactly once, byte for byte.
    bronze = read_table(data, "bronze/orders_raw")
    b_rows = collections.Counter(zip(bronze.column("partition").to_pylist(), bronze.column("offset").to_pylist()))
    assert sum(b_rows.values()) == len(msgs) and set(b_rows) == set(coords) and max(b_rows.values()) == 1
    b_value = dict(zip(zip(bronze.column("partition").to_pylist(), bronze.column("offset").to_pylist()),
                       bronze.column("value").to_pylist()))
    b_ts = dict(zip(zip(bronze.column("partition").to_pylist(), bronze.column("offset").to_pylist()),
                    bronze.column("kafka_timestamp").cast(pa.int64()).to_pylist()))
    b_ingest = dict(zip(zip(bronze.column("partition").to_pylist(), bronze.column("offset").to_pylist()),
                        bronze.column("ingest_time").cast(pa.int64()).to_pylist()))
    bad_bytes = [name for (name, v), c in zip(msgs, coords) if b_value[c] != v]
    assert not bad_bytes, f"Bronze changed the bytes of {bad_bytes[:10]}"
    if keys:
        b_key = dict(zip(zip(bronze.column("partition").to_pylist(), bronze.column("offset").to_pylist()),
                         bronze.column("key").to_pylist()))
        bad_keys = [(name, show(k, 40), show(b_key[c], 40)) for (name, _), c, k in zip(msgs, coords, keys)
                    if b_key[c] != k]
        assert not bad_keys, f"Bronze's key is not the sent one: {bad_keys[:10]}"
    if stamps:
        # Kafka timestamps as sent, independently of what Bronze made of them.
        bad_ts = [(name, s, b_ts[c]) for (name, _), c, s in zip(msgs, coords, stamps) if b_ts[c] != bronze_micros(s)]
        assert not bad_ts, f"Bronze's kafka_timestamp is not the sent one in microseconds or null: {bad_ts[:10]}"

    q = read_table(data, "quarantine/orders")
    q_code: dict[tuple[int, int], str] = {}
    q_detail: dict[tuple[int, int], bytes] = {}
    for p, o, err, detail in zip(q.column("partition").to_pylist(), q.column("offset").to_pylist(),
                                 q.column("error").to_pylist(), as_bytes(q.column("detail"))):
        assert (p, o) not in q_code, f"record {(p, o)} quarantined twice"
        q_code[(p, o)] = err
        q_detail[(p, o)] = detail
        try:
            detail.decode("utf-8")
        except UnicodeDecodeError:
            q_code[(p, o)] = f"{err} (detail not UTF-8: {detail[:80]!r})"
    silver = engine_silver(data)

    verdicts = [oracle.judge(v, min(b_ts[c], b_ingest[c]) if b_ts[c] is not None else b_ingest[c])
                for (_, v), c in zip(msgs, coords)]
    # Events whose Silver lines the stream's own rules may keep out (a repeated event_id, an
    # event time outside the window the generator keeps valid PAID events in) are compared by
    # verdict only.
    ids = collections.Counter(v.event.event_id for v in verdicts if v.valid)
    lo, hi = t0_ms * 1000 - 6 * hostile.MIN, t0_ms * 1000 + 1

    disagreements: list[str] = []
    for (name, value), c, v in zip(msgs, coords, verdicts):
        engine = q_code.get(c, "valid")
        want = v.code or "valid"
        if engine != want:
            disagreements.append(f"{name} at {c}: engine {engine}, oracle {want} ({v.why[:60]}); input {show(value)}")
            continue
        if not v.valid:
            # A money field's detail names the field where it sits ("items[1].discount ...").
            if v.field and not q_detail[c].startswith(v.field.encode() + b" "):
                disagreements.append(f"{name} at {c}: detail {q_detail[c][:60]!r} does not name {v.field}; "
                                     f"input {show(value)}")
            if c in silver:
                disagreements.append(f"{name} at {c}: quarantined and in Silver; input {show(value)}")
            continue
        if v.event.status != "PAID":
            if c in silver:
                disagreements.append(f"{name} at {c}: status {v.event.status} in Silver; input {show(value)}")
            continue
        if ids[v.event.event_id] > 1 or not lo <= v.event.event_time_us < hi:
            continue
        want_lines = expected_lines(v, *c)
        have = sorted(silver.get(c, []), key=lambda r: r["line_no"])
        have = [{k: r.get(k, MISSING) for k in want_lines[0]} for r in have]
        if have != want_lines:
            diff = [(k, h.get(k), w.get(k)) for h, w in zip(have, want_lines) for k in w if h.get(k) != w.get(k)]
            disagreements.append(f"{name} at {c}: Silver lines differ ({len(have)} vs {len(want_lines)} lines; "
                                 f"first (column, engine, oracle): {diff[:3]}); input {show(value)}")

    if not silver.get(coords[-1]):
        disagreements.append("normal_after_hostile: the normal event sent after the hostile ones is not in Silver")
    report = tmp_path / "disagreements.txt"
    report.write_text("\n".join(disagreements) + "\n")
    summary = collections.Counter(d.split(": ", 1)[1].split(";")[0].split(" (")[0] for d in disagreements)
    assert not disagreements, (
        f"{len(disagreements)} of {len(msgs)} messages: engine and contract oracle disagree "
        f"(all in {report}):\n" + "\n".join(f"  {n} x {k}" for k, n in summary.most_common(40)) +
        "\nfirst ones:\n" + "\n".join(disagreements[:40]))
