"""The Spark Structured Streaming reference job: medallion's pipeline written the way a Spark
user would write it, for the benchmark (bench/run.sh) to run against the same topic.

Two streaming queries share one SparkSession (Spark cannot feed one Kafka read into both a
stateless sink and a deduplicated one):

  raw      Kafka -> foreachBatch: Bronze (every record, unchanged) + Quarantine (records that
           break the contract of EVENTS.md)
  curated  Kafka -> from_json -> valid and status == PAID -> dropDuplicates(event_id) (exact,
           no watermark, like medallion) -> one row per item -> foreachBatch: Silver (append)
           and Gold (running aggregates merged with the previous Gold version, rewritten
           whole each batch, as medallion does): revenue by category per 1-minute tumbling
           event-time window, product totals (top N), customer spend.

Version 2 of the order event (EVENTS.md) is followed: schema_version absent means 1, an integer
other than 1 and 2 is quarantined (unsupported_schema_version), and a version-2 event's channel
(bad_channel), discounts (negative_discount, discount_exceeds_line), loyalty tier and skus are
checked; a line's amount is quantity x unit_price - discount, and Silver carries the columns
schema_version, channel, customer_loyalty_tier, sku and discount (null for version 1).

With --payments-topic (off by default) the job also runs the payment join of EVENTS.md:

  payments-raw  payments topic -> foreachBatch: bronze/payments_raw + quarantine/payments
  payments      orders topic (valid PAID, the first of each order_id: dropDuplicates, exact, before
                the watermark) FULL OUTER JOIN payments topic (valid CAPTURED,
                dropDuplicatesWithinWatermark on payment_id), both sides
                withWatermark(--payments-watermark, default 2 minutes = medallion's allowed
                lateness), on order_id and
                order_time - 15 min <= payment_time <= order_time + 60 min -> foreachBatch:
                silver/order_payments (the matched pairs, partitioned by order_date) and
                gold/payment_reconciliation (null-extended rows: missing_payment / orphan_payment,
                emitted once the watermark passes the interval; amount_mismatch: a matched pair
                whose amounts, or non-null currencies, differ), both appended.
  Where Spark's join differs from medallion's rule, by construction (bench/agree.py compares
  what the two rules decide alike and counts what it leaves out):
    - one to one: Spark's join emits every pair in the interval, so an order with two captured
      payments gives two pairs (and neither payment is an orphan); bench/agree.py applies the
      rule (each order keeps its pair with the smallest (payment_time, payment_id), the other
      payments count as orphans) before it compares;
    - the order side is the first PAID event of each order_id (by arrival: the key is the
      order_id, so one Kafka partition, and offsets keep their order through the shuffle),
      kept forever (dropDuplicates without the event-time column, before withWatermark, so it
      drops nothing as late and its state is never evicted; medallion forgets an order_id one
      dedup horizon, 1 h, behind the orders watermark). The generator re-sends PAID for the
      same order_id under a new event_id, often seconds and sometimes minutes later; an
      earlier version deduplicated with dropDuplicatesWithinWatermark, which (a) forgets the
      order_id once the watermark passes first time + delay, so a later PAID joined as a
      second order, and (b) drops a late first PAID before it enters the dedup state, so the
      next PAID of that order_id took its place (medallion: the late one is reported and the
      order_id is taken). The payment side keeps dropDuplicatesWithinWatermark(payment_id):
      a retry is byte-identical (same event_time), so when its state is gone the retry is
      behind the watermark and dropped anyway;
    - the watermark: Spark's is per micro-batch, max event time over the rows of each side
      (valid PAID orders, valid CAPTURED payments) minus the delay, the min of the two sides
      (spark.sql.streaming.multipleWatermarkPolicy=min); medallion's is per batch, min over a
      topic's active partitions of their max event time (every valid event) minus 2 min, the
      min of the two topics. Batch boundaries differ too (maxOffsetsPerTrigger per source
      vs medallion's 200k records / 48 MiB over both topics), so the two engines judge
      different inputs late;
    - late inputs: Spark drops rows whose event time is at or behind the watermark (the
      previous batch's, in Spark 4) before they enter the join state, and reports nothing
      (numRowsDroppedByWatermark in the progress only); medallion reports each late input at
      once (missing_payment or orphan_payment with late = true). A late input also decides
      its counterpart's fate (a late order leaves its payment an orphan). Spark's
      reconciliation rows carry late = false and a null watermark; bench/agree.py leaves out,
      on both sides, every order_id with an input late in either engine (Spark's late inputs
      reconstructed from the offsets and batchWatermarkMs of the checkpoint). This is what
      a file-source test saw as "Spark misses matches the rule gives": on 200k events in 10
      micro-batches (maxOffsetsPerTrigger 25000) Spark left 422 of medallion's 97,903
      matches unmade, every one an input Spark dropped as behind its (higher: max over
      partitions) watermark; with those order_ids left out on both sides the matches and the
      finalized reconciliation rows are equal;
    - eviction is the same rule in both: an order is final (missing_payment) once the
      watermark passes order_time + 60 min, a payment (orphan_payment) once it passes
      payment_time + 15 min; Spark's last micro-batch may leave the final watermark unapplied.

Tables are Parquet (Spark's Delta writer would need more jars; the reading side of the bench
only needs Parquet). Gold versions live in gold/<table>/v=<batch>; the highest one is current.

Modes: --trigger available-now (drain the topic, then exit) or --trigger 100ms (processing
time; runs for --duration seconds, and appends one JSON line per Silver commit to
--commit-log: {"batch": id, "commit_ms": wall clock after the write, "files": [new files]}).
"""

import argparse
import json
import os
import shutil
import time

from pyspark.sql import SparkSession, Window, functions as F, types as T

STATUSES = ["CREATED", "PAID", "SHIPPED", "CANCELLED", "REFUNDED"]
MONEY = T.DecimalType(18, 4)

ITEM_SCHEMA = T.StructType([
    T.StructField("product_id", T.StringType()),
    T.StructField("product_name", T.StringType()),
    T.StructField("category", T.StringType()),
    T.StructField("quantity", T.LongType()),
    T.StructField("unit_price", MONEY),
    T.StructField("sku", T.StringType()),
    T.StructField("discount", MONEY),
])
CHANNELS = ["web", "app", "store"]

# Strings are read as strings; items are kept as raw JSON text first so that each line's field
# types can be checked (Spark's JSON reader turns a number into a string silently).
EVENT_SCHEMA = T.StructType([
    T.StructField("event_id", T.StringType()),
    T.StructField("event_type", T.StringType()),
    T.StructField("event_time", T.StringType()),
    T.StructField("order_id", T.StringType()),
    T.StructField("status", T.StringType()),
    T.StructField("customer", T.StructType([
        T.StructField("customer_id", T.StringType()),
        T.StructField("name", T.StringType()),
        T.StructField("email", T.StringType()),
        T.StructField("country", T.StringType()),
        T.StructField("segment", T.StringType()),
        T.StructField("loyalty_tier", T.StringType()),
    ])),
    T.StructField("items", T.ArrayType(T.StringType())),
    T.StructField("payment", T.StructType([
        T.StructField("method", T.StringType()),
        T.StructField("currency", T.StringType()),
        T.StructField("amount", MONEY),
    ])),
    # Read as text so that 2, "2" and 2.5 can be told apart (with is_json_string).
    T.StructField("schema_version", T.StringType()),
    T.StructField("channel", T.StringType()),
])

ISO_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"


def is_json_string(text_col, key):
    """True when `key` is present in the JSON text with a string value."""
    return text_col.rlike('"%s"\\s*:\\s*"' % key)


def event_time(struct):
    """The event time of the parsed struct `struct`: ISO-8601 with a zone, or epoch millis."""
    t = F.col(f"{struct}.event_time")
    return (F.when(is_json_string(F.col("text"), "event_time") & t.rlike(ISO_TIME),
                   F.expr(f"try_cast({struct}.event_time AS TIMESTAMP)"))
            .when(~is_json_string(F.col("text"), "event_time") & t.rlike("^-?[0-9]{1,15}$"),
                  F.timestamp_millis(t.cast("long"))))


def parse(raw):
    """Kafka rows -> rows with the parsed event `e`, event time `et`, typed `items` and `valid`."""
    text = F.col("value").cast("string")
    df = raw.select("topic", "partition", "offset", F.col("timestamp").alias("kafka_timestamp"),
                    "key", "value", text.alias("text"))
    df = df.withColumn("e", F.from_json("text", EVENT_SCHEMA))
    df = df.withColumn("et", event_time("e"))
    # The version: absent or null is 1; an integer literal is its value; anything else is null
    # (wrong type) and a version other than 1 and 2 is unsupported.
    sv = F.col("e.schema_version")
    version = (F.when(sv.isNull() & F.col("e").isNotNull(), F.lit(1))
               .when(~is_json_string(F.col("text"), "schema_version") & sv.rlike("^-?[0-9]{1,19}$"),
                     F.expr("try_cast(e.schema_version AS BIGINT)")))
    df = df.withColumn("version", version)
    df = df.withColumn("unsupported_version", F.coalesce(~F.col("version").isin(1, 2), F.lit(False)))
    v2 = F.col("version") == 2
    df = df.withColumn("items", F.transform("e.items", lambda x: F.from_json(x, ITEM_SCHEMA)))
    df = df.withColumn("bad_channel", F.coalesce(
        v2 & F.col("e.channel").isNotNull() & ~(F.col("e.channel").isin(CHANNELS) & is_json_string(F.col("text"), "channel")),
        F.lit(False)))
    df = df.withColumn("negative_discount", F.coalesce(
        v2 & F.exists("items", lambda i: i.discount < 0), F.lit(False)))
    df = df.withColumn("discount_exceeds_line", F.coalesce(
        v2 & F.exists("items", lambda i: i.discount > (i.quantity.cast(MONEY) * i.unit_price)), F.lit(False)))
    lines_typed = F.forall("e.items", lambda x: is_json_string(x, "product_id") & is_json_string(x, "category")
                           & x.rlike('"quantity"\\s*:\\s*-?[0-9]') & x.rlike('"unit_price"\\s*:\\s*-?[0-9]'))
    lines_ok = F.forall("items", lambda i: i.product_id.isNotNull() & i.category.isNotNull()
                        & (i.quantity > 0) & i.unit_price.isNotNull() & (i.unit_price >= 0))
    # from_json (PERMISSIVE) accepts a truncated object; try_parse_json does not.
    valid = (F.expr("is_valid_utf8(text)") & F.expr("try_parse_json(text) IS NOT NULL") & F.col("e").isNotNull()
             & F.col("e.event_id").isNotNull() & is_json_string(F.col("text"), "event_id")
             & F.col("e.order_id").isNotNull() & is_json_string(F.col("text"), "order_id")
             & F.col("e.status").isin(STATUSES) & is_json_string(F.col("text"), "status")
             & F.col("e.customer.customer_id").isNotNull() & F.col("et").isNotNull()
             & (F.size("e.items") > 0) & lines_typed & lines_ok
             & F.col("version").isin(1, 2) & ~F.col("bad_channel") & ~F.col("negative_discount")
             & ~F.col("discount_exceeds_line"))
    return df.withColumn("valid", F.coalesce(valid, F.lit(False)))


def write_raw(batch, batch_id, out):
    """Bronze (every record) and Quarantine (every invalid one) of one micro-batch."""
    batch.persist()
    now = F.current_timestamp()
    (batch.select("topic", "partition", "offset", "kafka_timestamp", "key", "value",
                  now.alias("ingest_time"), F.to_date(now).alias("ingest_date"), F.hour(now).alias("ingest_hour"))
     .write.mode("append").partitionBy("ingest_date", "ingest_hour").parquet(f"{out}/bronze/orders_raw"))
    (batch.filter(~F.col("valid"))
     .select("topic", "partition", "offset", "value",
             F.when(F.col("e").isNull(), "malformed_json")
             .when(F.col("unsupported_version"), "unsupported_schema_version")
             .when(F.col("bad_channel"), "bad_channel")
             .when(F.col("negative_discount"), "negative_discount")
             .when(F.col("discount_exceeds_line"), "discount_exceeds_line")
             .otherwise("invalid_event").alias("error"),
             F.lit("rejected by the Spark reference job").alias("detail"), now.alias("ingest_time"))
     .write.mode("append").parquet(f"{out}/quarantine/orders"))
    batch.unpersist()


def silver_lines(parsed):
    """Deduplicated PAID events -> one row per item (the Silver schema plus event_date)."""
    paid = (parsed.filter(F.col("valid") & (F.col("e.status") == "PAID"))
            .withColumn("event_id", F.col("e.event_id")).dropDuplicates(["event_id"]))
    lines = paid.select("*", F.posexplode("items").alias("pos", "item"))
    v2 = F.col("version") == 2
    discount = F.when(v2, F.col("item.discount"))
    amount = (F.col("item.quantity").cast(MONEY) * F.col("item.unit_price")
              - F.coalesce(discount, F.lit(0).cast(MONEY))).cast(MONEY)
    return lines.select(
        "event_id", F.col("e.order_id").alias("order_id"), F.col("et").alias("event_time"),
        F.col("e.status").alias("status"), F.col("e.customer.customer_id").alias("customer_id"),
        F.col("e.customer.name").alias("customer_name"), F.col("e.customer.email").alias("customer_email"),
        F.col("e.customer.country").alias("customer_country"), F.col("e.customer.segment").alias("customer_segment"),
        (F.col("pos") + 1).cast("int").alias("line_no"), F.col("item.product_id").alias("product_id"),
        F.col("item.product_name").alias("product_name"), F.col("item.category").alias("category"),
        F.col("item.quantity").alias("quantity"), F.col("item.unit_price").alias("unit_price"),
        amount.alias("line_amount"), F.col("e.payment.method").alias("payment_method"),
        F.col("e.payment.currency").alias("currency"), F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"), F.col("version").cast("int").alias("schema_version"),
        F.when(v2, F.col("e.channel")).alias("channel"),
        F.when(v2, F.col("e.customer.loyalty_tier")).alias("customer_loyalty_tier"),
        F.when(v2, F.col("item.sku")).alias("sku"), discount.cast(MONEY).alias("discount"),
        F.to_date("et").alias("event_date"))


class GoldWriter:
    """foreachBatch body of the curated query: Silver append, then Gold merged and rewritten."""

    def __init__(self, spark, out, top_n, commit_log):
        self.spark, self.out, self.top_n, self.commit_log = spark, out, top_n, commit_log
        self.silver = f"{out}/silver/order_lines"
        self.known_files = set()

    def previous(self, table, batch_id):
        """The latest committed version of a Gold table before `batch_id`, or None."""
        root = f"{self.out}/gold/{table}"
        if not os.path.isdir(root):
            return None
        versions = sorted(int(d[2:]) for d in os.listdir(root) if d.startswith("v=") and int(d[2:]) < batch_id
                          and os.path.exists(f"{root}/{d}/_SUCCESS"))
        return (f"{root}/v={versions[-1]}", versions[-1]) if versions else None

    def replace(self, table, batch_id, df, merge):
        """Merges the batch partial `df` with the previous version and writes version batch_id."""
        prev = self.previous(table, batch_id)
        merged = merge(df if prev is None else df.unionByName(self.spark.read.parquet(prev[0])))
        merged.coalesce(1).write.mode("overwrite").parquet(f"{self.out}/gold/{table}/v={batch_id}")
        if prev is not None:
            shutil.rmtree(prev[0], ignore_errors=True)

    def __call__(self, batch, batch_id):
        batch.persist()
        batch.write.mode("append").partitionBy("event_date").parquet(self.silver)
        if self.commit_log:
            self.log_commit(batch_id)
        s = lambda c: F.sum(c).cast(MONEY)
        win = F.window("event_time", "1 minute")
        self.replace("revenue_by_category_window", batch_id,
                     batch.groupBy(win.start.alias("window_start"), win.end.alias("window_end"), "category")
                     .agg(s("line_amount").alias("revenue"), F.sum("quantity").alias("quantity"),
                          F.countDistinct("event_id").alias("orders")),
                     lambda d: d.groupBy("window_start", "window_end", "category")
                     .agg(s("revenue").alias("revenue"), F.sum("quantity").alias("quantity"), F.sum("orders").alias("orders")))
        self.replace("product_totals", batch_id,
                     batch.groupBy("product_id").agg(F.first("product_name").alias("product_name"),
                                                     F.first("category").alias("category"),
                                                     F.sum("quantity").alias("total_quantity"), s("line_amount").alias("revenue")),
                     lambda d: d.groupBy("product_id").agg(F.first("product_name").alias("product_name"),
                                                           F.first("category").alias("category"),
                                                           F.sum("total_quantity").alias("total_quantity"),
                                                           s("revenue").alias("revenue")))
        totals = self.spark.read.parquet(f"{self.out}/gold/product_totals/v={batch_id}")
        top = totals.orderBy(F.desc("total_quantity"), F.asc("product_id")).limit(self.top_n)
        top = top.withColumn("rank", F.row_number().over(
            Window.orderBy(F.desc("total_quantity"), F.asc("product_id"))).cast("int"))
        top.coalesce(1).write.mode("overwrite").parquet(f"{self.out}/gold/top_products/v={batch_id}")
        self.replace("customer_spend", batch_id,
                     batch.groupBy("customer_id").agg(F.first("customer_name").alias("customer_name"),
                                                      F.first("customer_country").alias("country"),
                                                      F.countDistinct("event_id").alias("orders"),
                                                      s("line_amount").alias("total_spend"),
                                                      F.min("event_time").alias("first_order_time"),
                                                      F.max("event_time").alias("last_order_time")),
                     lambda d: d.groupBy("customer_id").agg(F.first("customer_name").alias("customer_name"),
                                                            F.first("country").alias("country"),
                                                            F.sum("orders").alias("orders"), s("total_spend").alias("total_spend"),
                                                            F.min("first_order_time").alias("first_order_time"),
                                                            F.max("last_order_time").alias("last_order_time")))
        batch.unpersist()

    def log_commit(self, batch_id):
        files = set()
        for root, _, names in os.walk(self.silver):
            files.update(os.path.join(root, n) for n in names if n.endswith(".parquet"))
        new = sorted(files - self.known_files)
        self.known_files = files
        with open(self.commit_log, "a") as f:
            f.write(json.dumps({"batch": batch_id, "commit_ms": int(time.time() * 1000), "files": new}) + "\n")


# ---------------------------------------------------------------------------------------------
# The payment join (--payments-topic)
# ---------------------------------------------------------------------------------------------

PAYMENT_STATUSES = ["AUTHORIZED", "CAPTURED", "FAILED", "REFUNDED"]
# Amount is read as text (a JSON number's literal) so that more than 4 decimals can be refused
# instead of rounded by the decimal reader.
PAYMENT_SCHEMA = T.StructType([
    T.StructField("payment_id", T.StringType()),
    T.StructField("order_id", T.StringType()),
    T.StructField("event_time", T.StringType()),
    T.StructField("status", T.StringType()),
    T.StructField("amount", T.StringType()),
    T.StructField("currency", T.StringType()),
    T.StructField("method", T.StringType()),
    T.StructField("provider", T.StringType()),
    T.StructField("schema_version", T.StringType()),
])
BEFORE = "INTERVAL 15 MINUTES"  # a payment may come up to 15 minutes before its order
AFTER = "INTERVAL 60 MINUTES"  # and up to 60 minutes after it


def parse_payments(raw):
    """Kafka rows of the payments topic -> rows with the parsed payment `p`, `et`, `amount`
    (decimal(18,4), exact) and `valid` (the contract of EVENTS.md for payments)."""
    text = F.col("value").cast("string")
    df = raw.select("topic", "partition", "offset", F.col("timestamp").alias("kafka_timestamp"),
                    "key", "value", text.alias("text"))
    df = df.withColumn("p", F.from_json("text", PAYMENT_SCHEMA))
    df = df.withColumn("et", event_time("p"))
    a = F.col("p.amount")
    exact = F.expr("try_cast(p.amount AS DECIMAL(38, 18))")
    amount_ok = (~is_json_string(F.col("text"), "amount") & a.rlike("^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$")
                 & exact.isNotNull() & (exact >= 0) & (exact == exact.cast(MONEY)))
    df = df.withColumn("amount", F.when(amount_ok, exact.cast(MONEY)))
    sv = F.col("p.schema_version")
    df = df.withColumn("unsupported_version", F.coalesce(
        sv.isNotNull() & ~(~is_json_string(F.col("text"), "schema_version") & (sv == "1")), F.lit(False)))
    required = [F.col(f"p.{k}").isNotNull() & (F.col(f"p.{k}") != "") & is_json_string(F.col("text"), k)
                for k in ("payment_id", "order_id", "currency")]
    optional = [F.col(f"p.{k}").isNull() | is_json_string(F.col("text"), k) for k in ("method", "provider")]
    valid = (F.expr("is_valid_utf8(text)") & F.expr("try_parse_json(text) IS NOT NULL") & F.col("p").isNotNull()
             & required[0] & required[1] & required[2] & optional[0] & optional[1]
             & F.col("p.status").isin(PAYMENT_STATUSES) & is_json_string(F.col("text"), "status")
             & F.col("et").isNotNull() & F.col("amount").isNotNull() & ~F.col("unsupported_version"))
    return df.withColumn("valid", F.coalesce(valid, F.lit(False)))


def write_payments_raw(batch, batch_id, out):
    """bronze/payments_raw (every record) and quarantine/payments (every invalid one)."""
    batch.persist()
    now = F.current_timestamp()
    (batch.select("topic", "partition", "offset", "kafka_timestamp", "key", "value",
                  now.alias("ingest_time"), F.to_date(now).alias("ingest_date"), F.hour(now).alias("ingest_hour"))
     .write.mode("append").partitionBy("ingest_date", "ingest_hour").parquet(f"{out}/bronze/payments_raw"))
    (batch.filter(~F.col("valid"))
     .select("topic", "partition", "offset", "value",
             F.when(F.col("p").isNull(), "malformed_json")
             .when(F.col("unsupported_version"), "unsupported_schema_version")
             .when(F.col("p.amount").isNotNull() & F.col("amount").isNull(), "bad_payment_amount")
             .otherwise("invalid_payment").alias("error"),
             F.lit("rejected by the Spark reference job").alias("detail"), now.alias("ingest_time"))
     .write.mode("append").parquet(f"{out}/quarantine/payments"))
    batch.unpersist()


def join_orders(parsed, delay):
    """The order side: valid PAID events, the first of each order_id (exact, kept forever),
    with the total of their lines (net of version 2 discounts)."""
    v2 = F.col("version") == 2
    line = lambda i: (i.quantity.cast(MONEY) * i.unit_price
                      - F.coalesce(F.when(v2, i.discount), F.lit(0).cast(MONEY))).cast(MONEY)
    total = F.aggregate("items", F.lit(0).cast("decimal(38,4)"), lambda acc, i: acc + line(i)).cast(MONEY)
    # Deduplicate before withWatermark: exact and forever, and nothing is dropped as late
    # before the first PAID of the order_id is taken (see the module's docstring).
    return (parsed.filter(F.col("valid") & (F.col("e.status") == "PAID"))
            .select(F.col("e.order_id").alias("o_order_id"), F.col("e.event_id").alias("event_id"),
                    F.col("et").alias("order_time"), total.alias("order_total"),
                    F.col("e.payment.currency").alias("order_currency"))
            .dropDuplicates(["o_order_id"])
            .withWatermark("order_time", delay))


def join_payments(parsed, delay):
    """The payment side: valid CAPTURED payments, the first of each payment_id (within the watermark)."""
    return (parsed.filter(F.col("valid") & (F.col("p.status") == "CAPTURED"))
            .select(F.col("p.payment_id").alias("payment_id"), F.col("p.order_id").alias("p_order_id"),
                    F.col("et").alias("payment_time"), F.col("amount").alias("payment_amount"),
                    F.col("p.currency").alias("currency"), F.col("p.method").alias("method"),
                    F.col("p.provider").alias("provider"))
            .withWatermark("payment_time", delay)
            .dropDuplicatesWithinWatermark(["payment_id"]))


def payment_join(orders, payments):
    """Full outer stream-stream join on order_id and the interval; unmatched rows come out
    null-extended once both watermarks have passed the interval."""
    cond = F.expr(f"""o_order_id = p_order_id AND payment_time >= order_time - {BEFORE}
                      AND payment_time <= order_time + {AFTER}""")
    return orders.join(payments, cond, "fullOuter")


def write_payment_join(batch, batch_id, out):
    """foreachBatch of the join: matched pairs to silver/order_payments, the rest (and the
    matches whose amounts or currencies differ) to gold/payment_reconciliation."""
    batch.persist()
    matched = batch.filter(F.col("event_id").isNotNull() & F.col("payment_id").isNotNull())
    (matched.select(F.col("o_order_id").alias("order_id"), "event_id", "payment_id", "order_time", "payment_time",
                    "order_total", "payment_amount", "currency", "method", "provider",
                    F.expr("(unix_micros(payment_time) - unix_micros(order_time)) div 1000").alias("delay_ms"),
                    F.to_date("order_time").alias("order_date"))
     .write.mode("append").partitionBy("order_date").parquet(f"{out}/silver/order_payments"))
    mismatch = ((F.col("order_total") != F.col("payment_amount"))
                | (F.col("order_currency").isNotNull() & (F.col("order_currency") != F.col("currency"))))
    reason = (F.when(F.col("payment_id").isNull(), "missing_payment")
              .when(F.col("event_id").isNull(), "orphan_payment")
              .when(mismatch, "amount_mismatch"))
    (batch.withColumn("reason", reason).filter(F.col("reason").isNotNull())
     .select("reason", F.coalesce("o_order_id", "p_order_id").alias("order_id"), "event_id", "payment_id",
             "order_time", "payment_time", "order_total", "payment_amount",
             F.when(F.col("payment_id").isNull(), F.col("order_currency")).otherwise(F.col("currency")).alias("currency"),
             F.lit(False).alias("late"), F.lit(None).cast("timestamp").alias("watermark"),
             F.lit(batch_id).cast("long").alias("batch_id"))
     .write.mode("append").parquet(f"{out}/gold/payment_reconciliation"))
    batch.unpersist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", default="127.0.0.1:19092")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--trigger", default="available-now")
    ap.add_argument("--max-offsets-per-trigger", type=int, default=200000)
    ap.add_argument("--duration", type=float, default=0, help="seconds to run with a processing-time trigger")
    ap.add_argument("--commit-log", default="")
    ap.add_argument("--stop-file", default="", help="with --duration: stop early once this file exists")
    ap.add_argument("--top-n", type=int, default=100)
    ap.add_argument("--skip-raw", action="store_true", help="only the curated query (Silver/Gold)")
    ap.add_argument("--payments-topic", default="", help="also run the payment join on this topic (off by default)")
    ap.add_argument("--payments-watermark", default="2 minutes",
                    help="the delay of withWatermark on both sides of the payment join "
                         "(default: medallion's allowed lateness)")
    a = ap.parse_args()

    spark = SparkSession.builder.appName("medallion-bench-reference").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")

    def source(topic=a.topic):
        return (spark.readStream.format("kafka").option("kafka.bootstrap.servers", a.brokers)
                .option("subscribe", topic).option("startingOffsets", "earliest")
                .option("maxOffsetsPerTrigger", a.max_offsets_per_trigger).option("failOnDataLoss", "false").load())

    def start(df, name, fn):
        w = df.writeStream.queryName(name).option("checkpointLocation", f"{a.checkpoint}/{name}").foreachBatch(fn)
        w = w.trigger(availableNow=True) if a.trigger == "available-now" else w.trigger(processingTime=a.trigger)
        return w.start()

    gold = GoldWriter(spark, a.out, a.top_n, a.commit_log)
    queries = [start(silver_lines(parse(source())), "curated", gold)]
    if not a.skip_raw:
        queries.append(start(parse(source()), "raw", lambda b, i: write_raw(b, i, a.out)))
    if a.payments_topic:
        if not a.skip_raw:
            queries.append(start(parse_payments(source(a.payments_topic)), "payments-raw",
                                 lambda b, i: write_payments_raw(b, i, a.out)))
        joined = payment_join(join_orders(parse(source()), a.payments_watermark),
                              join_payments(parse_payments(source(a.payments_topic)), a.payments_watermark))
        queries.append(start(joined, "payments", lambda b, i: write_payment_join(b, i, a.out)))
    if a.trigger == "available-now":
        for q in queries:
            q.awaitTermination()
    else:
        deadline = time.time() + a.duration
        while time.time() < deadline and not (a.stop_file and os.path.exists(a.stop_file)):
            time.sleep(0.2)
        for q in queries:
            q.stop()
    for q in queries:
        if q.exception():
            raise SystemExit(f"query {q.name} failed: {q.exception()}")
    spark.stop()


if __name__ == "__main__":
    main()
