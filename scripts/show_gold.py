#!/usr/bin/env python3
"""Prints the Gold tables of a medallion data directory and the row counts of the others.

    .venv/bin/python scripts/show_gold.py [DATA_DIR] [--rows N]

A table's current files are found by replaying its Delta log (_delta_log/*.json add and remove
actions in version order, starting from the last Parquet checkpoint when the JSON before it is
gone), then read with pyarrow.dataset using the Hive-style partition directories. This reader
shares no code with the engine or with delta-rs, so it is also a cheap cross-check.
"""

import argparse
import json
import sys
import urllib.parse
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

TABLES = {
    "bronze": "bronze/orders_raw",
    "silver": "silver/order_lines",
    "quarantine": "quarantine/orders",
    "late": "late/order_lines",
    # The payments side (present when the run joined a payments topic).
    "bronze_pay": "bronze/payments_raw",
    "quarantine_pay": "quarantine/payments",
    "order_payments": "silver/order_payments",
    "reconcile": "gold/payment_reconciliation",
}
# Gold table, sort keys, and a caption.
GOLD = [
    ("gold/revenue_by_category_window",
     [("window_start", "descending"), ("revenue", "descending")],
     "revenue per category and event-time window, latest windows first"),
    ("gold/top_products", [("rank", "ascending")], "top products by quantity"),
    ("gold/customer_spend",
     [("total_spend", "descending"), ("customer_id", "ascending")],
     "customers by total spend"),
    ("gold/payment_reconciliation",
     [("reason", "ascending"), ("order_time", "ascending"), ("payment_time", "ascending")],
     "orders and payments the join could not reconcile (missing, orphan, amount mismatch)"),
]
# Gold tables shown only when they exist (the payments side is optional).
OPTIONAL_GOLD = {"gold/payment_reconciliation"}


def _checkpoint_files(log_dir: Path) -> tuple[int, set[str]]:
    """Returns the version of the last checkpoint and the files live at it (-1, {} if none)."""
    last = log_dir / "_last_checkpoint"
    if not last.exists():
        return -1, set()
    version = json.loads(last.read_text())["version"]
    parts = sorted(log_dir.glob(f"{version:020d}.checkpoint*.parquet"))
    live = set()
    for part in parts:
        table = pq.read_table(part, columns=["add"])
        for add in table.column("add").to_pylist():
            if add is not None:
                live.add(add["path"])
    return version, live


def live_files(table_dir: Path) -> list[Path] | None:
    """Replays the Delta log of `table_dir`; None if the directory holds no table."""
    log_dir = table_dir / "_delta_log"
    if not log_dir.is_dir():
        return None
    commits = sorted((int(p.stem), p) for p in log_dir.glob("[0-9]" * 20 + ".json"))
    live: set[str] = set()
    start = 0
    if not commits or commits[0][0] != 0:
        start, live = _checkpoint_files(log_dir)
        start += 1
    for version, path in commits:
        if version < start:
            continue
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "add" in action:
                live.add(action["add"]["path"])
            elif "remove" in action:
                live.discard(action["remove"]["path"])
    return sorted(table_dir / urllib.parse.unquote(p) for p in live)


def read_table(table_dir: Path) -> pa.Table | None:
    files = live_files(table_dir)
    if files is None:
        return None
    if not files:
        return pa.table({})
    dataset = ds.dataset([str(f) for f in files], format="parquet",
                         partitioning="hive", partition_base_dir=str(table_dir))
    return dataset.to_table()


def count_rows(table_dir: Path) -> int | None:
    files = live_files(table_dir)
    if files is None:
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def format_value(value) -> str:
    if value is None:
        return "null"
    if hasattr(value, "isoformat"):
        return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "hour") else str(value)
    return str(value)


def print_table(table: pa.Table, rows: int) -> None:
    names = table.column_names
    data = [[format_value(v) for v in row.values()] for row in table.slice(0, rows).to_pylist()]
    widths = [max([len(n)] + [len(r[i]) for r in data]) for i, n in enumerate(names)]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
               for t in table.schema.types]

    def line(cells):
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric)).rstrip()

    print(line(names))
    print(line(["-" * w for w in widths]))
    for r in data:
        print(line(r))
    if table.num_rows > rows:
        print(f"... {table.num_rows - rows} more rows")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default="data")
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args()
    data = Path(args.data_dir)
    if not data.is_dir():
        print(f"show_gold: no data directory {data}", file=sys.stderr)
        return 1

    for rel, sort_keys, caption in GOLD:
        table = read_table(data / rel)
        if table is None and rel in OPTIONAL_GOLD:
            continue
        print(f"\n== {rel}: {caption}")
        if table is None:
            print("(no table)")
            continue
        present = [(k, o) for k, o in sort_keys if k in table.column_names]
        if present:
            table = table.sort_by(present)
        print(f"{table.num_rows} rows")
        if table.num_rows:
            print_table(table, args.rows)

    print("\n== row counts")
    for name, rel in TABLES.items():
        n = count_rows(data / rel)
        if n is None and rel.startswith(("bronze/payments", "quarantine/payments", "silver/order_payments",
                                         "gold/payment")):
            continue
        print(f"{name:<16}{rel:<30}{'(no table)' if n is None else n:>10}")
    reconcile = read_table(data / TABLES["reconcile"])
    if reconcile is not None and "reason" in reconcile.column_names and reconcile.num_rows:
        counts = pc.value_counts(reconcile.column("reason")).to_pylist()
        print("reconciliation by reason: " + ", ".join(
            f"{c['values']}={c['counts']}" for c in sorted(counts, key=lambda c: -c["counts"])))
    quarantine = read_table(data / TABLES["quarantine"])
    if quarantine is not None and "error" in quarantine.column_names and quarantine.num_rows:
        counts = pc.value_counts(quarantine.column("error")).to_pylist()
        reasons = ", ".join(f"{c['values']}={c['counts']}"
                            for c in sorted(counts, key=lambda c: -c["counts"]))
        print(f"quarantine by error: {reasons}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
