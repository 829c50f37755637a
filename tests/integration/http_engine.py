"""A continuous `medallion run --http` in the background, for the tests of the HTTP endpoint,
the status page and the Prometheus alerts: started on a free port, stopped (SIGTERM, then
SIGKILL) whatever happens."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import BINARY


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5) -> tuple[int, str]:
    """(status, body) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(what: str, check, timeout: float = 60, every: float = 0.2):
    """Calls `check` until it returns a true value, which is returned; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, ValueError) as e:  # not listening yet, half-written answer
            last = e
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


def stop(proc: subprocess.Popen) -> None:
    """Ends a background process: SIGTERM, then SIGKILL if it is still there after 20 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class HttpEngine:
    """`medallion run --http 127.0.0.1:<port>` on `topic`; a context manager."""

    def __init__(self, brokers: str, topic: str, work: Path, *extra):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = work / f"engine-{self.port}.log"
        self.cmd = [str(BINARY), "run", "--brokers", brokers, "--topic", topic,
                    "--data-dir", str(work / "data"), "--checkpoint-dir", str(work / "ckpt"),
                    "--http", f"127.0.0.1:{self.port}", *map(str, extra)]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "HttpEngine":
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT)
        wait_for("/healthz", lambda: self.alive() and get(self.url + "/healthz")[0] == 200, timeout=30)
        return self

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"engine exited {self.proc.returncode}:\n{self.log()}")
        return True

    def status(self) -> dict:
        code, body = get(self.url + "/status")
        assert code == 200, body
        return json.loads(body)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def __exit__(self, *exc) -> None:
        stop(self.proc)
        self._log.close()
