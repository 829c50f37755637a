"""Records deleted from the topic before the engine read them (retention outran a stopped
query, or someone ran delete-records). By default the run stops and names the partition and
the missing offsets, as Spark's failOnDataLoss does; with fail_on_data_loss = false it warns
and goes on with what the topic still holds, and every table stays consistent."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import events
import tables

KAFKA_SH = Path(__file__).resolve().parents[2] / "scripts" / "kafka.sh"


def delete_records(topic: str, partition: int, before: int) -> None:
    subprocess.run(["bash", str(KAFKA_SH), "delete-records", topic, str(partition), str(before)],
                   check=True, capture_output=True, timeout=120)


def bronze_offsets(data: Path) -> dict[int, list[int]]:
    by_partition: dict[int, list[int]] = {}
    for p, off in tables.Lake(data).rows('SELECT "partition", "offset" FROM bronze ORDER BY 1, 2'):
        by_partition.setdefault(p, []).append(off)
    return by_partition


def test_deleted_records_stop_the_run_unless_accepted(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    stream = events.EventStream(seed=61, prefix="d", conflicts=False)
    part1, part2 = stream.take(300), stream.take(300)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, part1, "part1")
    medallion.run(topic, data, ckpt, "--until-caught-up")
    next0 = len(bronze_offsets(data)[0])

    # While the query is stopped, more records arrive and the oldest unread ones of
    # partition 0 are deleted.
    medallion.produce(topic, part2, "part2")
    cut = next0 + 20
    delete_records(topic, 0, cut)
    before = {name: t.version() for name, t in tables.Lake(data).delta.items()}

    stopped = medallion.run(topic, data, ckpt, "--until-caught-up", check=False)
    assert stopped.returncode == 2, stopped.stdout[-2000:] + stopped.stderr[-2000:]
    assert (f"records {next0}..{cut - 1} of {topic}/0 were deleted (retention or delete-records) "
            "before this query read them") in stopped.stderr, stopped.stderr[-2000:]
    assert "set kafka.fail_on_data_loss = false (--fail-on-data-loss false)" in stopped.stderr
    assert {name: t.version() for name, t in tables.Lake(data).delta.items()} == before

    accepted = medallion.run(topic, data, ckpt, "--until-caught-up", "--fail-on-data-loss", "false")
    log = accepted.stdout + accepted.stderr
    assert f"data loss: records {next0}..{cut - 1} of {topic}/0 were deleted" in log, log[-2000:]

    # Bronze holds every record the topic still had, once: partition 0 has exactly the
    # deleted range missing, partition 1 is whole.
    offsets = bronze_offsets(data)
    end0 = offsets[0][-1] + 1
    assert end0 > cut
    assert offsets[0] == list(range(next0)) + list(range(cut, end0))
    assert offsets[1] == list(range(len(offsets[1])))
    assert len(offsets[0]) + len(offsets[1]) == len(part1) + len(part2) - 20
    lake = tables.Lake(data)
    lake.check_readers_agree()
    # Silver came only from records that reached Bronze.
    silver_from_gap = lake.rows(
        f"SELECT count(*) FROM silver WHERE kafka_partition = 0 AND kafka_offset >= {next0} "
        f"AND kafka_offset < {cut}")
    assert silver_from_gap == [(0,)]

    # From here on nothing is missing: the default (fail) runs cleanly again.
    medallion.produce(topic, stream.take(50), "part3")
    medallion.run(topic, data, ckpt, "--until-caught-up")
    assert sum(len(v) for v in bronze_offsets(data).values()) == len(part1) + len(part2) - 20 + 50


def test_records_deleted_under_a_planned_batch(medallion, make_topic, tmp_path):
    """A crash leaves batch 1 planned but not committed, and some of its records are then
    deleted. Its replay reports the loss instead of waiting for records that will never
    come; accepted, the replay commits what is left of the batch, and nothing else is lost."""
    topic = make_topic(2)
    sent = events.EventStream(seed=67, prefix="q", conflicts=False).take(600)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    crashed = medallion.run(topic, data, ckpt, "--until-caught-up", "--max-batch-records", 200,
                            check=False, fault="plan.after_write@2")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    start, end = json.loads((ckpt / "offsets" / "1").read_text())["offsets"]["0"]
    assert end - start > 10
    cut = start + 10
    delete_records(topic, 0, cut)

    replay = medallion.run(topic, data, ckpt, "--until-caught-up", check=False)
    assert replay.returncode == 2, replay.stdout[-2000:] + replay.stderr[-2000:]
    assert f"records {start}..{cut - 1} of {topic}/0 were deleted" in replay.stderr, (
        replay.stderr[-2000:])

    medallion.run(topic, data, ckpt, "--until-caught-up", "--fail-on-data-loss", "false")
    offsets = bronze_offsets(data)
    assert offsets[0] == list(range(start)) + list(range(cut, offsets[0][-1] + 1))
    assert offsets[1] == list(range(len(offsets[1])))
    assert len(offsets[0]) + len(offsets[1]) == len(sent) - 10
    tables.Lake(data).check_readers_agree()
