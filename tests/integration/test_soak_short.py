"""Issue 13, the short soak of `make test`: about two and a half minutes of continuous running
(100 ms trigger, 30 events/s) with compaction, log cleanup and three kills (one at a random
moment, two at compaction fault points), then every sampled series must be flat after the
warm-up and the tables exact (soak.py; `make soak` is the 30-minute run). The figures are
printed.

Knobs (environment): MEDALLION_SOAK_SECONDS (default 150), MEDALLION_SOAK_SEED.
"""

from __future__ import annotations

import json
import os

import soak


def test_soak_short(broker, tmp_path):
    cfg = soak.SoakConfig(seconds=float(os.environ.get("MEDALLION_SOAK_SECONDS", "150")),
                          seed=int(os.environ.get("MEDALLION_SOAK_SEED", "0")), brokers=broker)
    record = soak.run_soak(cfg, tmp_path, log=lambda m: print(m, flush=True))
    (tmp_path / "soak.json").write_text(json.dumps(record, default=str))
    print(soak.summary(record))

    assert record["compaction"], "this build has no --compaction-min-files: auto-compaction is missing"
    f = record["figures"]
    # Compaction ran, and two kills landed at its fault points (each armed engine died there).
    assert f["compaction commits"] > 0, record["compactions"][-5:]
    # First merges joined the row groups of the files the engine had just written, and the
    # tables are exact all the same.
    assert f["compaction files joined by copying row groups"] > 0, record["compactions"][-5:]
    fault_kills = [k for k in record["kills"] if k["how"].startswith("killed at fault point")]
    assert len(fault_kills) == 2, record["kills"]
    # Log cleanup ran: each table's log holds fewer entries than it has commits.
    for name, t in f["tables"].items():
        if t["commits"] > 3 * cfg.checkpoint_interval:
            assert t["log entries"] < t["commits"], (name, t)
    unbounded = [b for b in record["bounds"] if not b["ok"]]
    assert not unbounded, unbounded
