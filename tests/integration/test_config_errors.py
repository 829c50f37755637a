"""`medallion run` rejects bad flags and bad TOML with a message naming the key, and honours a
valid config file (flags overriding it)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

import events
import tables

# Unreachable broker: a run that got past option checking would fail differently (or hang).
NOWHERE = ["--brokers", "127.0.0.1:1", "--topic", "t"]

BAD_FLAGS = [
    (["--max-batch-records", "0"], "--max-batch-records"),
    (["--max-batch-records", "many"], "--max-batch-records"),
    (["--max-batches", "-1"], "--max-batches"),
    (["--top-n", "0"], "--top-n"),
    (["--window-size", "5x"], "--window-size"),
    (["--window-size", "0s"], "--window-size"),
    (["--window-size", "1m", "--window-slide", "7s"], "window_slide"),
    (["--trigger-interval", "soon"], "--trigger-interval"),
    (["--max-batch-wait", "1 s"], "--max-batch-wait"),
    (["--allowed-lateness", "-2m"], "--allowed-lateness"),
    (["--compression", "lz5"], "--compression"),
    (["--output-mode", "complete"], "--output-mode"),
    (["--dedup-scope", "global"], "--dedup-scope"),
    (["--gold-commit-interval", "often"], "--gold-commit-interval"),
    (["--gold-commit-interval", "-1s"], "--gold-commit-interval"),
    (["--side-commit-interval", "soon"], "--side-commit-interval"),
    (["--side-commit-interval", "0"], "--side-commit-interval"),
    (["--bronze-commit-interval", "-1s"], "--bronze-commit-interval"),
    (["--starting-offsets", "middle"], "--starting-offsets"),
    (["--fail-on-data-loss", "maybe"], "--fail-on-data-loss"),
    (["--compaction", "maybe"], "--compaction"),
    (["--compaction-min-files", "1"], "--compaction-min-files"),
    (["--log-retention", "soon"], "--log-retention"),
    (["--metrics-file", "/nonexistent-dir/medallion.prom"], "--metrics-file"),
    (["--config", "/nonexistent/medallion.toml"], "--config"),
    (["--no-such-flag"], "--no-such-flag"),
    (["--payments-topic", "t"], "--payments-topic"),  # the orders topic (NOWHERE's "t")
    (["--payments-topic", "p", "--payment-after", "1 h"], "--payment-after"),
    (["--payments-topic", "p", "--payment-before", "-5m"], "--payment-before"),
    (["--scale-mode", "cluster"], "--scale-mode"),
    (["--scale-mode", "group", "--dedup-scope", "query"], "--dedup-scope"),
    (["--scale-mode", "group", "--payments-topic", "p"], "--payments-topic"),
    (["--scale-mode", "group", "--until-caught-up"], "--until-caught-up"),
    (["--scale-mode", "group", "--max-batches", "3"], "--max-batches"),
    (["--scale-mode", "gold", "--payments-topic", "p"], "--payments-topic"),
    (["--scale-mode", "gold", "--until-caught-up"], "--until-caught-up"),
]


@pytest.mark.parametrize("args,named", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_is_rejected(medallion, tmp_path, args, named):
    proc = medallion("run", *NOWHERE, "--data-dir", tmp_path / "d", "--checkpoint-dir",
                     tmp_path / "c", *args, check=False, timeout=30)
    assert proc.returncode != 0
    assert named in proc.stderr, proc.stderr
    assert not (tmp_path / "d").exists(), "a rejected run must not create tables"


BAD_TOML = [
    ('[batch]\nmax_recordz = 10\n', "batch.max_recordz"),
    ('[scale]\nmembers = 3\n', "scale.members"),
    ('[batch]\nmax_records = "10"\n', "batch.max_records"),
    ('[batch]\nmax_records = 0\n', "batch.max_records"),
    ('[gold]\ntop_n = 2.5\n', "gold.top_n"),
    ('[gold]\ncommit_interval = 5\n', "gold.commit_interval"),
    ('[gold]\nsnapshot_share = 0\n', "gold.snapshot_share"),
    ('[gold]\nsnapshot_share = 1.5\n', "gold.snapshot_share"),
    ('[gold]\nsnapshot_share = "half"\n', "gold.snapshot_share"),
    ('[batch]\nside_commit_interval = "-1s"\n', "batch.side_commit_interval"),
    ('[batch]\nbronze_commit_interval = "soon"\n', "batch.bronze_commit_interval"),
    ('[kafka]\ntopic = 5\n', "kafka.topic"),
    ('[bogus]\nx = 1\n', "bogus"),
    ('[compaction]\nmin_files = 1\n', "compaction.min_files"),
    ('[compaction]\ncpu_share = 0\n', "compaction.cpu_share"),
    ('[compaction]\nrecent_files_bytes = -1\n', "compaction.recent_files_bytes"),
    ('[compaction]\nenabled = "yes"\n', "compaction.enabled"),
    ('[compaction]\njoin_row_groups = 1\n', "compaction.join_row_groups"),
    ('[compaction]\nspeed = 3\n', "compaction.speed"),
    ('title = "medallion"\n', "title"),
    ('[batch]\ntrigger_interval = "5 parsecs"\n', "batch.trigger_interval"),
    ('[gold]\nwindow_size = 60\n', "gold.window_size"),
    ('[parquet]\ncompression = "lz5"\n', "parquet.compression"),
    ('[parquet]\ncompression_level = 99\n', "[parquet]: parquet compression_level 99 for zstd: expected"),
    ('[parquet]\ncompression = "snappy"\ncompression_level = 3\n', "'snappy' has no levels"),
    ('[parquet]\ncompression_level = "fast"\n', "parquet.compression_level"),
    ('[parquet]\nbronze = "zstd"\n', "'parquet.bronze' must be a table"),
    ('[parquet.bronze]\ncompression_level = -1\n', "parquet.bronze.compression"),
    ('[parquet.silver]\ncompression = "lz5"\n', "parquet.silver.compression"),
    ('[parquet.gold]\ncompression = "zstd"\nlevel = 3\n', "parquet.gold.level"),
    ('[parquet.platinum]\ncompression = "zstd"\n', "parquet.platinum"),
    ('[kafka]\nstarting_offsets = "middle"\n', "kafka.starting_offsets"),
    ('[kafka]\nfail_on_data_loss = "no"\n', "kafka.fail_on_data_loss"),
    ('[payments]\ntopic = ""\n', "payments.topic"),
    ('[payments]\nafter = 3600\n', "payments.after"),
    ('[payments]\nbefore = "soon"\n', "payments.before"),
    ('[payments]\nwithin = "1h"\n', "payments.within"),
    ('[metrics]\nfile = 5\n', "metrics.file"),
    ('[kafka.properties]\n"socket.timeout.ms" = 100\n', "kafka.properties.socket.timeout.ms"),
    ('[paths]\ndata_dir = ""\n', "paths.data_dir"),
    ('[batch\nmax_records = 1\n', "TOML"),
]


# Numbers out of their range: zero, below the unit the engine counts in, beyond int64
# microseconds or an int, and a window/slide ratio that would multiply the work per line. Each is
# a user error (exit 2) naming the flag or key and the accepted range.
OUT_OF_RANGE_FLAGS = [
    (["--max-batch-wait", "500us"], ["--max-batch-wait", "from 1ms"]),
    (["--trigger-interval", "10us"], ["--trigger-interval", "from 1ms"]),
    (["--window-size", "9999999999999d"], ["--window-size", "36500d"]),
    (["--dedup-horizon", "36501d"], ["--dedup-horizon", "36500d"]),
    (["--allowed-lateness", "99999999999999999999999us"], ["--allowed-lateness", "36500d"]),
    (["--top-n", "3000000000"], ["--top-n", "2147483647"]),
    (["--max-batch-records", "99999999999999999999"], ["--max-batch-records", "9223372036854775807"]),
    (["--max-batch-bytes", "2000000000"], ["--max-batch-bytes", "1073741824"]),
    (["--window-size", "1d", "--window-slide", "1ms"], ["--window-slide", "at most 100"]),
]


@pytest.mark.parametrize("args,named", OUT_OF_RANGE_FLAGS,
                         ids=[" ".join(a) for a, _ in OUT_OF_RANGE_FLAGS])
def test_out_of_range_flag_is_a_user_error(medallion, tmp_path, args, named):
    proc = medallion("run", *NOWHERE, "--data-dir", tmp_path / "d", "--checkpoint-dir",
                     tmp_path / "c", *args, check=False, timeout=30)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    for text in named:
        assert text in proc.stderr, proc.stderr
    assert not (tmp_path / "d").exists()


OUT_OF_RANGE_TOML = [
    ('[gold]\ntop_n = 3000000000\n', ["gold.top_n", "2147483647"]),
    ('[delta]\ncheckpoint_interval = 4294967297\n', ["delta.checkpoint_interval", "2147483647"]),
    ('[batch]\nmax_wait = "500us"\n', ["batch.max_wait", "from 1ms"]),
    ('[batch]\ntrigger_interval = "999us"\n', ["batch.trigger_interval", "from 1ms"]),
    ('[watermark]\ndedup_horizon = "9999999999999d"\n', ["watermark.dedup_horizon", "36500d"]),
    ('[watermark]\ndedup_scope = "global"\n', ["watermark.dedup_scope", '"query" | "partition"']),
    ('[watermark]\ndedup_scope = ""\n', ["watermark.dedup_scope", "non-empty string"]),
    ('[scale]\nmode = "cluster"\n', ["scale.mode", '"single" | "group" | "gold"']),
    ('[delta]\nremoved_file_retention = "153722867280912931m"\n',
     ["delta.removed_file_retention", "36500d"]),
    ('[batch]\nmax_bytes = 9223372036854775807\n', ["batch.max_bytes", "1073741824"]),
    ('[gold]\nwindow_size = "1d"\nwindow_slide = "1ms"\n', ["gold.window_slide", "at most 100"]),
]


@pytest.mark.parametrize("text,named", OUT_OF_RANGE_TOML, ids=[n[0] for _, n in OUT_OF_RANGE_TOML])
def test_out_of_range_key_is_a_user_error(medallion, tmp_path, text, named):
    config = tmp_path / "range.toml"
    config.write_text(text)
    proc = medallion("run", "--config", config, *NOWHERE, "--data-dir", tmp_path / "d",
                     "--checkpoint-dir", tmp_path / "c", check=False, timeout=30)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    for t in named:
        assert t in proc.stderr, proc.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("text,named", BAD_TOML, ids=[n for _, n in BAD_TOML])
def test_bad_toml_is_rejected(medallion, tmp_path, text, named):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    proc = medallion("run", "--config", config, *NOWHERE, "--data-dir", tmp_path / "d",
                     "--checkpoint-dir", tmp_path / "c", check=False, timeout=30)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert named in proc.stderr, proc.stderr
    assert not (tmp_path / "d").exists()


def test_valid_toml_is_honoured_and_flags_override(medallion, make_topic, tmp_path):
    topic = make_topic(2)
    sent = events.EventStream(seed=3, prefix="c").take(500)
    medallion.produce(topic, sent)
    data, ckpt = tmp_path / "from-config-data", tmp_path / "from-config-ckpt"
    config = tmp_path / "medallion.toml"
    config.write_text(f"""
# every section the config knows
[kafka]
brokers = "{medallion.brokers}"
topic = "{topic}"
group_id = "it-config"
starting_offsets = "earliest"
fail_on_data_loss = true

[kafka.properties]
"fetch.wait.max.ms" = "50"

[batch]
max_records = 100
max_wait = "1s"
trigger_interval = "200ms"
side_commit_interval = "0s"
bronze_commit_interval = "0s"

[paths]
data_dir = "{data}"
checkpoint_dir = "{ckpt}"

[gold]
window_size = "2m"
top_n = 3
commit_interval = "1ms"

[parquet]
compression = "zstd"
compression_level = -1

[parquet.silver]
compression = "snappy"

[parquet.bronze]
compression = "lz4_raw"

[delta]
checkpoint_interval = 2

[compaction]
enabled = true
target_file_bytes = 1048576
min_files = 4
cpu_share = 0.5
join_row_groups = false

[metrics]
file = "{tmp_path / 'medallion.prom'}"
""")
    proc = medallion("run", "--config", config, "--until-caught-up", "--top-n", 5)
    assert "last committed batch 4" in proc.stdout + proc.stderr  # 500 records / 100
    lake = tables.check_all(data, ckpt, topic, sent, rules=events.Rules(window_us=120_000_000),
                            top_n=5)
    assert lake.rows("SELECT count(*) FROM gold_top")[0][0] == 5
    assert (data / "silver" / "order_lines" / "_delta_log" / f"{4:020d}.checkpoint.parquet").exists()
    def codecs(table):
        return {pq.ParquetFile(f).metadata.row_group(0).column(0).compression
                for f in DeltaTable(str(data / table)).file_uris()}

    assert codecs("silver/order_lines") == {"SNAPPY"}  # [parquet.silver]
    # [parquet.bronze]: pyarrow names Parquet's LZ4_RAW codec "LZ4" (DuckDB's parquet_metadata
    # says LZ4_RAW).
    assert codecs("bronze/orders_raw") == {"LZ4"}
    # [batch] bronze_commit_interval "0s": Bronze committed with every one of the five batches.
    bronze_batches = sorted(
        action["txn"]["version"] for f in (data / "bronze" / "orders_raw" / "_delta_log").glob("*.json")
        for action in map(json.loads, f.read_text().splitlines())
        if "txn" in action and action["txn"]["appId"] == ckpt_query(ckpt))
    assert bronze_batches == [0, 1, 2, 3, 4], bronze_batches
    # [parquet]'s zstd, which gives way to LZ4 for a column chunk under 16 KiB: every Late
    # column of these 100-record batches (see "Configuration file" in the README).
    assert codecs("late/order_lines") == {"LZ4"}
    assert f'medallion_records_total{{query="{ckpt_query(ckpt)}",topic="{topic}"}} 500' in (
        tmp_path / "medallion.prom").read_text()


def ckpt_query(ckpt) -> str:
    return json.loads((ckpt / "metadata").read_text())["id"]


def test_config_window_size_alone_is_tumbling(medallion, make_topic, tmp_path):
    """gold.window_size without gold.window_slide gives tumbling windows of that size, as
    --window-size alone does (the slide defaults to the size, not to 1m)."""
    topic = make_topic(1)
    sent = events.EventStream(seed=9, prefix="ws").take(300)
    medallion.produce(topic, sent)
    config = tmp_path / "medallion.toml"
    config.write_text('[gold]\nwindow_size = "2m"\n')
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.run(topic, data, ckpt, "--config", config, "--until-caught-up")
    lake = tables.Lake(data)
    spans = lake.rows("SELECT DISTINCT epoch_us(window_end) - epoch_us(window_start), "
                      "epoch_us(window_start) % 120000000 FROM gold_windows")
    assert spans == [(120_000_000, 0)]
    # Each Silver line is in exactly one window (or late): revenue adds up.
    total = lake.rows("SELECT sum(line_amount) FROM silver")[0][0]
    in_gold = lake.rows("SELECT sum(revenue) FROM gold_windows")[0][0] or 0
    late = lake.rows("SELECT coalesce(sum(line_amount), 0) FROM late "
                     "WHERE reason = 'window_final'")[0][0]
    assert in_gold + late == total


@pytest.mark.parametrize("value", ["1.5", "-0.1", "mix", "2", ""])
def test_bad_v2_fraction_is_a_user_error(medallion, tmp_path, value):
    out = tmp_path / "events.jsonl"
    proc = medallion("produce", "--to-file", out, "--count", 10, "--v2-fraction", value,
                     check=False, timeout=30)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "--v2-fraction" in proc.stderr, proc.stderr
    assert not out.exists()


def test_v2_fraction_writes_version_2_events(medallion, tmp_path):
    out = tmp_path / "events.jsonl"
    proc = medallion("produce", "--to-file", out, "--count", 200, "--v2-fraction", 1, timeout=30)
    assert "schema_version 2: 200" in proc.stdout, proc.stdout
    assert all(b'"schema_version":2}' in line for line in out.read_bytes().splitlines())
