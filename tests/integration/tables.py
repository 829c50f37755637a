"""Reads medallion's tables with independent readers and checks them against the oracle.

Every table is read twice: with delta-rs (`DeltaTable(path).to_pyarrow_table()`) and with DuckDB
over exactly the Parquet files the Delta log lists (hive partitioning; columns matched by name,
so files written before a schema evolution read nulls for the columns added since); both must
agree. Gold is recomputed by DuckDB SQL over Silver. Timestamps are compared as epoch microseconds (DuckDB's
epoch_us), decimals as Python Decimal (exact).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

import crash_oracle
import events

TABLES = {
    "bronze": "bronze/orders_raw",
    "quarantine": "quarantine/orders",
    "silver": "silver/order_lines",
    "late": "late/order_lines",
    "gold_windows": "gold/revenue_by_category_window",
    "gold_top": "gold/top_products",
    "gold_customers": "gold/customer_spend",
}
TIMESTAMPS = {"kafka_timestamp", "ingest_time", "event_time", "window_start", "window_end",
              "first_order_time", "last_order_time", "watermark"}


def _select_list(schema: pa.Schema, columns: list[str] | None = None) -> str:
    names = columns or schema.names
    return ", ".join(f'epoch_us("{c}")' if c in TIMESTAMPS else f'"{c}"' for c in names)


@dataclass
class Checkpoint:
    """What the test reads from a checkpoint directory: the query id and the batch plans."""

    query_id: str
    plans: dict[int, dict]
    last_committed: int  # the newest state/<B> (or commits/<B> of an earlier build), or -1

    @staticmethod
    def read(path: Path) -> "Checkpoint":
        query_id = json.loads((path / "metadata").read_text())["id"]
        plans = {int(f.name): json.loads(f.read_text()) for f in (path / "offsets").iterdir()
                 if f.name.isdigit()}
        return Checkpoint(query_id, plans, crash_oracle.last_committed(path))


class Lake:
    """The six tables under one data dir, loaded into one DuckDB connection as views
    <name> (delta-rs) and <name>_files (DuckDB over the logged Parquet files)."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.con = duckdb.connect()
        self.delta: dict[str, DeltaTable] = {}
        self.arrow: dict[str, pa.Table] = {}
        for name, rel in TABLES.items():
            table = DeltaTable(str(self.data_dir / rel))
            self.delta[name] = table
            self.arrow[name] = table.to_pyarrow_table()
            self.con.register(name, self.arrow[name])
            files = table.file_uris()
            if files:
                self.con.execute(
                    f"CREATE VIEW {name}_files AS SELECT * FROM "
                    f"read_parquet({files!r}, hive_partitioning=true, union_by_name=true)")

    def rows(self, sql: str) -> list[tuple]:
        return self.con.sql(sql).fetchall()

    def table_rows(self, name: str, columns: list[str] | None = None, source: str = "") -> list:
        """Sorted rows of a table (timestamps as epoch micros)."""
        cols = _select_list(self.arrow[name].schema, columns)
        return sorted(self.rows(f"SELECT {cols} FROM {name}{source}"), key=repr)

    def check_readers_agree(self) -> None:
        """delta-rs and DuckDB-over-the-logged-files read the same rows in every table."""
        for name in TABLES:
            if self.arrow[name].num_rows == 0:
                assert not self.delta[name].file_uris() or all(
                    pq.read_metadata(f).num_rows == 0 for f in self.delta[name].file_uris())
                continue
            a = self.table_rows(name)
            b = self.table_rows(name, self.arrow[name].schema.names, "_files")
            assert a == b, f"{name}: delta-rs and DuckDB over the log's files disagree"


def check_bronze(lake: Lake, ckpt: Checkpoint, topic: str, sent: list[events.Record]
                 ) -> list[tuple[int, list[tuple[int, int, bytes]]]]:
    """Exactly one row per record sent, values unchanged. Returns the batches as the engine
    cut them, in order: (ingest_time_us, [(partition, offset, value)...]); a batch's rows share
    its planned ingest_time, checked against the plans the checkpoint still holds."""
    rows = lake.rows('SELECT "partition", "offset", value, key, topic, epoch_us(ingest_time), '
                     "ingest_date, ingest_hour, kafka_timestamp IS NULL FROM bronze "
                     'ORDER BY "partition", "offset"')
    assert len(rows) == len(sent), f"bronze has {len(rows)} rows, {len(sent)} records were sent"
    by_partition: dict[int, list] = collections.defaultdict(list)
    for r in rows:
        by_partition[r[0]].append(r)
    for p, prs in by_partition.items():
        offsets = [r[1] for r in prs]
        assert offsets == list(range(len(prs))), f"partition {p}: offsets not 0..{len(prs) - 1}"
    assert collections.Counter(r[2] for r in rows) == collections.Counter(r.value for r in sent)
    for p, prs in by_partition.items():  # per partition, Kafka keeps the send order
        it = iter(r.value for r in sent)
        assert all(any(v == r[2] for v in it) for r in prs), f"partition {p}: order differs"
    batches: dict[int, list] = collections.defaultdict(list)
    for p, o, value, key, tpc, ingest, ingest_date, ingest_hour, no_ts in rows:
        assert tpc == topic
        assert key == events.expected_key(value), (p, o, value, key)
        assert not no_ts, "kafka_timestamp is null"
        when = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=ingest)
        assert (ingest_date, int(ingest_hour)) == (when.date(), when.hour)
        batches[ingest].append((p, o, value))
    ordered = sorted(batches.items())
    assert len(ordered) == ckpt.last_committed + 1, "batches in bronze != batches committed"
    for b, (ingest, brows) in enumerate(ordered):
        plan = ckpt.plans.get(b)
        if plan is None:
            continue  # pruned
        assert plan["ingest_time_us"] == ingest, f"batch {b}: ingest_time differs from its plan"
        ranges = {int(p): tuple(r) for p, r in plan["offsets"].items() if r[1] > r[0]}
        have: dict[int, list[int]] = collections.defaultdict(list)
        for p, o, _ in brows:
            have[p].append(o)
        assert {p: (min(v), max(v) + 1) for p, v in have.items()} == ranges, f"batch {b}"
    return ordered


def check_quarantine(lake: Lake, topic: str, bronze: list[tuple[int, int, bytes]],
                     errors: dict[bytes, str | None]) -> None:
    """Exactly the bad records, at their Bronze coordinates, each with the contract's code."""
    got = lake.rows('SELECT "partition", "offset", value, error, detail, topic FROM quarantine')
    want = collections.Counter((p, o, v, errors[v]) for p, o, v in bronze if errors[v])
    have = collections.Counter((r[0], r[1], r[2], r[3]) for r in got)
    missing, extra = want - have, have - want
    assert not missing and not extra, (
        f"quarantine differs: missing {sorted(missing.items(), key=repr)[:10]}, "
        f"unexpected {sorted(extra.items(), key=repr)[:10]}")
    for r in got:
        assert r[4] and r[5] == topic


def check_silver(lake: Lake, expected: events.Expected) -> None:
    """Full rows equal the oracle's."""
    have = sorted(lake.rows(f"SELECT {_select_list(lake.arrow['silver'].schema, events.SILVER_COLUMNS)} "
                            "FROM silver"), key=lambda r: (r[0], r[9], r[18], r[19]))
    _same("silver", have, expected.silver)


def check_late(lake: Lake, expected: events.Expected) -> None:
    have = sorted(lake.rows(f"SELECT {_select_list(lake.arrow['late'].schema, events.LATE_COLUMNS)} "
                            "FROM late"), key=repr)
    _same("late", have, expected.late)


def _same(name: str, have: list, want: list) -> None:
    if have != want:
        hs, ws = collections.Counter(have), collections.Counter(want)
        raise AssertionError(
            f"{name} differs ({len(have)} rows, expected {len(want)}):\n"
            f"  missing: {sorted(ws - hs, key=repr)[:5]}\n"
            f"  unexpected: {sorted(hs - ws, key=repr)[:5]}")


def expected_gold(lake: Lake, window_us: int, top_n: int,
                  final_lines: set[tuple] | None = None) -> dict[str, list[tuple]]:
    """Gold recomputed by DuckDB SQL over the Silver table; `final_lines` (event_id, line_no,
    kafka_partition, kafka_offset) are the Silver lines the watermark keeps out of the windows
    (None: use the late table). An order is a Silver event, known by (event_id,
    kafka_partition, kafka_offset): with dedup_scope partition one event_id can be two."""
    w = int(window_us)
    if final_lines is None:
        keys = lake.rows("SELECT event_id, line_no, kafka_partition, kafka_offset FROM late "
                         "WHERE reason = 'window_final'")
    else:
        keys = sorted(final_lines)
    lake.con.register("final_lines", pa.table({"event_id": pa.array([k[0] for k in keys], pa.string()),
                                               "line_no": pa.array([k[1] for k in keys], pa.int32()),
                                               "kafka_partition": pa.array([k[2] for k in keys], pa.int32()),
                                               "kafka_offset": pa.array([k[3] for k in keys], pa.int64())}))
    event = "event_id || '/' || kafka_partition || '/' || kafka_offset"
    latest = ("row_number() OVER (PARTITION BY {k} ORDER BY event_time DESC, kafka_partition DESC, "
              "kafka_offset DESC, line_no DESC)")
    windows = lake.rows(f"""
        SELECT epoch_us(event_time) // {w} * {w} AS ws, ws + {w}, category, sum(line_amount),
               sum(quantity), count(DISTINCT {event})
        FROM silver ANTI JOIN final_lines USING (event_id, line_no, kafka_partition, kafka_offset)
        GROUP BY ws, category ORDER BY ws, category""")
    top = lake.rows(f"""
        WITH agg AS (SELECT product_id, sum(quantity) AS q, sum(line_amount) AS rev
                     FROM silver GROUP BY product_id),
             last AS (SELECT product_id, product_name, category FROM
                        (SELECT *, {latest.format(k='product_id')} AS rn FROM silver) WHERE rn = 1)
        SELECT a.product_id, l.product_name, l.category, a.q, a.rev,
               row_number() OVER (ORDER BY a.q DESC, a.rev DESC, a.product_id ASC) AS rnk
        FROM agg a JOIN last l USING (product_id) ORDER BY rnk LIMIT {top_n}""")
    customers = lake.rows(f"""
        WITH agg AS (SELECT customer_id, count(DISTINCT {event}) AS n, sum(line_amount) AS spend,
                            min(epoch_us(event_time)) AS f, max(epoch_us(event_time)) AS l
                     FROM silver GROUP BY customer_id),
             last AS (SELECT customer_id, customer_name, customer_country FROM
                        (SELECT *, {latest.format(k='customer_id')} AS rn FROM silver) WHERE rn = 1)
        SELECT a.customer_id, l.customer_name, l.customer_country, a.n, a.spend, a.f, a.l
        FROM agg a JOIN last l USING (customer_id) ORDER BY a.customer_id""")
    return {"gold_windows": windows, "gold_top": top, "gold_customers": customers}


def check_gold(lake: Lake, window_us: int, top_n: int,
               final_lines: set[tuple] | None = None) -> None:
    want = expected_gold(lake, window_us, top_n, final_lines)
    order = {"gold_windows": "window_start, category", "gold_top": '"rank"',
             "gold_customers": "customer_id"}
    for name, rows in want.items():
        cols = _select_list(lake.arrow[name].schema)
        have = lake.rows(f"SELECT {cols} FROM {name} ORDER BY {order[name]}")
        if have != rows:
            diff = [(h, w) for h, w in zip(have, rows) if h != w][:5]
            raise AssertionError(f"{name} differs from DuckDB over Silver ({len(have)} rows, "
                                 f"expected {len(rows)}); first differences (have, want): {diff}")


def check_log(lake: Lake, ckpt: Checkpoint) -> None:
    """Each table commits a batch at most once, in batch order, and only batches the checkpoint
    committed, each entry carrying txn(query id, batch id); a batch that leaves a table
    unchanged commits nothing there. An entry without a txn changes no rows (version 0, a
    schema change, a compaction: every add and remove with dataChange false)."""
    for name, rel in TABLES.items():
        log = lake.data_dir / rel / "_delta_log"
        txns = []
        for entry in sorted(log.glob("*.json")):
            actions = [json.loads(line) for line in entry.read_text().splitlines() if line.strip()]
            mine = [a["txn"]["version"] for a in actions if "txn" in a and a["txn"]["appId"] == ckpt.query_id]
            if mine:
                txns += mine
            elif int(entry.stem) > 0:
                changes = [a for a in actions if "add" in a or "remove" in a]
                assert all(not (a.get("add") or a.get("remove"))["dataChange"] for a in changes), \
                    f"{name}: entry {entry.name} changes rows without a txn"
        assert txns == sorted(set(txns)), f"{name}: batches committed out of order or twice: {txns}"
        assert not txns or txns[-1] <= ckpt.last_committed, f"{name}: batch {txns[-1]} > {ckpt.last_committed}"
        assert lake.delta[name].transaction_version(ckpt.query_id) == (txns[-1] if txns else None), name


def check_all(data_dir: Path, ckpt_dir: Path, topic: str, sent: list[events.Record], *,
              rules: events.Rules | None = None, top_n: int = 100) -> Lake:
    """Every table exactly as the oracle says, for the records `sent` to `topic`."""
    rules = rules or events.Rules()
    lake = Lake(data_dir)
    ckpt = Checkpoint.read(Path(ckpt_dir))
    errors = events.expected_errors(sent)
    batches = check_bronze(lake, ckpt, topic, sent)
    check_quarantine(lake, topic, [r for _, rows in batches for r in rows], errors)
    # A plan pruned from the checkpoint is read as "no partition behind".
    behind = [events.plan_behind(ckpt.plans.get(b)) for b in range(len(batches))]
    expected = events.simulate(batches, errors, rules, behind)
    check_silver(lake, expected)
    check_late(lake, expected)
    check_gold(lake, rules.window_us, top_n, expected.final_lines)
    check_log(lake, ckpt)
    lake.check_readers_agree()
    return lake
