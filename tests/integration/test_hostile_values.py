"""A record no producer should send cannot stop, stall or bend the stream.

Each case sends one hostile record, runs to the end of the topic, then sends a normal PAID event
and runs again (a restart): both runs exit 0, the hostile record is in quarantine with its exact
code, the normal event reaches Silver with exact values, and delta-rs and DuckDB read every table
alike.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow.compute as pc
import pytest

import events
import tables

UTC = dt.timezone.utc


def _event(event_id: str, event_time: str, *, status: str = "PAID", quantity: str = "3",
           unit_price: str = "19.99", customer_id: str = "C-1") -> bytes:
    """A one-line order event; quantity and unit_price are raw JSON number texts."""
    return (
        '{"event_id":' + json.dumps(event_id) + ',"event_type":"order_status_changed",'
        '"event_time":' + json.dumps(event_time) + ',"order_id":"ORD-' + event_id + '",'
        '"status":' + json.dumps(status, ensure_ascii=False) + ','
        '"customer":{"customer_id":' + json.dumps(customer_id, ensure_ascii=False) + ',"name":"Ann","country":"DE"},'
        '"items":[{"product_id":"P-1","product_name":"Pen","category":"Office",'
        '"quantity":' + quantity + ',"unit_price":' + unit_price + '}],'
        '"payment":{"method":"card","currency":"EUR"},"schema_version":1}'
    ).encode("utf-8")


def _recent() -> str:
    """An event time an hour before now, so the Kafka timestamp is well after it."""
    t = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


CASES = {
    # 1: a detail cut inside a character put invalid UTF-8 into the Delta log's stats.
    "status_with_multibyte_characters": (
        lambda: _event("h1", _recent(), status="A" + "é" * 16), "unknown_status"),
    # 2: a line amount that overflows failed every batch.
    "line_amount_overflow": (
        lambda: _event("h2", _recent(), quantity="1000000000", unit_price="10000000"),
        "amount_out_of_range"),
    # 3: a price that wrapped around int64, and one that does not fit decimal(18,4).
    "unit_price_wraps_int64": (
        lambda: _event("h3", _recent(), quantity="1", unit_price="1844674407370956"),
        "bad_unit_price"),
    "unit_price_past_decimal_18_4": (
        lambda: _event("h3b", _recent(), quantity="1", unit_price="100000000000000"),
        "bad_unit_price"),
    # 4: an event from 2099 moved the watermark there.
    "event_time_far_in_future": (
        lambda: _event("h4", "2099-01-01T00:00:00Z"), "event_time_in_future"),
    # 6: year 0 became partition value -0001-12-31, which delta-rs cannot read.
    "event_time_before_1970": (
        lambda: _event("h6", "0000-01-01T00:00:00+01:00"), "event_time_out_of_range"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_record_is_quarantined_and_the_stream_goes_on(case, medallion, make_topic, tmp_path):
    make_bad, code = CASES[case]
    bad = make_bad()
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"

    medallion.produce(topic, [events.Record(bad, code)], name="bad")
    medallion.run(topic, data, ckpt, "--until-caught-up")
    good = _event("good", _recent())
    medallion.produce(topic, [events.Record(good, None)], name="good")
    medallion.run(topic, data, ckpt, "--until-caught-up")

    lake = tables.Lake(data)
    lake.check_readers_agree()
    quarantined = lake.rows("SELECT value, error, detail FROM quarantine")
    assert [(bytes(v), e) for v, e, _ in quarantined] == [(bad, code)], quarantined
    detail = quarantined[0][2]
    assert detail and detail.encode("utf-8").decode("utf-8") == detail

    silver = lake.rows("SELECT event_id, status, quantity, unit_price, line_amount FROM silver")
    assert silver == [("good", "PAID", 3, Decimal("19.9900"), Decimal("59.9700"))], silver
    assert lake.rows("SELECT count(*) FROM late")[0][0] == 0
    gold = lake.rows("SELECT category, revenue, quantity, orders FROM gold_windows")
    assert gold == [("Office", Decimal("59.9700"), 3, 1)], gold
    assert lake.rows("SELECT revenue FROM gold_top") == [(Decimal("59.9700"),)]
    assert lake.rows("SELECT total_spend FROM gold_customers") == [(Decimal("59.9700"),)]


def test_kafka_timestamps_no_clock_holds_land_in_bronze_and_keep_the_log_sortable(
        medallion, broker, tmp_path):
    """A producer sets a record's Kafka timestamp to any non-negative 64-bit number where the
    topic accepts it (message.timestamp.after.max.ms was unbounded by default before Kafka 4.0,
    KIP-1030). Records stamped in the year 12026 and at 2**62 ms (past what Bronze's
    microseconds hold) reach Bronze (the first as it is, the second as null) and Silver; the
    Bronze file's stats in the log have no bound whose ISO text would not sort as its time, and
    delta-rs and DuckDB read every table alike."""
    import uuid

    from confluent_kafka.admin import AdminClient, NewTopic

    import hostile

    topic = f"it-kafka-timestamps-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker})
    created = admin.create_topics([NewTopic(
        topic, 1, 1, config={"message.timestamp.after.max.ms": str(2 ** 63 - 1)})])
    created[topic].result(30)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    year_12026_ms = 317336745600 * 1000
    stamps = {"normal": int(dt.datetime.now(UTC).timestamp() * 1000), "y12026": year_12026_ms,
              "huge": 2 ** 62}
    for event_id, stamp in stamps.items():
        hostile.send(broker, topic, [_event(event_id, _recent())], stamp, partitions=1)
    medallion.run(topic, data, ckpt, "--until-caught-up")

    lake = tables.Lake(data)
    lake.check_readers_agree()
    bronze = lake.rows("SELECT \"offset\", epoch_us(kafka_timestamp) FROM bronze ORDER BY \"offset\"")
    assert bronze == [(0, stamps["normal"] * 1000), (1, year_12026_ms * 1000), (2, None)], bronze
    silver = lake.rows("SELECT event_id FROM silver ORDER BY event_id")
    assert silver == [("huge",), ("normal",), ("y12026",)], silver
    bounds = []
    for entry in sorted((data / "bronze" / "orders_raw" / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            add = json.loads(line).get("add")
            if add and add.get("stats"):
                stats = json.loads(add["stats"])
                assert stats["nullCount"]["kafka_timestamp"] == 1, stats
                bounds += [stats[side].get("kafka_timestamp") for side in ("minValues", "maxValues")]
    assert bounds == [dt.datetime.fromtimestamp(stamps["normal"] / 1000, UTC)
                      .strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z", None], bounds
    # The Bronze file's footer holds the stamps' least and greatest (the year 12026's): DuckDB,
    # skipping row groups by them, finds each stamp on either side of a cut.
    files = [str(f) for f in (data / "bronze" / "orders_raw").glob("ingest_date=*/**/*.parquet")]
    assert files
    normal_s, y12026_s = stamps["normal"] / 1000, year_12026_ms / 1000
    for where, cut, want in [(">", normal_s + 1, 1), (">=", y12026_s, 1), ("<", normal_s + 1, 1),
                             (">", y12026_s, 0), ("<", normal_s - 1, 0)]:
        got = lake.con.execute(f"SELECT count(*) FROM read_parquet(?) WHERE kafka_timestamp {where} to_timestamp(?)",
                               [files, cut]).fetchall()[0][0]
        assert got == want, (where, cut, got, want)


def test_gold_table_with_decimal_18_sums_is_refused_with_what_to_do(medallion, make_topic, tmp_path):
    """A Gold table written when its sums were decimal(18,4) is not widened in place: the run
    stops at start-up, before writing anything, naming the table and the way to upgrade."""
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, [events.Record(_event("g1", _recent()), None)])
    medallion.run(topic, data, ckpt, "--until-caught-up")
    first = data / "gold" / "top_products" / "_delta_log" / f"{0:020d}.json"
    first.write_text(first.read_text().replace("decimal(38,4)", "decimal(18,4)"))
    medallion.produce(topic, [events.Record(_event("g2", _recent()), None)], name="more")
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", check=False)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert (f"table gold_top_products ({data}/gold/top_products) was written by an earlier build "
            'with other column types: revenue ("decimal(18,4)" in the log, "decimal(38,4)" now)') in err, err
    assert "run with a new data directory and a new checkpoint directory" in err, err
    assert tables.Checkpoint.read(ckpt).last_committed == 0


def test_a_string_past_the_stats_prefix_is_found_by_a_filter_that_skips_files(medallion, make_topic, tmp_path):
    """A customer_id whose 33rd character is U+10FFFF, the largest in its Silver file: the file's
    Delta maxValues must still be at or above it, or a reader that skips files by their stats
    (delta-rs' dataset, with its filter) drops the file and the row with it."""
    hostile = "C" * 32 + "\U0010FFFF" + "x"
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, [events.Record(_event("s1", _recent()), None),
                              events.Record(_event("s2", _recent(), customer_id=hostile), None)])
    medallion.run(topic, data, ckpt, "--until-caught-up")

    lake = tables.Lake(data)
    lake.check_readers_agree()
    assert sorted(lake.rows("SELECT customer_id FROM silver")) == [("C-1",), (hostile,)]
    silver = lake.delta["silver"].to_pyarrow_dataset()
    for value, event_id in (("C-1", "s1"), (hostile, "s2")):
        found = silver.to_table(filter=pc.field("customer_id") == value, columns=["event_id"])
        assert found.column("event_id").to_pylist() == [event_id], value
