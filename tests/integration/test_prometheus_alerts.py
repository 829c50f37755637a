"""A real Prometheus server (Debian's /usr/bin/prometheus) scrapes a continuous engine's
/metrics every second and evaluates deploy/prometheus/alerts.yml (its `for:` durations cut to
2s): the quarantine-ratio rule fires after a burst of bad records and resolves once good
records follow. The timings are printed (pytest -s) and written to prometheus_timings.json."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse

import pytest

import events
from conftest import REPO
from http_engine import HttpEngine, free_port, get, stop, wait_for

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
RULE = "MedallionQuarantineRatioHigh"


def good(stream: events.EventStream, n: int) -> list[events.Record]:
    return [stream._valid() for _ in range(n)]


class Prometheus:
    """prometheus on 127.0.0.1:<free port> with its own storage; a context manager."""

    def __init__(self, work, target: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        rules = (REPO / "deploy" / "prometheus" / "alerts.yml").read_text()
        (work / "alerts.yml").write_text(re.sub(r"for: \S+", "for: 2s", rules))
        (work / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files: [alerts.yml]\n"
            f"scrape_configs:\n  - job_name: medallion\n    static_configs:\n      - targets: ['{target}']\n")
        self.cmd = [PROMETHEUS, f"--config.file={work / 'prometheus.yml'}",
                    f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"]
        self.log_path = work / "prometheus.log"

    def __enter__(self) -> "Prometheus":
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT)
        wait_for("Prometheus ready", lambda: self.proc.poll() is None and get(self.url + "/-/ready")[0] == 200,
                 timeout=60)
        return self

    def __exit__(self, *exc) -> None:
        stop(self.proc)
        self._log.close()

    def query(self, expr: str) -> list:
        code, body = get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert code == 200, body
        return json.loads(body)["data"]["result"]

    def alert_state(self, name: str) -> str | None:
        """"pending", "firing", or None when the alert is not active."""
        code, body = get(self.url + "/api/v1/alerts")
        assert code == 200, body
        states = [a["state"] for a in json.loads(body)["data"]["alerts"] if a["labels"]["alertname"] == name]
        return states[0] if states else None


@pytest.mark.skipif(not shutil.which("prometheus"), reason="Debian's prometheus package is not installed")
def test_quarantine_ratio_rule_fires_and_resolves(medallion, make_topic, tmp_path, broker):
    topic = make_topic(1)
    stream = events.EventStream(seed=21)
    medallion.produce(topic, good(stream, 300), "warmup")
    with HttpEngine(broker, topic, tmp_path, "--trigger-interval", "1s") as engine, \
            Prometheus(tmp_path, f"127.0.0.1:{engine.port}") as prom:
        wait_for("Prometheus to see the first records",
                 lambda: [r for r in prom.query("medallion_records_total") if float(r["value"][1]) >= 300],
                 timeout=60)
        assert prom.alert_state(RULE) is None

        burst = time.monotonic()
        medallion.produce(topic, [events.Record(b'{"event_id": "x%d"' % i, "not_json") for i in range(100)], "bad")
        state = wait_for("firing", lambda: (s := prom.alert_state(RULE)) == "firing" and s, timeout=90, every=0.25)
        firing = time.monotonic()
        assert state == "firing"
        # The per-reason rule names the reason.
        code, body = get(prom.url + "/api/v1/alerts")
        reasons = {a["labels"].get("reason") for a in json.loads(body)["data"]["alerts"]
                   if a["labels"]["alertname"] == "MedallionQuarantineReasonRatioHigh"}
        assert reasons == {"not_json"}, body

        medallion.produce(topic, good(stream, 8000), "good")
        good_sent = time.monotonic()
        wait_for("resolved", lambda: prom.alert_state(RULE) is None, timeout=120, every=0.25)
        resolved = time.monotonic()
        by_reason = engine.status()["totals"]["quarantined_by_reason"]
        assert {k: v for k, v in by_reason.items() if v} == {"not_json": 100}

    timings = {"burst_to_firing_s": round(firing - burst, 2), "good_records_to_resolved_s": round(resolved - good_sent, 2),
               "burst_to_resolved_s": round(resolved - burst, 2)}
    print("prometheus alert timings:", json.dumps(timings))
    (tmp_path / "prometheus_timings.json").write_text(json.dumps(timings))
