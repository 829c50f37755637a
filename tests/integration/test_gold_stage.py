"""The Gold stage (`--scale-mode gold`, docs/scale-out.md step 4) beside group-mode members:
it reads Silver by Delta version and keeps the Gold tables and Late's window_final lines.
Gold must hold its rule against Silver (windows plus their window_final lines equal Silver
per window and category; top products and customer spend equal DuckDB over Silver) however
stages are started, killed and replaced. The kill test of test_group_mode.py kills it too."""

from __future__ import annotations

import glob
import json
import signal
import subprocess
import time
from pathlib import Path

from deltalake import DeltaTable
from prometheus_client.parser import text_string_to_metric_families

import events
from conftest import BINARY
from http_engine import free_port, get
from test_group_mode import (GoldStage, Member, TIGHT, check_against_one_process, check_gold_rule, silver_version,
                             txn_version, wait_for, wait_for_gold)


def wait_until(condition, what, processes, timeout: float = 60) -> None:
    """Until `condition()`; `what` (a text, or a function giving one) says what failed."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, (f"{what() if callable(what) else what}; logs:\n"
                                             + "\n".join(p.text()[-1500:] for p in processes))
        time.sleep(0.2)


def test_two_gold_stages_started_at_once_one_writes_and_the_other_takes_over(medallion, make_topic, tmp_path):
    """Two stages started together: one takes the lease and writes, the other waits and writes
    nothing; the writer is SIGKILLed and the waiting one takes over where the tables end."""
    topic = make_topic(4)
    stream = events.EventStream(seed=61, prefix="gs")
    sent = stream.take(3000)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    members = [Member(medallion, topic, f"group-{topic}", data, ckpt, f"m{i}") for i in range(2)]
    stages = [GoldStage(medallion, topic, data, ckpt, name) for name in ("a", "b")]
    try:
        wait_until(lambda: sum("holds the lease" in s.text() for s in stages) == 1
                   and sum("waiting to take over" in s.text() for s in stages) == 1, "no lease holder and waiter",
                   stages)
        holder, waiter = sorted(stages, key=lambda s: "holds the lease" not in s.text())
        wait_until(lambda: txn_version(data / "gold" / "customer_spend", "-gold") >= 3, "Gold not written", stages)
        assert holder.batches() > 0 and waiter.batches() == 0, "the waiting stage wrote Gold"
        holder.kill()
        holder.proc.wait(timeout=30)
        more = stream.take(1500)
        medallion.produce(topic, more, name="more")
        sent += more
        wait_for(data, topic, len(sent), members)
        wait_for_gold(data, [waiter])
    finally:
        for process in members + stages:
            process.stop()
    assert waiter.proc.returncode == 0, waiter.text()[-3000:]
    assert "holds the lease" in waiter.text() and waiter.batches() > 0
    check_gold_rule(data)


def test_a_gold_stage_killed_between_its_commits_is_redone_with_the_same_bounds(medallion, make_topic, tmp_path):
    """A stage dies after committing a batch's windows and before its snapshots
    (`gold.after_windows`). By the time the next one starts Silver has gone on, so a batch up to
    Silver's end would count those windows' lines again: the next one runs the dead batch again
    with its bounds (the windows table skips it), then goes on."""
    topic = make_topic(4)
    stream = events.EventStream(seed=67, prefix="gk")
    sent = stream.take(2000)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    members = [Member(medallion, topic, f"group-{topic}", data, ckpt, "m0")]
    dying = GoldStage(medallion, topic, data, ckpt, "dying", env={"MEDALLION_FAULT_POINT": "gold.after_windows@3"})
    after = None
    try:
        for round_no in range(60):  # a Gold batch runs when Silver has a new version
            if dying.proc.poll() is not None:
                break
            more = stream.take(200)
            medallion.produce(topic, more, name=f"feed{round_no}")
            sent += more
            time.sleep(1)
        assert dying.proc.wait(timeout=30) != 0, dying.text()[-3000:]
        windows = txn_version(data / "gold" / "revenue_by_category_window", "-gold")
        assert windows > txn_version(data / "gold" / "customer_spend", "-gold"), "the stage died elsewhere"
        more = stream.take(1500)
        medallion.produce(topic, more, name="more")
        sent += more
        wait_until(lambda: silver_version(data) > windows + 3, "Silver did not go on", members)
        after = GoldStage(medallion, topic, data, ckpt, "after")
        wait_for(data, topic, len(sent), members)
        wait_for_gold(data, [after])
    finally:
        for m in members:
            m.stop()
        dying.stop()
        if after is not None:
            assert after.stop() == 0, after.text()[-3000:]
    check_gold_rule(data)


def test_a_gold_stage_refuses_the_tables_of_one_process(medallion, make_topic, tmp_path):
    """Gold tables one process keeps are its own: a Gold stage on them would write every final
    window again. It exits 2 naming the table and the query that wrote it."""
    topic = make_topic(2)
    medallion.produce(topic, events.EventStream(seed=71, prefix="g1").take(500))
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--until-caught-up", *TIGHT)
    out = subprocess.run([str(BINARY), "run", "--brokers", medallion.brokers, "--topic", topic, "--scale-mode", "gold",
                          "--data-dir", str(data), "--checkpoint-dir", str(tmp_path / "other")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "gold_revenue_by_category_window" in out.stderr and "was written by query" in out.stderr, out.stderr


def test_a_gold_stage_stops_on_sigterm_while_it_waits_for_the_lease(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    first = GoldStage(medallion, topic, data, ckpt, "first")
    try:
        first.wait_log("holds the lease")
        second = GoldStage(medallion, topic, data, ckpt, "second")
        second.wait_log("waiting to take over")
        second.kill(signal.SIGTERM)
        assert second.proc.wait(timeout=30) == 0, second.text()[-3000:]
    finally:
        assert first.stop() == 0, first.text()[-3000:]


def test_a_gold_stage_refuses_when_log_cleanup_removed_an_entry_it_had_not_read(medallion, make_topic, tmp_path):
    """A stage stopped while Silver's log cleanup removed entries it had not read yet would skip
    their lines in Gold: it refuses to go on, naming the entry and the way out, and writes nothing."""
    topic = make_topic(2)
    stream = events.EventStream(seed=73, prefix="gc")
    sent = stream.take(1000)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    # The tables keep their log for 1 ms once a checkpoint covers it (a table property); the
    # first member writes no checkpoint (one every 100 commits), so the first stage reads all.
    member = Member(medallion, topic, f"group-{topic}", data, ckpt, "m0", toml='[delta]\nlog_retention = "1ms"\n')
    try:
        wait_for(data, topic, len(sent), [member])
        first = GoldStage(medallion, topic, data, ckpt, "first")
        wait_for_gold(data, [first])
        assert first.stop() == 0, first.text()[-3000:]
    finally:
        assert member.stop() == 0, member.text()[-3000:]
    read_up_to = txn_version(data / "gold" / "customer_spend", "-gold")
    # The member again, now with a checkpoint every 3 commits: cleanup removes what they cover.
    cleaning = Member(medallion, topic, f"group-{topic}", data, ckpt, "m1", toml='[delta]\ncheckpoint_interval = 3\n')
    try:
        more = stream.take(2000)
        medallion.produce(topic, more, name="more")
        sent += more
        wait_for(data, topic, len(sent), [cleaning])
    finally:
        assert cleaning.stop() == 0, cleaning.text()[-3000:]
    silver_log = data / "silver" / "order_lines" / "_delta_log"
    assert not (silver_log / f"{read_up_to + 1:020d}.json").exists(), "log cleanup left the entry"
    gold_log = sorted((data / "gold" / "customer_spend" / "_delta_log").glob("*.json"))
    second = GoldStage(medallion, topic, data, ckpt, "second")
    assert second.proc.wait(timeout=60) != 0, second.text()[-3000:]
    assert f"Silver's log entry {read_up_to + 1} is gone" in second.text(), second.text()[-3000:]
    assert "delta.log_retention" in second.text(), second.text()[-3000:]
    assert sorted((data / "gold" / "customer_spend" / "_delta_log").glob("*.json")) == gold_log


def merged_by_optimize(table_dir: Path) -> set[str]:
    """The files OPTIMIZE commits removed from the table (each merged into a larger one)."""
    removed = set()
    for entry in glob.glob(str(table_dir / "_delta_log" / "*.json")):
        actions = [json.loads(line) for line in Path(entry).read_text().splitlines()]
        if any(a.get("commitInfo", {}).get("operation") == "OPTIMIZE" for a in actions):
            removed |= {a["remove"]["path"] for a in actions if "remove" in a}
    return removed


def test_the_gold_stage_compacts_the_tables_the_members_share(medallion, make_topic, tmp_path):
    """Members write a file per table per batch and merge none (several compactors would
    abandon each other's merges); the one Gold stage holding the lease merges each writer's
    small files. The members' rows stay exactly one process's, and Gold's rule holds."""
    topic = make_topic(2)
    stream = events.EventStream(seed=83, prefix="gz")
    sent = stream.take(3000)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    # The stage first, on empty tables: every writer it merges appears after it started.
    stage = GoldStage(medallion, topic, data, ckpt, "compacting")
    stage.wait_log("holds the lease")
    members = [Member(medallion, topic, f"group-{topic}", data, ckpt, f"m{i}", batch_records=100) for i in range(2)]
    try:
        wait_for(data, topic, len(sent), members)
        wait_until(lambda: merged_by_optimize(data / "silver" / "order_lines")
                   and merged_by_optimize(data / "bronze" / "orders_raw"), "no OPTIMIZE commit", [stage])
        wait_for_gold(data, [stage])
    finally:
        for process in members + [stage]:
            assert process.stop() == 0, process.text()[-3000:]
    merged = merged_by_optimize(data / "silver" / "order_lines")
    writers = {Path(p).stem.rsplit("-member-", 1)[-1] for p in merged if "-member-" in p}
    assert writers, merged
    assert "compaction: table silver_order_lines" in stage.text() and "members do not compact" in members[0].text()
    check_against_one_process(medallion, topic, data, tmp_path, len(sent))
    check_gold_rule(data)


def test_the_gold_stage_serves_its_status_and_the_waiting_one_is_not_ready(medallion, make_topic, tmp_path):
    """Both stages with --http: the one holding the lease serves its batches (the Silver lines
    it read add up to Silver's rows, its window_final lines to Late's) and is ready once it has
    read Silver's newest entry; the waiting one has committed nothing and is not ready."""
    topic = make_topic(3)
    sent = events.EventStream(seed=89, prefix="gh").take(2500)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    ports = {"a": free_port(), "b": free_port()}
    stages = {name: GoldStage(medallion, topic, data, ckpt, name, "--http", f"127.0.0.1:{port}")
              for name, port in ports.items()}
    members = []

    def scrape(port: int) -> dict[str, float]:
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200, body
        out = {}
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                # Every sample carries the query and topic; keep the labels that tell samples apart.
                key = sample.name + "".join(f"{{{v}}}" for k, v in sorted(sample.labels.items())
                                            if k not in ("query", "query_id", "topic"))
                out[key] = sample.value
        return out

    try:
        wait_until(lambda: sum("holds the lease" in s.text() for s in stages.values()) == 1, "no stage holds the lease",
                   stages.values())
        active = next(n for n, s in stages.items() if "holds the lease" in s.text())
        waiting = "b" if active == "a" else "a"
        members = [Member(medallion, topic, f"group-{topic}", data, ckpt, f"m{i}") for i in range(2)]
        wait_for(data, topic, len(sent), members)
        wait_for_gold(data, list(stages.values()))
        silver = DeltaTable(str(data / "silver" / "order_lines")).to_pyarrow_table().num_rows
        late = DeltaTable(str(data / "late" / "order_lines")).to_pyarrow_table()
        window_final = sum(1 for r in late.column("reason").to_pylist() if r == "window_final")

        seen = {}

        def caught_up() -> bool:
            seen.update(scrape(ports[active]), ready=get(f"http://127.0.0.1:{ports[active]}/readyz")[0])
            return seen.get("medallion_silver_lines_total") == silver and seen["ready"] == 200

        wait_until(caught_up, lambda: f"the active stage never showed {silver} Silver lines and ready: {seen}", stages.values(),
                   timeout=30)
        m = scrape(ports[active])
        assert m.get("medallion_late_lines_total", 0) == window_final, (m, window_final)
        assert silver > 1000 and m["medallion_batches_total"] >= 1, m
        status, body = get(f"http://127.0.0.1:{ports[active]}/status")
        assert status == 200 and json.loads(body)["totals"]["silver_lines"] == silver, body
        idle = scrape(ports[waiting])
        assert idle["medallion_batches_total"] == 0, idle
        assert get(f"http://127.0.0.1:{ports[waiting]}/readyz")[0] == 503
    finally:
        for process in members + list(stages.values()):
            assert process.stop() == 0, process.text()[-3000:]
    assert all("serving /metrics" in s.text() for s in stages.values())
