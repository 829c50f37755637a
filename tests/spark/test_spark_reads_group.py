"""Spark reads the tables that two group-mode members and a Gold stage wrote together
(`--scale-mode group` and `gold`, docs/scale-out.md) exactly as delta-rs does: Bronze,
Quarantine, Silver and Late, whose log entries come from two or three writers, each member
commit carrying its partitions' txns, and the Gold tables the stage keeps from Silver's log.
"""

from __future__ import annotations

import glob
import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import BINARY, BROKERS, _run, assert_spark_reads_like_delta_rs, ready_to_run

SENT = 3000
APPEND_TABLES = ["bronze/orders_raw", "quarantine/orders", "silver/order_lines", "late/order_lines"]
GOLD_TABLES = ["gold/revenue_by_category_window", "gold/top_products", "gold/customer_spend"]


def _latest_version(table: Path, suffix: str = "") -> int:
    """The table's latest log version, or with `suffix` the greatest txn version of an appId
    ending with it."""
    best = -1
    for entry in glob.glob(str(table / "_delta_log" / "*.json")):
        if not suffix:
            best = max(best, int(Path(entry).stem))
            continue
        for line in Path(entry).read_text().splitlines():
            txn = json.loads(line).get("txn")
            if txn and txn["appId"].endswith(suffix):
                best = max(best, txn["version"])
    return best


def _bronze_records(data: Path, topic: str) -> int:
    """Records Bronze's log says it holds: the sum of each partition's latest txn."""
    latest: dict[str, int] = {}
    for entry in glob.glob(str(data / "bronze" / "orders_raw" / "_delta_log" / "*.json")):
        for line in Path(entry).read_text().splitlines():
            txn = json.loads(line).get("txn")
            if txn and f"/{topic}/" in txn["appId"]:
                latest[txn["appId"]] = max(latest.get(txn["appId"], 0), txn["version"])
    return sum(latest.values())


@pytest.fixture(scope="module")
def group_lake(tmp_path_factory) -> Path:
    ready_to_run()
    work = tmp_path_factory.mktemp("group-lake")
    topic = f"spark-group-{uuid.uuid4().hex[:8]}"
    _run(BINARY, "produce", "--brokers", BROKERS, "--topic", topic, "--create-topic-partitions", 4,
         "--count", SENT, "--seed", 3, "--duplicate-fraction", 0.05, "--late-fraction", 0.05,
         "--malformed-fraction", 0.02, "--invalid-fraction", 0.02)
    members = []
    # Batches of 50 every 100 ms: the backlog takes some seconds, so the second member joins
    # while there is still work to split.
    for name in ("a", "b"):
        log = open(work / f"member-{name}.log", "w")
        members.append(subprocess.Popen(
            [str(BINARY), "run", "--brokers", BROKERS, "--topic", topic, "--group-id", f"g-{topic}",
             "--scale-mode", "group", "--data-dir", str(work / "data"), "--checkpoint-dir", str(work / "ckpt"),
             "--trigger-interval", "100ms", "--max-batch-records", "50"], stdout=log, stderr=subprocess.STDOUT))
        time.sleep(1)
    log = open(work / "gold.log", "w")
    members.append(subprocess.Popen(
        [str(BINARY), "run", "--brokers", BROKERS, "--topic", topic, "--scale-mode", "gold",
         "--data-dir", str(work / "data"), "--checkpoint-dir", str(work / "ckpt"), "--trigger-interval", "100ms"],
        stdout=log, stderr=subprocess.STDOUT))
    try:
        deadline = time.monotonic() + 120
        while _bronze_records(work / "data", topic) < SENT:
            assert time.monotonic() < deadline, (work / "member-a.log").read_text()[-3000:]
            time.sleep(0.5)
        silver = _latest_version(work / "data" / "silver/order_lines")
        while _latest_version(work / "data" / "gold/customer_spend", "-gold") < silver:
            assert time.monotonic() < deadline, (work / "gold.log").read_text()[-3000:]
            time.sleep(0.5)
    finally:
        for m in members:
            m.send_signal(signal.SIGTERM)
        for m in members:
            assert m.wait(timeout=60) == 0
    return work


@pytest.mark.parametrize("rel", APPEND_TABLES + GOLD_TABLES)
def test_spark_reads_tables_of_two_members_and_a_gold_stage_like_delta_rs(spark, group_lake, rel):
    rows = assert_spark_reads_like_delta_rs(spark, group_lake / "data" / rel)
    if rel == "bronze/orders_raw":
        assert rows == SENT
    if rel in GOLD_TABLES:
        assert rows > 0


def test_both_members_wrote_and_spark_sees_every_partition_txn(spark, group_lake):
    path = group_lake / "data" / "bronze/orders_raw"
    log = spark.read.json(str(path / "_delta_log" / "*.json"))
    txns = log.where("txn is not null").select("txn.appId", "txn.version").collect()
    members = {r.appId for r in txns if "-member-" in r.appId}
    assert len(members) == 2, members
    partitions: dict[str, int] = {}
    for r in txns:
        if "-member-" not in r.appId:
            partitions[r.appId] = max(partitions.get(r.appId, 0), r.version)
    assert len(partitions) == 4 and sum(partitions.values()) == SENT, partitions
