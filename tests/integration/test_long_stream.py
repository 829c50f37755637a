"""Issue 4: over a long stream, state and memory stop growing once the watermark moves.

Several million generated events (event time advancing 10 ms per event, so the stream spans
hours of event time) are produced with their payments on a second topic, then
`run --until-caught-up --payments-topic` processes both while this test samples the engine's
resident memory every 0.2 s and reads the state sizes each batch reports. With a 2-minute dedup
horizon, 1-minute windows and a payment join of -15 min/+1 h, the dedup ids, the open windows
and the orders and payments waiting in the join must level off after the first batches, and
memory must stop growing. The figures are printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from statistics import median

from conftest import BINARY

EVENTS = int(os.environ.get("MEDALLION_LONG_STREAM_EVENTS", "3000000"))
BATCH_LINE = re.compile(
    r"batch (\d+).*?(\d+) late lines, watermark (\S+), state: (\d+) dedup ids, "
    r"(\d+) open window groups, (\d+) bytes")
JOIN_LINE = re.compile(r"batch (\d+) payments: (\d+) records, .*?(\d+) matched, .*join state: "
                       r"(\d+) orders and (\d+) payments waiting")


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def test_state_and_memory_stay_flat(broker, medallion, make_topic, tmp_path):
    topic, payments = make_topic(4), make_topic(4)
    produced = medallion("produce", "--brokers", broker, "--topic", topic, "--count", EVENTS,
                         "--seed", 99, "--duplicate-fraction", 0.02, "--late-fraction", 0.01,
                         "--late-by-seconds", 90, "--malformed-fraction", 0.001,
                         "--invalid-fraction", 0.001, "-X", "compression.type=lz4",
                         "--payments-topic", payments, timeout=600)
    assert f"produced {EVENTS} events" in produced.stdout

    cmd = [str(BINARY), "run", "--brokers", broker, "--topic", topic, "--data-dir",
           str(tmp_path / "data"), "--checkpoint-dir", str(tmp_path / "ckpt"),
           "--until-caught-up", "--max-batch-records", "100000", "--allowed-lateness", "1m",
           "--dedup-horizon", "2m", "--window-size", "1m", "--payments-topic", payments]
    log_path = tmp_path / "run.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        samples = []  # (seconds, rss KiB)
        while proc.poll() is None:
            samples.append((time.monotonic() - started, rss_kib(proc.pid)))
            time.sleep(0.2)
            assert time.monotonic() - started < 600, "long stream run did not finish in 10 min"
    assert proc.returncode == 0, log_path.read_text()[-3000:]

    text = log_path.read_text()
    batches = [tuple(m.groups()) for m in BATCH_LINE.finditer(text)]
    joins = [tuple(int(g) for g in m.groups()) for m in JOIN_LINE.finditer(text)]
    assert len(joins) == len(batches), "every batch logs its payments"
    assert len(batches) >= 12, f"expected many batches, got {len(batches)}"
    dedup = [int(b[3]) for b in batches]
    windows = [int(b[4]) for b in batches]
    state_bytes = [int(b[5]) for b in batches]
    late = sum(int(b[1]) for b in batches)
    rss = [kib for _, kib in samples if kib > 0]

    third = len(batches) // 3
    print(f"\nlong stream: {EVENTS} events, {len(batches)} batches, "
          f"{time.monotonic() - started:.1f} s, {late} late lines")
    print("batch  dedup_ids  open_windows  state_bytes")
    for i in range(0, len(batches), max(1, len(batches) // 12)):
        print(f"{i:5d}  {dedup[i]:9d}  {windows[i]:12d}  {state_bytes[i]:11d}")
    rss_third = len(rss) // 3
    print(f"median dedup ids: middle third {median(dedup[third:2 * third]):.0f}, "
          f"last third {median(dedup[2 * third:]):.0f}")
    print(f"peak RSS: first third {max(rss[:rss_third]) // 1024} MiB, middle "
          f"{max(rss[rss_third:2 * rss_third]) // 1024} MiB, last "
          f"{max(rss[2 * rss_third:]) // 1024} MiB")

    # State levels off: the last third of the stream holds no more than the middle third,
    # instead of growing with the stream. The ids a batch leaves behind span the dedup horizon,
    # the lateness and how far the leading partition ran ahead of the slowest at the batch's
    # end. Draining, the partitions advance together (within 1/1024 of their backlogs, or what
    # the others read while a slow partition's fetch is late, 100 ms at most), so the typical
    # batch (the median) holds the same count throughout and no batch holds twice as many.
    # State that grew with the stream would put the last third's median 1.7x above the middle
    # third's (5/6 of the stream against 3/6), as it did when equal counts were read.
    middle = median(dedup[third:2 * third])
    assert median(dedup[2 * third:]) <= 1.3 * middle, dedup
    assert max(dedup[third:]) <= 2 * middle, dedup
    assert median(state_bytes[2 * third:]) <= 1.3 * median(state_bytes[third:2 * third]), (
        state_bytes)
    assert max(windows) < 200, windows
    # The state is a small fraction of what a never-evicting dedup would hold.
    assert max(dedup) < EVENTS // 10, max(dedup)
    # The join holds the orders whose payment has not come yet (most come within minutes, a
    # tenth within the hour) and those that never get one, for an hour of event time; payments
    # wait for orders only as far as one topic runs ahead of the other in event time, and the
    # payments are read in proportion to the orders. Both level off like the dedup ids.
    waiting_orders = [j[3] for j in joins]
    waiting_payments = [j[4] for j in joins]
    print("batch  payment_records  matched  orders_waiting  payments_waiting")
    for i in range(0, len(joins), max(1, len(joins) // 12)):
        print(f"{i:5d}  {joins[i][1]:15d}  {joins[i][2]:7d}  {joins[i][3]:14d}  {joins[i][4]:16d}")
    print(f"median join state: orders middle third {median(waiting_orders[third:2 * third]):.0f}, last "
          f"{median(waiting_orders[2 * third:]):.0f}; payments middle {median(waiting_payments[third:2 * third]):.0f}, "
          f"last {median(waiting_payments[2 * third:]):.0f}; matched {sum(j[2] for j in joins)}")
    assert sum(j[2] for j in joins) > EVENTS // 4, "most PAID orders should find their payment"
    for name, series in (("orders", waiting_orders), ("payments", waiting_payments)):
        mid = max(1.0, median(series[third:2 * third]))
        assert median(series[2 * third:]) <= 1.3 * mid, (name, series)
        # No batch far above it either. The bound leaves room for one topic running ahead of
        # the other for a few batches (a poll that returned early under load: up to 3.4x the
        # median payments seen here, on main as well); state growing with the stream fails
        # the median check above long before.
        assert max(series[third:]) <= 4 * mid + 1000, (name, series)
    # Memory: the last third does not grow past the middle third.
    assert max(rss[2 * rss_third:]) <= 1.25 * max(rss[rss_third:2 * rss_third]), (
        max(rss[rss_third:2 * rss_third]), max(rss[2 * rss_third:]))
