"""Local object-store servers for the tests, and what the tests do with them.

`S3Server`: moto's standalone S3 server (the `moto[server]` package of requirements.txt),
started on 127.0.0.1 on a free port by `start` and stopped by `stop`. It implements conditional
PUTs: a PUT with `If-None-Match: *` of a key that exists is answered 412.

`AzuriteServer`: Azurite's blob service, Microsoft's Azure Storage emulator (npm, installed in
.deps/azurite by scripts/bootstrap.sh), on 127.0.0.1 with the emulator's documented account
(devstoreaccount1 and its published key).

`LyingProxy` sits in front of it and drops `If-None-Match` from every request: a store that
ignores the condition, which the engine must refuse at start-up.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pyarrow.fs as pafs

REPO = Path(__file__).resolve().parents[2]
# The project venv's server, also when the caller runs in another venv (the Spark tier's).
MOTO = next((p for p in (Path(sys.executable).parent / "moto_server", REPO / ".venv" / "bin" / "moto_server")
             if p.exists()), REPO / ".venv" / "bin" / "moto_server")
KEY, SECRET, REGION = "medallion-test", "medallion-secret", "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _when_up(server, name: str, probe, timeout: float):
    """`server` once `probe()` stops raising OSError; stopped, and an error with its log, if its
    process exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{name} exited {server.proc.returncode}: "
                               f"{server.log.read_text(errors='replace')[-2000:]}")
        try:
            probe()
            return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not answer within {timeout:.0f} s")


class S3Server:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path):
        self.proc, self.port, self.log = proc, port, log
        self.endpoint = f"http://127.0.0.1:{port}"

    @staticmethod
    def start(log: Path, timeout: float = 60) -> "S3Server":
        if not MOTO.exists():
            raise RuntimeError(f"{MOTO} not found: run scripts/bootstrap.sh (requirements.txt has moto[server])")
        port = free_port()
        out = open(log, "wb")
        proc = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        server = S3Server(proc, port, log)
        return _when_up(server, "moto_server", lambda: urllib.request.urlopen(server.endpoint + "/", timeout=2).read(),
                        timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """The environment a `medallion` process reads its S3 settings from."""
        return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": endpoint or self.endpoint}

    def storage_options(self) -> dict[str, str]:
        """delta-rs' options for reading the tables straight from the server."""
        return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_ALLOW_HTTP": "true"}

    def filesystem(self) -> pafs.S3FileSystem:
        return pafs.S3FileSystem(access_key=KEY, secret_key=SECRET, region=REGION,
                                 endpoint_override=f"127.0.0.1:{self.port}", scheme="http")

    def client(self):
        import boto3  # comes with moto[server]
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=KEY,
                            aws_secret_access_key=SECRET, region_name=REGION)

    def make_bucket(self, name: str) -> str:
        pafs.S3FileSystem(access_key=KEY, secret_key=SECRET, region=REGION, scheme="http",
                          endpoint_override=f"127.0.0.1:{self.port}", allow_bucket_creation=True).create_dir(name)
        return name

    def download(self, url: str, dest: Path) -> Path:
        """Copies every object under s3://bucket/prefix to `dest` (kept layout), for the checks
        that read local files; the directory markers the store may hold are skipped."""
        return _download(self.filesystem(), url.removeprefix("s3://").rstrip("/"), dest)

    def keys(self, url: str) -> list[str]:
        return _keys(self.filesystem(), url.removeprefix("s3://").rstrip("/"))


AZURITE = REPO / ".deps" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
AZ_ACCOUNT = "devstoreaccount1"
# The emulator's well-known development key, published in Azurite's documentation.
AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzuriteServer:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path):
        self.proc, self.port, self.log = proc, port, log
        self.endpoint = f"http://127.0.0.1:{port}/{AZ_ACCOUNT}"

    @staticmethod
    def start(work: Path, timeout: float = 60) -> "AzuriteServer":
        if not AZURITE.exists():
            raise RuntimeError(f"{AZURITE} not found: run scripts/bootstrap.sh (it installs Azurite with npm)")
        port = free_port()
        (work / "azurite").mkdir(parents=True, exist_ok=True)
        log = work / "azurite.log"
        out = open(log, "wb")
        proc = subprocess.Popen([str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port),
                                 "--location", str(work / "azurite"), "--silent", "--disableTelemetry",
                                 "--skipApiVersionCheck",
                                 # Longer than the 60 s an idle connection stays in the Azure SDK's
                                 # pool (curl_connection_private.hpp): at Azurite's default of 5 s,
                                 # a request after a pause takes a connection Azurite has closed.
                                 "--blobKeepAliveTimeout", "120"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        server = AzuriteServer(proc, port, log)
        return _when_up(server, "azurite", lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close(),
                        timeout)

    stop = S3Server.stop

    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_CONNECTION_STRING":
                f"DefaultEndpointsProtocol=http;AccountName={AZ_ACCOUNT};AccountKey={AZ_KEY};"
                f"BlobEndpoint={self.endpoint};"}

    def storage_options(self) -> dict[str, str]:
        """delta-rs' options for az:// URLs on this emulator (its endpoint, not the default port)."""
        return {"account_name": AZ_ACCOUNT, "account_key": AZ_KEY, "azure_storage_endpoint": self.endpoint,
                "allow_http": "true"}

    def filesystem(self) -> pafs.AzureFileSystem:
        return pafs.AzureFileSystem(account_name=AZ_ACCOUNT, account_key=AZ_KEY,
                                    blob_storage_authority=f"127.0.0.1:{self.port}", blob_storage_scheme="http",
                                    dfs_storage_authority=f"127.0.0.1:{self.port}", dfs_storage_scheme="http")

    def make_container(self, name: str) -> str:
        self.filesystem().create_dir(name)
        return name

    def _base(self, url: str) -> str:
        """abfs://container@account/path -> container/path."""
        rest = url.split("://", 1)[1].rstrip("/")
        authority, _, path = rest.partition("/")
        return authority.split("@", 1)[0] + ("/" + path if path else "")

    def download(self, url: str, dest: Path) -> Path:
        return _download(self.filesystem(), self._base(url), dest)

    def keys(self, url: str) -> list[str]:
        return _keys(self.filesystem(), self._base(url))


def _download(fs, base: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True)):
        if info.type != pafs.FileType.File:
            continue
        target = dest / info.path[len(base) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        with fs.open_input_stream(info.path) as src:
            target.write_bytes(src.read())
    return dest


def _keys(fs, base: str) -> list[str]:
    return sorted(i.path[len(base) + 1:] for i in
                  fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
                  if i.type == pafs.FileType.File)


class LyingProxy:
    """An HTTP proxy to `upstream` that removes If-None-Match from the requests it forwards."""

    def __init__(self, upstream_port: int):
        upstream = upstream_port

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "if-none-match"}
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
