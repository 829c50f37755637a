"""The status page at `/`, loaded in headless Chromium (Debian's chromium): once its script
has polled /status, the page shows the topic, the batch count and the lag that /status gives.
A screenshot is taken too (MEDALLION_STATUS_SCREENSHOT=path keeps it, e.g. docs/status_page.png)."""

from __future__ import annotations

import html.parser
import os
import re
import shutil
import subprocess

import pytest

import events
from http_engine import HttpEngine, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args, timeout: float = 90) -> subprocess.CompletedProcess:
    """Headless Chromium with a throwaway profile; no sandbox (tests may run as root)."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--hide-scrollbars", "--virtual-time-budget=8000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class ById(html.parser.HTMLParser):
    """The text inside each element that has an id (ids of this page nest no other ids)."""

    def __init__(self):
        super().__init__()
        self.text: dict[str, str] = {}
        self.open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "meta", "polyline", "input"):
            return
        ident = dict(attrs).get("id")
        self.open.append(ident)
        if ident:
            self.text[ident] = ""

    def handle_endtag(self, tag):
        if tag in ("br", "meta", "polyline", "input"):
            return
        if self.open:
            self.open.pop()

    def handle_data(self, data):
        for ident in self.open:
            if ident:
                self.text[ident] += data


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed")
def test_status_page_shows_what_status_says(medallion, make_topic, tmp_path, broker):
    topic = make_topic(2)
    sent = events.EventStream(seed=8).take(2000)
    medallion.produce(topic, sent)
    config = tmp_path / "medallion.toml"
    config.write_text('[alerts]\nquarantine_ratio = 0.05\nquarantine_reason_ratio = 0.02\n'
                      'late_ratio = 0.5\nmax_lag = 100000\nno_batch_for = "10m"\nwindow = "10m"\n')
    with HttpEngine(broker, topic, tmp_path, "--config", config, "--trigger-interval", "200ms",
                    "--max-batch-records", 150) as engine:
        status = wait_for("every record read",
                          lambda: (s := engine.status())["totals"]["records"] == len(sent) and s["lag"] == 0 and s)
        proc = chromium("--dump-dom", engine.url + "/")
        assert proc.returncode == 0, proc.stderr[-3000:]
        page = ById()
        page.feed(proc.stdout)
        shown = page.text
        assert shown.get("topic") == topic, proc.stdout[:3000]
        assert shown["batches"] == str(status["totals"]["batches"])
        assert shown["lag"] == str(status["lag"]) == "0"
        assert shown["partitions"] == "0, 1"
        assert shown["records"] == str(len(sent))
        assert "FIRING" in shown["alerts"]  # 12% of the stream is bad
        assert shown["ready"] == "ready"
        assert "not_json" in shown["q_chart"]
        # The compactor's totals as /status gave them before and after the page was read.
        merges = re.match(r"compaction: (\d+) merges \(\d+ files into \d+, \d+ of these by joining row groups\), \d+ "
                          r"abandoned, 0 failed", shown["compaction"])
        assert merges, shown["compaction"]
        assert status["compaction"]["merges"] <= int(merges[1]) <= engine.status()["compaction"]["merges"]
        shot = os.environ.get("MEDALLION_STATUS_SCREENSHOT") or str(tmp_path / "status_page.png")
        proc = chromium(f"--screenshot={shot}", "--window-size=1280,2000", engine.url + "/")
        assert proc.returncode == 0, proc.stderr[-3000:]
        with open(shot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
