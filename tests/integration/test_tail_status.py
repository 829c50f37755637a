"""`medallion tail` and `medallion status` against a real run: rows, filters, follow, the
checkpoint's and the tables' figures, the lag, and the bad inputs (exit 2)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

import events
from conftest import BINARY
from tables import TABLES, Checkpoint


def natural_key(path: str):
    """medallion tail's file order: batch id, file index, kind, path ('part-<B:10>-<i:4>-…')."""
    name = path.rsplit("/", 1)[-1]
    if name[:5] in ("part-", "open-") and name[15] == "-" and name[20] == "-" \
            and name[5:15].isdigit() and name[16:20].isdigit():
        return (int(name[5:15]), int(name[16:20]), name[:4], path)
    return (-1, -1, "", path)


def add_actions(root: Path) -> pa.Table:
    return pa.table(DeltaTable(str(root)).get_add_actions(flatten=True))


def rows_in_natural_order(root: Path) -> pa.Table:
    """The table's rows as delta-rs lists its files, in tail's order, partition columns last
    as the log's schema has them."""
    delta = DeltaTable(str(root))
    adds = add_actions(root).to_pylist()
    schema_names = [f.name for f in delta.schema().fields]
    parts = []
    for add in sorted(adds, key=lambda a: natural_key(a["path"])):
        part = pq.read_table(root / add["path"], partitioning=None)
        for key, value in add.items():
            if key.startswith("partition."):
                column = key.split(".", 1)[1]
                part = part.append_column(column, pa.array([value] * part.num_rows))
        parts.append(part.select(schema_names))
    return pa.concat_tables(parts, promote_options="permissive")


def render(value):
    """A Python value as tail prints it (see README: decimals and times as strings)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode()}
    return value


def lines(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.fixture
def lake(medallion, make_topic, tmp_path):
    """A topic with 900 records (duplicates, late and bad ones) run into tables in 3 batches."""
    topic = make_topic(3)
    stream = events.EventStream(seed=23)
    sent = stream.take(900)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 300)
    return topic, stream, sent, data, ckpt


def test_tail_prints_the_last_rows_with_exact_values(medallion, lake):
    topic, stream, sent, data, ckpt = lake
    root = data / TABLES["silver"]
    expected = rows_in_natural_order(root).to_pylist()
    got = lines(medallion("tail", "silver", "--data-dir", data, "-n", 5))
    assert got == [{k: render(v) for k, v in row.items()} for row in expected[-5:]]
    assert [list(r) for r in got][0][-1] == "event_date"  # partition column last, as in the log
    # The full name gives the same; -n larger than the table prints all of it.
    assert lines(medallion("tail", "silver/order_lines", "--data-dir", data, "-n", 5)) == got
    everything = lines(medallion("tail", "silver", "--data-dir", data, "-n", 10**9))
    assert len(everything) == len(expected)

    # Gold (replaced every batch): the current version's rows, in the file's order.
    gold = rows_in_natural_order(data / TABLES["gold_top"]).to_pylist()
    got = lines(medallion("tail", "gold_top", "--data-dir", data, "-n", 3, "--columns", "product_id,rank,revenue"))
    assert got == [{"product_id": r["product_id"], "rank": r["rank"], "revenue": str(r["revenue"])}
                   for r in gold[-3:]]

    # Bronze's value bytes: UTF-8 text, or {"base64": ...} for the records that are not UTF-8.
    bronze = lines(medallion("tail", "bronze", "--data-dir", data, "-n", 10**9, "--columns", "value"))
    assert sorted(json.dumps(r["value"]) for r in bronze) == \
        sorted(json.dumps(render(r.value)) for r in sent)
    assert any(isinstance(r["value"], dict) for r in bronze), "the stream should hold non-UTF-8 records"


def test_tail_where_counts(medallion, lake):
    topic, stream, sent, data, ckpt = lake
    silver = DeltaTable(str(data / TABLES["silver"])).to_pyarrow_table()
    quarantine = DeltaTable(str(data / TABLES["quarantine"])).to_pyarrow_table()

    def count(table, where):
        return len(lines(medallion("tail", table, "--data-dir", data, "-n", 10**9, "--where", where)))

    assert count("silver", "status=PAID") == silver.num_rows > 0
    assert count("silver", "status!=PAID") == 0
    expected = pc.sum(pc.and_(pc.greater(silver["quantity"], 1),
                              pc.equal(silver["category"], silver["category"][0]))).as_py()
    assert count("silver", f"quantity>1,category={silver['category'][0].as_py()}") == expected > 0
    cheap = pc.sum(pc.less(silver["unit_price"], pa.scalar(Decimal("20"), pa.decimal128(18, 4)))).as_py()
    assert count("silver", "unit_price<20") == cheap > 0
    first_day = silver["event_date"][0].as_py()
    assert count("silver", f"event_date={first_day}") == \
        pc.sum(pc.equal(silver["event_date"], silver["event_date"][0])).as_py()
    for code in ("not_json", "missing_field", "bad_quantity"):
        assert count("quarantine", f"error={code}") == \
            pc.sum(pc.equal(quarantine["error"], code)).as_py() > 0, code


def test_tail_follow_prints_new_commits_and_stops_on_sigterm(medallion, lake, broker):
    topic, stream, sent, data, ckpt = lake
    before = DeltaTable(str(data / TABLES["silver"])).to_pyarrow_table()
    follow = subprocess.Popen([str(BINARY), "tail", "silver", "--data-dir", str(data), "-n", "0", "--follow",
                               "--columns", "event_id,line_no,kafka_partition,kafka_offset"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    engine = None
    try:
        time.sleep(1.0)
        more = stream.take(150)
        medallion.produce(topic, more, name="more")
        # A continuous engine on the same directories: tail and status run beside it.
        engine = subprocess.Popen([str(BINARY), "run", "--brokers", broker, "--topic", topic,
                                   "--data-dir", str(data), "--checkpoint-dir", str(ckpt),
                                   "--trigger-interval", "200ms"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            status = json.loads(medallion("status", "--data-dir", data, "--checkpoint-dir", ckpt,
                                          "--brokers", broker, "--json").stdout)
            if status["lag"]["total"] == 0:
                break
            time.sleep(0.3)
        assert status["lag"]["total"] == 0, status
        time.sleep(1.5)  # two polls of the log
        started = time.time()
        follow.send_signal(signal.SIGTERM)
        out, err = follow.communicate(timeout=2)
        assert time.time() - started < 2
        assert follow.returncode == 0, err
    finally:
        if follow.poll() is None:
            follow.kill()
        if engine is not None:
            engine.send_signal(signal.SIGTERM)
            engine.wait(timeout=30)
    after = DeltaTable(str(data / TABLES["silver"])).to_pyarrow_table()
    key = lambda r: (r["event_id"], r["line_no"])  # noqa: E731
    old = {key(r) for r in before.to_pylist()}
    new_rows = sorted((r for r in after.to_pylist() if key(r) not in old), key=key)
    printed = sorted((json.loads(line) for line in out.splitlines()), key=key)
    assert len(new_rows) > 0
    assert printed == [{"event_id": r["event_id"], "line_no": r["line_no"], "kafka_partition": r["kafka_partition"],
                        "kafka_offset": r["kafka_offset"]} for r in new_rows]


def status_json(medallion, data, ckpt, *extra):
    return json.loads(medallion("status", "--data-dir", data, "--checkpoint-dir", ckpt, "--json", *extra).stdout)


def test_status_matches_checkpoint_tables_and_lag(medallion, lake, broker):
    topic, stream, sent, data, ckpt = lake
    cp = Checkpoint.read(ckpt)
    st = status_json(medallion, data, ckpt, "--brokers", broker)
    c = st["checkpoint"]
    assert c["query_id"] == cp.query_id
    assert c["last_committed_batch"] == cp.last_committed == 2
    plan = cp.plans[cp.last_committed]
    assert c["last_batch"]["batch_id"] == plan["batch_id"]
    assert c["last_batch"]["topic"] == topic
    assert {p: [r["start"], r["end"]] for p, r in c["last_batch"]["offsets"].items()} == plan["offsets"]
    assert c["last_batch"]["next"] == plan["next"]
    assert c["planned_batch"] is None and c["failed_attempts"] == []
    assert sorted(t["name"] for t in st["tables"]) == sorted(TABLES.values())
    for t in st["tables"]:
        delta = DeltaTable(str(data / t["name"]))
        adds = add_actions(data / t["name"])
        assert t["version"] == delta.version(), t
        assert t["files"] == len(delta.file_uris()) == adds.num_rows, t
        assert t["bytes"] == sum(adds["size_bytes"].to_pylist()), t
        assert t["rows"] == delta.to_pyarrow_table().num_rows, t
        assert t["error"] is None, t
        # A batch commits only where it writes: Bronze holds the last batch, others may not.
        if t["name"] == "bronze/orders_raw":
            assert t["query_batch"] == 2, t
        else:
            assert t["query_batch"] is None or t["query_batch"] <= 2, t
    assert st["lag"]["reachable"] is True and st["lag"]["total"] == 0
    assert {p: v["next"] for p, v in st["lag"]["partitions"].items()} == plan["next"]

    # Records produced without a run: the lag is exactly them, per partition end - next.
    medallion.produce(topic, stream.take(40), name="lag")
    st = status_json(medallion, data, ckpt, "--brokers", broker)
    parts = st["lag"]["partitions"]
    assert st["lag"]["total"] == 40 == sum(v["lag"] for v in parts.values())
    assert all(v["lag"] == v["end"] - plan["next"][p] for p, v in parts.items())

    # Text form: same figures, readable.
    text = medallion("status", "--data-dir", data, "--checkpoint-dir", ckpt, "--brokers", broker).stdout
    assert f"query id              {cp.query_id}" in text and "total lag 40 records" in text

    # Brokers not reachable: said so, the rest still printed, exit 0.
    st = status_json(medallion, data, ckpt, "--brokers", "127.0.0.1:1")
    assert st["lag"]["reachable"] is False and "127.0.0.1:1" in st["lag"]["error"]
    assert st["checkpoint"]["last_committed_batch"] == 2 and len(st["tables"]) == 7


def test_status_shows_a_planned_batch_and_its_failed_attempts(medallion, lake, broker):
    topic, stream, sent, data, ckpt = lake
    medallion.produce(topic, stream.take(30), name="more")
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", check=False, fault="batch.after_compute:throw")
    assert proc.returncode != 0
    attempts = json.loads((ckpt / "attempts" / "3").read_text())
    st = status_json(medallion, data, ckpt, "--brokers", broker)
    c = st["checkpoint"]
    assert c["last_committed_batch"] == 2
    assert c["planned_batch"]["batch_id"] == 3
    plan = json.loads((ckpt / "offsets" / "3").read_text())
    assert {p: [r["start"], r["end"]] for p, r in c["planned_batch"]["offsets"].items()} == plan["offsets"]
    assert c["failed_attempts"] == [{"batch_id": 3, "failures": attempts["failures"],
                                     "last_error": attempts["last_error"]}]
    assert attempts["failures"] == 1
    text = medallion("status", "--data-dir", data, "--checkpoint-dir", ckpt, "--brokers", broker).stdout
    assert "planned batch         3, not committed" in text
    assert "failed attempts       batch 3: 1 (last error:" in text


def test_bad_inputs_exit_2_naming_them(medallion, lake, tmp_path):
    topic, stream, sent, data, ckpt = lake

    def fails(*args):
        proc = medallion(*args, check=False)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stdout == ""
        return proc.stderr

    err = fails("tail", "gold", "--data-dir", data)
    assert "unknown table 'gold'" in err
    for name in TABLES.values():
        assert name in err
    assert "silver/order_lines (silver)" in err
    err = fails("tail", "silver", "--data-dir", data, "--where", "colour=red")
    assert "unknown column 'colour'" in err and "event_id, order_id, event_time" in err
    err = fails("tail", "silver", "--data-dir", data, "--where", "status")
    assert "--where: cannot read condition 'status'" in err
    err = fails("tail", "silver", "--data-dir", data, "--where", "quantity>many")
    assert "'many'" in err and "column 'quantity'" in err
    err = fails("tail", "silver", "--data-dir", data, "--columns", "event_id,nope")
    assert "--columns: unknown column 'nope'" in err
    err = fails("tail", "silver", "--data-dir", tmp_path / "missing")
    assert "data directory" in err and "missing' does not exist" in err
    (tmp_path / "empty").mkdir()
    err = fails("tail", "silver", "--data-dir", tmp_path / "empty")
    assert "holds no table" in err
    err = fails("status", "--data-dir", data, "--checkpoint-dir", tmp_path / "nockpt")
    assert "checkpoint directory" in err and "nockpt' does not exist" in err
    err = fails("status", "--data-dir", tmp_path / "missing", "--checkpoint-dir", ckpt)
    assert "missing' does not exist" in err
    err = fails("tail", "silver", "--data-dir", data, "-n", "-3")
    assert "--rows" in err
