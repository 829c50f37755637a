"""Fixtures of the Spark tier: one local SparkSession (pyspark + delta-spark from local jars,
nothing downloaded at run time) shared by every module, the binary and the broker address.

Environment: MEDALLION_BIN (default build/src/cli/medallion), MEDALLION_KAFKA_PORT (19092),
MEDALLION_DELTA_SPARK_JARS (default .deps/delta-spark-jars).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("MEDALLION_BIN", REPO / "build" / "src" / "cli" / "medallion"))
KAFKA_SH = REPO / "scripts" / "kafka.sh"
BROKERS = f"127.0.0.1:{os.environ.get('MEDALLION_KAFKA_PORT', '19092')}"
# Every table medallion writes, as paths under the data directory.
TABLES = [
    "bronze/orders_raw",
    "quarantine/orders",
    "silver/order_lines",
    "late/order_lines",
    "gold/revenue_by_category_window",
    "gold/top_products",
    "gold/customer_spend",
]
JARS_DIR = Path(os.environ.get("MEDALLION_DELTA_SPARK_JARS", REPO / ".deps" / "delta-spark-jars"))


def _run(*args, timeout: float = 180) -> str:
    """Runs a command; fails the test with its output unless it exits 0."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          errors="replace", timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {proc.returncode}:\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def ready_to_run() -> None:
    """Fails the test unless the binary is built; starts the broker if it is down (and leaves
    it running, like tests/integration does)."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} not found; build it with `ninja -C build medallion`")
    if subprocess.run(["bash", str(KAFKA_SH), "status"], capture_output=True).returncode != 0:
        _run("bash", KAFKA_SH, "start")


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local SparkSession with Delta Lake from local jars only."""
    jars = sorted(JARS_DIR.glob("*.jar"))
    if not any(j.name.startswith("delta-spark_") for j in jars):
        pytest.fail(f"no delta-spark jar in {JARS_DIR}; run `bash scripts/spark_env.sh`")
    from pyspark.sql import SparkSession

    # Nothing may add --packages behind our back; the driver's Python is this venv's.
    os.environ.pop("PYSPARK_SUBMIT_ARGS", None)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    scratch = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[2]").appName("medallion-spark-interop")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog",
                "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.jars", ",".join(str(j) for j in jars))
        .config("spark.jars.ivy", str(scratch / "ivy"))  # never used: no spark.jars.packages
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.local.dir", str(scratch / "local"))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={scratch}")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    assert not session.conf.get("spark.jars.packages", "")
    yield session
    session.stop()


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


def assert_spark_reads_like_delta_rs(spark, path: Path) -> int:
    """Spark (delta-spark) reads the Delta table at `path` with exactly delta-rs' rows, byte for
    byte where the table keeps bytes; returns the row count."""
    reference = DeltaTable(str(path)).to_pyarrow_table()
    df = spark.read.format("delta").load(str(path))
    assert df.count() == reference.num_rows
    # Spark returns the rows through Arrow, so both sides compare as the same Python values.
    assert _rows(df.select(*reference.column_names).toArrow()) == _rows(reference)
    return reference.num_rows
