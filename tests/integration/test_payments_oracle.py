"""The payment join's oracle and generator, checked on their own (no broker, no engine): on a tiny
hand-built case whose outcome is written out by hand, the oracle accepts the right tables and
rejects each kind of wrong one (so it cannot pass vacuously); on a generated data set, it accepts
what a literal Python reading of the join rule produces (a second, independent implementation
of the rule, against the oracle's DuckDB query)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal

import deltalake
import pyarrow as pa
import pytest

import crash_oracle
import payments_oracle as po

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
MIN = dt.timedelta(minutes=1)
MONEY = pa.decimal128(18, 4)
TS = pa.timestamp("us", tz="UTC")

SILVER_SCHEMA = pa.schema([("event_id", pa.string()), ("order_id", pa.string()), ("event_time", TS),
                           ("status", pa.string()), ("line_no", pa.int32()), ("line_amount", MONEY),
                           ("currency", pa.string()), ("kafka_partition", pa.int32()),
                           ("kafka_offset", pa.int64())])
MATCH_SCHEMA = pa.schema([("order_id", pa.string()), ("event_id", pa.string()), ("payment_id", pa.string()),
                          ("order_time", TS), ("payment_time", TS), ("order_total", MONEY),
                          ("payment_amount", MONEY), ("currency", pa.string()), ("method", pa.string()),
                          ("provider", pa.string()), ("delay_ms", pa.int64()), ("order_date", pa.date32())])
RECON_SCHEMA = pa.schema([("reason", pa.string()), ("order_id", pa.string()), ("event_id", pa.string()),
                          ("payment_id", pa.string()), ("order_time", TS), ("payment_time", TS),
                          ("order_total", MONEY), ("payment_amount", MONEY), ("currency", pa.string()),
                          ("late", pa.bool_()), ("watermark", TS), ("batch_id", pa.int64())])


def us(t: dt.datetime) -> int:
    return (t - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def silver_table(events: list[tuple]) -> pa.Table:
    """(event_id, order_id, time, [line amounts], currency, partition, offset) -> Silver lines."""
    rows = []
    for eid, oid, t, amounts, cur, part, off in events:
        for n, a in enumerate(amounts, start=1):
            rows.append({"event_id": eid, "order_id": oid, "event_time": t, "status": "PAID", "line_no": n,
                         "line_amount": Decimal(a), "currency": cur, "kafka_partition": part, "kafka_offset": off})
    return pa.Table.from_pylist(rows, schema=SILVER_SCHEMA)


def payment(pid, oid, t, amount, currency="EUR", status="CAPTURED", method="card", provider="acme-pay"):
    """A payment dict as the generator makes them, and its JSON line."""
    p = {"payment_id": pid, "order_id": oid, "event_time": iso(t), "status": status, "amount": float(amount),
         "currency": currency, "method": method, "provider": provider, "schema_version": 1}
    v = json.dumps(p, separators=(",", ":")).encode()
    return v, {**p, "_us": us(t), "_amount": Decimal(amount)}


def write(data, silver, lines, ds, matches, recon, quarantine=None):
    """Writes the five tables the oracle reads: the payments' Bronze in send order on partition 0."""
    deltalake.write_deltalake(str(data / "silver/order_lines"), silver)
    n = len(lines)
    deltalake.write_deltalake(str(data / "bronze/payments_raw"), pa.table({
        "topic": pa.array(["payments"] * n), "partition": pa.array([0] * n, pa.int32()),
        "offset": pa.array(range(n), pa.int64()), "value": pa.array(lines, pa.binary())}))
    if quarantine is None:
        quarantine = [(0, i, v, ds.bad[v]) for i, v in enumerate(lines) if v in ds.bad]
    deltalake.write_deltalake(str(data / "quarantine/payments"), pa.table({
        "partition": pa.array([q[0] for q in quarantine], pa.int32()),
        "offset": pa.array([q[1] for q in quarantine], pa.int64()),
        "value": pa.array([q[2] for q in quarantine], pa.binary()),
        "error": pa.array([q[3] for q in quarantine], pa.string()),
        "detail": pa.array(["why"] * len(quarantine), pa.string())}))
    m = [{**r, "order_date": r["order_time"].date()} for r in matches]
    deltalake.write_deltalake(str(data / "silver/order_payments"), pa.Table.from_pylist(m, schema=MATCH_SCHEMA),
                              partition_by=["order_date"])
    deltalake.write_deltalake(str(data / "gold/payment_reconciliation"),
                              pa.Table.from_pylist(recon, schema=RECON_SCHEMA))


# ---------------------------------------------------------------------------------------------
# A tiny case, outcome written by hand
# ---------------------------------------------------------------------------------------------

W = T0 + 120 * MIN  # the final join watermark of the tiny case
EARLY_WM = T0 + 5 * MIN  # the watermark the late inputs arrived at


def tiny():
    """Orders O1..O7 and their payments; returns (silver, lines, dataset, matches, recon, optional)
    where `optional` are rows a correct engine may still hold in state at W."""
    silver = silver_table([
        ("e1", "O1", T0, ["10.00", "5.50"], "EUR", 0, 0),
        ("e2", "O2", T0 + MIN, ["20.00"], "EUR", 0, 1),
        ("e3", "O3", T0 + 2 * MIN, ["7.00"], None, 1, 0),
        ("e1b", "O1", T0 + MIN, ["99.00"], "EUR", 0, 3),  # O1's second PAID event: not the order side
        ("e4", "O4", T0 + 3 * MIN, ["9.99"], "EUR", 0, 2),  # arrives late
        ("e5", "O5", T0 + 200 * MIN, ["1.00"], "EUR", 0, 4),  # pending at W
        ("e6", "O6", T0 + 4 * MIN, ["3.00"], "EUR", 1, 1),  # no payment inside its interval
        ("e7", "O7", T0 + 100 * MIN, ["4.00"], "EUR", 1, 2),  # matched, payment at or after W
    ])
    ps = {
        "p1": payment("p1", "O1", T0 - 15 * MIN, "15.50"),  # on the lower bound
        "p1auth": payment("p1auth", "O1", T0 - 16 * MIN, "15.50", status="AUTHORIZED"),
        "p2b": payment("p2b", "O2", T0 + MIN + dt.timedelta(seconds=30), "20.00", method="paypal"),
        "p2a": payment("p2a", "O2", T0 + MIN + dt.timedelta(seconds=30), "20.00", currency="USD"),
        "p3": payment("p3", "O3", T0 + 2 * MIN - dt.timedelta(microseconds=1500), "7.0001", provider=None),
        "p4": payment("p4", "O4", T0 + 3 * MIN + dt.timedelta(seconds=10), "9.99"),
        "p6": payment("p6", "O6", T0 + 64 * MIN + dt.timedelta(milliseconds=1), "3.00"),  # 1 ms outside
        "p7": payment("p7", "O-none", T0 + 5 * MIN, "2.00"),
        "p9": payment("p9", "O1", T0 - 180 * MIN, "15.50"),  # arrives late
        "p11": payment("p11", "O-none2", T0 + 110 * MIN, "2.00"),  # orphan, pending at W
        "p12": payment("p12", "O7", T0 + 130 * MIN, "4.00"),  # matches O7 (+30 min), at or after W
        "pf": payment("pf", "O5", T0 + 200 * MIN, "1.00", status="FAILED"),
    }
    bad = {b"not json": "not_json",
           b'{"payment_id":"x","order_id":"O1","event_time":"2026-11-24T10:00:00Z","status":"CAPTURED",'
           b'"currency":"EUR"}': "missing_field"}
    order = ["p1auth", "p1", "p2a", "p2b", "p3", "p1", "p4", "p6", "p7", "p9", "p11", "p12", "pf"]
    lines = [ps[k][0] for k in order]
    lines.insert(3, list(bad)[0])
    lines.append(list(bad)[1])
    ds = crash_oracle.Dataset(lines, {v: p for v, p in ps.values()}, bad, None)

    def pt(k):
        return crash_oracle._ts(ps[k][1]["_us"])

    def match(oid, eid, pid, ot, total, cur, method, provider, delay):
        return {"order_id": oid, "event_id": eid, "payment_id": pid, "order_time": ot, "payment_time": pt(pid),
                "order_total": Decimal(total), "payment_amount": Decimal(ps[pid][1]["_amount"]),
                "currency": cur, "method": method, "provider": provider, "delay_ms": delay}

    matches = [
        match("O1", "e1", "p1", T0, "15.50", "EUR", "card", "acme-pay", -900_000),
        match("O2", "e2", "p2a", T0 + MIN, "20.00", "USD", "card", "acme-pay", 30_000),
        match("O3", "e3", "p3", T0 + 2 * MIN, "7.00", "EUR", "card", None, -1),  # -1.5 ms truncated
    ]
    pending_match = match("O7", "e7", "p12", T0 + 100 * MIN, "4.00", "EUR", "card", "acme-pay", 1_800_000)

    def row(reason, oid, eid=None, pid=None, ot=None, total=None, cur=None, late=False, wm=W):
        return {"reason": reason, "order_id": oid, "event_id": eid, "payment_id": pid, "order_time": ot,
                "payment_time": pt(pid) if pid else None, "order_total": None if total is None else Decimal(total),
                "payment_amount": Decimal(ps[pid][1]["_amount"]) if pid else None, "currency": cur,
                "late": late, "watermark": wm, "batch_id": 7}

    recon = [
        row("amount_mismatch", "O2", "e2", "p2a", T0 + MIN, "20.00", "USD"),
        row("amount_mismatch", "O3", "e3", "p3", T0 + 2 * MIN, "7.00", "EUR"),
        row("missing_payment", "O4", "e4", ot=T0 + 3 * MIN, total="9.99", cur="EUR", late=True, wm=EARLY_WM),
        row("orphan_payment", "O1", pid="p9", cur="EUR", late=True, wm=EARLY_WM),
        row("orphan_payment", "O2", pid="p2b", cur="EUR"),
        row("orphan_payment", "O4", pid="p4", cur="EUR"),  # its order was late
        row("missing_payment", "O6", "e6", ot=T0 + 4 * MIN, total="3.00", cur="EUR"),
        row("orphan_payment", "O6", pid="p6", cur="EUR"),
        row("orphan_payment", "O-none", pid="p7", cur="EUR"),
    ]
    premature = [row("orphan_payment", "O-none2", pid="p11", cur="EUR"),
                 row("missing_payment", "O5", "e5", ot=T0 + 200 * MIN, total="1.00", cur="EUR")]
    return silver, lines, ds, matches, recon, pending_match, premature


def run(tmp_path, matches=None, recon=None, final=us(W), lines=None, quarantine=None, name="data"):
    silver, sent, ds, good_m, good_r, _, _ = tiny()
    data = tmp_path / name
    write(data, silver, sent if lines is None else lines, ds, good_m if matches is None else matches,
          good_r if recon is None else recon, quarantine)
    return po.check_join(data, None, sent, ds, final, topic="payments")


def test_tiny_case_passes(tmp_path):
    rep = run(tmp_path)
    text = "\n".join(rep.checks)
    assert "3 matches" in text and "1 more matches not yet final" in text, text
    assert "1 orders and 1 payments still pending" in text, text


def test_tiny_case_accepts_a_match_written_before_it_was_final(tmp_path):
    _, _, _, m, _, pending_match, _ = tiny()
    run(tmp_path, matches=m + [pending_match])


def test_tiny_case_without_final_watermark(tmp_path):
    _, _, _, m, r, pending_match, premature = tiny()
    # The lower bound is the greatest watermark in the table (W): the same rows are required,
    # and a match the true (later) final watermark may have decided is accepted.
    run(tmp_path, final=None, name="a")
    run(tmp_path, final=None, matches=m + [pending_match], name="b")
    with pytest.raises(AssertionError, match="payment_reconciliation"):
        run(tmp_path, final=None, recon=r[:-1], name="c")
    # Rows decided at a later watermark raise the lower bound: O7's match is then required.
    later = [{**x, "watermark": T0 + 300 * MIN} for x in premature]
    run(tmp_path, final=None, recon=r + later, matches=m + [pending_match], name="d")
    with pytest.raises(AssertionError, match="order_payments"):
        run(tmp_path, final=None, recon=r + later, name="e")


def _mutations():
    silver, sent, ds, m, r, pending_match, premature = tiny()
    yield "duplicated match", dict(matches=m + [m[0]]), "matched twice"
    yield "match with the wrong payment", dict(matches=[m[0], {**m[1], "payment_id": "p2b", "currency": "EUR",
                                                           "method": "paypal"}, m[2]]), "order_payments"
    yield "missing orphan", dict(recon=[x for x in r if x.get("payment_id") != "p2b"]), "payment_reconciliation"
    yield "missing match", dict(matches=m[:2]), "order_payments"
    yield "delay floored instead of truncated", dict(matches=m[:2] + [{**m[2], "delay_ms": -2}]), "order_payments"
    yield "wrong order_total", dict(matches=[{**m[0], "order_total": Decimal("114.50")}] + m[1:]), "order_payments"
    bogus = [x for x in r if x.get("event_id") != "e6"] + [
        {**[x for x in r if x.get("event_id") == "e6"][0], "late": True, "watermark": T0 + 4 * MIN}]
    yield "bogus late row (time = watermark)", dict(recon=bogus), "not below its watermark"
    bogus_p = [{**x, "watermark": x["payment_time"]} if x.get("payment_id") == "p9" else x for x in r]
    yield "bogus late payment (time = watermark)", dict(recon=bogus_p), "not below its watermark"
    yield "orphan decided before it was final", dict(recon=r + premature[:1]), "payment_reconciliation"
    yield "missing decided before it was final", dict(recon=r + premature[1:]), "payment_reconciliation"
    early = [{**x, "watermark": T0 + 60 * MIN} if x.get("event_id") == "e6" and x["reason"] == "missing_payment"
             else x for x in r]
    yield "missing_payment decided at a watermark inside its interval", dict(recon=early), "before its interval"
    yield "lost amount_mismatch", dict(recon=[x for x in r if x.get("payment_id") != "p3"]), "payment_reconciliation"
    yield "match lost, its amount_mismatch kept", dict(matches=m[:2] + [pending_match]), "order_payments"
    yield "order matched and missing", dict(recon=r + [{**r[6], "order_id": "O1", "event_id": "e1",
                                                         "order_time": T0, "order_total": Decimal("15.50")}]), \
        "payment_reconciliation"
    p9 = [x for x in r if x.get("payment_id") == "p9"][0]
    yield "late payment reported again within the dedup horizon", \
        dict(recon=r + [{**p9, "watermark": p9["watermark"] + 59 * MIN}]), "within the dedup horizon"
    yield "bronze lost a re-send", dict(lines=[v for i, v in enumerate(sent) if i != 6]), "bronze"
    q = [(0, i, v, ds.bad[v]) for i, v in enumerate(sent) if v in ds.bad]
    yield "quarantine code wrong", dict(quarantine=[q[0], (*q[1][:3], "wrong_type")]), "quarantine"


@pytest.mark.parametrize("what,kwargs,message", list(_mutations()), ids=[x[0] for x in _mutations()])
def test_oracle_rejects(tmp_path, what, kwargs, message):
    with pytest.raises(AssertionError, match=message):
        run(tmp_path, **kwargs)


def test_late_re_send_after_the_dedup_horizon_may_be_reported_again(tmp_path):
    # The engine forgets a late input's id once the join watermark is a dedup horizon past it.
    _, _, _, _, r, _, _ = tiny()
    p9 = [x for x in r if x.get("payment_id") == "p9"][0]
    rep = run(tmp_path, recon=r + [{**p9, "watermark": p9["watermark"] + 61 * MIN}])
    assert "1 re-sends reported again" in "\n".join(rep.checks)


def test_an_order_takes_the_best_payment_that_had_arrived(tmp_path):
    # O2 has two eligible payments at the same time; p2a is the better (smaller payment_id).
    # Sent p2a first, O2 must take it ("match with the wrong payment" above). Sent p2b first,
    # O2 may have been matched while only p2b was held: taking p2b is then right, p2a is the
    # orphan, and no amount_mismatch (p2b is in EUR).
    silver, sent, ds, m, r, _, _ = tiny()
    i, j = sent.index(ds_line(ds, "p2a")), sent.index(ds_line(ds, "p2b"))
    swapped = list(sent)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    p2b = {**m[1], "payment_id": "p2b", "currency": "EUR", "method": "paypal"}
    recon = [x for x in r if not (x.get("order_id") == "O2")] + \
        [{**x, "payment_id": "p2a", "currency": "USD"} for x in r if x.get("payment_id") == "p2b"]
    write(tmp_path / "a", silver, swapped, ds, [m[0], p2b, m[2]], recon)
    po.check_join(tmp_path / "a", None, swapped, ds, us(W))
    write(tmp_path / "b", silver, sent, ds, [m[0], p2b, m[2]], recon)
    with pytest.raises(AssertionError, match="order_payments"):
        po.check_join(tmp_path / "b", None, sent, ds, us(W))


def ds_line(ds, pid: str) -> bytes:
    return next(v for v, p in ds.events.items() if p["payment_id"] == pid)


def test_bronze_re_send_counts_once_per_send(tmp_path):
    silver, sent, ds, m, r, _, _ = tiny()
    write(tmp_path, silver, sent + sent[:2], ds, m, r)
    with pytest.raises(AssertionError, match="bronze"):  # sent once, in Bronze twice
        po.check_join(tmp_path, None, sent, ds, us(W))


# ---------------------------------------------------------------------------------------------
# The generator, and the oracle on generated data against a literal reading of the rule
# ---------------------------------------------------------------------------------------------


def orders(n: int = 400, seed: int = 5) -> dict:
    """crash_oracle's order events, one order_id per event (its own generator repeats one id)."""
    ds = crash_oracle.make_dataset(seed, n, step_ms=3000, v2_from=0.5)
    out = {}
    for k, (v, ev) in enumerate(ds.events.items()):
        ev = copy.deepcopy(ev)
        ev["order_id"] = f"ORD-{seed}-{k // 2:05d}"  # two events per order: the first PAID counts
        out[v] = ev
    return out


def test_generator_is_deterministic_and_complete():
    o = orders()
    a, b = po.make_payments(o, 3, tail_minutes=180), po.make_payments(o, 3, tail_minutes=180)
    assert a.lines == b.lines and a.bad == b.bad
    assert po.make_payments(o, 4).lines != a.lines
    for kind in ("matched", "missing", "mismatch", "outside", "double_capture", "late", "unknown_order",
                 "duplicate", "bad", "AUTHORIZED", "FAILED", "REFUNDED", "tail"):
        assert a.counts[kind] > 0, (kind, a.counts)
    assert all(v in a.events or v in a.bad for v in a.lines)
    assert len(a.lines) == len(a.events) + len(a.bad) + a.counts["duplicate"]
    for v, p in a.events.items():
        body = json.loads(v)
        assert set(body) >= {"payment_id", "order_id", "event_time", "status", "amount", "currency"}
        assert Decimal(repr(body["amount"])) == p["_amount"] and body["status"] in po.PAYMENT_STATUSES
        assert po.event_time_us(body) == p["_us"]
    ids = [json.loads(v)["payment_id"] for v in a.events]
    assert len(ids) == len(set(ids)), "a payment id on two different lines"
    for v, code in a.bad.items():  # bad records really break the contract the way they say
        try:
            body = json.loads(v)
        except ValueError:
            assert code == "not_json"
            continue
        if not isinstance(body, dict):
            assert code == "not_object"
        elif code == "missing_field":
            assert not {"payment_id", "order_id", "event_time", "status", "amount", "currency"} <= set(body)
        elif code == "unknown_status":
            assert body["status"] not in po.PAYMENT_STATUSES
    firsts = {ev["order_id"]: ev for ev in po.first_paid_orders(o)}
    for p in a.events.values():
        if p["_kind"] == "matched":
            to = po.event_time_us(firsts[p["order_id"]])
            assert to - po.BEFORE_US <= p["_us"] <= to + po.AFTER_US
            assert p["_amount"] == po.order_total(firsts[p["order_id"]])
        if p["_kind"] == "outside":
            to = po.event_time_us(firsts[p["order_id"]])
            assert not to - po.BEFORE_US <= p["_us"] <= to + po.AFTER_US


def reference_outputs(o: dict, pays: crash_oracle.Dataset, late_ids: set, final_us: int):
    """The join's tables by a literal Python reading of the rule (no SQL): Silver lines for the
    order events (offsets in send order, two events per order_id on one partition), Bronze on
    partition 0 in send order, the payments in `late_ids` reported late at their time + 1 ms."""
    lines, eid_of = [], {}
    for k, ev in enumerate(o.values()):
        if ev["status"] != "PAID":
            continue
        v2 = ev["schema_version"] == 2
        for n, it in enumerate(ev["items"], start=1):
            amt = Decimal(str(it["unit_price"])) * it["quantity"] - (Decimal(str(it.get("discount", 0))) if v2 else 0)
            lines.append((ev["event_id"], ev["order_id"], ev["_us"], n, amt, ev["payment"]["currency"], k))
    silver = pa.Table.from_pylist([{"event_id": e, "order_id": oid, "event_time": crash_oracle._ts(t), "status": "PAID",
                                    "line_no": n, "line_amount": a, "currency": c, "kafka_partition": 0,
                                    "kafka_offset": off} for e, oid, t, n, a, c, off in lines], schema=SILVER_SCHEMA)
    # Order side: first PAID per order_id by offset.
    order_side = {}
    for e, oid, t, n, a, c, off in lines:
        cur = order_side.get(oid)
        if cur is None or off < cur["off"]:
            order_side[oid] = {"event_id": e, "t": t, "total": Decimal(0), "cur": c, "off": off}
    for e, oid, t, n, a, c, off in lines:
        if order_side[oid]["event_id"] == e:
            order_side[oid]["total"] += a
    captured, seen = [], set()
    for v in pays.lines:
        p = pays.events.get(v)
        if p and p["status"] == "CAPTURED" and p["payment_id"] not in seen:
            seen.add(p["payment_id"])
            captured.append(p)
    ts = crash_oracle._ts
    recon = []
    for p in captured:
        if p["payment_id"] in late_ids:
            recon.append({"reason": "orphan_payment", "order_id": p["order_id"], "event_id": None,
                          "payment_id": p["payment_id"], "order_time": None, "payment_time": ts(p["_us"]),
                          "order_total": None, "payment_amount": p["_amount"], "currency": p["currency"],
                          "late": True, "watermark": ts(p["_us"] + 1000), "batch_id": 1})
    free = [p for p in captured if p["payment_id"] not in late_ids]
    matches, used = [], set()
    for oid, od in sorted(order_side.items(), key=lambda kv: (kv[1]["t"], kv[1]["event_id"])):
        cands = sorted((p for p in free if p["order_id"] == oid and p["payment_id"] not in used
                        and od["t"] - po.BEFORE_US <= p["_us"] <= od["t"] + po.AFTER_US),
                       key=lambda p: (p["_us"], p["payment_id"]))
        if not cands:
            if od["t"] + po.AFTER_US < final_us:
                recon.append({"reason": "missing_payment", "order_id": oid, "event_id": od["event_id"],
                              "payment_id": None, "order_time": ts(od["t"]), "payment_time": None,
                              "order_total": od["total"], "payment_amount": None, "currency": od["cur"],
                              "late": False, "watermark": ts(final_us), "batch_id": 2})
            continue
        p = cands[0]
        used.add(p["payment_id"])
        d = p["_us"] - od["t"]
        if p["_us"] < final_us:
            matches.append({"order_id": oid, "event_id": od["event_id"], "payment_id": p["payment_id"],
                            "order_time": ts(od["t"]), "payment_time": ts(p["_us"]), "order_total": od["total"],
                            "payment_amount": p["_amount"], "currency": p["currency"], "method": p.get("method"),
                            "provider": p.get("provider"), "delay_ms": int(d / 1000)})
            if p["_amount"] != od["total"] or (od["cur"] is not None and od["cur"] != p["currency"]):
                recon.append({**matches[-1], "reason": "amount_mismatch", "late": False,
                              "watermark": ts(final_us), "batch_id": 2})
    for p in free:
        if p["payment_id"] not in used and p["_us"] + po.BEFORE_US < final_us:
            recon.append({"reason": "orphan_payment", "order_id": p["order_id"], "event_id": None,
                          "payment_id": p["payment_id"], "order_time": None, "payment_time": ts(p["_us"]),
                          "order_total": None, "payment_amount": p["_amount"], "currency": p["currency"],
                          "late": False, "watermark": ts(final_us), "batch_id": 2})
    for r in recon:
        for k in ("method", "provider", "delay_ms"):
            r.pop(k, None)
    return silver, matches, recon


def test_oracle_agrees_with_a_literal_reading_of_the_rule(tmp_path):
    o = orders()
    pays = po.make_payments(o, 11, tail_minutes=240)
    late_ids = {p["payment_id"] for p in pays.events.values() if p["_kind"] == "late" and p["status"] == "CAPTURED"}
    assert late_ids
    final = max(ev["_us"] for ev in o.values()) + 90 * 60_000_000  # leaves some inputs pending
    silver, matches, recon = reference_outputs(o, pays, late_ids, final)
    assert matches and {r["reason"] for r in recon} == {"missing_payment", "orphan_payment", "amount_mismatch"}
    write(tmp_path / "ok", silver, pays.lines, pays, matches, recon)
    rep = po.check_join(tmp_path / "ok", None, pays.lines, pays, final)
    assert any("pending" in c for c in rep.checks)
    # The same, read with only the lower bound of the watermark.
    po.check_join(tmp_path / "ok", silver, pays.lines, pays, None)
    # And one payment fewer reported late: its outcome is now wrong.
    recon2 = [r for r in recon if not (r["late"] and r["payment_id"] == sorted(late_ids)[0])]
    write(tmp_path / "bad", silver, pays.lines, pays, matches, recon2)
    with pytest.raises(AssertionError):
        po.check_join(tmp_path / "bad", None, pays.lines, pays, final)
