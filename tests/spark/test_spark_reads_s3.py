"""Spark reads medallion's tables straight from an S3 endpoint (s3a://, hadoop-aws from local
jars) and sees what delta-rs sees there.

The engine writes every table to moto's S3 server on 127.0.0.1 (tests/integration/object_stores.py,
the server of the integration tier), in several batches so that the logs have checkpoints; Spark
with delta-spark then reads each table through s3a:// and must match delta-rs reading the same
table with its S3 storage options, row for row.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from deltalake import DeltaTable

from conftest import BINARY, BROKERS, TABLES, _run, ready_to_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import object_stores  # noqa: E402

EVENTS = 3000


@pytest.fixture(scope="module")
def s3_lake(tmp_path_factory):
    """(server, s3:// URL of the data dir) after a run over a new topic."""
    ready_to_run()
    work = tmp_path_factory.mktemp("spark-s3")
    server = object_stores.S3Server.start(work / "moto.log")
    try:
        bucket = server.make_bucket(f"spark-{uuid.uuid4().hex[:10]}")
        topic = f"spark-s3-{uuid.uuid4().hex[:8]}"
        out = _run(BINARY, "produce", "--brokers", BROKERS, "--topic", topic, "--create-topic-partitions", 3,
                   "--count", EVENTS, "--seed", 9, "--duplicate-fraction", 0.05, "--late-fraction", 0.05,
                   "--malformed-fraction", 0.02, "--v2-fraction", 0.5, "--event-step-ms", 2000)
        assert f"produced {EVENTS} events" in out, out
        saved = {k: os.environ.get(k) for k in server.env()}
        os.environ.update(server.env())
        try:
            _run(BINARY, "run", "--brokers", BROKERS, "--topic", topic, "--data-dir", f"s3://{bucket}/data",
                 "--checkpoint-dir", f"s3://{bucket}/ckpt", "--until-caught-up", "--max-batch-records", 250)
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        yield server, f"s3://{bucket}/data"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3a(spark, s3_lake):
    """The shared session, pointed at the server for s3a:// paths."""
    server, _ = s3_lake
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in {
        "fs.s3a.endpoint": server.endpoint,
        "fs.s3a.endpoint.region": object_stores.REGION,
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": "false",
        "fs.s3a.access.key": object_stores.KEY,
        "fs.s3a.secret.key": object_stores.SECRET,
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    }.items():
        conf.set(key, value)
    return spark


@pytest.mark.parametrize("rel", TABLES)
def test_spark_reads_s3_table_like_delta_rs(s3a, s3_lake, rel):
    server, data = s3_lake
    reference = DeltaTable(f"{data}/{rel}", storage_options=server.storage_options())
    expected = reference.to_pyarrow_table()
    df = s3a.read.format("delta").load(f"s3a://{data.removeprefix('s3://')}/{rel}")
    assert df.count() == expected.num_rows
    assert [f.name for f in df.schema.fields] == expected.column_names
    if rel.startswith("bronze") or rel.startswith("silver") or rel.startswith("quarantine"):
        assert expected.num_rows > 0, rel
    # Row for row, every column: timestamps as epoch microseconds on both sides, binary as bytes.
    from pyspark.sql import functions as F
    import pyarrow as pa

    columns, arrays = [], []
    for field in df.schema.fields:
        if field.dataType.typeName() == "timestamp":
            columns.append(F.unix_micros(F.col(field.name)).alias(field.name))
            arrays.append(expected.column(field.name).cast(pa.int64()))
        else:
            columns.append(F.col(field.name))
            arrays.append(expected.column(field.name))

    def norm(row):
        return tuple(bytes(v) if isinstance(v, (bytes, bytearray)) else v for v in row)

    spark_rows = sorted((norm(r) for r in df.select(*columns).collect()), key=repr)
    rs_rows = sorted((norm(r.values()) for r in pa.table(arrays, names=expected.column_names).to_pylist()),
                     key=repr)
    assert spark_rows == rs_rows, rel
    version = s3a.sql(f"DESCRIBE HISTORY delta.`s3a://{data.removeprefix('s3://')}/{rel}` LIMIT 1").collect()
    if version:
        assert version[0]["version"] == reference.version(), rel
