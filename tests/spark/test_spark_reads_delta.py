"""Apache Spark with delta-spark reads every table medallion writes, exactly as delta-rs does.

One pipeline run (3000 generated events with duplicates, late, malformed and invalid ones, and
their payments on a second topic, joined; in micro-batches of 300, so each table has more than
10 commits and a Parquet checkpoint) is read by
one local SparkSession (the pyspark wheel plus the delta-spark jars of scripts/spark/pom.xml,
given with spark.jars: nothing is downloaded at run time) and by delta-rs (deltalake), the
reference. Set up with `bash scripts/spark_env.sh`; run with `.venv-spark/bin/pytest -q tests/spark`
(`make spark-interop` does both and starts the broker).

Environment: MEDALLION_BIN (default build/src/cli/medallion), MEDALLION_KAFKA_PORT (19092),
MEDALLION_DELTA_SPARK_JARS (default .deps/delta-spark-jars).
"""

from __future__ import annotations

import json
import shutil
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from conftest import BINARY, BROKERS, TABLES, _run, ready_to_run

# Columns whose Delta type is fixed by the data contract (src/format/schemas.h).
MONEY = {"unit_price": "decimal(18,4)", "line_amount": "decimal(18,4)", "discount": "decimal(18,4)",
         "order_total": "decimal(18,4)", "payment_amount": "decimal(18,4)",
         "revenue": "decimal(38,4)", "total_spend": "decimal(38,4)"}
TIMESTAMPS = {"kafka_timestamp", "ingest_time", "event_time", "window_start", "window_end",
              "first_order_time", "last_order_time", "watermark", "order_time", "payment_time"}
PARTITIONS = {
    "bronze/orders_raw": {"ingest_date": "date", "ingest_hour": "integer"},
    "silver/order_lines": {"event_date": "date"},
    "bronze/payments_raw": {"ingest_date": "date", "ingest_hour": "integer"},
    "silver/order_payments": {"order_date": "date"},
}
# The payments side's tables (the run joins a payments topic).
ALL_TABLES = TABLES + ["bronze/payments_raw", "quarantine/payments", "silver/order_payments",
                       "gold/payment_reconciliation"]
BATCH_RECORDS = 300
EVENTS = 3000


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """Runs the pipeline once over a new topic; returns the data dir (the tables' root)."""
    ready_to_run()
    work = tmp_path_factory.mktemp("spark-lake")
    topic = f"spark-interop-{uuid.uuid4().hex[:8]}"
    payments = f"{topic}-payments"
    out = _run(BINARY, "produce", "--brokers", BROKERS, "--topic", topic,
               "--create-topic-partitions", 3, "--count", EVENTS, "--seed", 5,
               "--duplicate-fraction", 0.05, "--late-fraction", 0.05,
               "--malformed-fraction", 0.02, "--invalid-fraction", 0.02, "--v2-fraction", 0.5,
               "--payments-topic", payments, "--event-step-ms", 2000)
    assert f"produced {EVENTS} events" in out, out
    config = work / "medallion.toml"
    config.write_text("[delta]\ncheckpoint_interval = 10\n")  # Spark reads a log checkpoint too
    _run(BINARY, "run", "--brokers", BROKERS, "--topic", topic, "--data-dir", work / "data",
         "--checkpoint-dir", work / "ckpt", "--until-caught-up",
         "--max-batch-records", BATCH_RECORDS, "--payments-topic", payments, "--config", config,
         "--bronze-commit-interval", "0s")  # Bronze too reaches ten versions, so a checkpoint
    return work / "data"


def _spark_types(df) -> dict[str, str]:
    """Column name -> Delta/Spark JSON type name ("integer", "decimal(18,4)", ...)."""
    return {f.name: f.dataType.jsonValue() for f in df.schema.fields}


def _delta_rs_types(table: DeltaTable) -> dict[str, str]:
    return {f.name: f.type.type for f in table.schema().fields}


def _delta_log(spark, path: Path):
    """Spark's own view of the table's log: the latest Snapshot, loaded afresh."""
    jvm = spark._jvm
    jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, str(path))
    return log.unsafeVolatileSnapshot()


def test_the_run_left_a_checkpointed_log(lake):
    # A batch commits only to the tables it changes: Bronze and Silver get every batch (ten or
    # more versions, so a checkpoint); every table that reached ten versions has one.
    for rel in ALL_TABLES:
        log_dir = lake / rel / "_delta_log"
        version = DeltaTable(str(lake / rel)).version()
        if rel in ("bronze/orders_raw", "silver/order_lines"):
            assert version >= 10, rel
        if version < 10:
            continue
        last = json.loads((log_dir / "_last_checkpoint").read_text())
        assert (log_dir / f"{last['version']:020d}.checkpoint.parquet").exists(), rel


@pytest.mark.parametrize("rel", ALL_TABLES)
def test_spark_reads_table_like_delta_rs(spark, lake, rel):
    path = lake / rel
    reference = DeltaTable(str(path))
    df = spark.read.format("delta").load(str(path))

    assert df.count() == reference.to_pyarrow_table().num_rows
    spark_types = _spark_types(df)
    rs_types = _delta_rs_types(reference)
    assert list(spark_types) == list(rs_types)
    assert spark_types == rs_types
    for name, kind in spark_types.items():
        if name in MONEY:
            assert kind == MONEY[name], name
        if name in TIMESTAMPS:
            assert kind == "timestamp", name  # UTC instants, not timestamp_ntz
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0]
    assert list(detail["partitionColumns"]) == reference.metadata().partition_columns
    assert list(detail["partitionColumns"]) == list(PARTITIONS.get(rel, {}))
    for name, kind in PARTITIONS.get(rel, {}).items():
        assert spark_types[name] == kind, name
    assert (detail["minReaderVersion"], detail["minWriterVersion"]) == (1, 2)


@pytest.mark.parametrize("rel", ALL_TABLES)
def test_spark_sees_every_commit_and_the_txn(spark, lake, rel):
    path = lake / rel
    reference = DeltaTable(str(path))
    version = reference.version()

    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
    assert sorted(r["version"] for r in history) == list(range(version + 1))
    streaming = [r for r in history if r["operation"] == "STREAMING UPDATE"]
    if not streaming:  # no batch changed this table: only its creation
        assert version == 0, (rel, version)
        return
    rs_ops = {h["version"]: h["operation"] for h in reference.history()}
    assert {r["version"]: r["operation"] for r in history} == rs_ops

    snapshot = _delta_log(spark, path)
    assert snapshot.version() == version
    # Spark starts from the Parquet checkpoint medallion wrote, then replays the JSON after it.
    if version >= 10:  # a checkpoint every 10 commits
        last = json.loads((path / "_delta_log" / "_last_checkpoint").read_text())
        assert snapshot.checkpointProvider().version() == last["version"]
    # The idempotent-writer txn: the streaming query's id -> its last committed batch id.
    txns = dict(spark._jvm.scala.jdk.javaapi.CollectionConverters.asJava(
        snapshot.transactions()))
    last_commit = max(streaming, key=lambda r: r["version"])
    app_id = last_commit["operationParameters"]["appId"]
    # Beside it, one txn per Kafka partition: "<query id>/<topic>/<partition>" -> next offset.
    assert {a for a in txns if "/" not in a} == {app_id}
    assert txns[app_id] == int(last_commit["operationParameters"]["txnVersion"])
    assert all(a.startswith(app_id + "/") for a in txns if a != app_id), txns
    assert {a: txns[a] for a in txns} == {a: reference.transaction_version(a) for a in txns}


def test_silver_aggregates_match_delta_rs(spark, lake):
    path = lake / "silver" / "order_lines"
    table = DeltaTable(str(path)).to_pyarrow_table()
    df = spark.read.format("delta").load(str(path))
    df.createOrReplaceTempView("silver")
    row = spark.sql("SELECT sum(line_amount) AS amount, count(DISTINCT event_id) AS events, "
                    "count(*) AS lines FROM silver").collect()[0]

    assert row["lines"] == table.num_rows > 0
    assert row["events"] == pc.count_distinct(table["event_id"]).as_py()
    amount = pc.sum(table["line_amount"]).as_py()
    assert isinstance(row["amount"], Decimal) and row["amount"] == amount
    assert row["amount"].as_tuple().exponent == -4  # exact to the 1/10000, no float on the way
    # The partition value is the UTC date of event_time, in Spark too.
    assert spark.sql("SELECT count(*) FROM silver "
                     "WHERE event_date <> to_date(event_time)").collect()[0][0] == 0


def test_spark_reads_the_version_2_columns(spark, lake):
    """The stream mixes version-1 and version-2 events: Silver's five version-2 columns read
    the same in Spark as in delta-rs, with their contract types."""
    path = lake / "silver" / "order_lines"
    table = DeltaTable(str(path)).to_pyarrow_table()
    df = spark.read.format("delta").load(str(path))
    types = _spark_types(df)
    assert {c: types.get(c) for c in ["schema_version", "channel", "customer_loyalty_tier", "sku", "discount"]} == {
        "schema_version": "integer", "channel": "string", "customer_loyalty_tier": "string", "sku": "string",
        "discount": "decimal(18,4)"}
    df.createOrReplaceTempView("silver_v2")
    rows = spark.sql("SELECT schema_version, count(*) AS lines, count(channel) AS channels, "
                     "count(discount) AS discounts, sum(discount) AS discount FROM silver_v2 "
                     "GROUP BY schema_version ORDER BY schema_version").collect()
    by_version = {r["schema_version"]: r for r in rows}
    assert set(by_version) == {1, 2}
    assert by_version[1]["channels"] == by_version[1]["discounts"] == 0
    assert by_version[2]["channels"] > 0 and by_version[2]["discounts"] > 0
    assert sum(r["lines"] for r in rows) == table.num_rows
    assert by_version[2]["discount"] == pc.sum(table["discount"]).as_py()


def test_time_travel_on_an_append_table(spark, lake):
    path = lake / "bronze" / "orders_raw"
    counts = []
    for version in (1, 5, None):
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        df = reader.load(str(path))
        reference = DeltaTable(str(path), version=version).to_pyarrow_table()
        assert df.count() == reference.num_rows
        assert (df.selectExpr("max(offset) AS o").collect()[0]["o"]
                == pc.max(reference["offset"]).as_py())
        counts.append(reference.num_rows)
    # Version 1 is the first batch (version 0 creates the table); Bronze only grows.
    assert 0 < counts[0] <= BATCH_RECORDS
    assert counts[0] < counts[1] < counts[2] == EVENTS


def test_medallion_opens_a_table_from_sparks_multi_part_checkpoint(spark, lake, tmp_path):
    # Spark writes a checkpoint in parts of at most checkpoint.partSize actions; once its log
    # cleanup has deleted what the checkpoint covers, medallion opens the table from the parts.
    table = tmp_path / "data" / "silver" / "order_lines"
    shutil.copytree(lake / "silver" / "order_lines", table)
    spark.conf.set("spark.databricks.delta.checkpoint.partSize", "4")
    try:
        # A commit that makes every commit a checkpoint, this one included.
        spark.sql(f"ALTER TABLE delta.`{table}` SET TBLPROPERTIES ('delta.checkpointInterval' = '1')")
    finally:
        spark.conf.unset("spark.databricks.delta.checkpoint.partSize")
    log = table / "_delta_log"
    parts = sorted(log.glob("*.checkpoint.0*.0*.parquet"))
    assert len(parts) >= 2, sorted(p.name for p in log.iterdir())
    version = int(parts[0].name[:20])
    for path in log.iterdir():  # what a cleanup behind that checkpoint leaves (Delta's keeps its entry)
        if path.name[:20].isdigit() and int(path.name[:20]) < version:
            path.unlink()
    expected = spark.read.format("delta").load(str(table)).count()
    out = _run(BINARY, "tail", "silver", "--data-dir", tmp_path / "data", "-n", expected + 100)
    print(f"\ncheckpoint {version} in {len(parts)} parts; {expected} rows")
    assert len([line for line in out.splitlines() if line.startswith("{")]) == expected
