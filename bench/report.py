"""Writes bench/results/results.md and results.png from the figures bench/run.sh collected in
its work directory (JSON files; missing ones are shown as "-")."""

import argparse
import json
import os
import platform
import re
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(work, name):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def kafka_ceiling(work):
    """Parses ConsumerPerformance's CSV line: start, end, MB, MB/s, msgs, msgs/s, rebalance ms,
    fetch ms, fetch MB/s, fetch msgs/s."""
    path = os.path.join(work, "ceiling_kafka.txt")
    if not os.path.exists(path) or not open(path).read().strip():
        return None
    f = [x.strip() for x in open(path).read().strip().split(",")]
    return {"events": int(f[4]), "mb_per_s": float(f[3]), "events_per_s": float(f[5]),
            "fetch_events_per_s": float(f[9]), "fetch_mb_per_s": float(f[8])}


PAYMENT_LINE = re.compile(
    r"batch (\d+) payments: (\d+) records, (\d+) quarantined, (\d+) matched, reconciliation: (.*?); "
    r"join state: (\d+) orders and (\d+) payments waiting, watermark (\S+)")


def payment_batches(work):
    """The per-batch payment lines of medallion_join.log, as dicts (batch order)."""
    path = os.path.join(work, "medallion_join.log")
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path, errors="replace"):
        m = PAYMENT_LINE.search(line)
        if not m:
            continue
        reasons = {}
        if m.group(5) != "none":
            for part in m.group(5).split(", "):
                count, reason = part.split(" ", 1)
                reasons[reason] = int(count)
        out.append({"batch": int(m.group(1)), "records": int(m.group(2)), "quarantined": int(m.group(3)),
                    "matched": int(m.group(4)), "reasons": reasons, "orders_waiting": int(m.group(6)),
                    "payments_waiting": int(m.group(7)), "watermark": m.group(8)})
    return out


def payment_join_section(work, n, plain, join, spark, agree):
    """The "Payment join" section (bench/run.sh --payments), or [] without a join run."""
    if join is None:
        return []
    batches = payment_batches(work)
    per_m = lambda r: r["cpu_s"] / (n / 1e6) if r else None
    md = ["", "## Payment join\n",
          "`medallion run --payments-topic`: the orders topic joined with its payments topic (EVENTS.md: "
          "silver/order_payments, gold/payment_reconciliation, plus bronze/payments_raw and quarantine/payments), "
          "same run and same orders topic as the orders-only figures above, own data and checkpoint. "
          "CPU is per 1M *order* events (the payment records come on top). Spark's row in the table above "
          "already ran with `--payments-topic`: its figures include the join (and its payments Bronze/Quarantine).\n",
          "| run | wall s | CPU s (user+sys) | CPU s per 1M order events | peak memory MB (process tree) |",
          "|---|---:|---:|---:|---:|"]
    for name, r in (("medallion, orders only", plain), ("medallion, with the payment join", join),
                    ("Spark 4 (local[2]), with the payment join", spark)):
        if r:
            md.append(f"| {name} | {fmt(r['wall_s'], 1)} | {fmt(r['cpu_s'], 1)} | {fmt(per_m(r), 2)} "
                      f"| {fmt(r['peak_tree_rss_mb'])} |")
    if plain and join:
        md.append(f"\nThe join costs medallion {fmt(per_m(join) - per_m(plain), 2)} CPU s per 1M order events "
                  f"({(join['cpu_s'] / plain['cpu_s'] - 1) * 100:+.0f}%) and "
                  f"{fmt(join['peak_tree_rss_mb'] - plain['peak_tree_rss_mb'])} MB of peak memory.")
    if batches:
        reasons = {}
        for b in batches:
            for k, v in b["reasons"].items():
                reasons[k] = reasons.get(k, 0) + v
        md.append(f"\nFrom medallion_join.log ({len(batches)} batches): {sum(b['records'] for b in batches):,} payment "
                  f"records, {sum(b['quarantined'] for b in batches):,} quarantined, "
                  f"{sum(b['matched'] for b in batches):,} matches; reconciliation rows: "
                  + (", ".join(f"{v:,} {k}" for k, v in sorted(reasons.items())) or "none") + ".")
        picks = [("first", batches[0]), ("middle", batches[len(batches) // 2]), ("last", batches[-1])]
        md += ["", "| join state after batch | orders waiting | payments waiting | join watermark |", "|---|---:|---:|---|"]
        for label, b in picks:
            md.append(f"| {label} ({b['batch']}) | {b['orders_waiting']:,} | {b['payments_waiting']:,} | {b['watermark']} |")
        waiting = lambda b: b["orders_waiting"] + b["payments_waiting"]
        first, mid, last = (waiting(b) for _, b in picks)
        if len(batches) < 3:
            verdict = "too few batches to tell whether it stays flat"
        elif last > 1.5 * max(1, first, mid):
            verdict = (f"not flat, it grows: {last:,} rows waiting after the last batch against {mid:,} in the middle "
                       f"and {first:,} after the first")
        else:
            verdict = (f"flat, it does not grow with the stream: {last:,} rows waiting after the last batch, "
                       f"{mid:,} in the middle, {first:,} after the first")
            if last * 1.5 < mid:
                verdict += (f" (lower at the end: the last batch brought {batches[-1]['records']:,} payment records, "
                            f"against {picks[1][1]['records']:,} in the middle one)")
        md.append(f"\nJoin state: {verdict}.")
    if agree:
        rows = [c for c in agree["checks"] if c["check"].startswith("payment join")]
        if rows:
            md += ["", "Agreement of the payment tables (from the table above):\n",
                   "| check | medallion | Spark | equal |", "|---|---|---|---|"]
            for c in rows:
                md.append(f"| {c['check']}{'' if c['in_verdict'] else ' (info)'} | {c['medallion']} | {c['spark']} "
                          f"| {'yes' if c['equal'] else 'no'} |")
    return md


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    java = subprocess.run([os.path.join(os.environ.get("JAVA_HOME", "/usr"), "bin", "java"), "-version"],
                          capture_output=True, text=True).stderr.splitlines()[0]
    load = open("/proc/loadavg").read().split()[:3]
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kb / 2**20, 1), "kernel": platform.release(),
            "java": java, "python": platform.python_version(), "load": " ".join(load)}


def versions(medallion):
    import deltalake
    import duckdb
    import pyspark
    out = {"pyspark": pyspark.__version__, "duckdb": duckdb.__version__, "deltalake": deltalake.__version__}
    try:
        out["librdkafka"] = subprocess.run(["pkg-config", "--modversion", "rdkafka"], capture_output=True,
                                           text=True).stdout.strip()
    except OSError:
        pass
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        # Changes to tracked files, other than the results this report rewrites.
        edited = subprocess.run(["git", "-C", root, "diff", "--quiet", "HEAD", "--", ".",
                                 ":(exclude)bench/results"]).returncode != 0
        out["medallion commit"] = commit + (" (+ uncommitted changes)" if edited else "")
    except OSError:
        pass
    return out


def fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}" if isinstance(v, (int, float)) else str(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--rate", type=int, required=True)
    ap.add_argument("--latency-seconds", type=int, required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--latency-settings", default="--trigger-interval 100ms --max-batch-wait 10ms")
    ap.add_argument("--medallion", required=True)
    a = ap.parse_args()
    w = a.work
    n = a.events
    engines = {"medallion": load(w, "medallion.json"), "Spark 4 (local[2])": load(w, "spark.json")}
    lat = {"medallion": load(w, "latency_medallion.json"), "Spark 4 (local[2])": load(w, "latency_spark.json")}
    agree = load(w, "agree.json")
    ck, rd = kafka_ceiling(w), load(w, "ceiling_rdkafka.json")
    floor = load(w, "floor_bronze.json")
    produce = open(os.path.join(w, "produce.txt")).read().strip() if os.path.exists(os.path.join(w, "produce.txt")) else ""
    m = machine()

    rows = []
    for name, r in engines.items():
        if r is None:
            rows.append((name, None, None, None, None, None, None, None, None))
            continue
        l = lat.get(name) or {}
        rows.append((name, r["wall_s"], n / r["wall_s"], r["cpu_s"], r["cpu_s"] / (n / 1e6), r["peak_tree_rss_mb"],
                     l.get("p50_ms"), l.get("p99_ms"), l.get("rows")))

    md = [f"# medallion vs Spark Structured Streaming\n",
          f"Command: `{a.command}`  \nInput: {n:,} events in {a.partitions} partitions ({produce})\n",
          "## Throughput (drain the pre-filled topic from an empty checkpoint) and latency\n",
          "| engine | wall s | events/s | CPU s (user+sys) | CPU s per 1M events | peak memory MB (process tree) "
          f"| latency p50 ms | latency p99 ms | latency rows |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        md.append(f"| {r[0]} | {fmt(r[1], 1)} | {fmt(r[2])} | {fmt(r[3], 1)} | {fmt(r[4], 2)} | {fmt(r[5])} "
                  f"| {fmt(r[6])} | {fmt(r[7])} | {fmt(r[8])} |")
    for name, r in engines.items():
        if r and r.get("note"):
            md.append(f"\nNote on {name}: {r['note']}")
    join = load(w, "medallion_join.json")
    if join and engines["Spark 4 (local[2])"]:
        md.append("\nNote on Spark: this run used `--payments`, so Spark's figures include the payment join and "
                  "the payments topic, while medallion's row is its orders-only run; see \"Payment join\" for "
                  "medallion with the join.")
    for r in rows:
        if r[2] and r[6] and r[2] < a.rate:
            md.append(f"\n{r[0]} drains {r[2]:,.0f} events/s on this machine, below the offered {a.rate:,} events/s: "
                      "its latency figures measure a growing backlog, not its best-case latency.")
    stalls = (lat["medallion"] or {}).get("disk_stalls")
    if stalls:
        md.append(f"\nIn medallion's latency run {stalls} batch(es) waited on a stalled disk (fsyncs of 0.1 s or longer, "
                  "logged by the engine): the broker shares this machine's disk, and fsync waits while the kernel "
                  "writes the broker's data back. The p99 includes them.")
    md += ["", "## Raw-consume ceiling (records read and dropped, no processing) and the Bronze floor\n",
           "| consumer | events/s | MB/s | CPU s per 1M events |", "|---|---:|---:|---:|"]
    if ck:
        md.append(f"| Kafka ConsumerPerformance (Java), whole run | {fmt(ck['events_per_s'])} | {fmt(ck['mb_per_s'], 1)} | |")
        md.append(f"| Kafka ConsumerPerformance, fetch phase only | {fmt(ck['fetch_events_per_s'])} | {fmt(ck['fetch_mb_per_s'], 1)} | |")
    per_m = lambda r: fmt(r["cpu_s"] / (r["events"] / 1e6), 2) if r.get("cpu_s") else ""
    if rd:
        md.append(f"| bare librdkafka loop (bench/consume_ceiling.cc) | {fmt(rd['events_per_s'])} | {fmt(rd['mb_per_s'], 1)} | {per_m(rd)} |")
    if floor:
        md.append(f"| the same loop writing only Bronze (copy + zstd Parquet, `--bronze-dir`) | {fmt(floor['events_per_s'])} "
                  f"| {fmt(floor['mb_per_s'], 1)} | {per_m(floor)} |")
    if rows[0][2] and rd:
        md.append(f"\nmedallion reaches {rows[0][2] / rd['events_per_s'] * 100:.0f}% of the librdkafka ceiling.")
    if floor and rd:
        md.append(f"Writing Bronze alone, with no parsing and no other table, reaches "
                  f"{floor['events_per_s'] / rd['events_per_s'] * 100:.0f}% of it.")
    if rows[0][4] and rows[1][4]:
        md.append(f"Spark uses {rows[1][4] / rows[0][4]:.1f}x medallion's CPU per event and "
                  f"{rows[1][5] / rows[0][5]:.1f}x its peak memory; medallion is {rows[0][2] / rows[1][2]:.1f}x faster.")
    md += ["", "## Agreement of the two engines' tables\n"]
    if agree:
        md += [f"**{agree['verdict']}**\n", "| check | medallion | Spark | equal |", "|---|---|---|---|"]
        for c in agree["checks"]:
            md.append(f"| {c['check']}{'' if c['in_verdict'] else ' (info)'} | {c['medallion']} | {c['spark']} "
                      f"| {'yes' if c['equal'] else 'no'} |")
        md.append(f"\nmedallion set {agree['late_window_final_lines']} late lines aside (window already final) and "
                  f"{agree['late_beyond_horizon_lines']} beyond its dedup horizon; Spark (no watermark) counts every line, "
                  "so medallion's Gold plus those lines is what must equal Spark's Gold.")
    else:
        md.append("not run (--skip-spark)")
    md += payment_join_section(w, n, engines["medallion"], join, engines["Spark 4 (local[2])"], agree)
    md += ["", "## How it was measured\n",
           "- Both engines read the same topic, from the beginning, with an empty checkpoint, and write Bronze, "
           "Quarantine, Silver and Gold. medallion: `medallion run --until-caught-up` (batches of at most 200k "
           "records and 48 MiB, about 78k records of this mix). Spark: `bench/spark_job.py`, availableNow trigger, maxOffsetsPerTrigger 200000, local[2], "
           "4 shuffle partitions, two queries (raw: Bronze+Quarantine; curated: from_json, PAID, "
           "dropDuplicates(event_id) without watermark, explode, Silver, Gold merged in foreachBatch). Spark writes "
           "plain Parquet; medallion writes Parquet with a Delta log.",
           "- wall and CPU: `/usr/bin/time -v` (CPU includes the children it waits for: the JVM under spark-submit). "
           "Peak memory: the sum over the whole process tree (JVM + Python driver for Spark) of each process's PSS, "
           "sampled every 0.2 s with psutil, and never less than time's maximum RSS of a single process.",
           f"- latency: a fresh topic, a warm-up of 1000 events, then `medallion produce --rate {a.rate}` for "
           f"{a.latency_seconds} s; latency = (time the Silver row became visible) - (Kafka CreateTime of its record, "
           "from the engine's Bronze). Visible = commitInfo.timestamp of the Delta version adding the file (medallion, "
           f"`{a.latency_settings}`); wall clock right after the foreachBatch Silver write (Spark, "
           "processingTime 100ms). `latency rows` = Silver rows measured (compare the two to see whether an engine kept up).",
           "", "## Machine\n",
           f"- {m['nproc']} CPUs: {m['cpu']}; {m['ram_gib']} GiB RAM; Linux {m['kernel']}",
           f"- {m['java']}; Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in versions(a.medallion).items()),
           f"- load average at the end: {m['load']}. The machine was shared with other builds and tests while this ran, "
           "so every figure is noisy; rerun for numbers of record.", ""]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(md))

    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    names = [r[0] for r in rows]
    colors = ["#2a7ab9", "#e8743b"]
    panels = [("events/s (higher is better)", [r[2] for r in rows]),
              ("CPU s per 1M events (lower is better)", [r[4] for r in rows]),
              ("peak memory MB (lower is better)", [r[5] for r in rows]),
              ("latency p99 ms (lower is better)", [r[7] for r in rows])]
    for ax, (title, values) in zip(axes, panels):
        vals = [v or 0 for v in values]
        bars = ax.bar(names, vals, color=colors)
        if title.startswith("events/s"):
            ax.set_yscale("log")
            ax.set_title(title + ", log scale", fontsize=10)
            for label, v, c in [("librdkafka ceiling", rd and rd["events_per_s"], "#555"),
                                ("Kafka Java ceiling", ck and ck["fetch_events_per_s"], "#999")]:
                if v:
                    ax.axhline(v, ls="--", color=c, lw=1)
                    ax.text(-0.4, v, label, va="bottom", fontsize=8, color=c)
        for b, v in zip(bars, values):
            ax.text(b.get_x() + b.get_width() / 2, b.get_height(), fmt(v), ha="center", va="bottom", fontsize=8)
        if not title.startswith("events/s"):
            ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"medallion vs Spark Structured Streaming — {n:,} events, {m['nproc']} cores (shared machine)", fontsize=11)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "results.png"), dpi=110)
    print(open(os.path.join(a.out, "results.md")).read())


if __name__ == "__main__":
    main()
