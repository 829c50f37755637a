"""The figures of one bench/continuous.sh run, from its work directory.

    python continuous_report.py --out WORK [--perf-dir WORK]

WORK holds run.json (CPU ticks, batch counts and times noted by continuous.sh), engine.log
(the engine's batch log lines), threads0.tsv/threads1.tsv (CPU ticks per thread), data/ (the
tables) and latency.json (bench/latency.py). Everything counted over the load: the batches whose
log lines came after the load began, the Delta log entries committed from its start until the
engine had read every produced record.
"""

import argparse
import collections
import glob
import json
import os
import re
import statistics

BATCH = re.compile(
    r" info batch (\d+): (\d+) records, (\d+) quarantined, (\d+) events, (\d+) new PAID, (\d+) silver lines, "
    r"(\d+) late lines, .*? ([0-9.]+) s \(write ([0-9.]+); Bronze built and parsed before in ([0-9.]+)\)")


def batches(log_path, first, last):
    """The batch log lines from index `first` to `last` (0-based, end exclusive)."""
    out = []
    with open(log_path) as f:
        lines = [l for l in f if re.search(r" info batch \d+: ", l)]
    for line in lines[first:last]:
        m = BATCH.search(line)
        if not m:
            continue
        g = m.groups()
        out.append({"id": int(g[0]), "records": int(g[1]), "quarantined": int(g[2]), "events": int(g[3]),
                    "silver_lines": int(g[5]), "late_lines": int(g[6]), "seconds": float(g[7]),
                    "write": float(g[8]), "parse": float(g[9])})
    return out


def tables(data):
    """Every table under `data`: the directories that hold a _delta_log, by relative name."""
    found = sorted(os.path.dirname(p) for p in glob.glob(f"{data}/**/_delta_log", recursive=True))
    return {os.path.relpath(t, data): t for t in found}


def log_entries(table, since_ms, until_ms):
    """The table's log entries committed in [since_ms, until_ms]: (version, txn version, adds, removes)."""
    out = []
    for path in sorted(glob.glob(f"{table}/_delta_log/*.json")):
        ts, txn, adds, removes = None, None, 0, 0
        with open(path) as f:
            for line in f:
                action = json.loads(line)
                if "commitInfo" in action:
                    ts = action["commitInfo"].get("timestamp")
                elif "txn" in action and "/" not in action["txn"].get("appId", ""):
                    # The query's txn (its batch), not the per-partition source positions.
                    txn = action["txn"].get("version")
                elif "add" in action:
                    adds += 1
                elif "remove" in action:
                    removes += 1
        ts = ts or int(os.path.getmtime(path) * 1000)
        if since_ms <= ts <= until_ms:
            out.append((int(os.path.basename(path).split(".")[0]), txn, adds, removes))
    return out


def checkpoints(table, since_ms, until_ms):
    n = 0
    for path in glob.glob(f"{table}/_delta_log/*.checkpoint*.parquet"):
        if since_ms <= os.path.getmtime(path) * 1000 <= until_ms + 1000:
            n += 1
    return n


def thread_cpu(out, clk_tck):
    """CPU-s per thread name over the load (threads of one name summed)."""
    def read(path):
        d = collections.Counter()
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    parts = line.rstrip("\n").split("\t")
                    if len(parts) == 2 and parts[1]:
                        d[re.sub(r"\d+$", "#", parts[0])] += int(parts[1])
        return d
    before, after = read(f"{out}/threads0.tsv"), read(f"{out}/threads1.tsv")
    return {k: (after[k] - before.get(k, 0)) / clk_tck for k in after}


def q(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


def dirty_expire_seconds():
    """How old dirty page-cache data gets before the kernel writes it back (seconds), or "?"."""
    try:
        with open("/proc/sys/vm/dirty_expire_centisecs") as f:
            return f"{int(f.read()) / 100:g}"
    except (OSError, ValueError):
        return "?"


def compaction_merges(log):
    """The compactor's merges from the engine log's "compaction: table T version V: N files -> M
    (A -> B bytes, R rows; J files joined by copying row groups) in W s, C CPU-s" lines (earlier
    builds: "; F files' rows from memory", or nothing there)."""
    pattern = re.compile(r"compaction: table (\S+) version \d+: (\d+) files -> \d+ \((\d+) -> \d+ bytes, (\d+) rows"
                         r"(?:; (\d+) files( joined by copying row groups|' rows from memory))?\) in [\d.]+ s, "
                         r"([\d.]+) CPU-s")
    merges = []
    with open(log, errors="replace") as f:
        for line in f:
            m = pattern.search(line)
            if m:
                merges.append({"table": m.group(1), "files_in": int(m.group(2)), "bytes_in": int(m.group(3)),
                               "rows": int(m.group(4)),
                               "joined": int(m.group(5)) if m.group(6) == " joined by copying row groups" else 0,
                               "from_memory": int(m.group(5)) if m.group(6) == "' rows from memory" else 0,
                               "cpu": float(m.group(7))})
    return merges


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--perf-dir", default="", help="the work directory's perf-*.txt reports")
    ap.add_argument("--perf-lines", type=int, default=60)
    a = ap.parse_args()
    run = json.load(open(f"{a.out}/run.json"))
    since, until = run["since_ms"], run["drained_ms"]
    minutes = (until - since) / 60000.0

    bs = batches(f"{a.out}/engine.log", run["batches_before"], run["batches_after"])
    n = len(bs)
    records = sum(b["records"] for b in bs)
    cpu_s = (run["cpu_ticks_after"] - run["cpu_ticks_before"]) / run["clk_tck"]
    print(f"command: {run['command']}")
    print(f"engine:  medallion {run['engine_args']}")
    print(f"load:    {run['rate']} events/s for {run['seconds']} s on {run['partitions']} partitions "
          f"({run['events']} events, topic {run['topic']}); measured window {(until - since) / 1000:.1f} s "
          f"(load start until the engine had read every record)")
    print()
    print("CPU (utime+stime of every thread of the medallion process, /proc/PID/stat; not wall time)")
    print(f"  batches run              {n}")
    print(f"  records read             {records}" + ("" if records == run["events"] else f"  (expected {run['events']})"))
    print(f"  records per batch        mean {records / max(n, 1):.0f}, p50 {q([b['records'] for b in bs], 0.5)}, "
          f"min {min((b['records'] for b in bs), default=0)}, max {max((b['records'] for b in bs), default=0)}")
    print(f"  CPU-s total              {cpu_s:.2f}")
    print(f"  CPU-s per 1M events      {cpu_s / max(records, 1) * 1e6:.1f}")
    if run.get("catchup_cpu_s"):
        reference = run["catchup_cpu_s"] / run["catchup_events"] * 1e6
        print(f"  reference: catch-up      {reference:.1f} CPU-s per 1M events: the topic's {run['catchup_events']} "
              f"events in one `run --until-caught-up`, less a start with nothing to do; the continuous run costs "
              f"{cpu_s / max(records, 1) * 1e6 / reference:.2f}x that")
    print(f"  CPU ms per batch         {cpu_s / max(n, 1) * 1000:.1f}")
    print(f"  CPU share of one core    {cpu_s / ((until - since) / 1000):.1%}")
    print(f"  peak RSS (VmHWM)         {run['vm_hwm_kb'] / 1024:.0f} MiB")
    threads = thread_cpu(a.out, run["clk_tck"])
    if threads:
        print("  by thread (CPU-s)        " + ", ".join(f"{k} {v:.2f}" for k, v in
                                                       sorted(threads.items(), key=lambda kv: -kv[1]) if v > 0.005))

    merges = compaction_merges(f"{a.out}/engine.log")
    if merges:
        rows = sum(m["rows"] for m in merges)
        merged_cpu = sum(m["cpu"] for m in merges)
        print(f"  compaction               {len(merges)} merges, {sum(m['bytes_in'] for m in merges) / 1e6:.1f} MB and "
              f"{rows} rows in, {merged_cpu:.2f} CPU-s: {merged_cpu / max(rows, 1) * 1e6:.2f} CPU-s per 1M rows merged "
              f"(the whole run, warm-up included; compare builds by this, as the merges due in a window vary)")
        files_in = sum(m["files_in"] for m in merges)
        from_memory = sum(m["from_memory"] for m in merges)
        print(f"  compaction inputs        {files_in} files into {len(merges)} merges, "
              f"{sum(m['joined'] for m in merges)} files written by joining row groups (not rewriting rows)"
              + (f"; {from_memory} inputs' rows taken from memory (earlier builds)" if from_memory else ""))

    print()
    print("Per-batch stage times from the engine's batch log (wall ms, so inflated on a busy machine)")
    stages = {
        "Bronze build + parse": [b["parse"] for b in bs],
        "compute + state + checkpoint": [b["seconds"] - b["write"] for b in bs],
        "table writes (all tables)": [b["write"] for b in bs],
        "batch total (after parse)": [b["seconds"] for b in bs],
    }
    print(f"  {'stage':32s} {'mean':>7s} {'p50':>7s} {'p90':>7s}")
    for name, v in stages.items():
        ms = [x * 1000 for x in v]
        print(f"  {name:32s} {statistics.fmean(ms) if ms else float('nan'):7.1f} {q(ms, 0.5):7.1f} {q(ms, 0.9):7.1f}")

    print()
    print(f"Tables: what the load's window ({minutes:.2f} min) committed")
    print(f"  {'table':28s} {'entries':>8s} {'/min':>7s} {'files':>7s} {'/min':>7s} {'removes':>8s} "
          f"{'no-add':>7s} {'ckpts':>6s}")
    empty_per_batch = collections.Counter()
    per_batch_tables = collections.Counter()
    totals = collections.Counter()
    for name, path in tables(f"{a.out}/data").items():
        entries = log_entries(path, since, until)
        adds = sum(e[2] for e in entries)
        removes = sum(e[3] for e in entries)
        empty = sum(1 for e in entries if e[2] == 0)
        ck = checkpoints(path, since, until)
        for e in entries:
            if e[1] is not None:
                per_batch_tables[e[1]] += 1
                if e[2] == 0:
                    empty_per_batch[e[1]] += 1
        totals.update(entries=len(entries), files=adds, removes=removes, empty=empty, ckpts=ck)
        print(f"  {name:28s} {len(entries):8d} {len(entries) / minutes:7.0f} {adds:7d} {adds / minutes:7.0f} "
              f"{removes:8d} {empty:7d} {ck:6d}")
    print(f"  {'all tables':28s} {totals['entries']:8d} {totals['entries'] / minutes:7.0f} {totals['files']:7d} "
          f"{totals['files'] / minutes:7.0f} {totals['removes']:8d} {totals['empty']:7d} {totals['ckpts']:6d}")
    if per_batch_tables:
        nb = len(per_batch_tables)
        print(f"  per batch: {sum(per_batch_tables.values()) / nb:.2f} table commits, "
              f"{totals['files'] / nb:.2f} files written, {totals['removes'] / nb:.2f} files removed, "
              f"{sum(empty_per_batch.values()) / nb:.2f} commits that add no file "
              f"(distribution: " + ", ".join(f"{k} empty: {v} batches" for k, v in
                                            sorted(collections.Counter(empty_per_batch[b] for b in per_batch_tables).items()))
              + ")")

    print()
    lat_path = f"{a.out}/latency.json"
    if os.path.exists(lat_path):
        lat = json.load(open(lat_path))
        print(f"produce->Silver visibility (bench/latency.py, {lat['rows']} Silver rows): "
              f"p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms")
        if lat.get("disk_stalls"):
            print(f"  {lat['disk_stalls']} batch(es) waited on a stalled disk (fsyncs of 0.1 s or longer, logged by the "
                  f"engine), and the p99 includes them: with the broker on this disk, fsync waits while the kernel "
                  f"writes the broker's log back, which it does for data {dirty_expire_seconds()} s old "
                  f"(vm.dirty_expire_centisecs): the first such write-back comes about that long into the load")
    else:
        print("produce->Silver visibility: no latency.json")

    if a.perf_dir:
        perf_section(a.perf_dir, a.perf_lines)


def perf_rows(path, limit):
    """The sample lines of a `perf report --stdio` file (no headers, no blank lines)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = [l.rstrip() for l in f if l.strip() and not l.startswith("#")]
    return rows[:limit]


SYSCALL = re.compile(r"^(?:__x64_sys_|__do_sys_|__se_sys_|ksys_)(\w+)$")


def perf_samples(script_path):
    """The samples of a `perf script` output (none if it is missing), each as its stripped lines:
    the thread line, then the frames."""
    if not os.path.exists(script_path):
        return []
    with open(script_path) as f:
        samples = [[l.strip() for l in block.strip().splitlines()] for block in f.read().split("\n\n")]
    return [lines for lines in samples if len(lines) >= 2]


def perf_categories(script_path):
    """Samples by what they were doing, from `perf script -F comm,tid,ip,sym,dso`: a kernel
    sample by the syscall (or fault, or interrupt) below it, a user sample by its library,
    with zstd, malloc/free and memcpy/memset set apart. Returns (total, Counter)."""
    cats, total = collections.Counter(), 0
    for lines in perf_samples(script_path):
        total += 1
        thread = "kafka thread" if lines[0].startswith("rdk:") else "engine threads"
        frames = []
        for l in lines[1:]:
            parts = l.split(None, 1)
            if len(parts) < 2:
                continue
            m = re.match(r"(.*) \((.*)\)$", parts[1])
            if m:
                frames.append((m.group(1), os.path.basename(m.group(2))))
        if not frames:
            continue
        sym, dso = frames[0]
        # With dwarf call graphs an inlined function's frame names "inlined" as its library:
        # the library is that of the first real frame.
        dso = next((d for _, d in frames if d != "inlined"), dso)
        if dso == "[kernel.kallsyms]":
            what = None
            for fs, _ in frames:
                sc = SYSCALL.match(fs)
                if sc:
                    what = "kernel: " + sc.group(1)
                    break
                if fs in ("asm_exc_page_fault", "exc_page_fault"):
                    what = "kernel: page fault"
                    break
            if what is None:
                what = "kernel: other (" + ("schedule" if any("schedule" in fs for fs, _ in frames) else
                                            "irq/softirq" if any("irq" in fs for fs, _ in frames) else sym) + ")"
        elif sym.startswith(("ZSTD_", "HUF_", "FSE_", "ZSTDMT_")) or "zstd" in sym.lower():
            what = "user: zstd " + ("context create/free" if re.search(r"(create|free|init|reset)CCtx|CCtx_(init|reset)|createCStream|freeCStream", sym, re.I) else "compress")
        elif dso.startswith("libc.so") and re.search(r"malloc|free|calloc|realloc|chunk|consolidate|tcache|sysmalloc|brk", sym):
            what = "user: malloc/free (libc)"
        elif re.search(r"memmove|memcpy|memset|memcmp", sym):
            what = "user: memcpy/memset/memcmp"
        elif sym.startswith(("_mi_", "mi_")):
            what = "user: mimalloc (arrow pool)"
        else:
            what = "user: " + re.sub(r"\.so.*$", "", dso)
        cats[(thread, what)] += 1
    return total, cats


# Engine stages by the first matching frame pattern of a sample's call stack (the order
# matters: a Delta checkpoint writes Parquet, a data file write happens inside a table commit).
STAGES = [
    ("Delta log checkpoint (every 10 commits)", r"DeltaLog::Checkpoint|WriteCheckpoint"),
    ("Parquet data files (WriteParquetFile)", r"WriteParquetFile"),
    ("add-action file stats", r"ComputeFileStats"),
    ("Delta log entry commit", r"DeltaLog::|CreateFileExclusive|ExpireTombstones"),
    ("state serialization", r"EngineState::Serialize|SerializeState|StateWriter"),
    ("checkpoint dir files (offsets/state/commits)", r"Checkpoint::Write|Checkpoint::Prune|WriteFileAtomic"),
    ("parse (simdjson)", r"EventParser|ParseInParallel|ForEachRecord"),
    ("Bronze batch build", r"BronzeFromRecords"),
    ("Kafka poll on the engine thread", r"KafkaSource"),
    ("Gold snapshots", r"Snapshot"),
    ("operators (dedup, flatten, windows, aggregates)", r"medallion::ops::"),
    ("status board, metrics", r"StatusBoard|metrics::"),
]


def perf_stages(script_path):
    """Samples by engine stage, from call stacks (meaningful with --perf-callgraph dwarf: with
    frame pointers the stacks stop at the first library built without them)."""
    c, total = collections.Counter(), 0
    for lines in perf_samples(script_path):
        total += 1
        if lines[0].startswith("rdk:"):
            c["librdkafka threads (fetching, network)"] += 1
            continue
        stack = " | ".join(lines[1:])
        for name, pattern in STAGES:
            if re.search(pattern, stack):
                c[name] += 1
                break
        else:
            c["other (no engine frame in the stack)"] += 1
    return total, c


def perf_section(d, lines):
    print()
    print("perf (samples of every thread of the engine, 999 Hz, over the recorded seconds)")
    total, cats = perf_categories(f"{d}/perf-script.txt")
    if total:
        print(f"  samples by what they were doing ({total} samples; kernel samples by the syscall below them)")
        for (thread, what), n in cats.most_common(30):
            if n / total < 0.005:
                break
            print(f"    {n / total:6.1%}  {thread:15s} {what}")
    total, stages = perf_stages(f"{d}/perf-script.txt")
    if total and stages["other (no engine frame in the stack)"] < total / 2:  # stacks reach the engine
        print(f"  samples by engine stage, from the call stacks ({total} samples)")
        for name, n in stages.most_common():
            print(f"    {n / total:6.1%}  {name}")
    print("  by thread:   " + "; ".join(" ".join(r.split()) for r in perf_rows(f"{d}/perf-threads.txt", 8)))
    print("  by library:  " + "; ".join(" ".join(r.split()) for r in perf_rows(f"{d}/perf-dso.txt", 10)))
    print()
    print("perf report --no-children -g none --percent-limit 0.5 --stdio (flat, top 40)")
    for r in perf_rows(f"{d}/perf-flat.txt", 40):
        print("  " + r[:160])
    print()
    print(f"perf report --no-children --percent-limit 1.5 --stdio | head -{lines}")
    with open(f"{d}/perf-report.txt") as f:
        for i, line in enumerate(f):
            if i >= lines:
                break
            print(line.rstrip("\n")[:200])


if __name__ == "__main__":
    main()
