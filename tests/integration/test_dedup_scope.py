"""watermark.dedup_scope against the real broker: with "partition" each Kafka partition's own
watermark, event by event, decides what is beyond the dedup horizon and which copy of an id is
first, so the batch size cannot change Silver or those Late rows (the property that lets
several processes split a topic, docs/scale-out.md); and a query keeps its scope."""

from __future__ import annotations

import json

import events
import tables

S = 1_000_000
TIGHT = ["--allowed-lateness", "30s", "--dedup-horizon", "20m", "--idle-timeout", "1h"]
RULES = dict(lateness_us=30 * S, horizon_us=1200 * S, idle_us=3600 * S)


def run_and_check(medallion, topic, sent, tmp_path, name: str, scope: str, batch: int):
    """A catch-up run in batches of `batch` records; Silver and Late exactly as the oracle of
    `scope` says for the batches the run cut. Returns Silver and the beyond-horizon Late rows
    (the batch id left out: it names a batch, which the batch size changes)."""
    data, ckpt = tmp_path / f"{name}-data", tmp_path / f"{name}-ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", batch, *TIGHT,
                  "--dedup-scope", scope, timeout=300)
    lake = tables.Lake(data)
    ck = tables.Checkpoint.read(ckpt)
    batches = tables.check_bronze(lake, ck, topic, sent)
    behind = [events.plan_behind(ck.plans.get(b)) for b in range(len(batches))]
    expected = events.simulate(batches, events.expected_errors(sent),
                               events.Rules(**RULES, dedup_scope=scope), behind)
    tables.check_silver(lake, expected)
    tables.check_late(lake, expected)
    assert json.loads((ckpt / "query.json").read_text())["settings"]["watermark.dedup_scope"] == scope
    silver = sorted(lake.rows("SELECT event_id, line_no, kafka_partition, kafka_offset, line_amount FROM silver"))
    beyond = sorted(lake.rows("SELECT event_id, line_no, kafka_partition, kafka_offset, epoch_us(watermark) "
                              "FROM late WHERE reason = 'beyond_dedup_horizon'"))
    return len(batches), silver, beyond


def test_partition_scope_gives_the_same_rows_in_batches_of_50_and_5000(medallion, make_topic, tmp_path):
    """Late events 20-40 min behind (beyond a 20 min horizon) and re-sent ids, some under
    another key (another partition, where the copy is that partition's own first)."""
    topic = make_topic(4)
    sent = events.EventStream(seed=29, prefix="s").take(3000)
    medallion.produce(topic, sent)
    n_small, silver_small, beyond_small = run_and_check(medallion, topic, sent, tmp_path, "small", "partition", 50)
    n_large, silver_large, beyond_large = run_and_check(medallion, topic, sent, tmp_path, "large", "partition", 5000)
    assert n_small >= 60 and n_large == 1, (n_small, n_large)
    assert len(beyond_small) > 20 and len(silver_small) > 1500, (len(beyond_small), len(silver_small))
    assert silver_small == silver_large
    assert beyond_small == beyond_large
    # The query-wide rule on the same records: the batch size moves events across the horizon
    # (each batch is judged by the watermark after the batch before).
    _, silver_q_small, beyond_q_small = run_and_check(medallion, topic, sent, tmp_path, "q-small", "query", 50)
    _, silver_q_large, beyond_q_large = run_and_check(medallion, topic, sent, tmp_path, "q-large", "query", 5000)
    assert beyond_q_large == [] and beyond_q_small != [], len(beyond_q_small)


def test_a_query_keeps_its_scope_and_refuses_another(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    sent = events.EventStream(seed=31, prefix="k").take(400)
    medallion.produce(topic, sent[:200])
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--dedup-scope", "partition")
    medallion.produce(topic, sent[200:])
    # Unset: the recorded scope goes on (its state holds per-partition ids).
    proc = medallion.run(topic, data, ckpt, "--until-caught-up")
    assert json.loads((ckpt / "query.json").read_text())["settings"]["watermark.dedup_scope"] == "partition"
    tables.check_all(data, ckpt, topic, sent, rules=events.Rules(dedup_scope="partition"))
    # Another: refused before anything is written, naming the setting and both values.
    before = sorted(p.name for p in (data / "silver" / "order_lines" / "_delta_log").iterdir())
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--dedup-scope", "query", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "watermark.dedup_scope (--dedup-scope) was partition and is now query" in proc.stderr, proc.stderr
    assert sorted(p.name for p in (data / "silver" / "order_lines" / "_delta_log").iterdir()) == before


def test_a_checkpoint_recorded_without_a_scope_is_query_wide(medallion, make_topic, tmp_path):
    """query.json written before the setting existed, or none: the query's ids are query-wide,
    so it goes on under "query", and "partition" is refused."""
    topic = make_topic(2)
    sent = events.EventStream(seed=37, prefix="o").take(300)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--max-batches", 1, "--max-batch-records", 100)
    record = json.loads((ckpt / "query.json").read_text())
    assert record["settings"].pop("watermark.dedup_scope") == "query"
    (ckpt / "query.json").write_text(json.dumps(record))
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--dedup-scope", "partition", check=False)
    assert proc.returncode == 2 and "was query and is now partition" in proc.stderr, proc.stderr
    # No record at all (a checkpoint of a medallion before query.json): the same.
    (ckpt / "query.json").unlink()
    proc = medallion.run(topic, data, ckpt, "--until-caught-up", "--dedup-scope", "partition", check=False)
    assert proc.returncode == 2 and "its dedup state is query-wide" in proc.stderr, proc.stderr
    medallion.run(topic, data, ckpt, "--until-caught-up")
    tables.check_all(data, ckpt, topic, sent)
