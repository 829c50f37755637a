"""Checks that medallion and the Spark reference job computed the same tables from the same topic.

    python agree.py --medallion DATA_DIR --spark DATA_DIR [--json OUT.json]

medallion's tables are Delta tables (read through their log with deltalake); Spark's are plain
Parquet directories written by bench/spark_job.py (Gold: the highest gold/<table>/v=<batch>).
Compared, exactly (money is decimal(18,4) in both):
  - Silver: row count and sum(line_amount) (net of discounts); per schema_version, the rows, the
    sum of discount and the non-null counts of channel, customer_loyalty_tier, sku and discount;
  - Gold revenue per (window_start, category): Spark aggregates every Silver line, medallion
    sets aside lines that arrive after their window was final (late/order_lines, reason
    window_final), so medallion's Gold plus those lines must equal Spark's Gold;
  - customer_spend: rows, sum(orders), sum(total_spend);
  - top_products: the top-N total quantities (ties may order differently);
  - Bronze row count; Quarantine row count (reported, not part of the verdict: the reason codes
    differ by design), except the version-2 codes, which the Spark job gives the same names
    (unsupported_schema_version, bad_channel, negative_discount, discount_exceeds_line): their
    counts are compared exactly.
  - the payment join, when both sides have silver/order_payments: the matches as sets of
    (order_id, event_id, payment_id, order_time, payment_time, order_total, payment_amount),
    after applying medallion's one-to-one rule to Spark's pairs (Spark's join emits every pair
    in the interval: each order keeps the pair with the smallest (payment_time, payment_id));
    and the reconciliation rows as sets of (reason, order_id, event_id, payment_id), per reason.
    What is left out, on both sides alike, and counted in the check's name:
      * late order_ids: every order_id with an input that either engine judged late. "Late"
        depends on each engine's own batch boundaries and watermark (medallion: min over
        partitions of max event time - 2 min, per batch; Spark: global max - delay, per
        micro-batch), so the two late sets differ, and a late input changes the fate of its
        counterpart too (a late order leaves its payment an orphan in one engine and matched
        in the other). medallion's late inputs are its late = true reconciliation rows;
        Spark's, which it drops without a trace, are reconstructed from its checkpoint
        (offsets/N of the payments query: each batch's offset ranges and batchWatermarkMs)
        and medallion's Bronze tables: a PAID order or CAPTURED payment with event time <=
        the watermark Spark 4 filters the batch that read it with, the previous batch's
        (batchWatermarkMs of offsets/N-1; offsets/N's own value only evicts state). Statuses
        are read without the rest of the contract, so invalid records can only add order_ids;
      * rows not finalized by both: a reconciliation row counts only when its interval end
        (order_time + 60 min for missing_payment, payment_time + 15 min for orphan_payment)
        is below both engines' final join watermarks (medallion: its greatest reconciliation
        watermark; Spark: the greatest batchWatermarkMs in its checkpoint, or without one the
        latest interval end among its null-extended rows). Rows near the end of the stream
        are skipped and counted.
Prints one line per check and AGREE or DISAGREE; exit code 0 on AGREE.
"""

import argparse
import glob
import json
import os
import sys

import duckdb
from deltalake import DeltaTable


def delta_files(path):
    """The Parquet files of the current version of a Delta table ([] if there is no table)."""
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        return []
    return DeltaTable(path).file_uris()


def latest_version(root):
    versions = sorted(glob.glob(os.path.join(root, "v=*")), key=lambda p: int(p.rsplit("=", 1)[1]))
    return versions[-1] if versions else None


def relation(con, name, files):
    """Registers `name` as a view over Parquet `files` (an empty table if there are none)."""
    if not files:
        return False
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({files!r}, union_by_name=true)")
    return True


def spark_join_batches(checkpoint):
    """[(batch, watermark_ms, {topic: {partition: end offset}})] of the Spark job's payment-join
    query, from its offset log (checkpoint/payments/offsets/N); [] if there is none."""
    out = []
    for path in glob.glob(os.path.join(checkpoint, "payments", "offsets", "[0-9]*")):
        lines = open(path).read().splitlines()
        ends = {}
        for line in lines[2:]:
            if line.strip().startswith("{"):
                for topic, parts in json.loads(line).items():
                    ends[topic] = {int(p): o for p, o in parts.items()}
        out.append((int(os.path.basename(path)), json.loads(lines[1]).get("batchWatermarkMs", 0), ends))
    return sorted(out, key=lambda b: b[0])


def spark_late_view(con, batches):
    """Creates s_late_oid(order_id): the order_ids of PAID orders (m_bronze) and CAPTURED
    payments (m_bronze_pay) that Spark dropped as late (see the module's docstring)."""
    rows = []  # (topic, partition, first offset, end offset, watermark ms) per batch
    prev = {}
    # Spark 4 filters a batch's late rows with the previous batch's watermark (the current one
    # evicts state); offsets/N holds batch N's.
    late_wms = [0] + [b[1] for b in batches[:-1]]
    for (batch, _, ends), wm in zip(batches, late_wms):
        for topic, parts in ends.items():
            for p, end in parts.items():
                start = prev.get((topic, p), 0)
                if end > start and wm > 0:
                    rows.append((topic, p, start, end, wm))
                prev[(topic, p)] = max(start, end)
    con.execute("CREATE OR REPLACE TABLE s_batches (topic VARCHAR, part INTEGER, lo BIGINT, hi BIGINT, wm BIGINT)")
    if rows:
        con.executemany("INSERT INTO s_batches VALUES (?, ?, ?, ?, ?)", rows)
    # Event time as both engines read it: ISO-8601 with a zone, or epoch millis.
    parsed = lambda view, status: f"""
        SELECT b.topic, b."partition" part, b."offset" rec_offset, j->>'order_id' order_id,
               coalesce(try_cast(j->>'event_time' AS TIMESTAMPTZ),
                        CASE WHEN json_type(j, '$.event_time') IN ('BIGINT', 'UBIGINT')
                             THEN make_timestamp(1000 * (j->>'event_time')::BIGINT) END) et
        FROM (SELECT *, CASE WHEN json_valid(try(decode(value))) THEN try(decode(value))::JSON END j FROM {view}) b
        WHERE j->>'status' = '{status}'"""
    con.execute(f"""CREATE OR REPLACE VIEW s_late_oid AS
        SELECT DISTINCT r.order_id FROM ({parsed('m_bronze', 'PAID')} UNION ALL {parsed('m_bronze_pay', 'CAPTURED')}) r
        JOIN s_batches s ON r.topic = s.topic AND r.part = s.part AND r.rec_offset >= s.lo AND r.rec_offset < s.hi
        WHERE r.order_id IS NOT NULL AND epoch_ms(r.et) <= s.wm""")


def compare_payment_join(con, q, check, has_m_rec, has_s_rec, spark_batches):
    """The payment join's checks (see the module's docstring)."""
    empty = ("SELECT NULL::VARCHAR reason, NULL::VARCHAR order_id, NULL::VARCHAR event_id, NULL::VARCHAR payment_id, "
             "NULL::TIMESTAMPTZ order_time, NULL::TIMESTAMPTZ payment_time, NULL::DECIMAL(18,4) order_total, "
             "NULL::DECIMAL(18,4) payment_amount, false late, NULL::TIMESTAMPTZ watermark WHERE false")
    for view, has in (("m_rec", has_m_rec), ("s_rec", has_s_rec)):
        if not has:
            con.execute(f"CREATE OR REPLACE VIEW {view} AS {empty}")
    # Spark's pairs under the one-to-one rule; the payments that lose become orphans.
    con.execute("""CREATE OR REPLACE VIEW s_pay AS SELECT * EXCLUDE (rn) FROM (
        SELECT *, row_number() OVER (PARTITION BY order_id, event_id ORDER BY payment_time, payment_id) rn
        FROM s_pay_all) WHERE rn = 1""")
    con.execute("""CREATE OR REPLACE VIEW s_rec_1to1 AS
        SELECT reason, order_id, event_id, payment_id, order_time, payment_time FROM s_rec
        WHERE reason <> 'amount_mismatch' OR (order_id, event_id, payment_id) IN (SELECT (order_id, event_id, payment_id) FROM s_pay)
        UNION ALL
        SELECT 'orphan_payment', order_id, NULL, payment_id, NULL, payment_time FROM s_pay_all
        WHERE payment_id NOT IN (SELECT payment_id FROM s_pay)""")
    # Inputs late in either engine, by order_id (a late input also decides its counterpart's fate).
    if spark_batches:
        spark_late_view(con, spark_batches)
    else:
        con.execute("CREATE OR REPLACE VIEW s_late_oid AS SELECT NULL::VARCHAR order_id WHERE false")
    con.execute("CREATE OR REPLACE VIEW m_late_oid AS SELECT DISTINCT order_id FROM m_rec WHERE late")
    con.execute("""CREATE OR REPLACE TABLE late_oid AS
        SELECT order_id FROM m_late_oid UNION SELECT order_id FROM s_late_oid""")
    n_late = q("SELECT (SELECT count(*) FROM m_late_oid), (SELECT count(*) FROM s_late_oid), (SELECT count(*) FROM late_oid)")[0]
    late_note = (f"order_ids late in either engine: {n_late[2]} (medallion {n_late[0]}, Spark "
                 + (f"{n_late[1]}" if spark_batches else "unknown: no checkpoint") + ")")
    key = "order_id, event_id, payment_id, order_time, payment_time, order_total, payment_amount"
    not_late = "order_id NOT IN (SELECT order_id FROM late_oid)"
    only = lambda a, b: q(f"SELECT count(*) FROM (SELECT {key} FROM {a} WHERE {not_late} EXCEPT SELECT {key} FROM {b} WHERE {not_late})")[0][0]
    m_only, s_only = only("m_pay", "s_pay"), only("s_pay", "m_pay")
    n_m = q(f"SELECT count(*) FROM m_pay WHERE {not_late}")[0][0]
    n_all = q("SELECT count(*) FROM m_pay")[0][0]
    check("payment join: matches only in one engine (medallion, spark) of the "
          f"{n_m} medallion matches compared ({n_all - n_m} of {n_all} left out; {late_note}; Spark pairs reduced one to one: "
          f"{q('SELECT count(*) FROM s_pay_all')[0][0] - q('SELECT count(*) FROM s_pay')[0][0]} dropped)",
          (m_only, s_only), (0, 0))
    # Finalized on both sides: interval end below both engines' final join watermark.
    end = ("CASE reason WHEN 'missing_payment' THEN order_time + INTERVAL 60 MINUTE "
           "WHEN 'orphan_payment' THEN payment_time + INTERVAL 15 MINUTE ELSE payment_time END")
    # Times leave DuckDB as epoch microseconds (its Python conversion of TIMESTAMPTZ needs pytz).
    m_done = q("SELECT epoch_us(max(watermark)) FROM m_rec")[0][0]
    s_wm = max((b[1] for b in spark_batches), default=0)
    s_done = s_wm * 1000 if s_wm > 0 else \
        q(f"SELECT epoch_us(max({end})) FROM s_rec_1to1 WHERE reason <> 'amount_mismatch'")[0][0]
    if m_done is None or s_done is None:
        check("payment join: reconciliation (no finalized rows on one side)", m_done is None, s_done is None, verdict=False)
        return
    horizon = min(m_done, s_done)
    shown = q("SELECT CAST(make_timestamp($h::BIGINT) AS VARCHAR)", {"h": horizon})[0][0]
    rec = lambda view, late: (f"SELECT reason, order_id, event_id, payment_id FROM {view} WHERE epoch_us({end}) < $h "
                              f"AND {not_late}" + late)
    per_reason = lambda sql: dict(q(f"SELECT reason, count(*) FROM ({sql}) GROUP BY 1 ORDER BY 1", {"h": horizon}))
    m_sql, s_sql = rec("m_rec", " AND NOT late"), rec("s_rec_1to1", "")
    diff = q(f"SELECT (SELECT count(*) FROM ({m_sql} EXCEPT {s_sql})), (SELECT count(*) FROM ({s_sql} EXCEPT {m_sql}))",
             {"h": horizon})[0]
    skipped = q(f"SELECT (SELECT count(*) FROM m_rec WHERE NOT late AND {not_late} AND epoch_us({end}) >= $h), "
                f"(SELECT count(*) FROM s_rec_1to1 WHERE {not_late} AND epoch_us({end}) >= $h)", {"h": horizon})[0]
    left_out = q(f"SELECT (SELECT count(*) FROM m_rec WHERE late OR NOT ({not_late})), "
                 f"(SELECT count(*) FROM s_rec_1to1 WHERE NOT ({not_late}))")[0]
    check(f"payment join: reconciliation rows per reason, finalized by both (interval end < {shown})",
          per_reason(m_sql), per_reason(s_sql))
    check(f"payment join: reconciliation rows only in one engine (medallion, spark); left out (medallion, spark): "
          f"not finalized by both {tuple(skipped)}, late order_ids {tuple(left_out)} (medallion's late rows "
          f"{q('SELECT count(*) FROM m_rec WHERE late')[0][0]})", tuple(diff), (0, 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medallion", required=True)
    ap.add_argument("--spark", required=True)
    ap.add_argument("--json", default="")
    ap.add_argument("--spark-checkpoint", default="",
                    help="the Spark job's checkpoint (default: checkpoint/ beside the --spark data dir)")
    a = ap.parse_args()
    m, s = a.medallion, a.spark
    con = duckdb.connect()

    relation(con, "m_silver", delta_files(f"{m}/silver/order_lines"))
    has_late = relation(con, "m_late", delta_files(f"{m}/late/order_lines"))
    if not has_late:
        con.execute("CREATE VIEW m_late AS SELECT NULL::TIMESTAMPTZ window_start, NULL::VARCHAR category, "
                    "NULL::DECIMAL(18,4) line_amount, NULL::BIGINT quantity, NULL::VARCHAR reason WHERE false")
    relation(con, "m_win", delta_files(f"{m}/gold/revenue_by_category_window"))
    relation(con, "m_cust", delta_files(f"{m}/gold/customer_spend"))
    relation(con, "m_top", delta_files(f"{m}/gold/top_products"))
    relation(con, "m_bronze", delta_files(f"{m}/bronze/orders_raw"))
    has_m_quar = relation(con, "m_quar", delta_files(f"{m}/quarantine/orders"))
    relation(con, "s_silver", glob.glob(f"{s}/silver/order_lines/**/*.parquet", recursive=True))
    relation(con, "s_bronze", glob.glob(f"{s}/bronze/orders_raw/**/*.parquet", recursive=True))
    has_s_quar = relation(con, "s_quar", glob.glob(f"{s}/quarantine/orders/*.parquet"))
    for table, view in [("revenue_by_category_window", "s_win"), ("customer_spend", "s_cust"), ("top_products", "s_top")]:
        relation(con, view, glob.glob(f"{latest_version(f'{s}/gold/{table}')}/*.parquet"))

    q = lambda sql, params=None: con.execute(sql, params).fetchall()
    checks = []

    def check(name, mv, sv, verdict=True):
        ok = mv == sv
        checks.append({"check": name, "medallion": str(mv), "spark": str(sv), "equal": ok, "in_verdict": verdict})
        print(f"  {'ok  ' if ok else ('DIFF' if verdict else 'info')} {name}: medallion={mv} spark={sv}")

    check("bronze rows", q("SELECT count(*) FROM m_bronze")[0][0], q("SELECT count(*) FROM s_bronze")[0][0])
    check("quarantine rows", q("SELECT count(*) FROM m_quar")[0][0], q("SELECT count(*) FROM s_quar")[0][0], verdict=False)
    horizon = q("SELECT count(*) FROM m_late WHERE reason = 'beyond_dedup_horizon'")[0][0]
    check("silver rows", q("SELECT count(*) FROM m_silver")[0][0], q("SELECT count(*) FROM s_silver")[0][0])
    check("silver sum(line_amount)", q("SELECT sum(line_amount) FROM m_silver")[0][0],
          q("SELECT sum(line_amount) FROM s_silver")[0][0])
    # Version 2: per version, the rows and what the new columns hold. Files written before the
    # columns existed read them as null (union_by_name), which a version-1 row also has.
    v2_cols = """coalesce(schema_version, 1) v, count(*), sum(discount), count(channel),
                 count(customer_loyalty_tier), count(sku), count(discount)"""
    for name, view in [("m", "m_silver"), ("s", "s_silver")]:
        cols = {r[0] for r in q(f"DESCRIBE {view}")}
        missing = [c for c in ["schema_version", "channel", "customer_loyalty_tier", "sku", "discount"] if c not in cols]
        if missing:  # a Silver without the version-2 columns (an engine that predates them)
            con.execute(f"CREATE OR REPLACE VIEW {view}_v AS SELECT *, "
                        + ", ".join(f"NULL::{'INTEGER' if c == 'schema_version' else 'DECIMAL(18,4)' if c == 'discount' else 'VARCHAR'} {c}"
                                    for c in missing) + f" FROM {view}")
        else:
            con.execute(f"CREATE OR REPLACE VIEW {view}_v AS SELECT * FROM {view}")
    per_version = lambda view: [tuple(str(x) for x in r) for r in q(f"SELECT {v2_cols} FROM {view}_v GROUP BY 1 ORDER BY 1")]
    check("silver per schema_version: (version, rows, sum(discount), non-null channel, loyalty tier, sku, discount)",
          per_version("m_silver"), per_version("s_silver"))
    v2_codes = ["unsupported_schema_version", "bad_channel", "negative_discount", "discount_exceeds_line"]
    quar_codes = lambda view, has: (dict(q(f"SELECT error, count(*) FROM {view} WHERE error IN {tuple(v2_codes)} "
                                          "GROUP BY 1 ORDER BY 1")) if has else {})
    check("quarantine rows per version-2 code", quar_codes("m_quar", has_m_quar), quar_codes("s_quar", has_s_quar))
    late_final = q("SELECT count(*), coalesce(sum(line_amount), 0) FROM m_late WHERE reason = 'window_final'")[0]
    # Medallion's windows plus its late-for-final-window lines, against Spark's windows.
    diff = q("""
        WITH m AS (
          SELECT window_start, category, sum(revenue) revenue, sum(quantity) quantity FROM (
            SELECT window_start, category, revenue, quantity FROM m_win
            UNION ALL
            SELECT window_start, category, line_amount, quantity FROM m_late WHERE reason = 'window_final')
          GROUP BY ALL),
        s AS (SELECT window_start, category, sum(revenue) revenue, sum(quantity) quantity FROM s_win GROUP BY ALL)
        SELECT count(*) FILTER (WHERE m.revenue IS DISTINCT FROM s.revenue OR m.quantity IS DISTINCT FROM s.quantity),
               count(*), (SELECT sum(revenue) FROM m), (SELECT sum(revenue) FROM s)
        FROM m FULL OUTER JOIN s ON m.window_start = s.window_start AND m.category = s.category""")[0]
    check("gold windows: (window, category) groups that differ", diff[0], 0)
    check("gold windows: total revenue (medallion incl. late lines)", diff[2], diff[3])
    check("customer_spend rows", q("SELECT count(*) FROM m_cust")[0][0], q("SELECT count(*) FROM s_cust")[0][0])
    check("customer_spend sum(orders)", q("SELECT sum(orders) FROM m_cust")[0][0], q("SELECT sum(orders) FROM s_cust")[0][0])
    check("customer_spend sum(total_spend)", q("SELECT sum(total_spend) FROM m_cust")[0][0],
          q("SELECT sum(total_spend) FROM s_cust")[0][0])
    top = lambda t: [r[0] for r in q(f"SELECT total_quantity FROM {t} ORDER BY 1 DESC")]
    mt, st = top("m_top"), top("s_top")
    check("top_products: total quantities of the top N", f"{len(mt)} rows, top {mt[:3]}" if mt != st else "same",
          f"{len(st)} rows, top {st[:3]}" if mt != st else "same")
    if relation(con, "m_pay", delta_files(f"{m}/silver/order_payments")) and \
            relation(con, "s_pay_all", glob.glob(f"{s}/silver/order_payments/**/*.parquet", recursive=True)):
        has_m_rec = relation(con, "m_rec", delta_files(f"{m}/gold/payment_reconciliation"))
        has_s_rec = relation(con, "s_rec", glob.glob(f"{s}/gold/payment_reconciliation/*.parquet"))
        spark_batches = []
        ckpt = a.spark_checkpoint or os.path.join(os.path.dirname(os.path.abspath(s)), "checkpoint")
        if relation(con, "m_bronze_pay", delta_files(f"{m}/bronze/payments_raw")):
            spark_batches = spark_join_batches(ckpt)
        compare_payment_join(con, q, check, has_m_rec, has_s_rec, spark_batches)
    verdict = all(c["equal"] for c in checks if c["in_verdict"])
    print(f"  (medallion late lines: {late_final[0]} after their window was final, {horizon} beyond the dedup horizon)")
    print("AGREE" if verdict else "DISAGREE")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"verdict": "AGREE" if verdict else "DISAGREE", "checks": checks,
                       "late_window_final_lines": late_final[0], "late_beyond_horizon_lines": horizon}, f, indent=1)
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
