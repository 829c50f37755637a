"""Tables and checkpoints on an S3-compatible store (moto's server on 127.0.0.1, see object_stores.py).

- The server itself refuses a second conditional PUT of a key (what the log's commits rely on).
- A store that ignores If-None-Match is refused at start-up, before anything is written.
- The pipeline on S3 and on Azurite, in several runs: the tables (downloaded) pass every check
  of the crash oracle, equal a run of the same topic on local disk, and delta-rs reads them
  straight from the store with the same rows.
- Two processes on one S3 checkpoint: there is no lock file on a store, so the second is stopped
  by the fence (a batch plan is created only if no process has created it), and the tables stay
  exact.
- Bad S3 settings exit 2 naming the setting.
The crash harness also runs on both (test_crash_harness.py: test_crash_harness_on_s3 and
test_crash_harness_on_azure).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
from deltalake import DeltaTable

sys.path.insert(0, os.path.dirname(__file__))
import crash_oracle as oracle  # noqa: E402
import object_stores  # noqa: E402

RUN = ["--max-batch-records", "700"]


def _bucket(s3) -> str:
    return s3.make_bucket(f"lake-{uuid.uuid4().hex[:12]}")


def test_server_refuses_a_second_conditional_put(s3):
    from botocore.exceptions import ClientError

    client, bucket = s3.client(), _bucket(s3)
    client.put_object(Bucket=bucket, Key="_delta_log/00000000000000000000.json", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=bucket, Key="_delta_log/00000000000000000000.json", Body=b"second",
                          IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    body = client.get_object(Bucket=bucket, Key="_delta_log/00000000000000000000.json")["Body"].read()
    assert body == b"first"


def test_store_that_ignores_conditional_puts_is_refused(s3, medallion, make_topic):
    topic = make_topic(2)
    bucket = _bucket(s3)
    proxy = object_stores.LyingProxy(s3.port)
    try:
        r = medallion.run(topic, f"s3://{bucket}/data", f"s3://{bucket}/ckpt", "--until-caught-up",
                          check=False, env={"AWS_ENDPOINT_URL": proxy.endpoint})
    finally:
        proxy.stop()
    assert r.returncode == 2, r.stdout + r.stderr
    assert "does not honour conditional PUTs" in r.stderr, r.stderr
    assert f"s3://{bucket}/ckpt" in r.stderr, r.stderr
    # Refused before anything of the checkpoint or the tables was written.
    assert s3.keys(f"s3://{bucket}") == [], s3.keys(f"s3://{bucket}")


def _store(request, kind: str):
    """(server, data URL, checkpoint URL) in a new bucket or container of the `kind` store."""
    if kind == "s3":
        server = request.getfixturevalue("s3")
        bucket = _bucket(server)
        return server, f"s3://{bucket}/lake/data", f"s3://{bucket}/lake/ckpt"
    server = request.getfixturevalue("azurite")
    container = server.make_container(f"lake-{uuid.uuid4().hex[:12]}")
    account = object_stores.AZ_ACCOUNT
    return server, f"abfs://{container}@{account}/lake/data", f"abfs://{container}@{account}/lake/ckpt"


def _delta_rs_url(url: str) -> str:
    """The URL delta-rs takes for a table the engine wrote at `url` (az:// on the emulator)."""
    if url.startswith("abfs://"):
        container, _, path = url.removeprefix("abfs://").partition("/")
        return f"az://{container.split('@')[0]}/{path}"
    return url


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_pipeline_on_object_store_equals_local_disk_and_reads_in_delta_rs(request, kind, broker, tmp_path):
    seed = 4242
    topic = f"it-{kind}-pipeline-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(seed, n_events=3000)
    first, second = ds.lines[:1800], ds.lines[1800:]
    logs = tmp_path / "logs"
    logs.mkdir()
    oracle.produce_file(broker, topic, oracle.write_jsonl(logs / "first.jsonl", first))
    store, data, ckpt = _store(request, kind)
    oracle.run_until_caught_up(broker, topic, data, ckpt, *RUN)
    # A restart over more of the stream, resuming from the checkpoint on the store.
    oracle.produce_file(broker, topic, oracle.write_jsonl(logs / "second.jsonl", second))
    again = oracle.run_until_caught_up(broker, topic, data, ckpt, *RUN)
    assert "last committed batch" in again.stderr + again.stdout
    keys = store.keys(data)
    assert not any(".tmp." in k for k in keys), [k for k in keys if ".tmp." in k]

    local = store.download(data, tmp_path / "from-store" / "data")
    local_ckpt = store.download(ckpt, tmp_path / "from-store" / "ckpt")
    report = oracle.check_all(local, ds.lines, ds, topic, last_batch=oracle.last_committed(local_ckpt))
    assert oracle.last_committed(local_ckpt) >= 4, "the runs were meant to take several batches"
    disk_data, disk_ckpt = tmp_path / "disk-data", tmp_path / "disk-ckpt"
    oracle.run_until_caught_up(broker, topic, disk_data, disk_ckpt, *RUN)
    compared = oracle.compare_runs(local, disk_data)
    assert set(compared) >= {"bronze", "quarantine", "silver", "gold_top", "gold_customers"}, compared

    # delta-rs straight from the store: the same rows as the downloaded copy.
    for name, rel in oracle.TABLES.items():
        if not (local / rel / "_delta_log").exists():
            continue
        remote = DeltaTable(_delta_rs_url(f"{data}/{rel}"), storage_options=store.storage_options()).to_pyarrow_table()
        copy = DeltaTable(str(local / rel)).to_pyarrow_table()
        assert remote.num_rows == copy.num_rows == report.rows[name], name
        assert sorted(map(repr, remote.to_pylist())) == sorted(map(repr, copy.to_pylist())), name
    print("rows: " + ", ".join(f"{k} {v}" for k, v in report.rows.items()))


def test_second_process_on_one_s3_checkpoint_is_fenced(s3, broker, tmp_path):
    topic = f"it-s3-fence-{uuid.uuid4().hex[:8]}"
    ds = oracle.make_dataset(77, n_events=4000)
    logs = tmp_path / "logs"
    logs.mkdir()
    chunks = ds.chunks(8)
    oracle.produce_file(broker, topic, oracle.write_jsonl(logs / "c0.jsonl", chunks[0]))
    bucket = _bucket(s3)
    data, ckpt = f"s3://{bucket}/data", f"s3://{bucket}/ckpt"
    flags = ["--max-batch-records", "100", "--trigger-interval", "50ms", "--max-batch-wait", "100ms"]
    with open(logs / "first.log", "wb") as out:
        first = subprocess.Popen(oracle.run_args(broker, topic, data, ckpt, *flags), stdout=out,
                                 stderr=subprocess.STDOUT)
    try:
        assert oracle.wait_for(lambda: "batch 1:" in (logs / "first.log").read_text(errors="replace"), 60), \
            oracle.tail(logs / "first.log")
        with open(logs / "second.log", "wb") as out:
            second = subprocess.Popen(oracle.run_args(broker, topic, data, ckpt, *flags), stdout=out,
                                      stderr=subprocess.STDOUT)
        for i, chunk in enumerate(chunks[1:], start=1):
            oracle.produce_file(broker, topic, oracle.write_jsonl(logs / f"c{i}.jsonl", chunk))
            time.sleep(0.3)
        rc = second.wait(timeout=90)
        text = (logs / "second.log").read_text(errors="replace")
        assert rc == 2, f"second process exited {rc}:\n{text[-3000:]}"
        # Fenced either by the plans (it planned a batch the first had planned) or, when it
        # started while the first was ahead of what it read, by the tables' check at start-up.
        assert ("two medallion processes are using this checkpoint" in text
                or "another medallion process is using this checkpoint right now" in text), text[-3000:]
        assert first.poll() is None, "the first process stopped:\n" + oracle.tail(logs / "first.log")
        print("second process: " + [l for l in text.splitlines() if "medallion run:" in l][-1][:300])
    finally:
        oracle.kill_process(first, sig=15)
    oracle.run_until_caught_up(broker, topic, data, ckpt)
    local = s3.download(data, tmp_path / "copy" / "data")
    local_ckpt = s3.download(ckpt, tmp_path / "copy" / "ckpt")
    oracle.check_all(local, ds.lines, ds, topic, last_batch=oracle.last_committed(local_ckpt))


@pytest.mark.parametrize("args, env, named", [
    (["--data-dir", "s3://"], {}, "names no bucket"),
    (["--data-dir", "s3:///prefix"], {}, "names no bucket"),
    (["--checkpoint-dir", "gs://bucket/x"], {}, "the scheme 'gs' is not supported"),
    (["--data-dir", "s3://bucket/x"], {"AWS_ENDPOINT_URL": "127.0.0.1:9000"}, "s3.endpoint (or AWS_ENDPOINT_URL)"),
    (["--data-dir", "abfs://container/x"], {}, "names no container and account"),
    (["--data-dir", "abfs://@account/x"], {}, "names no container and account"),
    (["--data-dir", "abfs://c@devstoreaccount1/x"],
     {"AZURE_STORAGE_CONNECTION_STRING": "AccountName=devstoreaccount1;AccountKey=not*base64"},
     "the Azure account key is not base64"),
    (["--checkpoint-dir", "az://c/x"], {"AZURE_STORAGE_CONNECTION_STRING": "BlobEndpoint=ftp://h/a"},
     "azure.endpoint"),
])
def test_bad_storage_settings_exit_2_naming_them(medallion, tmp_path, args, env, named):
    dirs = {"--data-dir": str(tmp_path / "d"), "--checkpoint-dir": str(tmp_path / "c")}
    dirs[args[0]] = args[1]
    base = ["run", "--until-caught-up", "--brokers", "127.0.0.1:1", "--topic", "t"]
    r = medallion(*base, *[x for kv in dirs.items() for x in kv], check=False, env=env, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert named in r.stderr, r.stderr


def test_s3_section_of_the_config_file(s3, medallion, make_topic, tmp_path):
    """[s3] endpoint, region and path_style in the config file, with no endpoint in the
    environment; an unknown key in [s3] exits 2 naming it."""
    topic = make_topic(2)
    bucket = _bucket(s3)
    config = tmp_path / "medallion.toml"
    config.write_text(f'[s3]\nendpoint = "{s3.endpoint}"\nregion = "us-east-1"\npath_style = true\n')
    env = {"AWS_ENDPOINT_URL": ""}
    r = medallion.run(topic, f"s3://{bucket}/d", f"s3://{bucket}/c", "--config", config, "--until-caught-up",
                      env=env)
    assert "stopped after" in r.stdout + r.stderr
    assert any(k.startswith("c/") for k in s3.keys(f"s3://{bucket}")), s3.keys(f"s3://{bucket}")
    bad = tmp_path / "bad.toml"
    bad.write_text('[s3]\nendpoint = "http://127.0.0.1:1"\nbucket = "x"\n')
    r = medallion.run(topic, f"s3://{bucket}/d", f"s3://{bucket}/c", "--config", bad, "--until-caught-up",
                      check=False)
    assert r.returncode == 2 and "s3.bucket" in r.stderr, r.stderr
