"""Tables and checkpoint written by an earlier release are picked up by this binary.

tests/fixtures/upgrade-<commit>.tar.gz holds the data and checkpoint directories that release
left after a catch-up run over a topic, and that topic's records (tests/fixtures/
make_upgrade_fixture.sh). The checkpoint and Bronze name the topic, so it is recreated with the
same records (checked: each at the partition and offset the fixture's Bronze holds it), more
events are produced after them, and this binary runs until caught up:
  - the run succeeds and redoes no batch: Bronze holds every record once, each table's log holds
    each batch's txn once;
  - every table's Delta schema is the one this binary writes (a file it wrote has its columns);
    columns it has and the fixture's schema lacks are nullable, appended, and null in every row
    of the fixture's files; such a table got exactly one metaData entry (the schema evolution);
  - Silver's row count equals an independent count from Bronze (contract_oracle);
  - delta-rs and DuckDB read every table and agree.
A crash at the fault points around the evolution commit (the first run killed there) is
completed by the next run to the same tables.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer, TopicPartition
from deltalake import DeltaTable

import contract_oracle
import tables
from test_crash_harness import START_UP_FAULT_POINTS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = sorted((REPO / "tests" / "fixtures").glob("upgrade-*.tar.gz"))
MORE_SEED, MORE_COUNT, MORE_START = 4243, 200, "2026-11-24T10:05:00Z"


def _fixture_meta(fixture: Path) -> dict:
    with tarfile.open(fixture) as tar:
        return json.load(tar.extractfile("fixture.json"))


@pytest.fixture(scope="module", params=FIXTURES, ids=lambda p: p.name)
def upgrade_topic(request, broker, tmp_path_factory):
    """The fixture's topic, recreated with its records, then MORE_COUNT events after them."""
    import conftest

    fixture = request.param
    meta = _fixture_meta(fixture)
    topic = meta["topic"]
    delete = subprocess.run(["bash", str(conftest.KAFKA_SH), "topic-delete", topic],
                            capture_output=True, text=True, timeout=120)
    assert delete.returncode == 0, delete.stderr
    work = tmp_path_factory.mktemp("upgrade-topic")
    medallion = conftest.Medallion(broker, work)
    _unpack(fixture, work / "fixture")
    config = [a for c in meta["producer_config"] for a in ("-X", c)]
    medallion("produce", "--brokers", broker, "--topic", topic, "--create-topic-partitions",
              meta["partitions"], *config, "--from-file", work / "fixture" / meta["records"])
    _check_same_records(broker, topic, meta, work / "fixture" / "data" / tables.TABLES["bronze"])
    medallion("produce", "--brokers", broker, "--topic", topic, "--seed", MORE_SEED,
              "--count", MORE_COUNT, "--start-time", MORE_START)
    yield fixture, meta
    subprocess.run(["bash", str(conftest.KAFKA_SH), "topic-delete", topic],
                   capture_output=True, text=True, timeout=120)


def _check_same_records(brokers: str, topic: str, meta: dict, bronze: Path) -> None:
    """The recreated topic holds exactly the fixture's Bronze rows: each value at the same
    partition and offset (else the checkpoint's offsets would point at other records)."""
    want = {(p, o, bytes(v)) for p, o, v in zip(*DeltaTable(str(bronze)).to_pyarrow_table()
                                               .select(["partition", "offset", "value"]).to_pydict().values())}
    assert len(want) == meta["count"]
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"upgrade-check-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(meta["partitions"])])
    have, deadline = set(), time.monotonic() + 60
    try:
        while len(have) < len(want) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                have.add((message.partition(), message.offset(), message.value()))
    finally:
        consumer.close()
    assert have == want, f"{len(have - want)} records differ from the fixture's Bronze, e.g. {sorted(have - want)[:2]}"


def _unpack(fixture: Path, into: Path) -> Path:
    into.mkdir(parents=True)
    with tarfile.open(fixture) as tar:
        tar.extractall(into, filter="data")
    return into


def _data_fields(table: DeltaTable) -> list[dict]:
    """The Delta schema's data columns ({name, type, nullable, metadata}), in order."""
    partitions = set(table.metadata().partition_columns)
    return [f for f in json.loads(table.schema().to_json())["fields"] if f["name"] not in partitions]


def _files(table: DeltaTable, root: Path) -> list[str]:
    """The live files' paths relative to the table root."""
    return [os.path.relpath(u.removeprefix("file://"), root) for u in table.file_uris()]


def _log_entries(path: Path) -> list[list[dict]]:
    return [[json.loads(line) for line in f.read_text().splitlines() if line.strip()]
            for f in sorted((path / "_delta_log").glob("*.json"))]


def _oracle_silver_rows(lake: tables.Lake) -> int:
    """Silver lines by the contract alone, from Bronze in batch and offset order: one per item of
    the first valid occurrence of each event_id that is PAID."""
    rows = lake.rows('SELECT value, epoch_us(kafka_timestamp), epoch_us(ingest_time) FROM bronze '
                     'ORDER BY ingest_time, "partition", "offset"')
    seen, lines = set(), 0
    for value, kafka_us, ingest_us in rows:
        verdict = contract_oracle.judge(value, min(kafka_us, ingest_us))
        if not verdict.valid or verdict.event.event_id in seen:
            continue
        seen.add(verdict.event.event_id)
        if verdict.event.status == "PAID":
            lines += len(verdict.event.lines)
    return lines


@pytest.mark.parametrize("fault", [None, *START_UP_FAULT_POINTS])
def test_upgrade_picks_up_the_earlier_release_tables(upgrade_topic, medallion, tmp_path, fault):
    fixture, meta = upgrade_topic
    topic = meta["topic"]
    before = _unpack(fixture, tmp_path / "fixture")
    work = Path(shutil.copytree(before, tmp_path / "work"))
    data, ckpt = work / "data", work / "ckpt"
    old_ckpt = tables.Checkpoint.read(before / "ckpt")

    crashed = False
    if fault is not None:
        first = medallion.run(topic, data, ckpt, "--until-caught-up", check=False, fault=f"{fault}@1")
        crashed = first.returncode == -9
        assert crashed or first.returncode == 0, first.stdout + first.stderr
    medallion.run(topic, data, ckpt, "--until-caught-up")
    again = medallion.run(topic, data, ckpt, "--until-caught-up")
    assert "stopped after 0 batch(es)" in again.stdout + again.stderr

    lake = tables.Lake(data)
    new_ckpt = tables.Checkpoint.read(ckpt)
    assert new_ckpt.query_id == old_ckpt.query_id
    assert new_ckpt.last_committed > old_ckpt.last_committed

    # Bronze: every record once; no batch redone.
    total = meta["count"] + MORE_COUNT
    count, distinct = lake.rows('SELECT count(*), count(DISTINCT ("partition", "offset")) FROM bronze')[0]
    assert (count, distinct) == (total, total)

    evolved = []
    for name, rel in tables.TABLES.items():
        old_table, new_table = DeltaTable(str(before / "data" / rel)), lake.delta[name]
        old_fields, new_fields = _data_fields(old_table), _data_fields(new_table)
        assert new_table.metadata().partition_columns == old_table.metadata().partition_columns, name
        assert new_table.metadata().id == old_table.metadata().id, name
        # The fixture's columns come first, unchanged; what follows is nullable.
        assert new_fields[:len(old_fields)] == old_fields, name
        added = new_fields[len(old_fields):]
        assert all(f["nullable"] for f in added), (name, added)
        # A file this run wrote has the columns of the table's schema: the binary's schema.
        old_files = set(_files(old_table, before / "data" / rel))
        new_files = _files(new_table, data / rel)
        for f in [f for f in new_files if f not in old_files][:3]:
            assert pq.read_schema(data / rel / f).names == [x["name"] for x in new_fields], (name, f)

        entries = _log_entries(data / rel)
        # Each batch of the query once, in order, in every table.
        txns = [a["txn"]["version"] for e in entries for a in e if "txn" in a and "/" not in a["txn"]["appId"]]
        assert txns == sorted(set(txns)) and txns[-1] <= new_ckpt.last_committed, (name, txns)
        assert name != "bronze" or txns[-1] == new_ckpt.last_committed, (name, txns)
        metadata_entries = [v for v, e in enumerate(entries) if v > 0 and any("metaData" in a for a in e)]
        assert len(metadata_entries) == (1 if added else 0), (name, metadata_entries)
        if added:
            evolved.append(name)
            (v,) = metadata_entries
            assert not any("txn" in a or "add" in a or "remove" in a for a in entries[v]), (name, entries[v])
            assert v == old_table.version() + 1, (name, v)  # before any batch of this binary
            # Rows of the fixture's files (those still live) read nulls in the added columns,
            # in DuckDB (by file) and in delta-rs (by count).
            live_old = [str(data / rel / f) for f in new_files if f in old_files]
            fixture_rows = sum(pq.read_metadata(u).num_rows for u in live_old)
            all_null = " AND ".join('"' + f["name"] + '" IS NULL' for f in added)
            if live_old:
                got = lake.rows(
                    f"SELECT count(*), count(*) FILTER (WHERE {all_null}) FROM read_parquet("
                    f"{new_table.file_uris()!r}, hive_partitioning=true, union_by_name=true, filename=true) "
                    f"WHERE filename IN ({', '.join(repr(u) for u in live_old)})")
                assert got == [(fixture_rows, fixture_rows)], (name, got)
            null_rows = lake.rows(f"SELECT count(*) FROM {name} WHERE {all_null}")[0][0]
            assert null_rows >= fixture_rows, (name, null_rows, fixture_rows)
    print(f"\nupgrade from {fixture.name} (fault {fault}, crashed {crashed}): evolved {evolved or 'none'}")
    if fault is not None and evolved:
        assert crashed, f"{fault} was not reached although {evolved} evolved"

    # Silver as the contract says, from Bronze alone; readers agree.
    assert lake.arrow["silver"].num_rows == _oracle_silver_rows(lake)
    lake.check_readers_agree()


def test_a_run_refused_at_start_up_leaves_the_earlier_release_tables_as_they_were(
        upgrade_topic, medallion, tmp_path):
    """The schema evolution is committed only once every start-up check has passed: a run
    refused (here: the checkpoint belongs to another topic) writes no table, so the earlier
    build can still write them."""
    fixture, meta = upgrade_topic
    work = _unpack(fixture, tmp_path / "work")
    data, ckpt = work / "data", work / "ckpt"
    before = {rel: sorted(p.name for p in (data / rel / "_delta_log").iterdir()) for rel in tables.TABLES.values()}
    proc = medallion.run(meta["topic"] + "-other", data, ckpt, "--until-caught-up", check=False)
    assert proc.returncode != 0
    assert f"belongs to topic '{meta['topic']}'" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    after = {rel: sorted(p.name for p in (data / rel / "_delta_log").iterdir()) for rel in tables.TABLES.values()}
    assert after == before
