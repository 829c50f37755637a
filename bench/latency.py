"""End-to-end latency: from the moment the producer created a record (its Kafka timestamp, kept
in Bronze) to the moment the Silver row made from it became visible.

    python latency.py --engine medallion --data DATA_DIR --since-ms T [--json OUT]
    python latency.py --engine spark --data DATA_DIR --commit-log LOG --since-ms T [--json OUT]

Visibility: for medallion, the commitInfo.timestamp of the Delta log version that added the
row's file (the log entry is what makes it visible to readers); for Spark, the wall-clock time
that spark_job.py logs right after the micro-batch's Silver write returned. Only records created
at or after --since-ms count (warm-up records are left out). Both engines join Silver
(kafka_partition, kafka_offset) to their own Bronze for the Kafka timestamp.
"""

import argparse
import glob
import json
import os

import duckdb
import pyarrow.parquet as pq
from deltalake import DeltaTable


def medallion_visibility(data):
    """(file path, visible_ms) for every file added to silver/order_lines, from its Delta log."""
    root = f"{data}/silver/order_lines"
    rows = []
    for log in sorted(glob.glob(f"{root}/_delta_log/*.json")):
        commit_ms, adds = None, []
        with open(log) as f:
            for line in f:
                action = json.loads(line)
                if "commitInfo" in action:
                    commit_ms = action["commitInfo"].get("timestamp")
                elif "add" in action and action["add"].get("dataChange", True):
                    adds.append(action["add"]["path"])  # a compaction's adds hold rows seen before
        commit_ms = commit_ms or int(os.path.getmtime(log) * 1000)
        rows += [(os.path.join(root, p), commit_ms) for p in adds]
    return rows


def spark_visibility(commit_log):
    rows = []
    with open(commit_log) as f:
        for line in f:
            c = json.loads(line)
            rows += [(p, c["commit_ms"]) for p in c["files"]]
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["medallion", "spark"], required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--commit-log", default="")
    ap.add_argument("--since-ms", type=int, default=0)
    ap.add_argument("--json", default="")
    ap.add_argument("--engine-log", default="",
                    help="medallion's log: its batches that waited on a stalled disk are counted (disk_stalls)")
    a = ap.parse_args()

    visible = medallion_visibility(a.data) if a.engine == "medallion" else spark_visibility(a.commit_log)
    con = duckdb.connect()
    con.execute("CREATE TABLE vis (kafka_partition INT, kafka_offset BIGINT, visible_ms BIGINT)")
    for path, ms in visible:
        t = pq.read_table(path, columns=["kafka_partition", "kafka_offset"])
        con.execute("INSERT INTO vis SELECT kafka_partition, kafka_offset, ? FROM t", [ms])
    if a.engine == "medallion":
        bronze = DeltaTable(f"{a.data}/bronze/orders_raw").file_uris()
    else:
        bronze = glob.glob(f"{a.data}/bronze/orders_raw/**/*.parquet", recursive=True)
    con.execute(f"CREATE VIEW bronze AS SELECT * FROM read_parquet({bronze!r}, union_by_name=true)")
    r = con.execute("""
        WITH l AS (
          SELECT v.visible_ms - epoch_ms(b.kafka_timestamp) AS ms
          FROM vis v JOIN bronze b ON b."partition" = v.kafka_partition AND b."offset" = v.kafka_offset
          WHERE epoch_ms(b.kafka_timestamp) >= ?)
        SELECT count(*), quantile_cont(ms, 0.5), quantile_cont(ms, 0.99), max(ms) FROM l""", [a.since_ms]).fetchone()
    result = {"engine": a.engine, "rows": r[0], "p50_ms": r[1], "p99_ms": r[2], "max_ms": r[3]}
    if a.engine_log:
        with open(a.engine_log, errors="replace") as f:
            result["disk_stalls"] = sum("the disk stalled" in line for line in f)
    print(json.dumps(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
