"""The tables read the same in independent readers: delta-rs, pyarrow.dataset, DuckDB."""

from __future__ import annotations

import collections
import datetime as dt
import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

import events
import tables

RECORDS = 1200
BATCH = 80  # 15 batches: the Delta log gets a checkpoint (every 10 commits)


@pytest.fixture(scope="module")
def lake_dir(broker, tmp_path_factory):
    """One run over a topic of known records, shared by the tests of this module."""
    import conftest  # the helpers, not a fixture

    work = tmp_path_factory.mktemp("interop")
    medallion = conftest.Medallion(broker, work)
    topic = f"it-interop-{uuid.uuid4().hex[:8]}"
    medallion("produce", "--brokers", broker, "--topic", topic, "--create-topic-partitions", 3,
              "--from-file", "/dev/null")
    sent = events.EventStream(seed=71, prefix="i").take(RECORDS)
    medallion.produce(topic, sent)
    config = work / "medallion.toml"
    config.write_text("[delta]\ncheckpoint_interval = 10\n")  # a log checkpoint within the run
    # Bronze committed with every batch (not at its 1 s cadence), so that its versions are the
    # batches, as time travel below expects.
    medallion.run(topic, work / "data", work / "ckpt", "--until-caught-up",
                  "--max-batch-records", BATCH, "--config", config, "--bronze-commit-interval", "0s")
    tables.check_all(work / "data", work / "ckpt", topic, sent)
    return work


def _batches(work: Path) -> int:
    return tables.Checkpoint.read(work / "ckpt").last_committed + 1


def test_pyarrow_dataset_reads_silver_like_delta(lake_dir):
    path = lake_dir / "data" / "silver" / "order_lines"
    dataset = ds.dataset(str(path), format="parquet", partitioning="hive")
    table = dataset.to_table()
    delta = DeltaTable(str(path)).to_pyarrow_table()
    assert table.num_rows == delta.num_rows > 0
    # The hive partition value is the UTC date of event_time.
    for date, t in zip(table["event_date"].to_pylist(),
                       table["event_time"].cast(pa.int64()).to_pylist()):
        assert dt.date.fromisoformat(str(date)) == (dt.datetime(1970, 1, 1)
                                                    + dt.timedelta(microseconds=t)).date()


def test_duckdb_reads_bronze_with_hive_partitioning(lake_dir):
    lake = tables.Lake(lake_dir / "data")
    # Not bronze/**/*.parquet: that also matches the Delta log's checkpoint Parquet files.
    glob = str(lake_dir / "data" / "bronze" / "orders_raw" / "ingest_date=*" / "**" / "*.parquet")
    rows = lake.rows(f"""SELECT count(*), count(DISTINCT ("partition", "offset")),
                                bool_and(ingest_date = CAST(timezone('UTC', ingest_time) AS DATE)),
                                bool_and(ingest_hour = hour(timezone('UTC', ingest_time)))
                         FROM read_parquet('{glob}', hive_partitioning = true)""")
    assert rows == [(RECORDS, RECORDS, True, True)]


def test_readers_skipping_row_groups_by_their_statistics_count_every_row(lake_dir):
    """DuckDB skips row groups by the footer's min/max (medallion's encoder writes them for the
    integer, date and timestamp columns of Bronze and the small files; Arrow's writer for the
    rest): a filter on each such column counts what pyarrow counts over every row."""
    import duckdb
    import pyarrow.compute as pc

    checked = 0
    for name, rel in tables.TABLES.items():
        files = DeltaTable(str(lake_dir / "data" / rel)).file_uris()
        table = pa.concat_tables(pq.read_table(f) for f in files)
        for field in table.schema:
            if not (pa.types.is_integer(field.type) or pa.types.is_timestamp(field.type)
                    or pa.types.is_date32(field.type)):
                continue
            values = pc.drop_null(table[field.name]).combine_chunks()
            if len(values) == 0:
                continue
            ordered = pc.sort_indices(values)
            for q in (0.0, 0.1, 0.5, 0.9):
                cut = values[ordered[int(q * (len(values) - 1))].as_py()].as_py()
                want = pc.sum(pc.greater(values, pa.scalar(cut, field.type))).as_py() or 0
                got = duckdb.execute(f'SELECT count(*) FROM read_parquet(?) WHERE "{field.name}" > ?',
                                     [files, cut]).fetchall()[0][0]
                assert got == want, (name, field.name, cut, got, want)
                checked += 1
    assert checked >= 60, checked


def test_parquet_types(lake_dir):
    """Timestamps are microsecond UTC in every Parquet file; money is decimal(18,4), and Gold's
    sums of it decimal(38,4)."""
    for name, rel in tables.TABLES.items():
        files = DeltaTable(str(lake_dir / "data" / rel)).file_uris()
        assert files, name
        for f in files:
            schema = pq.read_schema(f)
            for field in schema:
                if field.name in tables.TIMESTAMPS:
                    assert field.type == pa.timestamp("us", tz="UTC"), (name, field)
                if field.name in {"unit_price", "line_amount"}:
                    assert field.type == pa.decimal128(18, 4), (name, field)
                if field.name in {"revenue", "total_spend"}:
                    assert field.type == pa.decimal128(38, 4), (name, field)


def test_delta_log_versions_and_txn(lake_dir):
    batches = _batches(lake_dir)
    assert batches == -(-RECORDS // BATCH)
    query_id = json.loads((lake_dir / "ckpt" / "metadata").read_text())["id"]
    for name, rel in tables.TABLES.items():
        table = DeltaTable(str(lake_dir / "data" / rel))
        # Bronze and Silver get rows in every batch; a batch leaves the others uncommitted
        # when it has nothing for them.
        if name in ("bronze", "silver"):
            assert table.version() == batches, name
            assert table.transaction_version(query_id) == batches - 1, name
        else:
            assert table.version() <= batches, name
            assert (table.transaction_version(query_id) or -1) <= batches - 1, name
        assert table.transaction_version("some-other-app") is None
        log = lake_dir / "data" / rel / "_delta_log"
        assert (log / "_last_checkpoint").exists() == (table.version() >= 10), name
        assert (log / f"{10:020d}.checkpoint.parquet").exists() == (table.version() >= 10), name
    # Beside the query's txn, each append table records every Kafka partition's next offset
    # (appId "<query id>/<topic>/<partition>"): Bronze's add up to every record of the topic.
    bronze = DeltaTable(str(lake_dir / "data" / tables.TABLES["bronze"]))
    (topic,) = set(bronze.to_pyarrow_table(columns=["topic"]).column("topic").to_pylist())
    ends = [bronze.transaction_version(f"{query_id}/{topic}/{p}") for p in range(3)]
    assert sum(ends) == RECORDS and min(ends) > 0, ends
    partitions = {name: DeltaTable(str(lake_dir / "data" / rel)).metadata().partition_columns
                  for name, rel in tables.TABLES.items()}
    assert partitions["bronze"] == ["ingest_date", "ingest_hour"]
    assert partitions["silver"] == ["event_date"]
    assert partitions["gold_top"] == []


def test_append_only_tables_time_travel(lake_dir):
    """Version v of Bronze holds exactly the records of batches 0..v-1."""
    path = str(lake_dir / "data" / "bronze" / "orders_raw")
    latest = DeltaTable(path).to_pyarrow_table()
    per_batch = collections.Counter(latest["ingest_time"].cast(pa.int64()).to_pylist())
    sizes = [n for _, n in sorted(per_batch.items())]
    assert len(sizes) == _batches(lake_dir)
    for v in (0, 1, 7, 12, len(sizes)):
        assert DeltaTable(path, version=v).to_pyarrow_table().num_rows == sum(sizes[:v]), v
