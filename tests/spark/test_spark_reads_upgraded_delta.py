"""Spark with delta-spark reads the tables of the previous release after this binary has run over
them, schema evolution included, exactly as delta-rs does.

The fixture tests/fixtures/upgrade-<commit>.tar.gz (tables and checkpoint of the previous
release, see tests/fixtures/make_upgrade_fixture.sh) is unpacked, its topic recreated with the
same records and more after them, and this binary runs until caught up. A table whose schema
gained columns has an ADD COLUMNS commit; Spark reads nulls in them for the fixture's rows.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from deltalake import DeltaTable

from conftest import BINARY, BROKERS, KAFKA_SH, REPO, TABLES, _run, ready_to_run

FIXTURES = sorted((REPO / "tests" / "fixtures").glob("upgrade-*.tar.gz"))
MORE_SEED, MORE_COUNT, MORE_START = 4243, 200, "2026-11-24T10:05:00Z"


@pytest.fixture(scope="module", params=FIXTURES, ids=lambda p: p.name)
def upgraded(request, tmp_path_factory) -> tuple[Path, Path]:
    """(the fixture's data dir as unpacked, the same after this binary's run)."""
    ready_to_run()
    work = tmp_path_factory.mktemp("spark-upgrade")
    with tarfile.open(request.param) as tar:
        tar.extractall(work / "before", filter="data")
        tar.extractall(work / "after", filter="data")
        meta = json.load(tar.extractfile("fixture.json"))
    topic = meta["topic"]
    _run("bash", KAFKA_SH, "topic-delete", topic)
    config = [a for c in meta["producer_config"] for a in ("-X", c)]
    _run(BINARY, "produce", "--brokers", BROKERS, "--topic", topic, "--create-topic-partitions",
         meta["partitions"], *config, "--from-file", work / "before" / meta["records"])
    _run(BINARY, "produce", "--brokers", BROKERS, "--topic", topic, "--seed", MORE_SEED,
         "--count", MORE_COUNT, "--start-time", MORE_START)
    _run(BINARY, "run", "--brokers", BROKERS, "--topic", topic, "--data-dir", work / "after" / "data",
         "--checkpoint-dir", work / "after" / "ckpt", "--until-caught-up")
    yield work / "before" / "data", work / "after" / "data"
    subprocess.run(["bash", str(KAFKA_SH), "topic-delete", topic], capture_output=True, timeout=120)


def _names(table: DeltaTable) -> list[str]:
    return [f.name for f in table.schema().fields]


@pytest.mark.parametrize("rel", TABLES)
def test_spark_reads_the_upgraded_table_like_delta_rs(spark, upgraded, rel):
    before, after = upgraded
    path = after / rel
    reference = DeltaTable(str(path))
    rows = reference.to_pyarrow_table()
    df = spark.read.format("delta").load(str(path))
    assert df.count() == rows.num_rows
    assert [f.name for f in df.schema.fields] == _names(reference)
    assert {f.name: f.dataType.jsonValue() for f in df.schema.fields} == {
        f.name: f.type.type for f in reference.schema().fields}

    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
    assert {r["version"]: r["operation"] for r in history} == {
        h["version"]: h["operation"] for h in reference.history()}
    old_names = set(_names(DeltaTable(str(before / rel))))
    added = [n for n in _names(reference) if n not in old_names]
    assert (sum(r["operation"] == "ADD COLUMNS" for r in history) == 1) == bool(added), (rel, added)
    for name in added:  # Spark's nulls in the added columns are delta-rs's
        assert df.filter(df[name].isNull()).count() == rows[name].null_count, (rel, name)
