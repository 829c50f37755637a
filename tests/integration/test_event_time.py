"""Event time against the real broker: watermark, late lines, dedup horizon, tumbling and sliding
windows in update and append mode, idle partitions, restarts, generator-injected late events.

The oracle here (`replay`) is independent of events.simulate (which knows only tumbling windows
and no output modes): it replays the watermark rules of the README ("What Gold contains") over
the batches as the engine cut them (read back from Bronze ingest_time) and gives, per batch, the
watermark, Silver, the late rows and the content gold/revenue_by_category_window must have.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import signal
import subprocess
import time
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

import conftest
import events
import tables

S = 1_000_000  # microseconds per second
T0 = events.event_time_micros("2026-11-25T10:00:00Z")
GOLD = "gold/revenue_by_category_window"
Q4 = Decimal("0.0001")
BATCH_LINE = re.compile(r"batch (\d+)(?: \(replayed\))?: .*?watermark (\S+),")


# ---- the oracle ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    """Event-time settings of a run, in microseconds, and the Gold output mode."""

    size_us: int = 60 * S
    slide_us: int = 60 * S
    lateness_us: int = 120 * S
    idle_us: int = 30 * S
    horizon_us: int = 3600 * S
    mode: str = "update"
    # This oracle reads the dedup horizon off the query's watermark, batch by batch (the
    # per-partition rule is events.simulate's, checked in test_dedup_scope.py); set here so
    # that the query's own default cannot change what these scenarios check.
    dedup_scope: str = "query"

    def flags(self) -> list[str]:
        return ["--window-size", f"{self.size_us // S}s",
                "--window-slide", f"{self.slide_us // S}s",
                "--allowed-lateness", f"{self.lateness_us // S}s",
                "--idle-timeout", f"{self.idle_us // 1000}ms",
                "--dedup-horizon", f"{self.horizon_us // S}s", "--output-mode", self.mode,
                "--dedup-scope", self.dedup_scope]

    def starts(self, t: int) -> list[int]:
        """Starts of every window [s, s + size) holding t (s a multiple of the slide)."""
        last = t // self.slide_us * self.slide_us
        return list(range(last - self.size_us + self.slide_us, last + 1, self.slide_us))


@dataclass
class Oracle:
    silver: list[tuple] = field(default_factory=list)     # events.SILVER_COLUMNS
    late: list[tuple] = field(default_factory=list)       # events.LATE_COLUMNS
    watermarks: list[int | None] = field(default_factory=list)  # after each batch
    gold: list[list[tuple]] = field(default_factory=list)       # gold windows after each batch
    finals: list[list[tuple]] = field(default_factory=list)     # windows made final by each batch


def replay(batches: list[tuple[int, list[tuple[int, int, bytes]]]], invalid: set[tuple[int, int]],
           rules: Rules) -> Oracle:
    """batches: in order, (ingest_time_us, [(partition, offset, value)]); `invalid` holds the
    (partition, offset) of records that break the contract (they never touch event time)."""
    out = Oracle()
    wm: int | None = None
    progress: dict[int, list[int]] = {}         # partition -> [max event time, last seen]
    seen: dict[str, int] = {}                   # dedup: event_id -> event time
    groups: dict[tuple[int, str], list] = {}    # open (start, category) -> [revenue, qty, ids]
    final_rows: list[tuple] = []
    for b, (now, rows) in enumerate(batches):
        horizon = None if wm is None else wm - rules.horizon_us
        for p, o, value in sorted(rows):
            if (p, o) in invalid:
                continue
            ev = json.loads(value, parse_float=Decimal)
            t = events.event_time_micros(ev["event_time"])
            pr = progress.setdefault(p, [t, now])
            pr[0], pr[1] = max(pr[0], t), max(pr[1], now)
            if ev["status"] != "PAID":
                continue
            lines = [(n, it, Decimal(it["unit_price"]).quantize(Q4),
                      (Decimal(it["unit_price"]) * it["quantity"]).quantize(Q4))
                     for n, it in enumerate(ev["items"], start=1)]
            if horizon is not None and t < horizon:
                out.late += [(ev["event_id"], ev["order_id"], n, t, it["category"], it["quantity"],
                              amount, None, None, "beyond_dedup_horizon", wm, b, p, o)
                             for n, it, _, amount in lines]
                continue
            if ev["event_id"] in seen:
                continue
            seen[ev["event_id"]] = t
            cust, pay = ev["customer"], ev.get("payment") or {}
            date = (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=t)).date()
            for n, it, price, amount in lines:
                out.silver.append((ev["event_id"], ev["order_id"], t, "PAID", cust["customer_id"],
                                   cust.get("name"), cust.get("email"), cust.get("country"),
                                   cust.get("segment"), n, it["product_id"], it.get("product_name"),
                                   it["category"], it["quantity"], price, amount,
                                   pay.get("method"), pay.get("currency"), p, o, date))
                for s in rules.starts(t):
                    if wm is not None and s + rules.size_us <= wm:
                        out.late.append((ev["event_id"], ev["order_id"], n, t, it["category"],
                                         it["quantity"], amount, s, s + rules.size_us,
                                         "window_final", wm, b, p, o))
                        continue
                    g = groups.setdefault((s, it["category"]), [Decimal(0), 0, set()])
                    g[0] += amount
                    g[1] += it["quantity"]
                    g[2].add(ev["event_id"])
        wm = events.next_watermark(progress, wm, now, rules.idle_us, rules.lateness_us)
        if wm is not None:
            seen = {k: v for k, v in seen.items() if v >= wm - rules.horizon_us}

        def row(key):
            rev, qty, ids = groups[key]
            return (key[0], key[0] + rules.size_us, key[1], rev, qty, len(ids))

        done = sorted(k for k in groups if wm is not None and k[0] + rules.size_us <= wm)
        out.finals.append([row(k) for k in done])
        final_rows += out.finals[-1]
        for k in done:
            del groups[k]
        shown = final_rows + ([row(k) for k in groups] if rules.mode == "update" else [])
        out.gold.append(sorted(shown, key=lambda r: (r[0], r[2])))
        out.watermarks.append(wm)
    out.silver.sort(key=lambda r: (r[0], r[9]))
    return out


# ---- reading what the engine wrote -----------------------------------------------------------
def bronze_batches(data: Path) -> list[tuple[int, list[tuple[int, int, bytes]]]]:
    """The batches as the engine cut them: Bronze rows grouped by their planned ingest time."""
    lake = tables.Lake(data)
    rows = lake.rows('SELECT epoch_us(ingest_time), "partition", "offset", value FROM bronze')
    by_time: dict[int, list] = collections.defaultdict(list)
    for ingest, p, o, v in rows:
        by_time[ingest].append((p, o, v))
    return sorted(by_time.items())


def invalid_coordinates(data: Path) -> set[tuple[int, int]]:
    lake = tables.Lake(data)
    return set(lake.rows('SELECT "partition", "offset" FROM quarantine'))


def gold_rows(table: pa.Table) -> list[tuple]:
    cols = [table.column(c) for c in ("window_start", "window_end", "category", "revenue",
                                      "quantity", "orders")]
    cols[0], cols[1] = cols[0].cast(pa.int64()), cols[1].cast(pa.int64())
    rows = list(zip(*(c.to_pylist() for c in cols)))
    return sorted(rows, key=lambda r: (r[0], r[2]))


def log_watermarks(text: str) -> dict[int, int | None]:
    return {int(b): None if w == "none" else events.event_time_micros(w)
            for b, w in BATCH_LINE.findall(text)}


def delta_actions(table_dir: Path) -> dict[int, list[dict]]:
    """Version -> actions of every JSON commit of a Delta table."""
    out = {}
    for f in sorted((table_dir / "_delta_log").glob("*.json")):
        out[int(f.stem)] = [json.loads(line) for line in f.read_text().splitlines() if line]
    return out


def same_rows(name: str, have: list[tuple], want: list[tuple]) -> None:
    hs, ws = collections.Counter(have), collections.Counter(want)
    if hs != ws:
        raise AssertionError(f"{name} differs ({len(have)} rows, expected {len(want)}):\n"
                             f"  missing: {sorted(ws - hs, key=repr)[:6]}\n"
                             f"  unexpected: {sorted(hs - ws, key=repr)[:6]}")


def same_windows(name: str, have: list[tuple], want: list[tuple]) -> None:
    """Gold window rows equal, in order; the message shows the first rows that differ."""
    if have != want:
        hs, ws = set(have), set(want)
        raise AssertionError(f"{name}: {len(have)} rows, expected {len(want)}\n"
                             f"  missing: {sorted(ws - hs)[:6]}\n  unexpected: {sorted(hs - ws)[:6]}"
                             if hs != ws else f"{name}: same rows, other order or repeated")


def check_tables(data: Path, oracle: Oracle) -> tables.Lake:
    """Silver, the late table and the final Gold windows exactly as the oracle says."""
    lake = tables.Lake(data)
    tables.check_silver(lake, events.Expected(oracle.silver, [], set()))
    late = lake.rows(f"SELECT {tables._select_list(lake.arrow['late'].schema, events.LATE_COLUMNS)}"
                     " FROM late")
    same_rows("late", late, oracle.late)
    have = gold_rows(lake.arrow["gold_windows"])
    same_windows("gold windows", have, oracle.gold[-1])
    lake.check_readers_agree()
    return lake


# ---- the scripted stream ---------------------------------------------------------------------
PER_BATCH = 5
LATENESS, HORIZON = 30 * S, 300 * S


def _event(eid: str, sec: float, status: str = "PAID", items=(("Books", 1, "9.99"),),
           order: str | None = None) -> bytes:
    t = dt.datetime(1970, 1, 1, tzinfo=events.UTC) + dt.timedelta(
        microseconds=T0 + round(sec * S))
    when = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    ev = {"event_id": eid, "event_type": "order_status_changed", "event_time": when,
          "order_id": order or f"ORD-{eid}", "status": status,
          "customer": {"customer_id": f"C-{eid[0]}", "name": f"Name {eid}", "country": "DE"},
          "items": [{"product_id": f"P-{cat[:3]}", "category": cat, "quantity": q,
                     "unit_price": events._num(price)} for cat, q, price in items],
          "payment": {"method": "card", "currency": "EUR", "amount": 1}}
    return events._dumps(ev, 0)


def scripted_stream() -> list[events.Record]:
    """Nine batches of 5 records (the last of 2) on one partition; seconds after T0.
    With lateness 30 s and horizon 300 s the watermark after each batch is
    -18, 40, 110, 180, 380, 380, 970, 970, 972 s."""
    e = {}

    def ev(eid, sec, status="PAID", items=(("Books", 1, "9.99"),), order=None):
        e[eid] = _event(eid, sec, status, items, order)
        return events.Record(e[eid], None)

    def dup(eid):
        return events.Record(e[eid], None)

    bad = events.Record(_event("x1", 9999, "DELIVERED"), "unknown_status")
    books, toys, garden = "Books", "Toys", "Garden"
    return [
        # B0: in order and out of order; the same category twice in one event
        ev("a1", 0, items=((books, 2, "19.99"), (toys, 1, "5"))),
        ev("a2", 5, items=((books, 1, "0.0001"),)),
        ev("a3", 10, items=((garden, 3, "7.5"),)),
        ev("a4", 2, items=((books, 1, "100"), (books, 2, "1.25"))),
        ev("a5", 12, "CREATED"),
        # B1: a re-send of a2 (dropped by dedup)
        ev("b1", 30), ev("b2", 25, items=((toys, 5, "3.3333"),)),
        ev("b3", 70, items=((books, 1, "2"), (garden, 2, "4.44"))), ev("b4", 45), dup("a2"),
        # B2: 50 is out of order but within lateness; a bad record from the future moves nothing
        ev("c1", 50, items=((toys, 1, "1.01"),)), ev("c2", 130), ev("c3", 95), bad,
        ev("c5", 140, "SHIPPED"),
        # B3: 55 lands in windows already final (watermark 110)
        ev("d1", 55, items=((books, 1, "3"), (toys, 2, "0.5"))), ev("d2", 100), ev("d3", 200),
        ev("d4", 150), ev("d5", 210, "SHIPPED"),
        # B4: 119 late; 160 in a window ending exactly at the watermark (180)
        ev("e1", 119), ev("e2", 400), ev("e3", 160, items=((garden, 1, "12.34"),)),
        ev("e4", 405, "CREATED"), ev("e5", 410),
        # B5: horizon = 380 - 300 = 80: 60 and 79.999 are beyond it (every copy, even of an id
        # that is in Silver), 80 is not (but its windows are final)
        ev("f1", 60, items=((toys, 1, "7"), (books, 1, "8"))), ev("f2", 79.999), ev("f3", 80),
        dup("f1"), dup("a2"),
        # B6: a copy of the very late f1 again; a re-send of e5 (remembered, dropped)
        dup("f1"), ev("g1", 500), dup("e5"), ev("g3", 440), ev("g4", 1000, "CREATED"),
        # B7: horizon 670: a re-send of e2 (400) is beyond it; 700 is late; a conflicting h2
        dup("e2"), ev("h1", 700), ev("h2", 990), ev("h3", 960),
        events.Record(_event("h2", 990, items=(("Beauty", 7, "1"),), order="ORD-h2-retry"), None),
        # B8 (2 records): 945 is in windows ending at 960 (final) and later (open when sliding)
        ev("i1", 1002, items=(("Beauty", 4, "99999.9999"),)), ev("i2", 945),
    ]


def run_scripted(medallion, topic, data, ckpt, rules: Rules, *extra) -> str:
    # Gold with every batch: the checks below read the window table's version of each batch.
    proc = medallion.run(topic, data, ckpt, "--max-batch-records", PER_BATCH, "--gold-commit-interval", "0s",
                         *rules.flags(), *extra)
    return proc.stdout + proc.stderr


def check_cuts(data: Path, ckpt: Path, topic: str, sent: list[events.Record]):
    """Bronze exact, and batch B = offsets [5B, 5B + 5) of the one partition."""
    lake = tables.Lake(data)
    batches = tables.check_bronze(lake, tables.Checkpoint.read(ckpt), topic, sent)
    cuts = [sorted(o for _, o, _ in rows) for _, rows in batches]
    want = [list(range(i, min(i + PER_BATCH, len(sent)))) for i in range(0, len(sent), PER_BATCH)]
    if cuts != want:
        pytest.fail(f"the engine did not cut batches of exactly {PER_BATCH} records as the "
                    f"scenario assumes (one partition, all data produced before the run):\n"
                    f"  cut {cuts}\n  expected {want}")
    return batches


def check_scenario_exercised(oracle: Oracle, rules: Rules) -> None:
    """The script really produces every case it is meant to."""
    reasons = collections.Counter(r[9] for r in oracle.late)
    assert reasons["window_final"] >= 6 and reasons["beyond_dedup_horizon"] >= 6, reasons
    beyond = collections.Counter(r[0] for r in oracle.late if r[9] == "beyond_dedup_horizon")
    assert beyond["f1"] == 2 * 3 and "a2" in beyond and "e2" in beyond  # copies of very late ones
    assert any(r[8] == r[10] for r in oracle.late if r[9] == "window_final")  # end == watermark
    assert [w if w is None else (w - T0) / S for w in oracle.watermarks] == \
        [-18, 40, 110, 180, 380, 380, 970, 970, 972]
    if rules.slide_us < rules.size_us:  # i2: one window final, the others open
        assert sum(1 for r in oracle.late if r[0] == "i2") == 1


COMBOS = [(60, "update"), (60, "append"), (20, "update"), (20, "append")]


@pytest.mark.parametrize("slide,mode", COMBOS,
                         ids=[f"{'tumbling' if s == 60 else 'sliding'}-{m}" for s, m in COMBOS])
def test_scripted_stream(slide, mode, medallion, make_topic, tmp_path):
    rules = Rules(60 * S, slide * S, LATENESS, 30 * S, HORIZON, mode)
    topic = make_topic(1)
    sent = scripted_stream()
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    n_batches = -(-len(sent) // PER_BATCH)
    invalid = {(0, i) for i, r in enumerate(sent) if r.error}
    gold_dir = data / GOLD
    logs = ""
    if mode == "update":
        # Run one batch at a time and look at the table after each (restarts included):
        # replaced open-window files are deleted after the retention, so the current
        # version is the one to check.
        oracle = None
        for b in range(n_batches):
            logs += run_scripted(medallion, topic, data, ckpt, rules, "--max-batches", 1)
            offsets = sorted(DeltaTable(str(data / "bronze/orders_raw")).to_pyarrow_table()
                             .column("offset").to_pylist())
            if offsets != list(range(min(len(sent), (b + 1) * PER_BATCH))):
                pytest.fail(f"after {b + 1} one-batch runs Bronze holds offsets {offsets}: the "
                            f"engine did not cut batches of exactly {PER_BATCH} records")
            table = DeltaTable(str(gold_dir))
            assert table.version() == b + 1
            if oracle is None:
                oracle = replay(_script_batches(sent), invalid, rules)
            have = gold_rows(table.to_pyarrow_table())
            keys = [(r[0], r[2]) for r in have]
            assert len(keys) == len(set(keys)), f"version {b + 1}: a window twice: {have}"
            same_windows(f"gold windows after batch {b}", have, oracle.gold[b])
    else:
        logs = run_scripted(medallion, topic, data, ckpt, rules, "--until-caught-up")
    batches = check_cuts(data, ckpt, topic, sent)
    oracle = replay(batches, invalid, rules)
    check_scenario_exercised(oracle, rules)
    lake = check_tables(data, oracle)
    tables.check_log(lake, tables.Checkpoint.read(ckpt))
    assert log_watermarks(logs) == dict(enumerate(oracle.watermarks))

    actions = delta_actions(gold_dir)
    removed = [a["remove"]["path"] for acts in actions.values() for a in acts if "remove" in a]
    # Per commit: the final files hold exactly the windows that batch made final, the open
    # file (update mode) every window still open.
    for v in range(1, n_batches + 1):
        rows = collections.Counter()
        for a in actions[v]:
            if "add" in a:
                kind = "open" if a["add"]["path"].startswith("open-") else "final"
                rows[kind] += json.loads(a["add"]["stats"])["numRecords"]
        n_open = len(oracle.gold[v - 1]) - sum(len(f) for f in oracle.finals[:v])
        assert (rows["final"], rows["open"]) == (len(oracle.finals[v - 1]), n_open), v
    if mode == "append":
        assert removed == [], f"append mode removed files: {removed}"
        # Each version holds exactly the windows final so far; each window was written once.
        for v in range(1, n_batches + 1):
            have = gold_rows(DeltaTable(str(gold_dir), version=v).to_pyarrow_table())
            same_windows(f"gold windows, version {v}", have, oracle.gold[v - 1])
        written = []
        for v, acts in actions.items():
            for a in acts:
                if "add" in a:
                    written += [(v, r) for r in gold_rows(pq.read_table(gold_dir / a["add"]["path"]))]
        want = [(b + 1, r) for b, rows in enumerate(oracle.finals) for r in rows]
        assert sorted(written, key=repr) == sorted(want, key=repr)
        assert oracle.gold[-1]
    else:
        assert all(p.startswith("open-") for p in removed), removed
        assert len(oracle.gold[-1]) > sum(len(f) for f in oracle.finals) > 0


def _script_batches(sent: list[events.Record]):
    """The batches the scenario intends (checked against Bronze at the end of the test)."""
    return [(b, [(0, o, sent[o].value) for o in range(i, min(i + PER_BATCH, len(sent)))])
            for b, i in enumerate(range(0, len(sent), PER_BATCH))]


# ---- 3. restart in the middle --------------------------------------------------------------
@pytest.mark.parametrize("mode", ["append", "update"])
def test_restart_mid_stream_equals_uninterrupted(mode, medallion, make_topic, tmp_path):
    rules = Rules(60 * S, 20 * S, LATENESS, 30 * S, HORIZON, mode)
    topic = make_topic(1)
    sent = scripted_stream()
    medallion.produce(topic, sent)
    one, two = tmp_path / "one", tmp_path / "two"
    run_scripted(medallion, topic, one / "data", one / "ckpt", rules, "--until-caught-up")
    logs = run_scripted(medallion, topic, two / "data", two / "ckpt", rules, "--max-batches", 4)
    assert "last committed batch 3" in logs
    # The watermark after batch 3 (180 s) must come back from the checkpoint: without it,
    # batch 4's 119 and 160 would not be late.
    logs += run_scripted(medallion, topic, two / "data", two / "ckpt", rules, "--until-caught-up")
    batches = check_cuts(two / "data", two / "ckpt", topic, sent)
    oracle = replay(batches, {(0, i) for i, r in enumerate(sent) if r.error}, rules)
    check_tables(two / "data", oracle)
    assert log_watermarks(logs) == dict(enumerate(oracle.watermarks))
    a, b = tables.Lake(one / "data"), tables.Lake(two / "data")
    for name in ("silver", "late", "gold_windows", "gold_top", "gold_customers", "quarantine"):
        cols = [c for c in a.arrow[name].schema.names if c != "ingest_time"]
        assert a.table_rows(name, cols) == b.table_rows(name, cols), name
    cols = [c for c in a.arrow["bronze"].schema.names if c not in ("ingest_time", "ingest_date",
                                                                     "ingest_hour")]
    assert a.table_rows("bronze", cols) == b.table_rows("bronze", cols)


# ---- 2. an idle partition stops holding the watermark back ---------------------------------
def keys_for(partition: int, count: int, partitions: int = 2) -> list[str]:
    """Order ids librdkafka's default partitioner (CRC32 of the key) sends to `partition`."""
    out, i = [], 0
    while len(out) < count:
        key = f"ORD-idle-{i:04d}"
        if zlib.crc32(key.encode()) % partitions == partition:
            out.append(key)
        i += 1
    return out


def test_idle_partition_releases_the_watermark(medallion, make_topic, tmp_path):
    rules = Rules(60 * S, 60 * S, 5 * S, 2 * S, 3600 * S)
    topic = make_topic(2)
    k0, k1 = keys_for(0, 80), keys_for(1, 3)
    first = [events.Record(_event(f"p1-{i}", i, order=k1[i]), None) for i in range(3)]
    first += [events.Record(_event(f"p0-{i}", i, order=k0[i]), None) for i in range(3)]
    medallion.produce(topic, first, "first")
    sent = list(first)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    cmd = [str(conftest.BINARY), "run", "--brokers", medallion.brokers, "--topic", topic,
           "--data-dir", str(data), "--checkpoint-dir", str(ckpt), "--trigger-interval", "200ms",
           "--max-batch-wait", "100ms", *rules.flags()]
    log_path = tmp_path / "run.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while "batch 0:" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.05)
        # Partition 0 only, event time +10 s per record, for twice the idle timeout and until
        # the log shows partition 1 no longer holds the watermark (at most 20 s).
        held = T0 + 2 * S - rules.lateness_us  # partition 1's greatest event time - lateness
        started, i = time.monotonic(), 3
        while time.monotonic() - started < 2 * rules.idle_us / S or \
                max((w for w in log_watermarks(log_path.read_text()).values() if w),
                    default=held) <= held:
            assert time.monotonic() - started < 20, log_path.read_text()[-3000:]
            rec = events.Record(_event(f"p0-{i}", 10 * i, order=k0[i]), None)
            medallion.produce(topic, [rec], f"p0-{i}")
            sent.append(rec)
            i += 1
            time.sleep(0.15)
        # Then a record late only for the released watermark (its window [T0, T0+60s) ended).
        rec = events.Record(_event("p0-late", 3, order=k0[i]), None)
        medallion.produce(topic, [rec], "late")
        sent.append(rec)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log_path.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = log_path.read_text()

    lake = tables.Lake(data)
    where = dict(lake.rows('SELECT key, "partition" FROM bronze'))
    assert all(where[k.encode()] == 0 for k in k0[:i + 1]) and \
        all(where[k.encode()] == 1 for k in k1), "keys did not land where CRC32 says"
    batches = bronze_batches(data)
    oracle = replay(batches, set(), rules)
    assert log_watermarks(output) == dict(enumerate(oracle.watermarks))
    check_tables(data, oracle)

    p1_last = max(b for b, (_, rows) in enumerate(batches) if any(p == 1 for p, _, _ in rows))
    p1_seen = batches[p1_last][0]
    # Within the idle timeout of partition 1's last data, the watermark stays at `held`,
    # although partition 0 is far ahead.
    within = [b for b, (now, _) in enumerate(batches) if b >= p1_last and now - p1_seen < rules.idle_us]
    p0_max = lambda b: max(events.event_time_micros(json.loads(v)["event_time"])  # noqa: E731
                           for _, rows in batches[:b + 1] for p, _, v in rows if p == 0)
    assert any(p0_max(b) - rules.lateness_us > held for b in within), \
        f"no batch with partition 0 ahead came within the idle timeout; batches at " \
        f"{[(now - p1_seen) / S for now, _ in batches]} s"
    assert all(oracle.watermarks[b] == held for b in within), oracle.watermarks
    # After it, partition 1 no longer holds it back.
    assert oracle.watermarks[-1] > held + 30 * S
    late = lake.rows("SELECT event_id, epoch_us(watermark), epoch_us(window_end) FROM late")
    assert [r[0] for r in late] == ["p0-late"] and late[0][1] > held and late[0][2] <= late[0][1]
    print(f"idle partition: watermark held at {(held - T0) / S:+.0f} s for {len(within)} "
          f"batches, then reached {(oracle.watermarks[-1] - T0) / S:+.0f} s")


# ---- 4. late events injected by the generator ----------------------------------------------
def test_generator_late_events_are_counted(medallion, make_topic, tmp_path):
    rules = Rules(60 * S, 60 * S, 60 * S, 30 * S, 3600 * S)
    topic = make_topic(2)
    medallion("produce", "--brokers", medallion.brokers, "--topic", topic, "--count", 3000,
              "--seed", 7, "--late-fraction", 0.05, "--late-by-seconds", 600,
              "--duplicate-fraction", 0.03, "--out-of-order-fraction", 0.05,
              "--malformed-fraction", 0.01, "--invalid-fraction", 0.01)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 500,
                         *rules.flags())
    batches = bronze_batches(data)
    assert len(batches) >= 6
    oracle = replay(batches, invalid_coordinates(data), rules)
    lake = check_tables(data, oracle)
    assert log_watermarks(proc.stdout + proc.stderr) == dict(enumerate(oracle.watermarks))

    # Injected late events, found from the data: event ids number events in generation order,
    # and a late one is 600-900 s behind every event generated before it (out of order is <= 5 s).
    first: dict[str, tuple[int, int, str]] = {}  # event_id -> (seq, time, status), first copy
    first_batch: dict[str, int] = {}
    invalid = invalid_coordinates(data)
    for b, (_, rows) in enumerate(batches):
        for p, o, v in sorted(rows):
            if (p, o) in invalid:
                continue
            ev = json.loads(v)
            eid = ev["event_id"]
            t = events.event_time_micros(ev["event_time"])
            first.setdefault(eid, (int(eid.rsplit("-", 1)[1]), t, ev["status"]))
            first_batch.setdefault(eid, b)
    injected, running = set(), None
    for eid, (seq, t, status) in sorted(first.items(), key=lambda kv: kv[1][0]):
        if running is not None and t < running - 300 * S:
            if status == "PAID":
                injected.add(eid)
        else:
            running = t if running is None else max(running, t)
    counted = {r[0] for r in lake.rows("SELECT DISTINCT event_id FROM late WHERE reason = 'window_final'")}
    print(f"late events: injected {len(injected)}, counted {len(counted)}")
    assert 40 <= len(injected) <= 140
    # Every injected PAID late event is counted unless it came in the first batch (no watermark
    # yet); nothing else is: the stream spans ~30 s, well within the 1 min lateness.
    assert counted == {e for e in injected if first_batch[e] > 0}
    assert counted == {r[0] for r in oracle.late if r[9] == "window_final"}
    for t, w, end in lake.rows("SELECT epoch_us(event_time), epoch_us(watermark), epoch_us(window_end) "
                               "FROM late WHERE reason = 'window_final'"):
        assert t < w and end <= w
