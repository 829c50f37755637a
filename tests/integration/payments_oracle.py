"""The payment join's input generator and oracle: payments for a set of order events whose
outcome in the join is known, and a check of bronze/payments_raw, quarantine/payments,
silver/order_payments and gold/payment_reconciliation against a batch recomputation in DuckDB.

Written from the join rule (EVENTS.md and the feature's spec), not from the engine's code:
  * the order side is the first PAID event of each order_id as Silver holds it (all events of an
    order share one Kafka partition, since the key is order_id, so "first" is the smallest
    kafka_offset); order_total is the sum of that event's line_amount;
  * the payment side is the valid CAPTURED payments, first occurrence of each payment_id;
  * an order at `to` and a payment at `tp` of the same order_id may match when
    to - 15 min <= tp <= to + 60 min; one to one: per order_id, orders in (order_time,
    event_id) order each take the eligible unmatched payment with the smallest
    (payment_time, payment_id);
  * an input whose event time is below the join watermark when it arrives is late: it never
    joins and is reported at once (missing_payment or orphan_payment, late = true, watermark =
    that watermark). The oracle cannot replay the engine's watermark history, so it takes the
    engine's late rows as given after checking each one (a real input of the join, its time
    below its watermark) and computes the rest over the other inputs;
  * an unmatched order is final (missing_payment) once order_time + 60 min < watermark, an
    unmatched payment (orphan_payment) once payment_time + 15 min < watermark; before that it is
    pending in the engine's state and appears in no table;
  * a match is final once payment_time < watermark (no payment that is not late can then come
    before it); the engine may write it earlier, but only as the match the rule gives;
  * amount_mismatch: a match whose order_total differs from the payment's amount, or whose
    Silver currency is non-null and differs from the payment's currency. It is written beside
    the match in silver/order_payments.

The quarantine code of a negative or over-precise payment amount is not named by the contract;
BAD_AMOUNT_CODE follows the order event's bad_payment_amount (change it here if the engine names
it otherwise).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import json
import pathlib
import random
from decimal import Decimal
from typing import Iterable

import deltalake
import duckdb
import pyarrow as pa

from crash_oracle import UTC, Dataset, Report, _counter, _diff, _iso, _ts

TABLES = {
    "bronze": "bronze/payments_raw",
    "quarantine": "quarantine/payments",
    "matches": "silver/order_payments",
    "reconciliation": "gold/payment_reconciliation",
    "silver": "silver/order_lines",
}
BEFORE_US = 15 * 60 * 1_000_000  # a payment may come up to 15 minutes before its order
AFTER_US = 60 * 60 * 1_000_000  # and up to 60 minutes after it
# The engine's default dedup horizon: a late input's id is remembered from the join watermark
# at its arrival until the watermark is this far past it; a re-send arriving later than that
# is reported late again (each such row is checked against this rule).
DEDUP_HORIZON_US = 60 * 60 * 1_000_000
PAYMENT_STATUSES = ["AUTHORIZED", "CAPTURED", "FAILED", "REFUNDED"]
METHODS = ["card", "paypal", "sepa", "apple_pay"]
PROVIDERS = ["acme-pay", "stripe-ish", "paybridge"]
BAD_AMOUNT_CODE = "bad_payment_amount"
MONEY = pa.decimal128(18, 4)
TS = pa.timestamp("us", tz="UTC")

# The columns of silver/order_payments (order_date, the partition column, is checked apart) and
# the columns of gold/payment_reconciliation compared as a row (watermark and batch_id are not:
# they depend on how the engine cut batches; the watermark is checked against each row's rule).
MATCH_COLS = ["order_id", "event_id", "payment_id", "order_time", "payment_time", "order_total",
              "payment_amount", "currency", "method", "provider", "delay_ms"]
RECON_COLS = ["reason", "order_id", "event_id", "payment_id", "order_time", "payment_time",
              "order_total", "payment_amount", "currency", "late"]


# ---------------------------------------------------------------------------------------------
# Input data set
# ---------------------------------------------------------------------------------------------


def event_time_us(ev: dict) -> int:
    """An order or payment dict's event time in microseconds: `_us` when the generator set it,
    else its event_time (epoch millis, or ISO-8601 with a zone)."""
    if "_us" in ev:
        return ev["_us"]
    t = ev["event_time"]
    if isinstance(t, int):
        return t * 1000
    d = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    return (d - _ts(0)) // dt.timedelta(microseconds=1)


def order_total(ev: dict) -> Decimal:
    """The order event's total: its lines' quantity x unit_price - discount (version 2 only)."""
    v2 = ev.get("schema_version", 1) == 2
    total = Decimal(0)
    for it in ev["items"]:
        line = Decimal(str(it["unit_price"])) * it["quantity"]
        if v2 and it.get("discount") is not None:
            line -= Decimal(str(it["discount"]))
        total += line
    return total


def _order_currency(ev: dict) -> str | None:
    return ev.get("currency") or (ev.get("payment") or {}).get("currency")


def first_paid_orders(orders: Iterable[dict] | dict) -> list[dict]:
    """The first PAID event of each order_id, in the given (send) order. A dict is taken as
    crash_oracle.Dataset.events (value -> event, in send order of first occurrence)."""
    seen: set[str] = set()
    out = []
    for ev in (orders.values() if isinstance(orders, dict) else orders):
        if ev.get("status") == "PAID" and ev["order_id"] not in seen:
            seen.add(ev["order_id"])
            out.append(ev)
    return out


def _amount_json(amount: Decimal) -> float:
    """Money as the JSON number a producer writes (exact: at most 4 decimals)."""
    f = float(amount)
    assert Decimal(repr(f)) == amount, amount
    return f


def make_payments(orders: Iterable[dict] | dict, seed: int, *, matched: float = 0.55,
                  missing: float = 0.10, mismatch: float = 0.08, outside: float = 0.07,
                  double_capture: float = 0.05, late: float = 0.08, unknown_orders: int | None = None,
                  noise_fraction: float = 0.35, duplicate_fraction: float = 0.06,
                  bad_fraction: float = 0.04, tail_minutes: int = 0) -> Dataset:
    """Payment JSON lines for the first PAID event of each order_id in `orders` (dicts with
    order_id, event_time or _us, status, items with quantity / unit_price / discount and a
    currency, top level or in payment.currency), as a crash_oracle.Dataset: lines in send
    order, events (value -> payment dict with `_us`, `_kind`) and bad (value -> quarantine code).

    Each order gets one scenario, drawn with the given weights (the rest: matched):
      matched        one CAPTURED payment inside the interval (sometimes exactly on a bound)
      missing        no CAPTURED payment (at most an AUTHORIZED or FAILED one)
      mismatch       a CAPTURED payment inside the interval whose amount (by 0.01 or 0.0001) or
                     currency differs: a match and an amount_mismatch
      outside        a CAPTURED payment 1 ms to 30 min outside the interval: the order is
                     missing, the payment an orphan
      double_capture two CAPTURED payments inside the interval: the first by (time, id)
                     matches, the other is an orphan
      late           a CAPTURED payment sent at the very end: either far behind (hours before
                     the order: late, or at least an orphan) or inside the interval but after
                     an hour of newer payments (late if the engine's watermark passed it)
    Besides: CAPTURED payments for order_ids that have no PAID event (orphans, `unknown_orders`
    of them, default 1 per 20 orders); AUTHORIZED / FAILED / REFUNDED payments (their own
    payment ids) that never join; byte-identical re-sends of earlier valid payments a few lines
    later; malformed and invalid records with their quarantine code; and, with tail_minutes, a
    last orphan payment that far after the latest order, to move the payments' watermark on.
    Payments are sent in event-time order, with a little jitter; times are written with 'Z',
    with +hh:mm offsets or as epoch millis. Deterministic for a given seed and input.
    """
    rng = random.Random(seed)
    firsts = first_paid_orders(orders)
    weights = [("matched", matched), ("missing", missing), ("mismatch", mismatch),
               ("outside", outside), ("double_capture", double_capture), ("late", late)]
    counts: collections.Counter = collections.Counter()
    planned: list[tuple[float, dict]] = []  # (send key, payment dict)
    serial = 0

    def pay(order_id: str, us: int, status: str, amount: Decimal, currency: str, kind: str,
            send: float | None = None) -> dict:
        nonlocal serial
        serial += 1
        us -= us % 1000
        p = {"payment_id": f"pay-{seed}-{serial:06d}", "order_id": order_id, "event_time": None,
             "status": status, "amount": _amount_json(amount), "currency": currency,
             "method": rng.choice(METHODS), "provider": rng.choice(PROVIDERS), "schema_version": 1,
             "_us": us, "_amount": amount, "_kind": kind}
        if rng.random() < 0.1:
            del p["method"]  # optional fields
        if rng.random() < 0.1:
            p["provider"] = None
        planned.append((us + rng.randint(0, 2_000_000) if send is None else send, p))
        counts[status] += 1
        return p

    times = [event_time_us(ev) for ev in firsts] or [0]
    t_end = max(times) + AFTER_US  # no payment in the interval of any order comes later
    minute = 60_000_000
    for ev in firsts:
        to, oid = event_time_us(ev), ev["order_id"]
        total, cur = order_total(ev), _order_currency(ev) or "EUR"
        r = rng.random() * sum(w for _, w in weights)
        kind = "matched"
        for name, w in weights:
            if r < w:
                kind = name
                break
            r -= w
        counts[kind] += 1
        inside = lambda: to + rng.choice([-BEFORE_US, AFTER_US] + [rng.randint(-BEFORE_US, AFTER_US)] * 8)
        if rng.random() < noise_fraction:  # an authorization (own id) shortly before the order
            pay(oid, to + rng.randint(-BEFORE_US, 0), "AUTHORIZED", total, cur, "noise")
        if kind == "matched":
            pay(oid, inside(), "CAPTURED", total, cur, kind)
        elif kind == "missing":
            if rng.random() < 0.5:
                pay(oid, inside(), rng.choice(["AUTHORIZED", "FAILED"]), total, cur, "noise")
        elif kind == "mismatch":
            if rng.random() < 0.3:
                pay(oid, inside(), "CAPTURED", total, "USD" if cur != "USD" else "EUR", kind)
            else:
                delta = rng.choice([Decimal("0.01"), Decimal("0.0001")])
                pay(oid, inside(), "CAPTURED", total - delta if total >= delta and rng.random() < 0.5
                    else total + delta, cur, kind)
        elif kind == "outside":
            gap = rng.choice([1000, rng.randint(1, 30) * minute])
            us = to - BEFORE_US - gap if rng.random() < 0.5 else to + AFTER_US + gap
            pay(oid, us, "CAPTURED", total, cur, kind)
        elif kind == "double_capture":
            pay(oid, inside(), "CAPTURED", total, cur, kind)
            pay(oid, inside(), "CAPTURED", total, cur, kind)
        else:  # late: sent after every payment of the stream's interval
            if rng.random() < 0.5:
                us = to - rng.randint(3 * 60, 6 * 60) * minute
            else:
                us = to + rng.randint(0, 5) * minute
            pay(oid, us, "CAPTURED", total, cur, kind, send=t_end + 10 * minute + serial)
        if kind in ("matched", "mismatch", "double_capture") and rng.random() < noise_fraction / 3:
            pay(oid, to + AFTER_US + rng.randint(1, 120) * minute, "REFUNDED", total, cur, "noise")
        if rng.random() < noise_fraction / 3:
            pay(oid, inside(), "FAILED", total, cur, "noise")

    n_unknown = max(1, len(firsts) // 20) if unknown_orders is None else unknown_orders
    for k in range(n_unknown):
        us = rng.choice(times) + rng.randint(-BEFORE_US, AFTER_US)
        pay(f"ORD-{seed}-nopaid-{k:04d}", us, "CAPTURED", Decimal(rng.randint(1, 99999)) / 100,
            "EUR", "unknown_order")
        counts["unknown_order"] += 1
    if tail_minutes:
        pay(f"ORD-{seed}-tail", max(times) + tail_minutes * minute, "CAPTURED", Decimal("1.00"), "EUR",
            "tail", send=float("inf"))
        counts["tail"] += 1

    planned.sort(key=lambda x: (x[0], x[1]["payment_id"]))
    lines: list[bytes] = []
    events: dict[bytes, dict] = {}
    bad: dict[bytes, str] = {}
    for i, (_, p) in enumerate(planned):
        style = rng.random()
        if style < 0.05:
            p["event_time"] = p["_us"] // 1000
        elif style < 0.10:
            p["event_time"] = _iso(p["_us"], rng.choice([120, -300, 330]))
        else:
            p["event_time"] = _iso(p["_us"])
        body = {k: v for k, v in p.items() if not k.startswith("_")}
        v = json.dumps(body, separators=(",", ":")).encode()
        assert v not in events
        lines.append(v)
        events[v] = p
        if rng.random() < bad_fraction:
            b, code = _bad_payment(rng, seed, i, p)
            lines.append(b)
            bad[b] = code
            counts["bad"] += 1
            counts[f"bad:{code}"] += 1
    # Re-sends: byte-identical copies of earlier valid payments, a few lines after the original.
    out = list(lines)
    valid = [v for v in lines if v in events]
    for v in valid:
        if rng.random() < duplicate_fraction:
            at = min(len(out), out.index(v) + 1 + rng.randint(0, 20))
            out.insert(at, v)
            counts["duplicate"] += 1
    counts["valid"] = len(events)
    assert not set(events) & set(bad)
    return Dataset(out, events, bad, counts)


def _bad_payment(rng: random.Random, seed: int, i: int, p: dict) -> tuple[bytes, str]:
    """A record that breaks the payment contract, with the quarantine code it must get."""
    tag = f"{seed}-{i}"
    body = {k: v for k, v in p.items() if not k.startswith("_")}
    body["event_time"] = _iso(p["_us"])
    body["payment_id"] = f"bad-{tag}"
    kind = rng.randrange(10)
    if kind == 0:
        return f"not a payment {tag}".encode(), "not_json"
    if kind == 1:
        return f'{{"payment_id":"bad-{tag}","amount":1.5,'.encode(), "not_json"
    if kind == 2:
        return f'["payment", "{tag}"]'.encode(), "not_object"
    if kind == 3:
        del body[rng.choice(["payment_id", "order_id", "event_time", "status", "amount", "currency"])]
        code = "missing_field"
    elif kind == 4:
        body["status"] = "PENDING"
        code = "unknown_status"
    elif kind == 5:
        body["event_time"] = "last tuesday"
        code = "bad_event_time"
    elif kind == 6:
        body["amount"] = -1.5
        code = BAD_AMOUNT_CODE
    elif kind == 7:
        body["amount"] = 1.00001
        code = BAD_AMOUNT_CODE
    elif kind == 8:
        body["order_id"] = 12345
        code = "wrong_type"
    else:
        body["status"] = "PAID"  # an order status, not a payment status
        code = "unknown_status"
    return json.dumps(body, separators=(",", ":")).encode(), code


# ---------------------------------------------------------------------------------------------
# Oracle
# ---------------------------------------------------------------------------------------------


def _read(data: pathlib.Path, rel: str) -> pa.Table:
    return deltalake.DeltaTable(str(data / rel)).to_pyarrow_table()


def _us(t: dt.datetime) -> int:
    return (t - _ts(0)) // dt.timedelta(microseconds=1)


def payments_table(bronze: pa.Table, ds: Dataset) -> pa.Table:
    """One row per Bronze record of a valid payment: the payment's values as the contract reads
    them, at the record's Kafka coordinates (re-sends included: the join query keeps the first)."""
    rows = []
    for part, off, v in zip(bronze.column("partition").to_pylist(), bronze.column("offset").to_pylist(),
                            bronze.column("value").to_pylist()):
        p = ds.events.get(v)
        if p is None:
            continue
        rows.append({"payment_id": p["payment_id"], "order_id": p["order_id"],
                     "payment_time": _ts(event_time_us(p)), "status": p["status"],
                     "amount": p.get("_amount", Decimal(str(p["amount"]))), "currency": p["currency"],
                     "method": p.get("method"), "provider": p.get("provider"),
                     "kafka_partition": part, "kafka_offset": off})
    schema = pa.schema([("payment_id", pa.string()), ("order_id", pa.string()), ("payment_time", TS),
                        ("status", pa.string()), ("amount", MONEY), ("currency", pa.string()),
                        ("method", pa.string()), ("provider", pa.string()),
                        ("kafka_partition", pa.int32()), ("kafka_offset", pa.int64())])
    return pa.Table.from_pylist(rows, schema=schema)


# The batch recomputation (DuckDB) over relations silver (order lines), payments (one row per
# Bronze record of a valid payment), late_orders (order_id, event_id) and late_payments
# (payment_id): every outcome of the join, with `final_at`, the time the watermark must pass
# (strictly) for the outcome to be decided.
#   * the order side holds one event per order_id, so no payment can be wanted by two orders;
#   * an order takes the best eligible payment, smallest (payment_time, payment_id), among those
#     that had arrived when it was matched; which ones had depends on the batch boundaries, so
#     when an order has several eligible payments the engine's pick (relation `picked`) is
#     taken if it is admissible: no better eligible payment came before it in its Kafka
#     partition (the same order_id's payments share one, and a partition is read in offset
#     order, so such a payment was held when the pick was made). Otherwise the best one;
#   * delay_ms is truncated toward zero.
INPUTS_SQL = """
WITH events AS (
  SELECT order_id, event_id, min(event_time) AS order_time, sum(line_amount) AS order_total,
         min(currency) AS currency, min(kafka_offset) AS off, min(kafka_partition) AS part
  FROM silver GROUP BY order_id, event_id),
orders AS (
  SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY off, part, event_id) AS rn FROM events)
  WHERE rn = 1),
pays AS (
  SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY payment_id ORDER BY kafka_partition, kafka_offset) AS rn
    FROM payments WHERE status = 'CAPTURED')
  WHERE rn = 1)"""
ORDERS_SQL = INPUTS_SQL + "\nSELECT * FROM orders"
PAYS_SQL = INPUTS_SQL + "\nSELECT * FROM pays"
JOIN_SQL = INPUTS_SQL + f""",
o AS (SELECT * FROM orders WHERE (order_id, event_id) NOT IN (SELECT (order_id, event_id) FROM late_orders)),
p AS (SELECT * FROM pays WHERE payment_id NOT IN (SELECT payment_id FROM late_payments)),
cand AS (
  SELECT o.order_id, o.event_id, p.payment_id, o.order_time, p.payment_time, o.order_total,
         p.amount AS payment_amount, p.currency, p.method, p.provider, o.currency AS order_currency,
         epoch_us(p.payment_time) - epoch_us(o.order_time) AS delay_us,
         p.kafka_partition AS ppart, p.kafka_offset AS poff
  FROM o JOIN p ON p.order_id = o.order_id
   AND epoch_us(p.payment_time) BETWEEN epoch_us(o.order_time) - {BEFORE_US} AND epoch_us(o.order_time) + {AFTER_US}),
admissible AS (
  SELECT c.order_id, c.event_id, c.payment_id FROM cand c JOIN picked k USING (order_id, event_id, payment_id)
  WHERE NOT EXISTS (
    SELECT 1 FROM cand q WHERE q.order_id = c.order_id AND q.event_id = c.event_id AND q.ppart = c.ppart
      AND q.poff < c.poff
      AND (q.payment_time < c.payment_time OR (q.payment_time = c.payment_time AND q.payment_id < c.payment_id)))),
ranked AS (
  SELECT cand.*, row_number() OVER (PARTITION BY cand.order_id, cand.event_id
                                    ORDER BY a.payment_id IS NULL, payment_time, payment_id) AS rn
  FROM cand LEFT JOIN admissible a USING (order_id, event_id, payment_id)),
m AS (SELECT * FROM ranked WHERE rn = 1)
SELECT 'match' AS reason, order_id, event_id, payment_id, order_time, payment_time, order_total,
       payment_amount, currency, method, provider,
       CAST(sign(delay_us) * (abs(delay_us) // 1000) AS BIGINT) AS delay_ms,
       epoch_us(payment_time) AS final_at
FROM m
UNION ALL
SELECT 'amount_mismatch', order_id, event_id, payment_id, order_time, payment_time, order_total,
       payment_amount, currency, NULL, NULL, NULL, epoch_us(payment_time)
FROM m WHERE order_total <> payment_amount OR (order_currency IS NOT NULL AND order_currency <> currency)
UNION ALL
SELECT 'missing_payment', order_id, event_id, NULL, order_time, NULL, order_total, NULL, currency,
       NULL, NULL, NULL, epoch_us(order_time) + {AFTER_US}
FROM o WHERE (order_id, event_id) NOT IN (SELECT (order_id, event_id) FROM m)
UNION ALL
SELECT 'orphan_payment', order_id, NULL, payment_id, NULL, payment_time, NULL, amount, currency,
       NULL, NULL, NULL, epoch_us(payment_time) + {BEFORE_US}
FROM p WHERE payment_id NOT IN (SELECT payment_id FROM m)
"""


def _query(sql: str, **relations: pa.Table) -> list[dict]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, t in relations.items():
        con.register(name, t)
    rows = con.sql(sql).to_arrow_table().to_pylist()  # through Arrow: no pytz needed
    con.close()
    return rows


def check_join(data_dir: pathlib.Path | str, orders_silver: pa.Table | None, payment_lines_sent: list[bytes],
               payments: Dataset, final_watermark_us: int | None = None, *,
               topic: str | None = None, dedup_horizon_us: int = DEDUP_HORIZON_US) -> Report:
    """Checks the payment tables under `data_dir` against the payment lines sent (each line once
    per send) and the data set they came from; `orders_silver` is the Silver order lines
    (default: data_dir's silver/order_lines, checked on its own by crash_oracle.check_all).

    `final_watermark_us` is the join's watermark when the engine stopped. Given, the outcome
    of every input is exact: decided ones must be there, undecided ones (pending in state) must
    not. Without it, the greatest watermark in gold/payment_reconciliation is a lower bound:
    what is decided at that bound must be there, anything else may be, and nothing outside the
    expected outcomes may. Raises AssertionError on a mismatch; returns what was checked."""
    data = pathlib.Path(data_dir)
    rep = Report()
    silver = orders_silver if orders_silver is not None else _read(data, TABLES["silver"])
    tables = {name: _read(data, TABLES[name]) for name in ("bronze", "quarantine", "matches", "reconciliation")}
    for name, t in tables.items():
        rep.rows[name] = t.num_rows

    # --- Bronze: every sent payment line exactly once, offsets dense per partition.
    b = tables["bronze"]
    parts, offs, vals = (b.column(c).to_pylist() for c in ("partition", "offset", "value"))
    coords = _counter(zip(parts, offs))
    dups = [k for k, n in coords.items() if n > 1]
    assert not dups, f"bronze/payments_raw: (partition, offset) more than once: {dups[:5]}"
    per_part: dict[int, list[int]] = collections.defaultdict(list)
    for p, o in coords:
        per_part[p].append(o)
    for p, os_ in per_part.items():
        assert sorted(os_) == list(range(len(os_))), f"bronze/payments_raw: partition {p} offsets not dense from 0"
    topics = set(b.column("topic").to_pylist())
    assert len(topics) <= 1 and (topic is None or topics <= {topic}), f"bronze/payments_raw: topics {topics}"
    assert _counter(vals) == _counter(payment_lines_sent), _diff(_counter(payment_lines_sent), _counter(vals),
                                                                 "bronze/payments_raw values")
    rep.ok(f"bronze/payments_raw: {b.num_rows} rows = every sent payment line once, offsets dense")

    # --- Quarantine: each bad record at its Bronze coordinates with its code, nothing else.
    q = tables["quarantine"]
    got_q = _counter(zip(*(q.column(c).to_pylist() for c in ("partition", "offset", "value", "error"))))
    want_q = _counter((p, o, v, payments.bad[v]) for p, o, v in zip(parts, offs, vals) if v in payments.bad)
    assert got_q == want_q, _diff(want_q, got_q, "quarantine/payments")
    assert all(q.column("detail").to_pylist()), "quarantine/payments: empty detail"
    rep.ok(f"quarantine/payments: {q.num_rows} rows = every bad payment once with its code")

    pays_t = payments_table(b, payments)
    empty_lo = pa.table({"order_id": pa.array([], pa.string()), "event_id": pa.array([], pa.string())})
    empty_lp = pa.table({"payment_id": pa.array([], pa.string())})
    orders = {(r["order_id"], r["event_id"]): r for r in
              _query(ORDERS_SQL, silver=silver, payments=pays_t, late_orders=empty_lo, late_payments=empty_lp)}
    parts_of = collections.defaultdict(set)
    for r in silver.select(["order_id", "kafka_partition"]).to_pylist():
        parts_of[r["order_id"]].add(r["kafka_partition"])
    split = [oid for oid, ps in parts_of.items() if len(ps) > 1]
    assert not split, f"silver: order_ids in more than one Kafka partition ('first' is undefined): {split[:5]}"
    pays = {r["payment_id"]: r for r in
            _query(PAYS_SQL, silver=silver, payments=pays_t, late_orders=empty_lo, late_payments=empty_lp)}

    # --- Reconciliation rows: shape per reason, and the late ones checked one by one.
    recon = tables["reconciliation"].to_pylist()
    marks = [r["watermark"] for r in recon if r["watermark"] is not None]
    max_mark = _us(max(marks)) if marks else None
    if final_watermark_us is not None:
        assert max_mark is None or max_mark <= final_watermark_us, (
            f"gold/payment_reconciliation: a row decided at watermark {_ts(max_mark)}, after the final "
            f"watermark {_ts(final_watermark_us)}")
    wm = final_watermark_us if final_watermark_us is not None else max_mark
    for r in recon:
        assert r["reason"] in ("missing_payment", "orphan_payment", "amount_mismatch"), f"unknown reason {r}"
        assert r["late"] is not None and r["batch_id"] is not None and r["batch_id"] >= 0, f"bad row {r}"
        if r["reason"] == "missing_payment":
            assert r["event_id"] and r["order_time"] and r["payment_id"] is None and r["payment_time"] is None \
                and r["payment_amount"] is None, f"missing_payment with the wrong sides set: {r}"
        elif r["reason"] == "orphan_payment":
            assert r["payment_id"] and r["payment_time"] and r["event_id"] is None and r["order_time"] is None \
                and r["order_total"] is None, f"orphan_payment with the wrong sides set: {r}"
        else:
            assert not r["late"] and all(r[c] is not None for c in RECON_COLS[1:8]), f"bad amount_mismatch: {r}"
    late_o, late_p = [], []
    late_marks: dict[tuple, list[int]] = collections.defaultdict(list)
    for r in (r for r in recon if r["late"]):
        assert r["reason"] in ("missing_payment", "orphan_payment"), f"late row of reason {r['reason']}: {r}"
        assert r["watermark"] is not None, f"late row without its watermark: {r}"
        if r["reason"] == "missing_payment":
            o = orders.get((r["order_id"], r["event_id"]))
            assert o is not None, f"late missing_payment of an order the join never had (not the first PAID event " \
                                  f"of its order_id in Silver): {r}"
            assert (r["order_time"], r["order_total"], r["currency"]) == (o["order_time"], o["order_total"], o["currency"]), \
                f"late missing_payment differs from Silver: {r} vs {o}"
            assert r["order_time"] < r["watermark"], f"late order whose order_time is not below its watermark: {r}"
            late_o.append((r["order_id"], r["event_id"]))
            late_marks[("o", r["order_id"], r["event_id"])].append(_us(r["watermark"]))
        else:
            p = pays.get(r["payment_id"])
            assert p is not None, f"late orphan_payment of no valid CAPTURED payment: {r}"
            assert (r["order_id"], r["payment_time"], r["payment_amount"], r["currency"]) == \
                (p["order_id"], p["payment_time"], p["amount"], p["currency"]), f"late orphan differs from the payment: {r}"
            assert r["payment_time"] < r["watermark"], f"late payment whose payment_time is not below its watermark: {r}"
            late_p.append(r["payment_id"])
            late_marks[("p", r["payment_id"])].append(_us(r["watermark"]))
    # A late input reported again: only a re-send that came after the join watermark had moved a
    # dedup horizon past the previous report (its id was forgotten by then).
    repeats: collections.Counter = collections.Counter()
    for key, marks in late_marks.items():
        marks.sort()
        for before, after in zip(marks, marks[1:]):
            assert after - dedup_horizon_us > before, \
                f"a late input reported twice within the dedup horizon: {key} at watermarks {marks}"
        repeats[key[1:] if key[0] == "o" else key[1]] += len(marks) - 1
    late_o, late_p = list(dict.fromkeys(late_o)), list(dict.fromkeys(late_p))
    rep.ok(f"late: {len(late_o)} orders and {len(late_p)} payments reported late, each a join input "
           f"whose event time was below its watermark; {sum(repeats.values())} re-sends reported again "
           f"after the dedup horizon")

    # --- Expected outcomes over the inputs that were not late (DuckDB).
    lo = pa.table({"order_id": pa.array([k[0] for k in late_o], pa.string()),
                   "event_id": pa.array([k[1] for k in late_o], pa.string())})
    lp = pa.table({"payment_id": pa.array(late_p, pa.string())})
    mt = tables["matches"]
    got_rows = mt.to_pylist()
    picked = pa.table({c: pa.array([r[c] for r in got_rows], pa.string()) for c in ("order_id", "event_id", "payment_id")})
    expected = _query(JOIN_SQL, silver=silver, payments=pays_t, late_orders=lo, late_payments=lp, picked=picked)
    assert len(orders) == len({k[0] for k in orders}), "the order side has two events of one order_id"

    # --- silver/order_payments: the matches, once each.
    if "order_date" in mt.column_names:
        assert all(r["order_date"] == r["order_time"].astimezone(UTC).date() for r in got_rows), \
            "silver/order_payments: order_date is not the date of order_time"
    got_m = _counter(tuple(r[c] for c in MATCH_COLS) for r in got_rows)
    keys_o = _counter((r["order_id"], r["event_id"]) for r in got_rows)
    keys_p = _counter(r["payment_id"] for r in got_rows)
    assert all(n == 1 for n in keys_o.values()), \
        f"silver/order_payments: an order matched twice: {[k for k, n in keys_o.items() if n > 1][:5]}"
    assert all(n == 1 for n in keys_p.values()), \
        f"silver/order_payments: a payment matched twice: {[k for k, n in keys_p.items() if n > 1][:5]}"
    exp_m = {tuple(r[c] for c in MATCH_COLS): r["final_at"] for r in expected if r["reason"] == "match"}
    need_m = _counter(k for k, t in exp_m.items() if wm is not None and t < wm)
    unexpected = got_m - _counter(exp_m)
    missing = need_m - got_m
    assert not unexpected and not missing, _diff(need_m | (got_m & _counter(exp_m)), got_m, "silver/order_payments") \
        + f" (watermark {None if wm is None else _ts(wm)})"
    pending_m = len(exp_m) - sum(got_m.values())
    rep.ok(f"silver/order_payments: {mt.num_rows} matches = the DuckDB join, once each "
           f"({pending_m} more matches not yet final, their payment at or after the watermark)")

    # --- gold/payment_reconciliation.
    got_r = _counter(tuple(r[c] for c in RECON_COLS) for r in recon)
    present = {(k[0], k[1], k[2]) for k in got_m}  # order_id, event_id, payment_id
    want_r: collections.Counter = collections.Counter()
    allowed_r: collections.Counter = collections.Counter()
    pending = collections.Counter()
    for r in expected:
        if r["reason"] == "match":
            continue
        row = tuple(r[c] for c in RECON_COLS[:-1]) + (False,)
        if r["reason"] == "amount_mismatch":
            if (r["order_id"], r["event_id"], r["payment_id"]) in present:
                want_r[row] += 1
            continue
        decided = wm is not None and r["final_at"] < wm
        if decided:
            want_r[row] += 1
        elif final_watermark_us is None:
            allowed_r[row] += 1  # the true final watermark may have passed it
        else:
            pending[r["reason"]] += 1
    for r in recon:
        if r["late"]:
            want_r[tuple(r[c] for c in RECON_COLS)] += 1
    extra = got_r - want_r
    assert not (want_r - got_r) and not (extra - allowed_r), \
        _diff(want_r + (got_r & allowed_r), got_r, "gold/payment_reconciliation") + \
        f" (watermark {None if wm is None else _ts(wm)})"
    for r in recon:  # a decided row was decided at a watermark that had passed its interval
        if r["late"] or r["reason"] == "amount_mismatch":
            continue
        assert r["watermark"] is not None, f"a {r['reason']} row without its watermark: {r}"
        end = _us(r["order_time"]) + AFTER_US if r["reason"] == "missing_payment" else _us(r["payment_time"]) + BEFORE_US
        assert end < _us(r["watermark"]), f"{r['reason']} decided at watermark {r['watermark']} before its " \
                                          f"interval had passed: {r}"

    # --- Each order and each payment in at most one outcome.
    seen_o = keys_o + _counter((r["order_id"], r["event_id"]) for r in recon if r["reason"] == "missing_payment")
    seen_p = keys_p + _counter(r["payment_id"] for r in recon if r["reason"] == "orphan_payment")
    seen_o, seen_p = seen_o - repeats, seen_p - repeats
    assert all(n == 1 for n in seen_o.values()), f"an order in two outcomes: {[k for k, n in seen_o.items() if n > 1][:5]}"
    assert all(n == 1 for n in seen_p.values()), f"a payment in two outcomes: {[k for k, n in seen_p.items() if n > 1][:5]}"
    reasons = collections.Counter(r["reason"] + (" (late)" if r["late"] else "") for r in recon)
    if final_watermark_us is not None:
        note = (f"{pending['missing_payment']} orders and {pending['orphan_payment']} payments still pending "
                f"at the final watermark {_ts(final_watermark_us)}")
    else:
        note = (f"decided at the lower bound {None if wm is None else _ts(wm)} required, "
                f"{sum((got_r & allowed_r).values())} rows decided after it accepted, "
                f"{sum((allowed_r - got_r).values())} expected rows possibly still pending")
    rep.ok(f"gold/payment_reconciliation: {len(recon)} rows {dict(reasons)} = the DuckDB join's outcomes; {note}")
    rep.ok(f"each of {len(orders)} orders and {len(pays)} captured payments in at most one outcome")
    return rep
