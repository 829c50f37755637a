"""notebooks/explore.ipynb runs headlessly over the tables of a small generated stream.

The notebook is executed by notebooks/run.py (nbclient, a kernel of this interpreter from a
private kernel spec) under a 60 s deadline, in a process of its own that is killed, with its
kernel, if it overruns. A kernel that completed every cell and then died (delta-rs #2184 at
interpreter exit) does not fail the run; run.py decides that.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "explore.ipynb"
RUNNER = REPO / "notebooks" / "run.py"
DEADLINE_S = 60


def _execute(data: Path, out: Path) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MEDALLION_WINDOW_SIZE", "MEDALLION_WINDOW_SLIDE", "MEDALLION_OUTPUT_MODE")}
    cmd = [sys.executable, str(RUNNER), "--data", str(data), "--out", str(out),
           "--deadline", str(DEADLINE_S), str(NOTEBOOK)]
    start = time.monotonic()
    # A session of its own, so an overrun kills the runner and anything it left behind.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", env=env, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=DEADLINE_S + 20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise AssertionError(f"the notebook did not finish within {DEADLINE_S + 20} s:\n"
                             f"{stdout[-2000:]}\n{stderr[-3000:]}") from None
    return (subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr),
            time.monotonic() - start)


def _text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type in ("execute_result", "display_data"):
            parts.append(o.data.get("text/plain", ""))
    return "\n".join(parts)


def _stream(medallion, make_topic, tmp_path, name: str, *run_flags) -> Path:
    topic = make_topic(3)
    proc = medallion("produce", "--brokers", medallion.brokers, "--topic", topic, "--count", 4000,
                     "--seed", 11, "--duplicate-fraction", 0.02, "--late-fraction", 0.03,
                     "--out-of-order-fraction", 0.05, "--malformed-fraction", 0.02,
                     "--invalid-fraction", 0.02)
    assert "produced 4000 events" in proc.stdout, proc.stdout
    data = tmp_path / name / "data"
    medallion.run(topic, data, tmp_path / name / "ckpt", "--until-caught-up",
                  "--max-batch-records", 1000, *run_flags)
    return data


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.outputs or c.execution_count is not None)]
    assert not dirty, (f"cells {dirty} of {NOTEBOOK.name} carry outputs: "
                       f"strip them with `.venv/bin/python notebooks/run.py --strip {NOTEBOOK}`")


def test_notebook_runs_over_the_tables(medallion, make_topic, tmp_path):
    data = _stream(medallion, make_topic, tmp_path, "run")
    out = tmp_path / "explore.out.ipynb"
    proc, elapsed = _execute(data, out)
    assert proc.returncode == 0, f"notebook failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-6000:]}"
    assert elapsed <= DEADLINE_S
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "a cell was not executed"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    charts = [c for c in code if "ax.bar(" in c.source]
    assert len(charts) == 1, "the revenue chart cell is gone"
    assert any("image/png" in o.get("data", {}) for o in charts[0].outputs), "no chart drawn"
    text = "\n".join(_text(c) for c in code)
    assert str(data.resolve()) in text
    assert re.search(r"cross-check passed: [1-9]\d* window x category rows", text), text[-3000:]
    for code_ in ("not_json", "window_final"):  # quarantine and late sections show their reasons
        assert code_ in text, f"{code_} not shown"
    assert "notebook complete" in text
    print(f"notebook executed in {elapsed:.1f} s")


def test_notebook_fails_when_gold_and_late_disagree(medallion, make_topic, tmp_path):
    """Gold and Silver of a run with the default lateness, beside the late table of the same
    stream run with an hour of lateness (no window_final lines): same versions, tables that
    disagree. The cross-check cell must stop the notebook."""
    data = _stream(medallion, make_topic, tmp_path, "strict")
    lenient = _stream(medallion, make_topic, tmp_path, "lenient", "--allowed-lateness", "1h")
    shutil.rmtree(data / "late")
    shutil.copytree(lenient / "late", data / "late")
    proc, _ = _execute(data, tmp_path / "explore.out.ipynb")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert "differs from Silver minus the window_final late lines" in proc.stderr, \
        proc.stderr[-3000:]
