"""Group mode (`--scale-mode group`, docs/scale-out.md step 3) against the real broker: members
of one consumer group split the topic and write one set of Bronze, Quarantine, Silver and Late
tables. However partitions move (members joining, stopping, killed, paused past their session),
Bronze holds every record once, and Silver, Quarantine and Late equal what one process writes
from the same topic, as sets of rows."""

from __future__ import annotations

import glob
import json
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewPartitions
from deltalake import DeltaTable
from prometheus_client.parser import text_string_to_metric_families

import events
import hostile
import tables
from conftest import BINARY
from http_engine import free_port, get

TIGHT = ["--allowed-lateness", "30s", "--dedup-horizon", "20m", "--idle-timeout", "1h"]


class Member:
    """One `medallion run --scale-mode group` process."""

    def __init__(self, medallion, topic: str, group: str, data: Path, ckpt: Path, name: str,
                 *extra: str, env: dict | None = None, batch_records: int = 300, toml: str = ""):
        self.log_path = medallion.work / f"member-{name}.log"
        self.log = open(self.log_path, "w")
        # A member that dies is out of the group after 6 s (the broker's least), not 45.
        config = medallion.work / f"group-{name}.toml"
        config.write_text('[kafka.properties]\n"session.timeout.ms" = "6000"\n"heartbeat.interval.ms" = "1000"\n' + toml)
        self.proc = subprocess.Popen(
            [str(BINARY), "run", "--config", str(config), "--brokers", medallion.brokers, "--topic", topic,
             "--group-id", group, "--scale-mode", "group", "--data-dir", str(data), "--checkpoint-dir", str(ckpt),
             "--trigger-interval", "100ms", "--max-batch-records", str(batch_records), *TIGHT, *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})))

    def wait_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.text():
            assert time.monotonic() < deadline, f"no '{text}' in the log:\n" + self.text()[-3000:]
            time.sleep(0.2)

    def kill(self, sig=signal.SIGKILL) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        return rc

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")


class GoldStage(Member):
    """One `medallion run --scale-mode gold` process: it keeps Gold from Silver's log while it
    holds the lease in the checkpoint directory, and waits for the lease otherwise."""

    def __init__(self, medallion, topic: str, data: Path, ckpt: Path, name: str, *extra: str,
                 env: dict | None = None):
        self.log_path = medallion.work / f"gold-{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(BINARY), "run", "--brokers", medallion.brokers, "--topic", topic, "--scale-mode", "gold",
             "--data-dir", str(data), "--checkpoint-dir", str(ckpt), "--trigger-interval", "200ms", *TIGHT, *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})))

    def batches(self) -> int:
        return self.text().count("Gold batch:")


def txn_version(table_dir: Path, suffix: str) -> int:
    """The greatest version of a txn whose appId ends with `suffix` in the table's log."""
    best = -1
    for entry in glob.glob(str(table_dir / "_delta_log" / "*.json")):
        for line in Path(entry).read_text().splitlines():
            txn = json.loads(line).get("txn")
            if txn and txn["appId"].endswith(suffix):
                best = max(best, txn["version"])
    return best


def silver_version(data: Path) -> int:
    return max((int(Path(p).stem) for p in glob.glob(str(data / "silver" / "order_lines" / "_delta_log" / "*.json"))),
               default=-1)


def wait_for_gold(data: Path, stages: list[GoldStage], timeout: float = 90) -> None:
    """Until every Gold table holds Silver's latest version."""
    deadline = time.monotonic() + timeout
    target = silver_version(data)
    while min(txn_version(data / "gold" / t, "-gold") for t in ("customer_spend", "top_products")) < target:
        assert time.monotonic() < deadline, "Gold behind Silver; stage logs:\n" + "\n".join(
            s.text()[-1500:] for s in stages)
        for s in stages:
            assert s.proc.poll() is None or s.proc.returncode in (0, -9), s.text()[-3000:]
        time.sleep(0.3)


def check_gold_rule(data: Path) -> None:
    """Gold against Silver (README, "The Gold stage"): windows plus their window_final Late
    lines equal Silver per window and category, each such line once; top products and
    customer spend equal DuckDB over Silver."""
    lake = tables.Lake(data)
    finals = lake.rows("SELECT event_id, line_no, kafka_partition, kafka_offset FROM late WHERE reason = 'window_final'")
    assert len(finals) == len(set(finals)), "a window_final line is in Late twice"
    tables.check_gold(lake, 60_000_000, 100)
    assert lake.rows("SELECT count(*) FROM gold_windows")[0][0] > 0


def bronze_positions(data: Path, topic: str) -> dict[int, int]:
    """Each partition's next offset as Bronze's log records it (the latest txn per partition)."""
    out: dict[int, int] = {}
    for entry in sorted(glob.glob(str(data / "bronze" / "orders_raw" / "_delta_log" / "*.json"))):
        for line in Path(entry).read_text().splitlines():
            txn = json.loads(line).get("txn")
            if txn and txn["appId"].endswith(f"/{topic}/" + txn["appId"].rsplit("/", 1)[-1]):
                p = int(txn["appId"].rsplit("/", 1)[-1])
                out[p] = max(out.get(p, 0), txn["version"])
    return out


def wait_for(data: Path, topic: str, total: int, members: list[Member], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(bronze_positions(data, topic).values()) >= total:
            return
        for m in members:
            assert m.proc.poll() is None or m.proc.returncode in (0, -9), m.text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"Bronze holds {bronze_positions(data, topic)} of {total} records; last member log:\n"
                         + members[-1].text()[-3000:])


def rows(lake: tables.Lake) -> dict[str, list]:
    """The rows group mode must agree on: Bronze's coordinates and values, Quarantine's
    coordinates and codes, every Silver column, and the beyond-horizon Late rows without their
    batch id (a member's own count)."""
    return {
        "bronze": sorted(lake.rows("SELECT partition, \"offset\", value FROM bronze")),
        "quarantine": sorted(lake.rows("SELECT partition, \"offset\", error FROM quarantine")),
        "silver": lake.table_rows("silver"),
        "late": sorted(lake.rows(
            "SELECT event_id, line_no, kafka_partition, kafka_offset, epoch_us(watermark), line_amount "
            "FROM late WHERE reason = 'beyond_dedup_horizon'"), key=repr),
    }


def one_process(medallion, topic: str, tmp_path: Path) -> dict[str, list]:
    data, ckpt = tmp_path / "single-data", tmp_path / "single-ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--dedup-scope", "partition", *TIGHT, timeout=300)
    return rows(tables.Lake(data))


def check_against_one_process(medallion, topic: str, data: Path, tmp_path: Path, sent_count: int) -> dict:
    group = rows(tables.Lake(data))
    single = one_process(medallion, topic, tmp_path)
    assert len(group["bronze"]) == sent_count
    assert len(set((p, o) for p, o, _ in group["bronze"])) == sent_count, "a record is in Bronze twice"
    for name in ("bronze", "quarantine", "silver", "late"):
        assert group[name] == single[name], f"{name}: {len(group[name])} rows in group mode, {len(single[name])} in one process"
    return group


def test_two_members_split_the_topic_and_write_what_one_process_writes(medallion, make_topic, tmp_path):
    """The second member joins after the first has read half the topic: cooperative-sticky
    moves half the partitions to it, which start where Bronze says, with the dedup state of
    that offset, and read the second half."""
    topic = make_topic(6)
    sent = events.EventStream(seed=41, prefix="g").take(4000)
    medallion.produce(topic, sent[:2000])
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    group = f"group-{topic}"
    a = Member(medallion, topic, group, data, ckpt, "a")
    b = None
    try:
        wait_for(data, topic, 2000, [a])
        b = Member(medallion, topic, group, data, ckpt, "b")
        b.wait_log("took partitions")
        medallion.produce(topic, sent[2000:])
        wait_for(data, topic, len(sent), [a, b])
    finally:
        assert a.stop() == 0, a.text()[-3000:]
        assert b is None or b.stop() == 0, b.text()[-3000:]
    assert re.search(r"took partitions \d", b.text()) and "released partitions" in a.text(), a.text()[-2000:]
    assert re.search(r"group batch \d+: \d+ records", b.text()), b.text()[-2000:]
    out = check_against_one_process(medallion, topic, data, tmp_path, len(sent))
    assert len(out["late"]) > 10 and len(out["quarantine"]) > 10 and len(out["silver"]) > 2000, \
        {k: len(v) for k, v in out.items()}


def test_members_killed_and_replaced_while_the_topic_grows(medallion, make_topic, tmp_path):
    """Three members and two Gold stages (one holding the lease, one waiting); while records
    flow, a member is SIGKILLed every few seconds and replaced, every fourth kill the active Gold
    stage instead, and partitions are added to the topic (half as many again, after a third of
    the kills): nothing lost, nothing twice, the same rows as one process, and Gold holds its
    rule against Silver. `make group-chaos` runs it longer (MEDALLION_GROUP_KILLS,
    MEDALLION_GROUP_PARTITIONS)."""
    kills_wanted = int(os.environ.get("MEDALLION_GROUP_KILLS", "10"))
    partitions = int(os.environ.get("MEDALLION_GROUP_PARTITIONS", "6"))
    topic = make_topic(partitions)
    stream = events.EventStream(seed=43, prefix="k")
    first = stream.take(3000)
    medallion.produce(topic, first)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    group = f"group-{topic}"
    rng = random.Random(7)
    members = [Member(medallion, topic, group, data, ckpt, f"m{i}") for i in range(3)]
    golds = [GoldStage(medallion, topic, data, ckpt, f"g{i}") for i in range(2)]
    sent = list(first)
    kills = gold_kills = 0
    try:
        for round_no in range(kills_wanted):
            time.sleep(rng.uniform(1.5, 3.0))
            if round_no % 4 == 1:
                active = [i for i, g in enumerate(golds) if "holds the lease" in g.text()]
                victim = active[0] if active else 0
                golds[victim].kill()
                golds[victim].proc.wait(timeout=30)
                golds[victim] = GoldStage(medallion, topic, data, ckpt, f"g-r{round_no}")
                gold_kills += bool(active)
            else:
                victim = rng.randrange(len(members))
                members[victim].kill()
                members[victim].proc.wait(timeout=30)
                members[victim] = Member(medallion, topic, group, data, ckpt, f"r{round_no}")
            kills += 1
            more = stream.take(400)
            medallion.produce(topic, more, name=f"more{round_no}")
            sent += more
            if round_no == kills_wanted // 3:
                admin = AdminClient({"bootstrap.servers": medallion.brokers})
                admin.create_partitions([NewPartitions(topic, partitions + partitions // 2)])[topic].result(30)
        wait_for(data, topic, len(sent), members, timeout=180)
        wait_for_gold(data, golds)
    finally:
        for process in members + golds:
            process.stop()
    assert kills == kills_wanted and gold_kills == (kills_wanted + 2) // 4, (kills, gold_kills)
    assert max(bronze_positions(data, topic)) == partitions + partitions // 2 - 1, "no record of an added partition"
    check_against_one_process(medallion, topic, data, tmp_path, len(sent))
    check_gold_rule(data)


def test_a_member_paused_mid_batch_loses_its_partitions_and_writes_nothing_twice(medallion, make_topic, tmp_path):
    """A member stops (SIGSTOP, as a frozen VM would) after committing Quarantine, Silver and
    Late of a batch and before Bronze. Its session ends, a second member takes its partitions
    from Bronze's offsets, leaving out what the other tables hold already, and goes on. The
    first one then wakes: its Bronze commit loses the compare-and-set (kSourceTaken), it reads
    its partitions again from the tables, and the group gives it its share back."""
    topic = make_topic(4)
    stream = events.EventStream(seed=47, prefix="z")
    sent = stream.take(3000)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    group = f"group-{topic}"
    a = Member(medallion, topic, group, data, ckpt, "a", env={"MEDALLION_FAULT_POINT": "group.before_bronze@3:stop"})
    b = None
    try:
        a.wait_log("stopping process (SIGSTOP)")
        # Smaller batches than a's: b's first batches end below what a committed to Silver.
        b = Member(medallion, topic, group, data, ckpt, "b", batch_records=100)
        b.wait_log("ahead of Bronze's")
        more = stream.take(600)
        medallion.produce(topic, more, name="more")
        sent += more
        wait_for(data, topic, len(sent), [b])
        a.kill(signal.SIGCONT)
        a.wait_log("no longer this writer's")
        more = stream.take(600)
        medallion.produce(topic, more, name="after")
        sent += more
        wait_for(data, topic, len(sent), [a, b])
    finally:
        a.kill(signal.SIGCONT)
        assert a.stop() == 0, a.text()[-3000:]
        if b is not None:
            assert b.stop() == 0, b.text()[-3000:]
    check_against_one_process(medallion, topic, data, tmp_path, len(sent))


def test_group_mode_and_one_process_do_not_write_each_others_tables(medallion, make_topic, tmp_path):
    """Tables a single process wrote hold no partition state for a member to start from; tables
    members wrote hold no single-process progress. Each mode refuses the other's, naming why."""
    topic = make_topic(2)
    sent = events.EventStream(seed=53, prefix="x").take(300)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", "--dedup-scope", "partition")
    member = Member(medallion, topic, f"group-{topic}", data, ckpt, "late-joiner")
    assert member.proc.wait(timeout=60) == 2, member.text()[-3000:]
    assert "written by a single-process query" in member.text(), member.text()[-3000:]

    data2, ckpt2 = tmp_path / "data2", tmp_path / "ckpt2"
    member = Member(medallion, topic, f"group2-{topic}", data2, ckpt2, "writer")
    try:
        wait_for(data2, topic, len(sent), [member])
    finally:
        assert member.stop() == 0, member.text()[-3000:]
    proc = medallion.run(topic, data2, tmp_path / "other-ckpt", "--until-caught-up", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "--scale-mode group" in proc.stderr, proc.stderr


def test_each_member_serves_its_own_metrics(medallion, make_topic, tmp_path):
    """Two members with --http: each serves the batches it committed and the partitions it
    holds. Their records add up to the topic's, exactly (a batch counts once it committed, and
    each record is committed once); their partitions split the topic."""
    topic = make_topic(4)
    sent = events.EventStream(seed=79, prefix="hm").take(2000)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    ports = [free_port(), free_port()]
    members = [Member(medallion, topic, f"group-{topic}", data, ckpt, f"m{i}", "--http", f"127.0.0.1:{port}")
               for i, port in enumerate(ports)]

    def scrape(port: int) -> tuple[float, set[str]]:
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200, body
        records, partitions = 0.0, set()
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if sample.name == "medallion_records_total":
                    records = sample.value
                elif sample.name == "medallion_partition_lag_records":
                    partitions.add(sample.labels["partition"])
        return records, partitions

    try:
        wait_for(data, topic, len(sent), members)
        deadline = time.monotonic() + 30
        while True:
            scraped = [scrape(port) for port in ports]
            held = [partitions for _, partitions in scraped]
            if (sum(records for records, _ in scraped) == len(sent) and set().union(*held) == {"0", "1", "2", "3"}
                    and not held[0] & held[1]):
                break
            assert time.monotonic() < deadline, f"members' metrics: {scraped}"
            time.sleep(0.3)
        for port, (records, partitions) in zip(ports, scraped):
            status, body = get(f"http://127.0.0.1:{port}/status")
            assert status == 200, body
            shown = json.loads(body)
            assert {str(p) for p in shown["source"]["partitions"]} == partitions, body
            assert shown["totals"]["records"] == records, body
    finally:
        for m in members:
            assert m.stop() == 0, m.text()[-3000:]
    assert all("serving /metrics" in m.text() for m in members)


def test_members_stopped_as_one_joins_exit_cleanly(medallion, make_topic, tmp_path):
    """SIGTERM to every member while the group is still giving a new one its first assignment:
    each leaves the group and exits 0 (librdkafka before 2.3 aborts when such a consumer is
    destroyed, confluentinc/librdkafka#4312: the new member waits for its assignment first)."""
    topic = make_topic(2)
    medallion.produce(topic, events.EventStream(seed=59, prefix="j").take(200))
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    for attempt in range(3):
        a = Member(medallion, topic, f"group-{topic}", data, ckpt, f"a{attempt}")
        a.wait_log("took partitions")
        b = Member(medallion, topic, f"group-{topic}", data, ckpt, f"b{attempt}")
        b.wait_log("joined consumer group")
        time.sleep(0.5)
        for m in (a, b):
            m.kill(signal.SIGTERM)
        assert b.stop() == 0, b.text()[-3000:]
        assert a.stop() == 0, a.text()[-3000:]


def test_hostile_messages_in_group_mode_write_what_one_process_writes(medallion, make_topic, tmp_path):
    """The differential test's ~5,000 hostile messages (hostile.py: numbers at every boundary,
    JSON and Unicode oddities, values up to the broker's limit) read by two members: no record
    fails a batch (both exit 0 and Bronze holds every record), and every table holds the rows
    one process writes."""
    topic = make_topic(3)
    t0_ms = (int(time.time()) - 60) * 1000
    values = [v for _, v in hostile.messages(t0_ms * 1000)]
    hostile.send(medallion.brokers, topic, values, t0_ms, 3)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    members = [Member(medallion, topic, f"group-{topic}", data, ckpt, f"h{i}") for i in range(2)]
    try:
        wait_for(data, topic, len(values), members, timeout=300)
    finally:
        for m in members:
            assert m.stop() == 0, m.text()[-3000:]
    out = check_against_one_process(medallion, topic, data, tmp_path, len(values))
    assert len(out["quarantine"]) > 1000, len(out["quarantine"])


def test_transactions_in_group_mode(medallion, make_topic, tmp_path):
    """Kafka as transactional producers write it (commit and abort markers, aborted records)
    read by two members: the committed records once, the aborted ones nowhere, as one process."""
    from test_kafka_layouts import committed_and_aborted

    topic = make_topic(2)
    kept, aborted = committed_and_aborted(topic, rounds=4)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    members = [Member(medallion, topic, f"group-{topic}", data, ckpt, f"t{i}", batch_records=4) for i in range(2)]
    try:
        deadline = time.monotonic() + 60
        while not (data / "bronze" / "orders_raw" / "_delta_log").exists() or \
                DeltaTable(str(data / "bronze" / "orders_raw")).to_pyarrow_table().num_rows < len(kept):
            assert time.monotonic() < deadline, members[0].text()[-3000:]
            time.sleep(0.5)
    finally:
        for m in members:
            assert m.stop() == 0, m.text()[-3000:]
    out = check_against_one_process(medallion, topic, data, tmp_path, len(kept))
    assert sorted(v for _, _, v in out["bronze"]) == sorted(kept)
    assert not set(v for _, _, v in out["bronze"]) & set(aborted)
