#!/usr/bin/env python3
"""Executes a notebook headlessly (nbclient), or strips its outputs.

    .venv/bin/python notebooks/run.py [--data DIR] [--out PATH] [--deadline S] NOTEBOOK
    .venv/bin/python notebooks/run.py --strip NOTEBOOK...

Execution uses a kernel of this interpreter (a private kernel spec in a temporary directory,
so no `jupyter kernelspec install` and no kernel spec of the machine or the user is involved),
with the notebook's directory as working directory and MEDALLION_DATA_DIR=DIR when --data is
given. Each cell may take what is left of --deadline (seconds, for the whole notebook). Exit 0
when every code cell completed: a kernel that dies after that (the delta-rs Python binding can
abort at interpreter exit, "terminate called without an active exception", delta-rs #2184) is
reported and ignored. Exit 1 when a cell failed, timed out or the kernel died before the end.
--out writes the executed notebook (also on failure, up to the failing cell).

--strip removes outputs, execution counts and execution metadata in place: notebooks are
committed without outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

KERNEL_NAME = "medallion-run"


def strip(path: Path) -> bool:
    """Strips `path` in place; True if it changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after + ("" if after.endswith("\n") else "\n"))
    return after != before


def execute(path: Path, out: Path | None, deadline_s: float) -> int:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    completed: set[int] = set()
    start = time.monotonic()

    def left(_cell=None) -> int:
        return max(1, int(deadline_s - (time.monotonic() - start)))

    def on_cell_executed(cell, cell_index, execute_reply):
        if execute_reply and execute_reply.get("content", {}).get("status") == "ok":
            completed.add(cell_index)

    with tempfile.TemporaryDirectory(prefix="medallion-nb-") as tmp:
        spec_dir = Path(tmp, "kernels", KERNEL_NAME)
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python ({sys.executable})",
            "language": "python",
        }))
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [tmp] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])
        os.environ.setdefault("JUPYTER_RUNTIME_DIR", str(Path(tmp, "runtime")))
        os.environ.setdefault("IPYTHONDIR", str(Path(tmp, "ipython")))
        os.environ.pop("MPLBACKEND", None)  # the notebook's %matplotlib inline decides
        client = NotebookClient(
            nb, kernel_name=KERNEL_NAME, timeout_func=left, startup_timeout=min(60, left()),
            on_cell_executed=on_cell_executed, shutdown_kernel="immediate",
            resources={"metadata": {"path": str(path.parent.resolve())}})
        status, message = 0, ""
        try:
            client.execute()
        except CellTimeoutError as e:
            status, message = 1, f"a cell ran past the {deadline_s:g} s deadline: {e}"
        except CellExecutionError as e:
            status, message = 1, str(e)
        except DeadKernelError as e:
            status, message = 1, f"the kernel died: {e}"
        except Exception as e:  # noqa: BLE001 - e.g. the kernel's shutdown after the last cell
            status, message = 1, f"{type(e).__name__}: {e}"
        if status and set(code_cells) <= completed:
            print(f"run.py: every cell completed; ignoring what followed ({message.strip()[:300]})",
                  file=sys.stderr)
            status = 0
    elapsed = time.monotonic() - start
    if out is not None:
        nbformat.write(nb, out)
    if status:
        print(f"run.py: {path} failed after {elapsed:.1f} s "
              f"({len(completed)} of {len(code_cells)} code cells completed):\n{message}",
              file=sys.stderr)
    else:
        print(f"run.py: {path}: {len(code_cells)} code cells in {elapsed:.1f} s")
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--strip", action="store_true", help="strip outputs in place")
    parser.add_argument("--data", help="data directory (sets MEDALLION_DATA_DIR)")
    parser.add_argument("--out", type=Path, help="write the executed notebook here")
    parser.add_argument("--deadline", type=float, default=60, help="seconds for the whole run")
    args = parser.parse_args()
    if args.strip:
        for path in args.notebooks:
            if strip(path):
                print(f"stripped {path}")
        return 0
    if len(args.notebooks) != 1:
        parser.error("execute one notebook at a time")
    if args.data is not None:
        os.environ["MEDALLION_DATA_DIR"] = str(Path(args.data).resolve())
    return execute(args.notebooks[0], args.out, args.deadline)


if __name__ == "__main__":
    sys.exit(main())
