"""Group mode's figures (docs/scale-out.md, issue 10), one run:

1. the same backlog (bench mix, --events, 8 partitions) read by one member, then by two members
   of another group into other tables: wall time to Bronze holding every record, events/s, and
   CPU-s per 1M events (utime + stime of the members, from /proc);
2. failover: two members on a steady load (--rate events/s); one is SIGKILLed, and the time
   until every partition it held moves on in Bronze is taken (the group's session timeout,
   --session-timeout-ms, is most of it);
3. the Gold stage: its CPU per 1M Silver lines beside the failover's members (it starts on
   the whole backlog), and, on a fresh topic fed --rate events/s for 30 s and read by two
   members, how long after a Silver version's commit a Gold commit holds it (staleness).

    .venv/bin/python bench/group.py [--events N] [--rate R] [--binary B] [--out DIR]

Needs the local broker (scripts/kafka.sh start). Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BROKERS = f"127.0.0.1:{os.environ.get('MEDALLION_KAFKA_PORT', '19092')}"
MIX = ["--duplicate-fraction", "0.02", "--late-fraction", "0.02", "--malformed-fraction", "0.005",
       "--invalid-fraction", "0.005"]
TICK = os.sysconf("SC_CLK_TCK")


def bronze_positions(data: Path, topic: str) -> dict[int, int]:
    """Each partition's next offset in Bronze's log (its latest txn)."""
    out: dict[int, int] = {}
    for entry in glob.glob(str(data / "bronze" / "orders_raw" / "_delta_log" / "*.json")):
        for line in Path(entry).read_text().splitlines():
            txn = json.loads(line).get("txn")
            if txn and txn["appId"].rsplit("/", 2)[-2:-1] == [topic]:
                p = int(txn["appId"].rsplit("/", 1)[-1])
                out[p] = max(out.get(p, 0), txn["version"])
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Members:
    def __init__(self, binary: str, topic: str, group: str, data: Path, ckpt: Path, config: Path, logs: Path):
        self.args = [binary, "run", "--config", str(config), "--brokers", BROKERS, "--topic", topic,
                     "--group-id", group, "--scale-mode", "group", "--data-dir", str(data),
                     "--checkpoint-dir", str(ckpt), "--trigger-interval", "100ms"]
        self.logs = logs
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")
        proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        proc.log_path = self.logs / f"{name}.log"
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            p.wait(timeout=60)


def wait_until(data: Path, topic: str, total: int, timeout: float) -> float:
    start = time.monotonic()
    while sum(bronze_positions(data, topic).values()) < total:
        if time.monotonic() - start > timeout:
            sys.exit(f"Bronze holds {sum(bronze_positions(data, topic).values())} of {total} after {timeout} s")
        time.sleep(0.2)
    return time.monotonic() - start


def entries(table: Path) -> list[tuple[int, int, dict]]:
    """(version, commit timestamp in ms, {appId: txn version}) of each log entry."""
    out = []
    for entry in glob.glob(str(table / "_delta_log" / "*.json")):
        ts, txns = 0, {}
        for line in Path(entry).read_text().splitlines():
            action = json.loads(line)
            if "commitInfo" in action:
                ts = action["commitInfo"].get("timestamp", 0)
            elif "txn" in action:
                txns[action["txn"]["appId"]] = action["txn"]["version"]
        out.append((int(Path(entry).stem), ts, txns))
    return sorted(out)


def gold_staleness(data: Path, since_ms: int) -> list[float]:
    """For each Silver version committed after `since_ms`: seconds until a customer_spend
    commit's Gold txn reached it."""
    gold = [(ts, w) for _, ts, txns in entries(data / "gold" / "customer_spend")
            for app, w in txns.items() if app.endswith("-gold")]
    out = []
    for v, ts, _ in entries(data / "silver" / "order_lines"):
        if ts < since_ms:
            continue
        reached = [g_ts for g_ts, w in gold if w >= v]
        if reached:
            out.append((min(reached) - ts) / 1000)
    return sorted(out)


def silver_lines(data: Path) -> int:
    total = 0
    for entry in glob.glob(str(data / "silver" / "order_lines" / "_delta_log" / "*.json")):
        for line in Path(entry).read_text().splitlines():
            add = json.loads(line).get("add")
            if add and add.get("dataChange", True) and add.get("stats"):
                total += json.loads(add["stats"]).get("numRecords", 0)
    return total


def start_gold(binary: str, topic: str, data: Path, ckpt: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([binary, "run", "--brokers", BROKERS, "--topic", topic, "--scale-mode", "gold",
                             "--data-dir", str(data), "--checkpoint-dir", str(ckpt), "--trigger-interval", "100ms"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)


def wait_gold(data: Path, timeout: float = 120) -> None:
    """Until a Gold commit holds Silver's latest version."""
    silver_last = entries(data / "silver" / "order_lines")[-1][0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(
            w >= silver_last for _, _, txns in entries(data / "gold" / "customer_spend")
            for app, w in txns.items() if app.endswith("-gold")):
        time.sleep(0.2)


def held_partitions(log: Path) -> set[int]:
    """The partitions a member holds, from its took/released log lines."""
    held: set[int] = set()
    for line in log.read_text(errors="replace").splitlines():
        if m := re.search(r"took partitions ([\d@, ]+) of", line):
            held |= {int(x.split("@")[0]) for x in m.group(1).split(", ")}
        elif m := re.search(r"released partitions ([\d, ]+) of", line):
            held -= {int(x) for x in m.group(1).split(", ")}
    return held


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--session-timeout-ms", type=int, default=6000)
    ap.add_argument("--binary", default=str(REPO / "build" / "src" / "cli" / "medallion"))
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    out = Path(a.out or tempfile.mkdtemp(prefix="group-bench-", dir=REPO / "bench" / ".work"
                                          if (REPO / "bench" / ".work").exists() else None))
    out.mkdir(parents=True, exist_ok=True)
    config = out / "group.toml"
    config.write_text(f'[kafka.properties]\n"session.timeout.ms" = "{a.session_timeout_ms}"\n'
                      f'"heartbeat.interval.ms" = "{max(500, a.session_timeout_ms // 6)}"\n')
    stamp = int(time.time())
    topic = f"bench-group-{stamp}"
    subprocess.run([a.binary, "produce", "--brokers", BROKERS, "--topic", topic, "--create-topic-partitions",
                    str(a.partitions), "--count", str(a.events), "--seed", "11", *MIX], check=True,
                   stdout=subprocess.DEVNULL)
    rows = []
    for n in (1, 2):
        m = Members(a.binary, topic, f"{topic}-g{n}", out / f"data{n}", out / f"ckpt{n}", config, out)
        procs = [m.start(f"backlog-{n}-{i}") for i in range(n)]
        wall = wait_until(out / f"data{n}", topic, a.events, timeout=1800)
        cpu = sum(cpu_seconds(p.pid) for p in procs)
        m.stop()
        rows.append((n, wall, a.events / wall, cpu * 1e6 / a.events))

    # Failover under a steady load.
    m = Members(a.binary, topic, f"{topic}-fail", out / "data-fail", out / "ckpt-fail", config, out)
    victim, survivor = m.start("fail-a"), m.start("fail-b")
    gold = start_gold(a.binary, topic, out / "data-fail", out / "ckpt-fail", out / "gold-fail.log")
    wait_until(out / "data-fail", topic, a.events, timeout=1800)
    load = subprocess.Popen([a.binary, "produce", "--brokers", BROKERS, "--topic", topic, "--rate", str(a.rate),
                             "--count", str(a.rate * 40), "--seed", "12", *MIX], stdout=subprocess.DEVNULL)
    time.sleep(8)
    held = held_partitions(victim.log_path)
    victim.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    victim.wait()
    before = bronze_positions(out / "data-fail", topic)  # where the dead member left them
    recovered = None
    while time.monotonic() - killed < 120:
        now = bronze_positions(out / "data-fail", topic)
        if held and all(now.get(p, 0) > before.get(p, 0) for p in held):
            recovered = time.monotonic() - killed
            break
        time.sleep(0.1)
    load.wait()
    wait_until(out / "data-fail", topic, a.events + a.rate * 40, timeout=300)
    wait_gold(out / "data-fail")
    gold_cpu = cpu_seconds(gold.pid)
    gold.send_signal(signal.SIGTERM)
    gold.wait(timeout=60)
    m.stop()
    lines = silver_lines(out / "data-fail")

    # Gold staleness on a live topic: two members and the Gold stage, then a steady load.
    live = f"{topic}-live"
    subprocess.run([a.binary, "produce", "--brokers", BROKERS, "--topic", live, "--create-topic-partitions",
                    str(a.partitions), "--count", "1", "--seed", "13"], check=True, stdout=subprocess.DEVNULL)
    m = Members(a.binary, live, f"{live}-g", out / "data-live", out / "ckpt-live", config, out)
    m.start("live-a"), m.start("live-b")
    gold = start_gold(a.binary, live, out / "data-live", out / "ckpt-live", out / "gold-live.log")
    time.sleep(8)  # the group settles
    load_started_ms = int(time.time() * 1000) + 3000  # after the first seconds of load
    subprocess.run([a.binary, "produce", "--brokers", BROKERS, "--topic", live, "--rate", str(a.rate),
                    "--count", str(a.rate * 30), "--seed", "14", *MIX], check=True, stdout=subprocess.DEVNULL)
    wait_until(out / "data-live", live, a.rate * 30 + 1, timeout=300)
    wait_gold(out / "data-live")
    gold.send_signal(signal.SIGTERM)
    gold.wait(timeout=60)
    m.stop()
    staleness = gold_staleness(out / "data-live", load_started_ms)

    print(f"group mode, {a.events} events (bench mix), {a.partitions} partitions, one run; work: {out}")
    print("| members | wall to Bronze complete | events/s | CPU-s per 1M events (all members) |")
    print("|---:|---:|---:|---:|")
    for n, wall, eps, cpu in rows:
        print(f"| {n} | {wall:.1f} s | {eps:,.0f} | {cpu:.2f} |")
    print(f"overhead per event, two members against one: {100 * (rows[1][3] / rows[0][3] - 1):+.1f}%")
    print(f"failover: member holding partitions {sorted(held)} SIGKILLed at {a.rate} events/s; every one of "
          f"them moved on in Bronze after {recovered:.1f} s" if recovered is not None else
          f"failover: partitions {sorted(held)} did not move on within 120 s")
    print(f"(session.timeout.ms = {a.session_timeout_ms}: the group notices a dead member after it)")
    if staleness:
        pick = lambda q: staleness[min(len(staleness) - 1, int(q * len(staleness)))]
        print(f"Gold stage: {len(staleness)} Silver versions under the load reached Gold after "
              f"p50 {pick(0.5):.2f} s, p99 {pick(0.99):.2f} s, max {staleness[-1]:.2f} s "
              f"({a.rate} events/s, members and Gold stage with a 100ms trigger)")
    merges = [float(cpu) for cpu in re.findall(r"compaction: table .* ([0-9.]+) CPU-s", (out / "gold-fail.log").read_text())]
    print(f"Gold stage CPU: {gold_cpu:.1f} s for {lines:,} Silver lines, "
          f"{gold_cpu * 1e6 / max(lines, 1):.2f} CPU-s per 1M lines; of which compacting the members' "
          f"tables {sum(merges):.1f} s in {len(merges)} commits")


if __name__ == "__main__":
    main()
