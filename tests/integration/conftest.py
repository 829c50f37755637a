"""Fixtures of the integration tests: the local Kafka broker, unique topics, the binary, and a
local S3-compatible server (`s3`) and the Azure Storage emulator (`azurite`), each started for the
session by the first test that asks for it.

The broker is shared with other users of the machine: the session starts it if it is down and
never stops it; each test creates its own topic (unique name) and works in its own tmp dirs.
Environment: MEDALLION_BIN (default build/src/cli/medallion), MEDALLION_KAFKA_PORT (19092).
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

import events

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("MEDALLION_BIN", REPO / "build" / "src" / "cli" / "medallion"))
KAFKA_SH = REPO / "scripts" / "kafka.sh"
BROKERS = f"127.0.0.1:{os.environ.get('MEDALLION_KAFKA_PORT', '19092')}"


class Medallion:
    """Runs the `medallion` binary with a timeout and captures its output."""

    def __init__(self, brokers: str, work: Path):
        self.brokers = brokers
        self.work = work

    def __call__(self, *args, timeout: float = 120, check: bool = True,
                 fault: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        """`fault` (name[@N]) arms a fault point: the process kills itself there. `env` adds
        to the environment."""
        cmd = [str(BINARY), *map(str, args)]
        env = dict(os.environ, **(env or {}))
        if fault is not None:
            env["MEDALLION_FAULT_POINT"] = fault
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                              timeout=timeout, env=env)
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n"
                        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def produce(self, topic: str, records: list[events.Record], name: str = "sent"
                ) -> subprocess.CompletedProcess:
        """Sends the records (in order) with `produce --from-file`."""
        path = self.work / f"{name}-{uuid.uuid4().hex[:6]}.jsonl"
        events.to_file(records, path)
        proc = self("produce", "--brokers", self.brokers, "--topic", topic, "--from-file", path)
        assert f"produced {len(records)} events" in proc.stdout, proc.stdout
        return proc

    def run(self, topic: str, data: Path | str, ckpt: Path | str, *extra, timeout: float = 120,
            check: bool = True, fault: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        """`medallion run` on a topic with the `extra` flags (`--until-caught-up` to stop at the end)."""
        return self("run", "--brokers", self.brokers, "--topic", topic, "--data-dir", data,
                    "--checkpoint-dir", ckpt, *extra, timeout=timeout, check=check, fault=fault, env=env)


@pytest.fixture(scope="session")
def broker() -> str:
    """The local broker's address; starts it if it is down (and leaves it running)."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} not found; build it with `ninja -C build medallion`")
    status = subprocess.run(["bash", str(KAFKA_SH), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        start = subprocess.run(["bash", str(KAFKA_SH), "start"], capture_output=True, text=True,
                               timeout=180)
        if start.returncode != 0:
            pytest.fail(f"cannot start the broker:\n{start.stderr[-3000:]}")
    return BROKERS


@pytest.fixture
def medallion(tmp_path) -> Medallion:
    return Medallion(BROKERS, tmp_path)


@pytest.fixture
def make_topic(broker, medallion, request):
    """make_topic(partitions) creates a new topic with a unique name and returns the name."""

    def make(partitions: int = 3) -> str:
        stem = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60].strip("-")
        name = f"it-{stem}-{uuid.uuid4().hex[:8]}"
        medallion("produce", "--brokers", broker, "--topic", name,
                  "--create-topic-partitions", partitions, "--from-file", "/dev/null")
        return name

    return make


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """A local S3-compatible server (object_stores.S3Server) for the session. Its endpoint and
    credentials are put in this process's environment, so every `medallion` started by a test
    (which inherits it) finds the server; a local data directory does not use them."""
    import object_stores

    log = tmp_path_factory.mktemp("s3") / "moto.log"
    yield from _serving(object_stores.S3Server.start(log))


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """Azurite's blob service (object_stores.AzuriteServer) for the session, its connection
    string in this process's environment as for `s3`."""
    import object_stores

    yield from _serving(object_stores.AzuriteServer.start(tmp_path_factory.mktemp("azurite")))


def _serving(server):
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    yield server
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()
