"""Tables on local disk against tables on a local S3 server and on Azurite, same topic, same run.

    .venv/bin/python bench/object_store.py [--events N] [--partitions P] [--batch-records R]

Starts moto's S3 server and Azurite on 127.0.0.1 (tests/integration/object_stores.py) and the
local broker if it is down, fills a fresh topic with `medallion produce` (2% duplicates), then
runs `medallion run --until-caught-up` over it three times, each under /usr/bin/time: data and
checkpoint on local disk, then both on S3, then both on Azurite (the Azure Storage emulator).
Prints, for each: events/s, CPU-s per 1M events, batches, and the per-batch write phase (Parquet
files and Delta commits of every table) p50/p99 from the engine's batch log lines; for S3 also
the requests by method (from the server's request log); bytes stored per batch for both. moto
answers from one Python process and Azurite from one Node.js process, so the store figures are
those of slow local stores: network and cloud latency are not in them, and the servers' CPU is
not counted in medallion's.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import object_stores  # noqa: E402

MEDALLION = ROOT / "build" / "src" / "cli" / "medallion"
BROKERS = "127.0.0.1:19092"


def timed(cmd: list[str], env: dict | None, log: Path) -> dict:
    tf = log.with_suffix(".time")
    start = time.monotonic()
    with open(log, "wb") as out:
        rc = subprocess.run(["/usr/bin/time", "-v", "-o", str(tf), *cmd], stdout=out, stderr=subprocess.STDOUT,
                            env=env).returncode
    wall = time.monotonic() - start
    if rc != 0:
        sys.exit(f"object_store.py: {' '.join(cmd)} exited {rc}:\n{log.read_text()[-3000:]}")
    text = tf.read_text()
    grab = lambda p: float(re.search(p + r":\s*([0-9.]+)", text).group(1))  # noqa: E731
    return {"wall_s": wall, "cpu_s": grab(r"User time \(seconds\)") + grab(r"System time \(seconds\)"),
            "rss_mb": grab(r"Maximum resident set size \(kbytes\)") / 1024}


def batch_writes(log: Path) -> list[float]:
    return [float(m.group(1)) for m in re.finditer(r"\(write ([0-9.]+)", log.read_text(errors="replace"))]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--batch-records", type=int, default=10_000)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    if subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "status"], capture_output=True).returncode != 0:
        subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "start"], check=True)
    server = object_stores.S3Server.start(work / "moto.log")
    try:
        topic = f"bench-s3-{uuid.uuid4().hex[:8]}"
        subprocess.run([str(MEDALLION), "produce", "--brokers", BROKERS, "--topic", topic,
                        "--create-topic-partitions", str(args.partitions), "--count", str(args.events),
                        "--duplicate-fraction", "0.02"], check=True, capture_output=True)
        flags = ["--brokers", BROKERS, "--topic", topic, "--until-caught-up",
                 "--max-batch-records", str(args.batch_records)]
        rows = []
        disk = timed([str(MEDALLION), "run", *flags, "--group-id", "bench-disk", "--data-dir", str(work / "data"),
                      "--checkpoint-dir", str(work / "ckpt")], None, work / "disk.log")
        rows.append(("local disk", disk, batch_writes(work / "disk.log"), None))
        bucket = server.make_bucket("bench")
        before = (work / "moto.log").read_text(errors="replace").count("\n")
        env = dict(os.environ, **server.env())
        s3 = timed([str(MEDALLION), "run", *flags, "--group-id", "bench-s3", "--data-dir", f"s3://{bucket}/data",
                    "--checkpoint-dir", f"s3://{bucket}/ckpt"], env, work / "s3.log")
        requests = collections.Counter(
            m.group(1) for m in re.finditer(r'"(?:\x1b\[[0-9;]*m)*(GET|PUT|HEAD|DELETE|POST) ',
                                            "\n".join((work / "moto.log").read_text(errors="replace")
                                                      .splitlines()[before:])))
        stored = sum(i.size for i in server.filesystem().get_file_info(
            object_stores.pafs.FileSelector(bucket, recursive=True)) if i.type == object_stores.pafs.FileType.File)
        rows.append(("S3 (moto, 127.0.0.1)", s3, batch_writes(work / "s3.log"), (requests, stored)))
        azurite = object_stores.AzuriteServer.start(work)
        try:
            container = azurite.make_container("bench")
            base = f"abfs://{container}@{object_stores.AZ_ACCOUNT}"
            az = timed([str(MEDALLION), "run", *flags, "--group-id", "bench-az", "--data-dir", f"{base}/data",
                        "--checkpoint-dir", f"{base}/ckpt"], dict(os.environ, **azurite.env()), work / "azure.log")
            stored_az = sum(i.size for i in azurite.filesystem().get_file_info(
                object_stores.pafs.FileSelector(container, recursive=True)) if i.type == object_stores.pafs.FileType.File)
            rows.append(("Azure (Azurite, 127.0.0.1)", az, batch_writes(work / "azure.log"), (None, stored_az)))
        finally:
            azurite.stop()
    finally:
        server.stop()

    print(f"\n{args.events} events, {args.partitions} partitions, batches of up to {args.batch_records} records"
          f" (work: {work})\n")
    print("| tables and checkpoint on | events/s | CPU-s per 1M | batches | write phase p50 / p99 | peak RSS |")
    print("|---|---|---|---|---|---|")
    for name, m, writes, _ in rows:
        print(f"| {name} | {args.events / m['wall_s']:,.0f} | {m['cpu_s'] / args.events * 1e6:.1f} | {len(writes)} "
              f"| {pct(writes, 0.5) * 1000:.0f} / {pct(writes, 0.99) * 1000:.0f} ms | {m['rss_mb']:.0f} MB |")
    requests, stored = rows[1][3]
    n = max(1, len(rows[1][2]))
    print("\nS3 requests per batch: " + ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(requests.items()))
          + f"; bytes stored per batch {stored / n / 1024:.0f} KiB")
    print(f"Azure bytes stored per batch {rows[2][3][1] / max(1, len(rows[2][2])) / 1024:.0f} KiB (Azurite keeps "
          "no request log short of its debug log, which would slow it: no request counts)")


if __name__ == "__main__":
    main()
