"""`medallion run --http`: the endpoint's answers agree with the tables, and a bad or busy
address stops start-up with exit 2 naming the flag."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

import events
from conftest import BINARY
from http_engine import HttpEngine, free_port, get, wait_for


def samples(text: str) -> dict:
    """(name, frozenset of labels except topic/query) -> value; also checks that it parses."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = {k: v for k, v in s.labels.items() if k not in ("topic", "query")}
            out[(s.name, frozenset(labels.items()))] = s.value
    return out


def test_endpoint_serves_metrics_status_and_readiness(medallion, make_topic, tmp_path, broker):
    topic = make_topic(2)
    sent = events.EventStream(seed=5).take(1500)
    medallion.produce(topic, sent)
    with HttpEngine(broker, topic, tmp_path, "--trigger-interval", "200ms",
                    "--max-batch-records", 600) as engine:
        status = wait_for("every record read",
                          lambda: (s := engine.status())["totals"]["records"] == len(sent) and s["lag"] == 0 and s)
        assert status["source"]["topic"] == topic and status["source"]["partitions"] == [0, 1]
        assert status["sink"]["data_dir"] == str(tmp_path / "data")
        assert status["totals"]["batches"] == len(status["batches"]) >= 3
        assert status["lag_by_partition"] == {"0": 0, "1": 0}
        expected = events.expected_errors(sent)
        bad = sum(1 for r in sent if expected[r.value] is not None)
        assert status["totals"]["quarantined"] == bad
        assert sum(status["totals"]["quarantined_by_reason"].values()) == bad
        # Every reason code is there from the start (at 0), as Prometheus wants counters.
        assert len(status["totals"]["quarantined_by_reason"]) == 18
        assert set(status["totals"]["late_by_reason"]) == {"window_final", "beyond_dedup_horizon"}
        assert get(engine.url + "/healthz")[0] == 200
        assert get(engine.url + "/readyz")[0] == 200

        code, text = get(engine.url + "/metrics")
        assert code == 200
        m = samples(text)
        none = frozenset()
        assert m[("medallion_records_total", none)] == len(sent)
        assert m[("medallion_quarantined_total", none)] == bad
        assert m[("medallion_batches_total", none)] == status["totals"]["batches"]
        for reason, n in status["totals"]["quarantined_by_reason"].items():
            assert m[("medallion_quarantined_by_reason_total", frozenset({("reason", reason)}))] == n
        for reason, n in status["totals"]["late_by_reason"].items():
            assert m[("medallion_late_lines_by_reason_total", frozenset({("reason", reason)}))] == n
        assert m[("medallion_partition_lag_records", frozenset({("partition", "0")}))] == 0
        assert m[("medallion_table_files", frozenset({("table", "bronze_orders_raw")}))] >= 1
        assert m[("medallion_table_bytes", frozenset({("table", "silver_order_lines")}))] > 0
        assert m[("medallion_batch_duration_seconds_count", none)] == status["totals"]["batches"]
        assert m[("medallion_batch_duration_seconds_bucket", frozenset({("le", "+Inf")}))] == \
            status["totals"]["batches"]
        assert m[("medallion_ready", none)] == 1
        # promtool's linter accepts the exposition text.
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                              text=True, timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        page_code, page = get(engine.url + "/")
        assert page_code == 200 and "<script>" in page and "/status" in page


def _optimize_commits(data) -> dict:
    """What the compactor committed, from every table's Delta log: OPTIMIZE entries, the files
    and bytes they removed and added."""
    out = {"merges": 0, "files_in": 0, "files_out": 0, "bytes_in": 0, "bytes_out": 0}
    for log in sorted(data.glob("**/_delta_log/*.json")):
        actions = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
        if info.get("operation") != "OPTIMIZE":
            continue
        out["merges"] += 1
        for a in actions:
            if "remove" in a:
                out["files_in"] += 1
                out["bytes_in"] += a["remove"]["size"]
            elif "add" in a:
                out["files_out"] += 1
                out["bytes_out"] += a["add"]["size"]
    return out


def test_compaction_figures_agree_with_the_tables_logs(medallion, make_topic, tmp_path, broker):
    topic = make_topic(2)
    sent = events.EventStream(seed=8).take(3000)
    medallion.produce(topic, sent)
    # Batches of 100 records, each table committed with every batch: many small files, merged
    # four at a time.
    with HttpEngine(broker, topic, tmp_path, "--trigger-interval", "100ms", "--max-batch-records", 100,
                    "--bronze-commit-interval", "0s", "--side-commit-interval", "0s",
                    "--compaction-min-files", 4) as engine:
        def settled():
            # The figures are published with each batch and each empty poll: equal before and
            # after reading the logs means no merge committed in between.
            before = samples(get(engine.url + "/metrics")[1])
            logs = _optimize_commits(tmp_path / "data")
            after = samples(get(engine.url + "/metrics")[1])
            figures = {k: before[(f"medallion_compaction_{k}_total", frozenset())] for k in logs}
            return (figures == logs and logs["merges"] >= 3 and before == after and
                    (logs, before, engine.status()))
        logs, m, status = wait_for("merges the logs and the figures agree on", settled, timeout=90, every=0.5)
    none = frozenset()
    print(f"\nOPTIMIZE commits in the logs: {logs}")
    assert status["compaction"]["merges"] == logs["merges"]
    assert status["compaction"]["files_in"] == logs["files_in"]
    assert m[("medallion_compaction_errors_total", none)] == 0
    # First merges of one-batch files written by this process join their row groups.
    assert 0 < m[("medallion_compaction_files_joined_total", none)] <= logs["files_out"]
    assert status["compaction"]["files_joined"] == m[("medallion_compaction_files_joined_total", none)]
    assert m[("medallion_compaction_rows_total", none)] > 0
    assert m[("medallion_compaction_cpu_seconds_total", none)] > 0


def test_not_ready_while_behind(medallion, make_topic, tmp_path, broker):
    topic = make_topic(1)
    medallion.produce(topic, events.EventStream(seed=6).take(400))
    config = tmp_path / "medallion.toml"
    config.write_text("[http]\nready_max_lag = 100\n")
    # Batches of 50 records, one a second: the lag stays above 100 for a while.
    with HttpEngine(broker, topic, tmp_path, "--config", config, "--trigger-interval", "1s",
                    "--max-batch-records", 50) as engine:
        wait_for("a first batch", lambda: engine.status()["totals"]["batches"] >= 1)
        code, body = get(engine.url + "/readyz")
        assert code == 503 and "not ready" in body, body
        wait_for("ready", lambda: get(engine.url + "/readyz")[0] == 200, timeout=60)


def run_fails(medallion, *args) -> str:
    proc = medallion("run", "--topic", "unused", "--data-dir", medallion.work / "d",
                     "--checkpoint-dir", medallion.work / "c", *args, check=False, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    return proc.stderr


@pytest.mark.parametrize("address, why", [
    ("127.0.0.1", "no port"),
    ("127.0.0.1:", "no port"),
    ("127.0.0.1:0", "out of range"),
    ("127.0.0.1:65536", "out of range"),
    ("127.0.0.1:http", "not a number"),
    ("localhost:9464", "not an IPv4 address"),
    ("[::1", "no port"),
    ("::1:9464", "brackets"),
])
def test_malformed_address_is_exit_2_naming_the_flag(medallion, address, why):
    err = run_fails(medallion, "--http", address)
    assert "--http" in err and why in err, err


def test_port_in_use_is_exit_2_naming_the_flag(medallion):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        err = run_fails(medallion, "--http", f"127.0.0.1:{s.getsockname()[1]}")
    assert "--http" in err and "cannot listen" in err, err


def test_address_not_of_this_machine_is_exit_2(medallion):
    # 192.0.2.0/24 (TEST-NET-1) is never a local address.
    err = run_fails(medallion, "--http", f"192.0.2.1:{free_port()}")
    assert "--http" in err and "cannot listen" in err, err


@pytest.mark.parametrize("toml, key", [
    ('[http]\nlisten = "127.0.0.1"\n', "http.listen"),
    ('[http]\nlisten = 9464\n', "http.listen"),
    ('[http]\nready_max_lag = -1\n', "http.ready_max_lag"),
    ('[http]\nport = 1\n', "http.port"),
    ('[alerts]\nquarantine_ratio = 1.5\n', "alerts.quarantine_ratio"),
    ('[alerts]\nquarantine_reason_ratio = "high"\n', "alerts.quarantine_reason_ratio"),
    ('[alerts]\nlate_ratio = -0.1\n', "alerts.late_ratio"),
    ('[alerts]\nmax_lag = 1.5\n', "alerts.max_lag"),
    ('[alerts]\nno_batch_for = "soon"\n', "alerts.no_batch_for"),
    ('[alerts]\nwindow = "0s"\n', "alerts.window"),
    ('[alerts]\nquarantine = 0.1\n', "alerts.quarantine"),
])
def test_bad_config_keys_are_exit_2_naming_the_key(medallion, tmp_path, toml, key):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    err = run_fails(medallion, "--config", config)
    assert key in err, err


def test_engine_alert_fires_logs_once_and_shows_as_a_gauge(medallion, make_topic, tmp_path, broker):
    topic = make_topic(1)
    config = tmp_path / "alerts.toml"
    config.write_text('[alerts]\nquarantine_ratio = 0.5\nquarantine_reason_ratio = 0.5\nwindow = "3s"\n')
    with HttpEngine(broker, topic, tmp_path, "--config", config, "--trigger-interval", "200ms") as engine:
        medallion.produce(topic, [events.Record(b"not json %d" % i, "not_json") for i in range(50)], "bad")

        def firing():
            s = engine.status()
            return {(a["alert"], a["reason"]) for a in s["alerts"] if a["firing"]}
        assert wait_for("firing", lambda: firing() == {("quarantine_ratio", ""), ("quarantine_reason_ratio", "not_json")})
        m = samples(get(engine.url + "/metrics")[1])
        assert m[("medallion_alert", frozenset({("alert", "quarantine_ratio")}))] == 1
        # The window passes without bad records: the alerts clear.
        wait_for("cleared", lambda: firing() == set(), timeout=30)
        m = samples(get(engine.url + "/metrics")[1])
        assert m[("medallion_alert", frozenset({("alert", "quarantine_ratio")}))] == 0
        log = engine.log()
    assert log.count("alert quarantine_ratio firing") == 1, log
    assert log.count("alert quarantine_ratio cleared") == 1, log


# Startup syncs about 30 times; ten batches of 100 records sync eight or more times each, so
# these fall inside batches, and one batch's every fsync is among them: its plan's first (before
# the batch's compute), then its tables' and its state's.
@pytest.mark.parametrize("nth", range(80, 92))
def test_a_stalled_fsync_is_reported_and_counted(medallion, make_topic, tmp_path, broker, nth):
    """An fsync that hangs (the process stopped right after one, as a disk stalled behind another
    writer's data would leave it) makes the batch log that the disk stalled and counts as slow in
    the metrics, whichever of the batch's fsyncs it was; the tables are whole all the same."""
    topic = make_topic(2)
    sent = events.EventStream(seed=9).take(1000)
    medallion.produce(topic, sent)
    metrics = tmp_path / "metrics.prom"
    log = tmp_path / "run.log"
    cmd = [str(BINARY), "run", "--brokers", broker, "--topic", topic,
           "--data-dir", str(tmp_path / "data"), "--checkpoint-dir", str(tmp_path / "ckpt"),
           "--until-caught-up", "--max-batch-records", "100", "--metrics-file", str(metrics)]
    env = dict(os.environ, MEDALLION_FAULT_POINT=f"fsync.after@{nth}:stop")
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            def stopped():
                assert proc.poll() is None, f"exited {proc.returncode} before the fault point:\n" + log.read_text()[-3000:]
                return open(f"/proc/{proc.pid}/stat").read().split(") ")[1][0] == "T"
            wait_for("the process stopped at the fault point", stopped, timeout=60)
            time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGCONT)
        assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    text = log.read_text()
    stalled = [line for line in text.splitlines() if "the disk stalled" in line]
    # At least the stopped one (a shared disk may stall a real fsync too).
    assert stalled and all("took 0.1 s or longer" in line for line in stalled), text[-3000:]
    # The longest stall names what it synced: a file or folder of this run's tables or checkpoint.
    assert all("; the longest " in line and f" s, of {tmp_path}/" in line for line in stalled), stalled
    m = samples(metrics.read_text())
    none = frozenset()
    assert m[("medallion_fsyncs_slow_total", none)] >= 1
    assert m[("medallion_fsyncs_total", none)] >= nth
    assert m[("medallion_fsync_seconds_total", none)] >= 0.3
    assert m[("medallion_records_total", none)] == len(sent)
