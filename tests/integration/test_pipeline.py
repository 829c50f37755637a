"""End to end against the real broker: records of known content in, every table checked exactly."""

from __future__ import annotations

import re

import events
import tables


def test_known_events_give_exact_tables(medallion, make_topic, tmp_path):
    topic = make_topic(3)
    sent = events.EventStream(seed=11).take(2600)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    metrics_file = tmp_path / "medallion.prom"
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 700,
                         "--top-n", 8, "--metrics-file", metrics_file)
    log = proc.stdout + proc.stderr
    assert "last committed batch 3" in log  # 2600 / 700 -> 4 batches
    # Each batch's line says how many records the topic still holds beyond it.
    assert [int(n) for n in re.findall(r", lag (\d+) records", log)] == [1900, 1200, 500, 0], log
    lake = tables.check_all(data, ckpt, topic, sent, top_n=8)
    # The data really exercises what it should.
    codes = {r[0] for r in lake.rows("SELECT DISTINCT error FROM quarantine")}
    assert codes == {"not_json", "not_object", "missing_field", "wrong_type", "empty_items",
                     "bad_event_time", "event_time_out_of_range", "unknown_status", "bad_quantity",
                     "bad_unit_price", "bad_payment_amount"}
    assert len(lake.rows("SELECT DISTINCT event_date FROM silver")) == 2
    assert lake.rows("SELECT count(*) FROM gold_top")[0][0] == 8
    assert lake.rows("SELECT count(*) FROM late WHERE reason = 'window_final'")[0][0] > 0

    # The metrics file agrees with the tables.
    metrics = read_metrics(metrics_file, topic)
    count = lambda table: lake.rows(f"SELECT count(*) FROM {table}")[0][0]  # noqa: E731
    assert metrics["medallion_batches_total"] == 4
    assert metrics["medallion_last_batch_id"] == 3
    assert metrics["medallion_records_total"] == len(sent) == count("bronze")
    assert metrics["medallion_quarantined_total"] == count("quarantine")
    assert metrics["medallion_silver_lines_total"] == count("silver")
    assert metrics["medallion_late_lines_total"] == count("late")
    assert metrics["medallion_lag_records"] == 0
    assert metrics["medallion_open_window_groups"] >= 0 and metrics["medallion_dedup_ids"] > 0


def read_metrics(path, topic: str) -> dict[str, float]:
    """The samples of a Prometheus text file without labels of their own (no reason, table,
    partition, le...), by metric name; every one labelled with the topic, and each metric
    preceded by its HELP and TYPE lines."""
    samples, typed = {}, set()
    for line in path.read_text().splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        m = re.fullmatch(r'(\w+)\{query="[0-9a-f-]+",topic="([^"]+)"(,[^}]*)?\} (\S+)', line)
        family = re.sub(r"_(bucket|sum|count)$", "", m.group(1)) if m else None
        assert m and m.group(2) == topic and (m.group(1) in typed or family in typed), line
        if m.group(3) is None:
            samples[m.group(1)] = float(m.group(4))
    return samples


def test_tight_watermark_sends_old_events_to_late(medallion, make_topic, tmp_path):
    """Short lateness and dedup horizon: events 20-40 min late are beyond the horizon (kept out
    of Silver, every copy in the late table); those 10-20 min late land in windows already
    final. (The partitions are read in turn and a partition with unread records holds the
    watermark, so only lateness in the data makes events late, not the fetch order.)"""
    topic = make_topic(3)
    sent = events.EventStream(seed=17, prefix="t").take(2000)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 250,
                  "--allowed-lateness", "30s", "--dedup-horizon", "20m", "--idle-timeout", "1h")
    rules = events.Rules(lateness_us=30_000_000, horizon_us=1_200_000_000, idle_us=3_600_000_000)
    lake = tables.check_all(data, ckpt, topic, sent, rules=rules)
    reasons = dict(lake.rows("SELECT reason, count(*) FROM late GROUP BY reason"))
    assert reasons.get("window_final", 0) > 0 and reasons.get("beyond_dedup_horizon", 0) > 0, reasons


def test_window_size_is_honoured(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    sent = events.EventStream(seed=5, prefix="w").take(600)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--window-size", "5m")
    lake = tables.check_all(data, ckpt, topic, sent, rules=events.Rules(window_us=300_000_000))
    for start, end in lake.rows("SELECT epoch_us(window_start), epoch_us(window_end) "
                                "FROM gold_windows"):
        assert start % 300_000_000 == 0 and end - start == 300_000_000


def test_generator_mode(medallion, make_topic, tmp_path):
    topic = make_topic(4)
    proc = medallion("produce", "--brokers", medallion.brokers, "--topic", topic, "--count", 5000,
                     "--seed", 42, "--duplicate-fraction", 0.05, "--late-fraction", 0.03,
                     "--out-of-order-fraction", 0.05, "--malformed-fraction", 0.02,
                     "--invalid-fraction", 0.03)
    m = re.search(r"produced 5000 events \(valid (\d+), duplicate (\d+), malformed (\d+), "
                  r"invalid (\d+)\)", proc.stdout)
    assert m, proc.stdout
    valid, duplicate, malformed, invalid = map(int, m.groups())
    assert valid + duplicate + malformed + invalid == 5000
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 1500)
    lake = tables.Lake(data)
    assert lake.rows("SELECT count(*) FROM bronze")[0][0] == 5000
    assert lake.rows('SELECT count(DISTINCT ("partition", "offset")) FROM bronze')[0][0] == 5000
    assert lake.rows("SELECT count(*) FROM quarantine")[0][0] == malformed + invalid
    # Each event_id once in Silver: its lines numbered 1..n, all from one Kafka record.
    bad = lake.rows("""
        SELECT event_id FROM silver GROUP BY event_id
        HAVING count(DISTINCT (kafka_partition, kafka_offset)) <> 1
            OR count(*) <> max(line_no) OR min(line_no) <> 1 OR count(DISTINCT line_no) <> count(*)""")
    assert bad == []
    assert lake.rows("SELECT count(*) FROM silver WHERE status <> 'PAID'")[0][0] == 0
    tables.check_gold(lake, 60_000_000, 100)  # late lines as the late table says
    tables.check_log(lake, tables.Checkpoint.read(ckpt))
    lake.check_readers_agree()
