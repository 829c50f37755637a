"""Replays the seven hostile-input cases of issue 9 against a medallion binary and prints, per
case, what happened: the run's exit code and time, the quarantine codes, whether a normal PAID
event sent after the hostile record reached Silver, and whether delta-rs opens every table.

    .venv/bin/python scripts/hostile_cases.py [--bin build/src/cli/medallion] [--brokers HOST:PORT]

Each case uses a fresh topic and fresh directories under a temporary folder; a run that does not
end within --timeout seconds counts as hung. Used for the before/after figures of the issue's
closing note, not by the test suite (tests/integration covers each case with assertions).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[1]


def event(event_id: str, status: str = "PAID", event_time: object = "2026-11-24T10:00:00Z",
          quantity: object = 1, unit_price: object = 10) -> bytes:
    """One order event; quantity and unit_price are written as given (strings stay raw text)."""
    q = quantity if isinstance(quantity, str) else json.dumps(quantity)
    p = unit_price if isinstance(unit_price, str) else json.dumps(unit_price)
    t = json.dumps(event_time, ensure_ascii=False)
    s = json.dumps(status, ensure_ascii=False)
    return (
        f'{{"event_id":"{event_id}","event_type":"order_status_changed","event_time":{t},'
        f'"order_id":"ORD-{event_id}","status":{s},"customer":{{"customer_id":"C-1"}},'
        f'"items":[{{"product_id":"P-1","category":"Books","quantity":{q},"unit_price":{p}}}]}}'
    ).encode()


def follower() -> bytes:
    """The normal event sent after every hostile one: it must reach Silver."""
    return event("after", event_time="2026-11-24T10:00:05Z")


CASES = {
    "1 invalid UTF-8 detail": [event("c1", status="A" + "é" * 16)],
    "2 line amount overflow": [event("c2", quantity=1000000000, unit_price=10000000)],
    "3a unit_price 1844674407370956": [event("c3a", unit_price="1844674407370956")],
    "3b unit_price 1e14": [event("c3b", unit_price="100000000000000")],
    "4 event in 2099": [event("c4", status="CREATED", event_time="2099-01-01T00:00:00Z")],
    "6 year 0": [event("c6", event_time="0000-01-01T00:00:00+01:00")],
}


def create_topic(brokers: str, partitions: int) -> str:
    topic = f"hostile-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": brokers})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        f.result()
    return topic


def send(brokers: str, topic: str, values: list[bytes], transactional: bool = False,
         partition: int | None = None) -> None:
    conf = {"bootstrap.servers": brokers, "enable.idempotence": True, "log_level": 3}
    if transactional:
        conf["transactional.id"] = f"hostile-{uuid.uuid4().hex[:8]}"
    p = Producer(conf)
    if transactional:
        p.init_transactions()
        p.begin_transaction()
    for i, v in enumerate(values):
        kw = {} if partition is None else {"partition": partition}
        p.produce(topic, value=v, key=f"k{i}".encode(), **kw)
    if transactional:
        p.commit_transaction()
    p.flush()


def run(binary: str, brokers: str, topic: str, work: Path, timeout: float, *extra: str):
    cmd = [binary, "run", "--brokers", brokers, "--topic", topic, "--data-dir", str(work / "data"),
           "--checkpoint-dir", str(work / "ckpt"), "--until-caught-up", *extra]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        rc, tail = proc.returncode, ([l for l in lines if "medallion run" in l or " error " in l] or lines)[-1:]
    except subprocess.TimeoutExpired:
        rc, tail = "hung", []
    return rc, time.monotonic() - started, tail


def read_tables(data: Path) -> tuple[list[str], list[str], str]:
    """Quarantine codes, Silver event ids, and 'ok' or the first table delta-rs cannot read."""
    from deltalake import DeltaTable

    codes, silver, readable = [], [], "ok"
    for table in ["bronze/orders_raw", "quarantine/orders", "silver/order_lines", "late/order_lines",
                  "gold/revenue_by_category_window", "gold/top_products", "gold/customer_spend"]:
        path = data / table
        if not (path / "_delta_log").exists():
            continue
        try:
            t = DeltaTable(str(path)).to_pyarrow_table()
        except Exception as e:  # noqa: BLE001 - the failure is what this reports
            readable = f"{table}: {str(e).splitlines()[0][:80]}"
            continue
        if table == "quarantine/orders":
            codes = t.column("error").to_pylist()
        if table == "silver/order_lines":
            silver = t.column("event_id").to_pylist()
    return codes, silver, readable


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(REPO / "build/src/cli/medallion"))
    ap.add_argument("--brokers", default=f"127.0.0.1:{os.environ.get('MEDALLION_KAFKA_PORT', '19092')}")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, values) in enumerate(CASES.items()):
            # The hostile record in one run, then a normal event in a second run on the same tables.
            topic = create_topic(args.brokers, 1)
            send(args.brokers, topic, values)
            work = Path(tmp) / f"case-{i}"
            rc, secs, tail = run(args.bin, args.brokers, topic, work, args.timeout)
            send(args.brokers, topic, [follower()])
            rc2, secs2, tail2 = run(args.bin, args.brokers, topic, work, args.timeout)
            if rc == 0 and rc2 != 0:
                rc, tail = rc2, tail2
            secs += secs2
            codes, silver, readable = read_tables(work / "data")
            rows.append((name, rc, secs, ",".join(codes) or "-", "after" in silver, readable, tail))
        # 5: ten events in one committed transaction.
        topic = create_topic(args.brokers, 1)
        send(args.brokers, topic, [event(f"t{i}", event_time=f"2026-11-24T10:00:{i:02d}Z") for i in range(10)],
             transactional=True)
        work = Path(tmp) / "case5"
        rc, secs, tail = run(args.bin, args.brokers, topic, work, min(args.timeout, 30))
        codes, silver, readable = read_tables(work / "data")
        rows.append(("5 committed transaction", rc, secs, ",".join(codes) or "-", len(silver) == 10,
                     readable, tail))
        # 7: a holdout event six days ahead on partition 0, the rest spread over three partitions,
        # read in batches of 20; Silver must hold every line, in every run.
        counts = []
        for attempt in range(3):
            topic = create_topic(args.brokers, 3)
            base = 1764000000  # 2025-11-24T16:00:00Z
            sends = {0: [], 1: [], 2: []}
            for j in range(327):
                t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + j))
                sends[j % 3].append(event(f"h{attempt}-{j}", event_time=t))
            later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + 6 * 86400))
            sends[0].insert(5, event(f"h{attempt}-late", event_time=later))
            for part, values in sends.items():
                send(args.brokers, topic, values, partition=part)
            work = Path(tmp) / f"case7-{attempt}"
            rc, secs, tail = run(args.bin, args.brokers, topic, work, args.timeout, "--max-batch-records", "20")
            _, silver, _ = read_tables(work / "data")
            counts.append(f"{rc}:{len(silver)}")
        rows.append(("7 holdout, 3 runs (rc:silver)", "-", 0.0, " ".join(counts), "-", "-", []))
    print(f"{'case':34} {'exit':>5} {'secs':>6}  {'quarantine':28} {'after in silver':15} delta-rs")
    for name, rc, secs, codes, after, readable, tail in rows:
        print(f"{name:34} {str(rc):>5} {secs:6.1f}  {codes[:28]:28} {str(after):15} {readable}")
        if rc not in (0, "-") and tail:
            print(f"{'':34} {tail[0][:140]}")
    sys.stdout.flush()
    os._exit(0)  # delta-rs #2184: its binding can abort at interpreter exit


if __name__ == "__main__":
    sys.exit(main())
