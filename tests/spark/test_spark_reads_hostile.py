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

import datetime as dt
import sys
import time
import uuid
from pathlib import Path

import pytest
from deltalake import DeltaTable

from conftest import BINARY, BROKERS, TABLES, _run, ready_to_run

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
    hostile.send(BROKERS, topic, values, t0_ms, PARTITIONS)
    _run(BINARY, "run", "--brokers", BROKERS, "--topic", topic, "--data-dir", work / "data",
         "--checkpoint-dir", work / "ckpt", "--until-caught-up", "--max-batch-records", 2000,
         timeout=900)
    (work / "sent").write_text(str(len(values)))
    return work


def _plain(value):
    """A timestamp as epoch microseconds (readers differ in how they attach UTC); else as is."""
    if isinstance(value, dt.datetime):
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc if value.tzinfo else None)
        return (value - epoch) // dt.timedelta(microseconds=1)
    return value


def _rows(table) -> list[tuple]:
    """Rows as tuples of Python values, sorted, so two readers' tables compare exactly."""
    cols = [[_plain(v) for v in table.column(n).to_pylist()] for n in table.column_names]
    return sorted(zip(*cols), key=repr)


@pytest.mark.parametrize("rel", TABLES)
def test_spark_reads_hostile_table_like_delta_rs(spark, hostile_lake, rel):
    path = hostile_lake / "data" / rel
    reference = DeltaTable(str(path)).to_pyarrow_table()
    df = spark.read.format("delta").load(str(path))
    assert df.count() == reference.num_rows
    if rel == "bronze/orders_raw":
        assert reference.num_rows == int((hostile_lake / "sent").read_text())
    # Spark returns the rows through Arrow, so both sides compare as the same Python values.
    spark_rows = _rows(df.select(*reference.column_names).toArrow())
    assert spark_rows == _rows(reference)


def test_normal_event_after_the_hostile_ones_reaches_silver(spark, hostile_lake):
    path = hostile_lake / "data" / "silver/order_lines"
    lines = spark.read.format("delta").load(str(path)).where("event_id = 'normal-after-hostile'")
    assert lines.count() == 2
