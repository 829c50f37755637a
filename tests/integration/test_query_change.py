"""A changed query on restart: every setting recorded in <checkpoint>/query.json is either applied
from the point the README's "Changing the query on restart" states, or refused with exit 2
naming the setting, its recorded and its new value; a refused restart changes nothing, and a
restart with the recorded settings then goes on exactly."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

import events
import tables
from test_event_time import S, T0, _event, log_watermarks

GOLD_WINDOWS = "gold/revenue_by_category_window"


def record(ckpt: Path) -> dict:
    return json.loads((ckpt / "query.json").read_text())


def tree(*dirs: Path) -> dict[str, tuple[int, int]]:
    """Every file under `dirs` (lock files aside) with its size and modification time."""
    out = {}
    for d in dirs:
        for root, _, files in os.walk(d):
            for name in files:
                if name.endswith(".lock"):
                    continue
                p = Path(root) / name
                st = p.stat()
                out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def scripted(ids_secs: list[tuple[str, float]]) -> list[events.Record]:
    return [events.Record(_event(eid, sec), None) for eid, sec in ids_secs]


def output(proc) -> str:
    return proc.stdout + proc.stderr


# ---- refused ---------------------------------------------------------------------------------
@pytest.mark.parametrize("flag,old,new,key", [
    ("--window-size", "1m", "2m", "gold.window_size"),
    ("--window-slide", "1m", "30s", "gold.window_slide"),
], ids=["window_size", "window_slide"])
def test_window_change_is_refused_and_changes_nothing(flag, old, new, key, medallion, make_topic,
                                                      tmp_path):
    topic = make_topic(2)
    stream = events.EventStream(seed=41, prefix="w")
    part1, part2 = stream.take(600), stream.take(600)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, part1, "part1")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--window-size", "1m")
    medallion.produce(topic, part2, "part2")
    before = tree(data, ckpt)

    extra = ["--window-size", new] if flag == "--window-size" else ["--window-size", old, flag, new]
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", *extra, check=False)
    assert proc.returncode == 2, output(proc)
    assert f"{key} ({flag}) was {old} and is now {new}" in proc.stderr, proc.stderr
    assert "new checkpoint directory and a new data directory" in proc.stderr
    assert f"run with the recorded settings ({key} = {old}" in proc.stderr
    assert tree(data, ckpt) == before

    # The recorded settings go on exactly, as if the refused run had never happened.
    medallion.run(topic, data, ckpt, "--until-caught-up", "--window-size", "1m")
    tables.check_all(data, ckpt, topic, part1 + part2)


def test_any_change_before_the_first_batch_is_recorded(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--window-size", "1m")  # empty topic
    assert record(ckpt)["settings"]["gold.window_size"] == "1m"
    medallion.produce(topic, scripted([("e1", 0), ("e2", 200)]))
    medallion.run(topic, data, ckpt, "--until-caught-up", "--window-size", "2m")
    assert record(ckpt)["settings"]["gold.window_size"] == "2m"
    widths = {r["window_end"] - r["window_start"] for r in
              DeltaTable(str(data / GOLD_WINDOWS)).to_pyarrow_table().to_pylist()}
    assert widths == {dt.timedelta(minutes=2)}


def test_topic_change_is_refused(medallion, make_topic, tmp_path):
    topic, other = make_topic(1), make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, events.EventStream(seed=43, prefix="t").take(100))
    medallion.run(topic, data, ckpt, "--until-caught-up")
    before = tree(data, ckpt)
    proc = medallion.run(other, data, ckpt, "--until-caught-up", check=False)
    assert proc.returncode == 2, output(proc)
    assert f"kafka.topic (--topic) was {topic} and is now {other}" in proc.stderr, proc.stderr
    assert tree(data, ckpt) == before


def test_joining_payments_later_is_refused(medallion, make_topic, tmp_path):
    # The join state and the payment tables would miss every batch before the change.
    topic, payments = make_topic(1), make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, events.EventStream(seed=47, prefix="j").take(100))
    medallion.run(topic, data, ckpt, "--until-caught-up")
    before = tree(data, ckpt)
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--payments-topic", payments, check=False)
    assert proc.returncode == 2, output(proc)
    assert f"payments.topic (--payments-topic) was (none) and is now {payments}" in proc.stderr, proc.stderr
    assert tree(data, ckpt) == before


def test_payment_interval_change_is_refused(medallion, make_topic, tmp_path):
    # The join decided which orders and payments are final under the recorded interval.
    topic, payments = make_topic(1), make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, events.EventStream(seed=48, prefix="k").take(100))
    medallion.run(topic, data, ckpt, "--until-caught-up", "--payments-topic", payments)
    before = tree(data, ckpt)
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--payments-topic", payments,
                         "--payment-after", "30m", check=False)
    assert proc.returncode == 2, output(proc)
    assert "payments.after (--payment-after) was 1h and is now 30m" in proc.stderr, proc.stderr
    assert tree(data, ckpt) == before


def test_change_with_a_batch_to_replay_is_refused_until_it_is_done(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    stream = events.EventStream(seed=47, prefix="p", conflicts=False)
    sent = stream.take(800)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, sent)
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 300, "--top-n", 5,
                  fault="plan.after_write@2", check=False)
    assert (ckpt / "offsets" / "1").exists() and not (ckpt / "state" / "1").exists()
    before = tree(data, ckpt)
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--top-n", 3, check=False)
    assert proc.returncode == 2, output(proc)
    assert "gold.top_n (--top-n) was 5 and is now 3" in proc.stderr, proc.stderr
    assert "Batch 1 was planned under the recorded settings" in proc.stderr
    assert tree(data, ckpt) == before
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 300, "--top-n", 5)
    tables.check_all(data, ckpt, topic, sent, top_n=5)


# ---- applied ---------------------------------------------------------------------------------
def test_top_n_applies_from_the_next_batch(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    stream = events.EventStream(seed=53, prefix="n")
    parts = [stream.take(500) for _ in range(3)]
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, parts[0], "p0")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--top-n", 5)
    assert record(ckpt)["settings"]["gold.top_n"] == "5"
    assert DeltaTable(str(data / "gold/top_products")).to_pyarrow_table().num_rows == 5

    for i, n in ((1, 3), (2, 8)):  # smaller, then larger: the state keeps every product
        medallion.produce(topic, parts[i], f"p{i}")
        proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--top-n", n)
        assert f"gold.top_n (--top-n) changed from {5 if i == 1 else 3} to {n}" in output(proc)
        assert DeltaTable(str(data / "gold/top_products")).to_pyarrow_table().num_rows == n
        assert record(ckpt)["settings"]["gold.top_n"] == str(n)
    tables.check_all(data, ckpt, topic, parts[0] + parts[1] + parts[2], top_n=8)


def test_compression_applies_to_files_written_after_the_restart(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    stream = events.EventStream(seed=59, prefix="c")
    part1, part2 = stream.take(300), stream.take(300)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, part1, "part1")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--compression", "zstd")
    # Bronze's value column: large enough to keep zstd (a column chunk under 16 KiB gives way
    # to LZ4, as in the small files of Silver here).
    bronze = data / "bronze/orders_raw"
    first = {str(p) for p in bronze.rglob("*.parquet")}
    medallion.produce(topic, part2, "part2")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--compression", "snappy")
    after = {str(p) for p in bronze.rglob("*.parquet")} - first
    assert first and after

    def codecs(paths):
        out = set()
        for p in paths:
            meta = pq.ParquetFile(p).metadata
            value = meta.schema.names.index("value")
            out.add(meta.row_group(0).column(value).compression)
        return out

    assert codecs(first) == {"ZSTD"}
    assert codecs(after) == {"SNAPPY"}
    assert record(ckpt)["settings"]["parquet.compression"] == "snappy"
    # No layer has a codec of its own ([parquet.<layer>]): each follows the shared one.
    assert record(ckpt)["settings"]["parquet.bronze.compression"] == "parquet.compression"
    tables.check_all(data, ckpt, topic, part1 + part2)


def test_output_mode_applies_from_the_next_batch(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"

    def open_files() -> list[str]:
        return [f for f in DeltaTable(str(data / GOLD_WINDOWS)).file_uris()
                if Path(f).name.startswith("open-")]

    medallion.produce(topic, scripted([("a1", 0), ("a2", 70), ("a3", 200)]), "p1")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--output-mode", "append",
                  "--allowed-lateness", "30s")
    assert open_files() == []
    medallion.produce(topic, scripted([("a4", 210)]), "p2")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--output-mode", "update",
                  "--allowed-lateness", "30s")
    assert len(open_files()) == 1  # the window of 180-240 s is open and written now
    medallion.produce(topic, scripted([("a5", 215)]), "p3")
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--output-mode", "append",
                         "--allowed-lateness", "30s")
    assert "gold.output_mode (--output-mode) changed from update to append" in output(proc)
    assert open_files() == []  # removed in the next batch's commit
    starts = sorted(r["window_start"] for r in
                    DeltaTable(str(data / GOLD_WINDOWS)).to_pyarrow_table().to_pylist())
    # Final windows only: [0,60) [60,120); [180,240) is still open (watermark 185 s).
    assert [int(s.timestamp()) * S - T0 for s in starts] == [0, 60 * S]


def test_allowed_lateness_applies_from_the_next_batch_and_never_moves_back(medallion, make_topic,
                                                                            tmp_path):
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, scripted([("l1", 0), ("l2", 300)]), "p1")
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--allowed-lateness", "2m")
    assert list(log_watermarks(output(proc)).values())[-1] == T0 + 180 * S

    medallion.produce(topic, scripted([("l3", 301)]), "p2")
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--allowed-lateness", "30s")
    assert list(log_watermarks(output(proc)).values()) == [T0 + 271 * S]

    medallion.produce(topic, scripted([("l4", 302)]), "p3")
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--allowed-lateness", "10m")
    assert list(log_watermarks(output(proc)).values()) == [T0 + 271 * S]  # never back
    assert record(ckpt)["settings"]["watermark.allowed_lateness"] == "10m"


def test_idle_timeout_is_recorded_and_applied(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, scripted([("i1", 0)]), "p1")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--idle-timeout", "30s")
    medallion.produce(topic, scripted([("i2", 10)]), "p2")
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--idle-timeout", "5s")
    assert "watermark.idle_timeout (--idle-timeout) changed from 30s to 5s" in output(proc)
    assert record(ckpt)["settings"]["watermark.idle_timeout"] == "5s"


def test_max_future_skew_applies_to_records_after_the_restart(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)

    def future(eid: str) -> events.Record:
        ev = json.loads(_event(eid, 0))
        ev["event_time"] = ahead.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return events.Record(json.dumps(ev).encode(), None)

    medallion.produce(topic, [future("f1")], "p1")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-future-skew", "10m")
    medallion.produce(topic, [future("f2")], "p2")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-future-skew", "1m")
    lake = tables.Lake(data)
    assert lake.rows("SELECT DISTINCT event_id FROM silver") == [("f1",)]
    assert lake.rows("SELECT error FROM quarantine") == [("event_time_in_future",)]


def test_shorter_dedup_horizon_applies_from_the_next_batch(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, scripted([("d1", 0), ("d2", 300)]), "p1")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--allowed-lateness", "30s",
                  "--dedup-horizon", "1h")
    # Watermark 270 s; a new event at 100 s is within 1h but not within 60 s of it.
    medallion.produce(topic, scripted([("d3", 100)]), "p2")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--allowed-lateness", "30s",
                  "--dedup-horizon", "60s")
    lake = tables.Lake(data)
    assert lake.rows("SELECT event_id FROM silver ORDER BY 1") == [("d1",), ("d2",)]
    assert lake.rows("SELECT DISTINCT event_id, reason FROM late") == [("d3", "beyond_dedup_horizon")]


def test_longer_dedup_horizon_fills_before_it_holds(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, scripted([("h1", 0), ("h2", 100), ("h3", 300)]), "p1")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--allowed-lateness", "30s",
                  "--dedup-horizon", "60s")
    # Watermark 270 s: the ids before 210 s (h1, h2) are forgotten. With a 1h horizon a
    # re-sent h2 must not reach Silver twice: it is beyond what dedup remembers.
    medallion.produce(topic, scripted([("h2", 100), ("h4", 250)]), "p2")
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--allowed-lateness", "30s",
                         "--dedup-horizon", "1h")
    assert "watermark.dedup_horizon (--dedup-horizon) changed from 1m to 1h" in output(proc)
    assert record(ckpt)["dedup_floor_us"] == T0 + 210 * S
    lake = tables.Lake(data)
    assert lake.rows("SELECT event_id, count(*) FROM silver GROUP BY 1 ORDER BY 1") == [
        ("h1", 1), ("h2", 1), ("h3", 1), ("h4", 1)]
    assert lake.rows("SELECT DISTINCT event_id, reason FROM late WHERE reason = 'beyond_dedup_horizon'"
                     ) == [("h2", "beyond_dedup_horizon")]
    # Once the watermark minus 1h passes the floor, the floor is gone from the record.
    medallion.produce(topic, scripted([("h5", 4000)]), "p3")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--allowed-lateness", "30s",
                  "--dedup-horizon", "1h")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--allowed-lateness", "30s",
                  "--dedup-horizon", "1h")
    assert "dedup_floor_us" not in record(ckpt)


# ---- the record itself ----------------------------------------------------------------------
def test_checkpoint_without_a_record_records_the_current_settings(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    stream = events.EventStream(seed=61, prefix="o")
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, stream.take(200), "p1")
    medallion.run(topic, data, ckpt, "--until-caught-up", "--top-n", 5)
    (ckpt / "query.json").unlink()  # as a checkpoint of an older medallion
    medallion.produce(topic, stream.take(200), "p2")
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--top-n", 4)
    assert "this run's settings are recorded now as the query's" in output(proc)
    assert record(ckpt)["settings"]["gold.top_n"] == "4"
    assert record(ckpt)["version"] == 1


def test_damaged_record_is_refused_with_a_clear_message(medallion, make_topic, tmp_path):
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, events.EventStream(seed=67, prefix="x").take(50))
    medallion.run(topic, data, ckpt, "--until-caught-up")
    (ckpt / "query.json").write_text('{"version":1,"sett')
    before = tree(data, ckpt)
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", check=False)
    assert proc.returncode == 2, output(proc)
    assert f"'{ckpt}/query.json' is damaged" in proc.stderr, proc.stderr
    assert tree(data, ckpt) == before
