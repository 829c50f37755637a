"""The payment join end to end, against the real broker.

Orders (crash_oracle's data set, spread over hours of event time so that the join's intervals
close) and payments for them (payments_oracle.make_payments: matched, missing, orphan,
mismatched, outside the interval, double captures, late ones, re-sends, noise and bad records)
go to two topics; `medallion run --payments-topic` drains both in small batches, so matches
and their finality span many batches. Every table is then checked by the independent oracles:
the order tables by crash_oracle.check_all, the payment tables by payments_oracle.check_join
(a DuckDB recomputation of the join rule over Silver and the payments sent) at the join
watermark the engine logged last. A restart half way must give the same tables as one run.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import random
import re
import sys
import uuid

import deltalake

sys.path.insert(0, os.path.dirname(__file__))
import crash_oracle as oracle  # noqa: E402
import payments_oracle as pay  # noqa: E402

# Two seconds of event time per order event: 3,000 events span 100 minutes, so the intervals
# of the first orders (an hour after them) close while the stream is read.
STEP_MS = 2000
N_EVENTS = 3000
JOIN_LINE = re.compile(r"batch \d+ payments: .*watermark (\S+)")


def join_watermark(*logs: str) -> int | None:
    """The join watermark the last batch of the given logs (in order) reported, in µs."""
    found = [m.group(1) for text in logs for m in JOIN_LINE.finditer(text)]
    if not found or found[-1] == "none":
        return None
    return int(dt.datetime.fromisoformat(found[-1].replace("Z", "+00:00")).timestamp() * 1_000_000)


def _datasets(seed: int):
    ds = oracle.make_dataset(seed, N_EVENTS, step_ms=STEP_MS)
    payments = pay.make_payments(ds.events, seed, tail_minutes=120)
    return ds, payments


def _produce(brokers: str, tmp, name: str, topic: str, lines: list[bytes]) -> None:
    oracle.produce_file(brokers, topic, oracle.write_jsonl(tmp / f"{name}.jsonl", lines))


def test_join_matches_the_rule_and_a_restart_changes_nothing(tmp_path):
    brokers = oracle.ensure_shared_broker()
    seed = int(os.environ.get("MEDALLION_PAYMENTS_SEED", str(random.randrange(1, 1 << 30))))
    tag = f"{seed}-{uuid.uuid4().hex[:8]}"
    orders_topic, payments_topic = f"orders-join-{tag}", f"payments-join-{tag}"
    print(f"\npayments join: seed {seed}, topics {orders_topic}, {payments_topic}")
    ds, payments = _datasets(seed)
    half = len(payments.lines) // 2
    _produce(brokers, tmp_path, "orders", orders_topic, ds.lines)
    _produce(brokers, tmp_path, "payments-1", payments_topic, payments.lines[:half])
    join = ["--payments-topic", payments_topic, "--max-batch-records", "400"]

    # One run over the first half of the payments, a restart over the rest.
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    first = oracle.run_until_caught_up(brokers, orders_topic, data, ckpt, *join)
    _produce(brokers, tmp_path, "payments-2", payments_topic, payments.lines[half:])
    second = oracle.run_until_caught_up(brokers, orders_topic, data, ckpt, *join)
    logs = [first.stdout + first.stderr, second.stdout + second.stderr]
    assert "replaying" not in logs[1]
    oracle.check_all(data, ds.lines, ds, orders_topic, last_batch=oracle.last_committed(ckpt))
    wm = join_watermark(*logs)
    assert wm is not None, "the engine logged no join watermark:\n" + logs[-1][-3000:]
    report = pay.check_join(data, None, payments.lines, payments, final_watermark_us=wm, topic=payments_topic)
    reasons = collections.Counter(_table(data, "gold/payment_reconciliation").column("reason").to_pylist())
    for reason in ("missing_payment", "orphan_payment", "amount_mismatch"):
        assert reasons.get(reason, 0) > 0, f"no {reason} row: the data set should produce some ({reasons})"
    print("payment tables: " + ", ".join(f"{k} {v}" for k, v in report.rows.items()) + f"; reasons {reasons}")
    for c in report.checks:
        print(f"  ok  {c}")

    # The same topics in one run, in batches cut differently. Which inputs arrive late depends
    # on where batches are cut (the watermark moves per batch); every match of two inputs late
    # in neither run must be in both.
    one_data, one_ckpt = tmp_path / "one-data", tmp_path / "one-ckpt"
    one = oracle.run_until_caught_up(brokers, orders_topic, one_data, one_ckpt, "--payments-topic", payments_topic)
    pay.check_join(one_data, None, payments.lines, payments,
                   final_watermark_us=join_watermark(one.stdout + one.stderr), topic=payments_topic)
    late = set().union(*(_late_inputs(d) for d in (data, one_data)))
    matches = [[m for m in _rows(d, "silver/order_payments") if m[1] not in late and m[2] not in late]
               for d in (data, one_data)]
    assert matches[0] == matches[1], "the matches of inputs late in neither run differ between the runs"
    print(f"restarted run == single run: {len(matches[0])} matches of inputs late in neither run "
          f"({len(late)} inputs late in one of them)")


def _late_inputs(data) -> set[str]:
    """The event ids and payment ids the join reported late."""
    rows = _table(data, "gold/payment_reconciliation").to_pylist()
    return {r["event_id"] or r["payment_id"] for r in rows if r["late"]}


def _table(data, rel: str):
    return deltalake.DeltaTable(str(data / rel)).to_pyarrow_table()


def _rows(data, rel: str) -> list[tuple]:
    t = _table(data, rel)
    cols = ["order_id", "event_id", "payment_id", "order_time", "payment_time", "order_total", "payment_amount",
            "currency", "method", "provider", "delay_ms"]
    return sorted(tuple(r[c] for c in cols) for r in t.select(cols).to_pylist())


def test_status_shows_the_join_and_readiness_waits_for_both_topics(tmp_path):
    # A continuous run: /status carries the join's figures, and the lag (hence /readyz) counts
    # the payments topic too: a payments backlog alone makes the run not ready.
    from http_engine import HttpEngine, get, wait_for
    brokers = oracle.ensure_shared_broker()
    tag = uuid.uuid4().hex[:8]
    orders_topic, payments_topic = f"orders-status-{tag}", f"payments-status-{tag}"
    ds, payments = _datasets(7)
    _produce(brokers, tmp_path, "orders", orders_topic, ds.lines[:600])
    _produce(brokers, tmp_path, "payments", payments_topic, payments.lines[:10])
    with HttpEngine(brokers, orders_topic, tmp_path, "--payments-topic", payments_topic, "--trigger-interval",
                    "200ms", "--max-batch-records", "200") as engine:
        caught_up = wait_for("caught up", lambda: (s := engine.status())["lag"] == 0 and s, timeout=60)
        join = caught_up["payment_join"]
        assert set(join) == {"orders_waiting", "payments_waiting", "matches", "reconciliation_by_reason",
                             "lag_by_partition"}, join
        assert get(engine.url + "/readyz")[0] == 200
        # 2,000 payments at once: until they are read, the lag counts them.
        engine_payments = payments.lines[10:2010]
        _produce(brokers, tmp_path, "more", payments_topic, engine_payments)
        lagging = wait_for("payments lag", lambda: (s := engine.status())["lag"] > 0 and s, timeout=30, every=0.05)
        assert lagging["lag"] <= len(engine_payments)
        # The payments topic's own lag, per partition: only it lags, and the parts add up.
        by_partition = lagging["payment_join"]["lag_by_partition"]
        assert sum(v for v in by_partition.values() if v) == lagging["lag"], lagging
        assert all(v == 0 for v in lagging["lag_by_partition"].values()), lagging
        wait_for("caught up again", lambda: engine.status()["lag"] == 0, timeout=60)
        assert set(engine.status()["payment_join"]["lag_by_partition"].values()) == {0}
        assert engine.status()["payment_join"]["matches"] > join["matches"]


# The quarantine codes a payment record can get (the order event's codes that apply to it).
PAYMENT_CODES = {"not_json", "not_object", "missing_field", "wrong_type", "bad_event_time",
                 "event_time_out_of_range", "event_time_in_future", "unknown_status", "bad_payment_amount",
                 "unsupported_schema_version"}


def test_hostile_payment_records_never_fail_a_batch(tmp_path):
    # Every seed of the payment fuzz target, and records no line-based producer can send (a
    # tombstone, an empty value, newlines, bytes that are not UTF-8, a 900 kB value), go to the
    # payments topic raw: each lands in Bronze once, the bad ones in quarantine with a payment
    # code, and the run goes on to the end.
    from confluent_kafka import Producer
    brokers = oracle.ensure_shared_broker()
    tag = uuid.uuid4().hex[:8]
    orders_topic, payments_topic = f"orders-hostile-{tag}", f"payments-hostile-{tag}"
    ds = oracle.make_dataset(11, 200, step_ms=STEP_MS)
    _produce(brokers, tmp_path, "orders", orders_topic, ds.lines)
    seeds = sorted((oracle.REPO / "fuzz" / "corpus_payments").iterdir())
    values = [p.read_bytes() for p in seeds] + [
        None, b"", b"{\"payment_id\":\"p\n1\"}", b"\xff\xfe{}", b"[" * 100_000, b"{\"x\":\"" + b"a" * 900_000 + b"\"}",
        b'{"payment_id":"p-ok","order_id":"ORD-11-000001","event_time":"2026-11-24T10:00:01Z",'
        b'"status":"CAPTURED","amount":1.5,"currency":"EUR"}']
    assert len(seeds) >= 30
    created = oracle.kafka_sh("topic-create", payments_topic, "4")
    assert created.returncode == 0, created.stderr
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5, "message.max.bytes": 1_000_000})
    for i, v in enumerate(values):
        producer.produce(payments_topic, value=v, key=f"k{i % 7}".encode())
    assert producer.flush(30) == 0
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    oracle.run_until_caught_up(brokers, orders_topic, data, ckpt, "--payments-topic", payments_topic,
                               "--max-batch-records", "10")
    bronze = _table(data, "bronze/payments_raw")
    coords = list(zip(bronze.column("partition").to_pylist(), bronze.column("offset").to_pylist()))
    assert len(coords) == len(set(coords)) == len(values), (len(coords), len(values))
    # Values unchanged (a tombstone and an empty value both read back as no bytes).
    assert sorted(v or b"" for v in bronze.column("value").to_pylist()) == sorted(v or b"" for v in values)
    quarantine = _table(data, "quarantine/payments").to_pylist()
    assert {(r["partition"], r["offset"]) for r in quarantine} <= set(coords)
    codes = collections.Counter(r["error"] for r in quarantine)
    assert set(codes) <= PAYMENT_CODES, codes
    assert codes["not_json"] >= 4 and len(quarantine) < len(values), codes  # the valid ones were parsed
    print(f"\nhostile payments: {len(values)} records, quarantined by code {dict(codes)}")
