"""Test events of known content, and an independent oracle for the tables they should produce.

`EventStream` writes deterministic JSON-lines records (as bytes) the way a messy producer would:
valid order events of every status with 1..n items, byte-identical re-sends, out-of-order and
late event times, times with Z, with +hh:mm / -hh:mm offsets and as epoch millis, unknown extra
fields, escaped and raw Unicode, and records that break the contract in every way the contract
names. Each record carries the quarantine code the contract demands (None if valid).

The oracle (`simulate`) reads the bytes with Python's json module and computes, from EVENTS.md and
the watermark rules alone (no code of the engine), the Silver rows, the late rows and which Silver
lines the Gold windows leave out, given the batches as the engine cut them. Gold is checked
against DuckDB SQL over Silver (see tables.py).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from dataclasses import dataclass
from decimal import Decimal

UTC = dt.timezone.utc
CATEGORIES = ["Electronics", "Books", "Garden", "Toys", "Beauty", "Grocery"]
STATUSES = ["CREATED", "PAID", "SHIPPED", "CANCELLED", "REFUNDED"]
# Starts just before midnight UTC, so Silver gets two event_date partitions.
BASE_TIME = dt.datetime(2026, 11, 24, 23, 57, 30, tzinfo=UTC)
_NUM = "__num__"  # marks a number whose JSON text we write ourselves


@dataclass
class Record:
    """One message as sent: its bytes and the quarantine code it must get (None if valid)."""

    value: bytes
    error: str | None


def _num(text: str) -> str:
    return _NUM + text


def _dumps(obj, style: int) -> bytes:
    """Serializes with one of a few JSON styles; numbers marked by _num keep their exact text."""
    if style == 0:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    elif style == 1:
        text = json.dumps(obj, ensure_ascii=True)
    else:
        text = json.dumps(obj, separators=(" , ", " : "), ensure_ascii=False)
    out = []
    pos = 0
    marker = '"' + _NUM
    while True:
        i = text.find(marker, pos)
        if i < 0:
            out.append(text[pos:])
            break
        j = text.index('"', i + 1)
        out.append(text[pos:i])
        out.append(text[i + len(marker):j])
        pos = j + 1
    return "".join(out).encode("utf-8")


def _price_text(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.1:
        return str(rng.randint(0, 50))  # integer prices, 0 included
    if kind < 0.15:
        return "99999.9999"
    cents = rng.randint(1, 300000)
    text = str(Decimal(cents) / Decimal(10000 if rng.random() < 0.4 else 100))
    if rng.random() < 0.1 and "." in text:
        text += "0"  # trailing zero, e.g. 19.90
    return text


def _time_text(rng: random.Random, t: dt.datetime):
    """event_time as ISO with Z, with a +hh:mm or -hh:mm offset, or epoch millis (int)."""
    t = t.replace(microsecond=t.microsecond // 1000 * 1000) if rng.random() < 0.7 else t
    kind = rng.random()
    if kind < 0.2:
        return int(t.timestamp() * 1000) if t.microsecond % 1000 == 0 else _iso(t, UTC, rng)
    if kind < 0.6:
        return _iso(t, UTC, rng)
    offset = rng.choice([dt.timedelta(hours=5, minutes=30), dt.timedelta(hours=-8),
                         dt.timedelta(hours=1), dt.timedelta(hours=-3, minutes=-30)])
    return _iso(t, dt.timezone(offset), rng)


def _iso(t: dt.datetime, tz: dt.timezone, rng: random.Random) -> str:
    local = t.astimezone(tz)
    if local.microsecond == 0 and rng.random() < 0.5:
        text = local.strftime("%Y-%m-%dT%H:%M:%S")
    elif local.microsecond % 1000 == 0:
        text = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"
    else:
        text = local.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if tz is UTC:
        return text + "Z"
    off = int(tz.utcoffset(None).total_seconds()) // 60
    sign = "+" if off >= 0 else "-"
    return f"{text}{sign}{abs(off) // 60:02d}:{abs(off) % 60:02d}"


class EventStream:
    """A deterministic stream of records; `take(n)` returns the next n (continuing the stream,
    so duplicates in a later part may re-send records of an earlier part)."""

    def __init__(self, seed: int, prefix: str = "ev", conflicts: bool = True,
                 step_ms: int = 180):
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.conflicts = conflicts
        self.step_ms = step_ms
        self.n_events = 0
        self.n_orders = 0
        self.clock = BASE_TIME
        self.valid_sent: list[bytes] = []
        self.paid_sent: list[tuple[dict, int]] = []
        self.bad_sent: list[Record] = []
        self.customers = [self._customer(i) for i in range(14)]
        self.products = [(f"P-{i:03d}", f"Product {i}", CATEGORIES[i % len(CATEGORIES)])
                         for i in range(22)]
        self.open_orders: list[tuple[str, dict]] = []

    # ---- building blocks -------------------------------------------------------------------
    def _customer(self, i: int) -> dict:
        c = {"customer_id": f"C-{i:04d}"}
        if i % 5 != 4:
            c["name"] = ["Anna Müller", "Zoë Chen", "山田 太郎", "Bob O'Neil", "Ivan \"Vanya\""][i % 5] \
                + f" {i}"
        if i % 7 != 6:
            c["email"] = f"c{i}@example.com"
        if i % 6 != 5:
            c["country"] = ["DE", "FR", "JP", "US", "BR"][i % 5]
        if i % 4 != 3:
            c["segment"] = ["consumer", "corporate", "home_office"][i % 3]
        return c

    def _event(self, status: str | None = None) -> dict:
        rng = self.rng
        self.clock += dt.timedelta(milliseconds=rng.randint(1, 2 * self.step_ms))
        t = self.clock
        r = rng.random()
        if r < 0.08:
            t -= dt.timedelta(seconds=rng.uniform(0, 5))  # out of order
        elif r < 0.12:
            t -= dt.timedelta(minutes=rng.randint(10, 40))  # late
        t += dt.timedelta(microseconds=rng.randint(0, 999))
        self.n_events += 1
        customer = copy.deepcopy(rng.choice(self.customers))
        if rng.random() < 0.05 and "name" in customer:
            customer["name"] += " (new)"  # a renamed customer: Gold takes the latest name
        if self.open_orders and rng.random() < 0.4:
            order_id, _ = self.open_orders.pop(rng.randrange(len(self.open_orders)))
        else:
            self.n_orders += 1
            order_id = f"ORD-{self.prefix}-{self.n_orders:05d}"
            self.open_orders.append((order_id, customer))
        items = []
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
            pid, name, cat = rng.choice(self.products)
            item = {"product_id": pid, "category": cat,
                    "quantity": rng.choice([1, 1, 2, 3, 5]) if rng.random() < 0.98 else 100,
                    "unit_price": _num(_price_text(rng))}
            if rng.random() < 0.9:
                item["product_name"] = name if rng.random() < 0.9 else name + " v2"
            if rng.random() < 0.03:
                item["category"] = "Clearance"  # the latest line decides a product's category
            items.append(item)
        ev = {
            "event_id": f"{self.prefix}-{self.n_events:06d}",
            "event_type": "order_status_changed",
            "event_time": _time_text(rng, t),
            "order_id": order_id,
            "status": status or rng.choice(["PAID", "PAID", "PAID", "CREATED", "SHIPPED",
                                            "CANCELLED", "REFUNDED"]),
            "customer": customer,
            "items": items,
            "schema_version": 1,
        }
        if rng.random() < 0.9:
            ev["payment"] = {"method": rng.choice(["card", "paypal", "bank_transfer"]),
                             "currency": rng.choice(["USD", "EUR"]),
                             "amount": _num("12.5" if rng.random() < 0.5 else "3.1416")}
        if rng.random() < 0.15:
            ev["extra"] = {"source": "web", "tags": ["a", 1, None, {"x": [True]}]}
        if rng.random() < 0.3:  # another key order
            ev = dict(reversed(list(ev.items())))
        return ev

    def _valid(self) -> Record:
        ev = self._event()
        value = _dumps(ev, self.rng.randrange(3))
        self.valid_sent.append(value)
        if ev["status"] == "PAID":
            self.paid_sent.append((ev, len(self.valid_sent) - 1))
        return Record(value, None)

    def _conflict(self) -> Record:
        """Same event_id as an earlier PAID event, different content and order (maybe another
        partition): Silver keeps whichever comes first by (batch, partition, offset)."""
        ev, _ = self.rng.choice(self.paid_sent)
        ev = copy.deepcopy(ev)
        ev["order_id"] = ev["order_id"] + "-retry"
        ev["items"][0]["quantity"] = 7
        value = _dumps(ev, 0)
        self.valid_sent.append(value)
        return Record(value, None)

    def _bad(self) -> Record:
        rng = self.rng
        base = self._event(status="PAID")
        kind = rng.randrange(len(_BAD))
        value, error = _BAD[kind](copy.deepcopy(base), rng)
        self.bad_sent.append(Record(value, error))
        return Record(value, error)

    # ---- the stream ------------------------------------------------------------------------
    def take(self, n: int) -> list[Record]:
        out: list[Record] = []
        rng = self.rng
        while len(out) < n:
            r = rng.random()
            if r < 0.07 and self.valid_sent:
                # Byte-identical re-send: mostly recent, sometimes far back (another batch).
                pool = self.valid_sent if rng.random() < 0.5 else self.valid_sent[-5:]
                out.append(Record(rng.choice(pool), None))
            elif r < 0.08 and self.bad_sent:
                bad = rng.choice(self.bad_sent)  # bad records are re-sent too
                out.append(Record(bad.value, bad.error))
            elif r < 0.085 and self.conflicts and self.paid_sent:
                out.append(self._conflict())
            elif r < 0.20:
                out.append(self._bad())
            else:
                out.append(self._valid())
        return out


# ---- contract violations: each takes a valid PAID event and returns (bytes, expected code) ----
def _drop(path):
    def f(ev, rng):
        obj = ev
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]
        return _dumps(ev, 0), "missing_field"
    return f


def _set(path, value, code):
    def f(ev, rng):
        obj = ev
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
        return _dumps(ev, rng.randrange(3)), code
    return f


def _raw(text: bytes, code: str):
    return lambda ev, rng: (text, code)


def _truncated(ev, rng):
    full = _dumps(ev, 0)
    return full[: rng.randint(5, len(full) - 2)], "not_json"


_BAD = [
    # not_json
    _raw(b"{not json", "not_json"),
    _truncated,
    lambda ev, rng: (_dumps(ev, 0) + b" trailing", "not_json"),
    _raw(b"   ", "not_json"),
    _raw(b'{"event_id": "bad-\xff-utf8", "status": "PAID"}', "not_json"),
    _raw(b"hello world", "not_json"),
    # not_object
    _raw(b"[1, 2, 3]", "not_object"),
    _raw(b'"just a string"', "not_object"),
    _raw(b"42", "not_object"),
    _raw(b"null", "not_object"),
    _raw(b"true", "not_object"),
    # missing_field
    _drop(["event_id"]),
    _drop(["event_time"]),
    _drop(["order_id"]),
    _drop(["status"]),
    _drop(["customer"]),
    _drop(["customer", "customer_id"]),
    _drop(["items"]),
    _drop(["items", 0, "product_id"]),
    _drop(["items", 0, "category"]),
    _drop(["items", 0, "quantity"]),
    _drop(["items", 0, "unit_price"]),
    _set(["event_id"], "", "missing_field"),
    _set(["event_id"], None, "missing_field"),
    _set(["customer", "customer_id"], None, "missing_field"),
    # wrong_type
    _set(["event_id"], 12345, "wrong_type"),
    _set(["order_id"], ["ORD-1"], "wrong_type"),
    _set(["customer"], "C-0001", "wrong_type"),
    _set(["items"], {"product_id": "P-001"}, "wrong_type"),
    _set(["items", 0], 5, "wrong_type"),
    _set(["items", 0, "quantity"], "2", "wrong_type"),
    _set(["items", 0, "quantity"], _num("1.5"), "wrong_type"),
    _set(["items", 0, "unit_price"], "9.99", "wrong_type"),
    _set(["event_time"], True, "wrong_type"),
    _set(["payment"], "card", "wrong_type"),
    _set(["customer", "name"], 7, "wrong_type"),
    _set(["status"], 1, "wrong_type"),
    # empty_items
    _set(["items"], [], "empty_items"),
    # bad_event_time
    _set(["event_time"], "yesterday", "bad_event_time"),
    _set(["event_time"], "2026-11-24T10:00:00", "bad_event_time"),
    _set(["event_time"], "2026-13-01T00:00:00Z", "bad_event_time"),
    _set(["event_time"], "2026-02-30T00:00:00Z", "bad_event_time"),
    # event_time_out_of_range
    _set(["event_time"], -5, "event_time_out_of_range"),
    # unknown_status
    _set(["status"], "paid", "unknown_status"),
    _set(["status"], "DELIVERED", "unknown_status"),
    # bad_quantity
    _set(["items", 0, "quantity"], 0, "bad_quantity"),
    _set(["items", 0, "quantity"], -3, "bad_quantity"),
    # bad_unit_price
    _set(["items", 0, "unit_price"], _num("-1.5"), "bad_unit_price"),
    _set(["items", 0, "unit_price"], _num("1.23456"), "bad_unit_price"),
    # bad_payment_amount
    _set(["payment"], {"method": "card", "currency": "USD", "amount": _num("3.14159")},
         "bad_payment_amount"),
]


# ---- the oracle -----------------------------------------------------------------------------
def to_file(records: list[Record], path) -> None:
    """Writes the records as JSON lines, the input of `medallion produce --from-file`."""
    with open(path, "wb") as f:
        for r in records:
            assert b"\n" not in r.value and r.value.strip(b"\r") == r.value and r.value
            f.write(r.value + b"\n")


def expected_errors(records: list[Record]) -> dict[bytes, str | None]:
    """value -> expected quarantine code (None if valid); equal bytes must agree."""
    out: dict[bytes, str | None] = {}
    for r in records:
        assert out.setdefault(r.value, r.error) == r.error, r.value
    return out


def expected_key(value: bytes) -> bytes | None:
    """The Kafka key `produce --from-file` gives a line: its order_id if it has a string one."""
    try:
        obj = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(obj, dict) and isinstance(obj.get("order_id"), str) and obj["order_id"]:
        return obj["order_id"].encode("utf-8")
    return None


def event_time_micros(v) -> int:
    """EVENTS.md: ISO-8601 with a zone (Z or +-hh:mm), or epoch millis."""
    if isinstance(v, int):
        return v * 1000
    t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    assert t.tzinfo is not None
    delta = t - dt.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


SILVER_COLUMNS = ["event_id", "order_id", "event_time", "status", "customer_id", "customer_name",
                  "customer_email", "customer_country", "customer_segment", "line_no",
                  "product_id", "product_name", "category", "quantity", "unit_price",
                  "line_amount", "payment_method", "currency", "kafka_partition", "kafka_offset",
                  "event_date"]
LATE_COLUMNS = ["event_id", "order_id", "line_no", "event_time", "category", "quantity",
                "line_amount", "window_start", "window_end", "reason", "watermark", "batch_id",
                "kafka_partition", "kafka_offset"]


@dataclass
class Rules:
    """The event-time settings of a run (defaults of `medallion run`), in microseconds."""

    window_us: int = 60_000_000
    lateness_us: int = 120_000_000
    idle_us: int = 30_000_000
    horizon_us: int = 3_600_000_000
    # watermark.dedup_scope: "query" (the default) or "partition".
    dedup_scope: str = "query"


@dataclass
class Expected:
    silver: list[tuple]          # SILVER_COLUMNS order, sorted by (event_id, line_no, partition, offset)
    late: list[tuple]            # LATE_COLUMNS order, sorted
    final_lines: set[tuple]      # (event_id, line_no, partition, offset) of Silver lines left out of Gold windows


def _lines(ev: dict):
    t = event_time_micros(ev["event_time"])
    for n, item in enumerate(ev["items"], start=1):
        price = Decimal(item["unit_price"])
        yield n, t, item, price, price * item["quantity"]


def next_watermark(progress: dict, wm, now: int, idle_us: int, lateness_us: int,
                   behind=frozenset()):
    """The watermark after a batch, by the README's rule. `progress` maps a partition to
    (its greatest event time, the last processing time it brought data); `behind` holds the
    partitions that still had unread records when the batch was planned. The minimum over
    partitions seen within `idle_us` of `now` or behind (else the maximum over all of them),
    minus the lateness; a behind partition that never brought an event keeps the watermark
    where it is; it never goes back. None while nothing was seen."""
    if any(p not in progress for p in behind):
        return wm
    active = [m for p, (m, last) in progress.items() if now - last < idle_us or p in behind]
    basis = min(active) if active else max((m for m, _ in progress.values()), default=None)
    if basis is None:
        return wm
    return basis - lateness_us if wm is None else max(wm, basis - lateness_us)


def plan_behind(plan: dict | None) -> frozenset:
    """The partitions a batch plan (offsets/B) records as still holding unread records:
    next offset below the end known at planning, or that end unknown (-1)."""
    if not plan or "ends" not in plan:
        return frozenset()
    return frozenset(int(p) for p, end in plan["ends"].items()
                     if end < 0 or plan["next"].get(p, -1) < end)


def simulate(batches: list[tuple[int, list[tuple[int, int, bytes]]]],
             errors: dict[bytes, str | None], rules: Rules,
             behind: list[frozenset] | None = None) -> Expected:
    """Replays EVENTS.md over the batches as the engine cut them: a list, in batch order, of
    (ingest_time_us, [(partition, offset, value)...]).

    Per batch, with W = the watermark after the previous batch (none at first):
      * dedup scope "query": a valid PAID event with event_time < W - dedup_horizon is late
        ("beyond_dedup_horizon"), every copy of it, and stays out of Silver; otherwise its
        first occurrence (earlier batch; in a batch, lower (partition, offset)) goes to
        Silver, one row per item; ids are forgotten once older than W' - horizon;
      * dedup scope "partition": the same, event by event, with W_p = the greatest event time
        of the valid events of its partition before it, minus the allowed lateness, in place of
        W, and an id taken only within W_p - horizon (an id of another partition is not seen);
      * a Silver line whose window ends at or before W is late ("window_final") and stays out
        of the Gold windows (it still counts in top products and customer spend);
      * then the watermark: each partition's greatest event time of any valid event; W' is the
        minimum over partitions seen within the idle timeout (of the batch's ingest time) or
        still behind (`behind`: unread records at planning), or the maximum over all if none
        is, minus the allowed lateness; a behind partition never seen keeps W; it never
        decreases.
    """
    none = None
    wm = none
    progress: dict[int, list[int]] = {}  # partition -> [max event time, last seen]
    seen: dict = {}  # event_id (scope "query") or (partition, event_id) -> event time
    by_partition = rules.dedup_scope == "partition"
    for_partition: dict[int, int] = {}  # scope "partition": greatest event time so far
    silver, late, final = [], [], set()
    for batch_id, (now, rows) in enumerate(batches):
        horizon = wm - rules.horizon_us if wm is not None else None
        for p, o, value in sorted(rows):
            if errors[value] is not None:
                continue
            ev = json.loads(value.decode("utf-8"), parse_float=Decimal)
            t = event_time_micros(ev["event_time"])
            pr = progress.setdefault(p, [t, now])
            pr[0], pr[1] = max(pr[0], t), max(pr[1], now)
            judged_by = wm
            if by_partition:
                judged_by = for_partition[p] - rules.lateness_us if p in for_partition else None
                horizon = judged_by - rules.horizon_us if judged_by is not None else None
                for_partition[p] = max(for_partition.get(p, t), t)
            if ev["status"] != "PAID":
                continue
            if horizon is not None and t < horizon:
                for n, t, item, price, amount in _lines(ev):
                    late.append((ev["event_id"], ev["order_id"], n, t, item["category"],
                                 item["quantity"], amount, None, None, "beyond_dedup_horizon",
                                 judged_by, batch_id, p, o))
                continue
            key = (p, ev["event_id"]) if by_partition else ev["event_id"]
            if key in seen and (horizon is None or seen[key] >= horizon):
                continue
            seen[key] = t
            cust = ev["customer"]
            pay = ev.get("payment") or {}
            date = (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=t)).date()
            for n, t, item, price, amount in _lines(ev):
                silver.append((ev["event_id"], ev["order_id"], t, ev["status"], cust["customer_id"],
                               cust.get("name"), cust.get("email"), cust.get("country"),
                               cust.get("segment"), n, item["product_id"], item.get("product_name"),
                               item["category"], item["quantity"], price, amount,
                               pay.get("method"), pay.get("currency"), p, o, date))
                start = t // rules.window_us * rules.window_us
                if wm is not None and start + rules.window_us <= wm:
                    final.add((ev["event_id"], n, p, o))
                    late.append((ev["event_id"], ev["order_id"], n, t, item["category"],
                                 item["quantity"], amount, start, start + rules.window_us,
                                 "window_final", wm, batch_id, p, o))
        wm = next_watermark(progress, wm, now, rules.idle_us, rules.lateness_us,
                            behind[batch_id] if behind else frozenset())
        if wm is not None and not by_partition:
            seen = {k: v for k, v in seen.items() if v >= wm - rules.horizon_us}
    # (event_id, line_no) repeats when a partition-scoped dedup met an id in two partitions.
    return Expected(sorted(silver, key=lambda r: (r[0], r[9], r[18], r[19])), sorted(late, key=repr), final)
