"""Version 1 and version 2 order events share a topic (EVENTS.md, issue 15): schema_version
selects the contract, an unknown version is quarantined, and a version 2 event's channel,
loyalty tier, SKUs and discounts reach Silver's appended columns, with line_amount net of the
discount in Silver and in Gold.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import events
import tables

UTC = dt.timezone.utc


def _recent() -> str:
    """An event time an hour before now, so the Kafka timestamp is well after it."""
    t = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _event(event_id: str, version, *, channel=None, tier=None, items=None) -> bytes:
    """A PAID event; `version` None leaves schema_version out, other None fields are left out."""
    ev = {"event_id": event_id, "event_time": _recent(), "order_id": "ORD-" + event_id, "status": "PAID",
          "customer": {"customer_id": "C-" + event_id}, "items": items or [
              {"product_id": "P-1", "category": "Office", "quantity": 2, "unit_price": 19.99}]}
    if version is not None:
        ev["schema_version"] = version
    if channel is not None:
        ev["channel"] = channel
    if tier is not None:
        ev["customer"]["loyalty_tier"] = tier
    return json.dumps(ev).encode()


V2_ITEMS = [{"product_id": "P-1", "category": "Office", "quantity": 2, "unit_price": 19.99, "sku": "S-1",
             "discount": 4.98},
            {"product_id": "P-2", "category": "Office", "quantity": 1, "unit_price": 5}]


def test_versions_share_a_topic(medallion, make_topic, tmp_path):
    records = [
        events.Record(_event("v1-none", None), None),
        events.Record(_event("v1", 1, channel="tv", tier=7, items=[dict(V2_ITEMS[0], discount=-1)]), None),
        events.Record(_event("v2", 2, channel="app", tier="gold", items=V2_ITEMS), None),
        events.Record(_event("v2-bare", 2), None),
        events.Record(_event("v3", 3), "unsupported_schema_version"),
        events.Record(_event("v-str", "2"), "wrong_type"),
        events.Record(_event("v2-tv", 2, channel="tv"), "bad_channel"),
        events.Record(_event("v2-neg", 2, items=[dict(V2_ITEMS[0], discount=-0.01)]), "negative_discount"),
        events.Record(_event("v2-over", 2, items=[dict(V2_ITEMS[0], discount=39.9801)]), "discount_exceeds_line"),
        events.Record(_event("v2-5dec", 2, items=[dict(V2_ITEMS[0], discount=0.00001)]), "bad_discount"),
    ]
    topic = make_topic(1)
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    medallion.produce(topic, records)
    medallion.run(topic, data, ckpt, "--until-caught-up")

    lake = tables.Lake(data)
    lake.check_readers_agree()
    quarantined = sorted(lake.rows('SELECT "offset", error FROM quarantine'))
    assert quarantined == [(i, r.error) for i, r in enumerate(records) if r.error], quarantined

    silver = lake.rows("SELECT event_id, line_no, line_amount, schema_version, channel, customer_loyalty_tier, "
                       "sku, discount FROM silver ORDER BY event_id, line_no")
    assert silver == [
        ("v1", 1, Decimal("39.9800"), 1, None, None, None, None),
        ("v1-none", 1, Decimal("39.9800"), 1, None, None, None, None),
        ("v2", 1, Decimal("35.0000"), 2, "app", "gold", "S-1", Decimal("4.9800")),
        ("v2", 2, Decimal("5.0000"), 2, "app", "gold", None, None),
        ("v2-bare", 1, Decimal("39.9800"), 2, None, None, None, None),
    ], silver
    names = [f.name for f in lake.arrow["silver"].schema if f.name != "event_date"]  # the partition column
    assert names[-5:] == ["schema_version", "channel", "customer_loyalty_tier", "sku", "discount"], names
    assert lake.rows("SELECT total_spend FROM gold_customers WHERE customer_id = 'C-v2'") == [(Decimal("40.0000"),)]
    assert lake.rows("SELECT sum(revenue) FROM gold_top") == [(Decimal("159.9400"),)]
