"""Spark reads the tables of a hostile stream exactly as delta-rs does.

The ~5,000 messages of the differential test (tests/integration/hostile.py: numbers at every
boundary, JSON and Unicode oddities, values up to the broker's limit) plus one normal event are
sent to a new topic and run through `medallion run --until-caught-up`. Then Spark (delta-spark)
must read every table with the same rows as delta-rs, byte for byte where the table keeps bytes
(Bronze and Quarantine values, quarantine details), and the normal event must be in Silver.
The verdict of each message is the differential test's job; this tier proves that what the
engine wrote from hostile input opens in a third reader.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import BINARY, BROKERS, TABLES, _run, assert_spark_reads_like_delta_rs, ready_to_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import hostile  # noqa: E402

PARTITIONS = 3


@pytest.fixture(scope="module")
def hostile_lake(tmp_path_factory) -> Path:
    """Runs the pipeline once over the hostile messages; returns the work dir (data/, sent)."""
    ready_to_run()
    work = tmp_path_factory.mktemp("hostile-lake")
    topic = f"spark-hostile-{uuid.uuid4().hex[:8]}"
    _run(BINARY, "produce", "--brokers", BROKERS, "--topic", topic,
         "--create-topic-partitions", PARTITIONS, "--from-file", "/dev/null")
    t0_ms = (int(time.time()) - 60) * 1000
    values = [v for _, v in hostile.messages(t0_ms * 1000)]
    normal = hostile.Gen(t0_ms * 1000, seed=1).event(status="PAID", items=2)
    normal["event_id"] = "normal-after-hostile"
    values.append(hostile.Gen.dump(normal))
    hostile.send(BROKERS, topic, values, t0_ms, PARTITIONS, hostile.kafka_keys(len(values)))
    _run(BINARY, "run", "--brokers", BROKERS, "--topic", topic, "--data-dir", work / "data",
         "--checkpoint-dir", work / "ckpt", "--until-caught-up", "--max-batch-records", 2000,
         timeout=900)
    (work / "sent").write_text(str(len(values)))
    return work


@pytest.mark.parametrize("rel", TABLES)
def test_spark_reads_hostile_table_like_delta_rs(spark, hostile_lake, rel):
    rows = assert_spark_reads_like_delta_rs(spark, hostile_lake / "data" / rel)
    if rel == "bronze/orders_raw":
        assert rows == int((hostile_lake / "sent").read_text())


def test_normal_event_after_the_hostile_ones_reaches_silver(spark, hostile_lake):
    path = hostile_lake / "data" / "silver/order_lines"
    lines = spark.read.format("delta").load(str(path)).where("event_id = 'normal-after-hostile'")
    assert lines.count() == 2
