"""The contract oracle of the differential test, checked on its own (no broker, no engine):
one case per rule, so a mistake in the oracle shows here and not as an engine disagreement."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

import contract_oracle as oracle

T0 = 1_796_083_200_000_000  # 2026-12-01T00:00:00Z, the reference instant
BASE = {"event_id": "e", "event_time": "2026-11-30T23:59:00Z", "order_id": "o", "status": "PAID",
        "customer": {"customer_id": "c"},
        "items": [{"product_id": "p", "category": "k", "quantity": 3, "unit_price": 19.99}],
        "payment": {"amount": 59.97}}


def raw(path: str, literal: str) -> bytes:
    ev = json.loads(json.dumps(BASE))
    cur = ev
    *parents, last = path.split(".")
    for p in parents:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    cur[last] = "@@"
    return json.dumps(ev).replace('"@@"', literal).encode()


def code(value: bytes | None) -> str:
    return oracle.judge(value, T0).code or "valid"


@pytest.mark.parametrize("value, want", [
    (None, "not_json"), (b"", "not_json"), (b" ", "not_json"), (b"[]", "not_object"), (b"1", "not_object"),
    (json.dumps(BASE).encode(), "valid"),
    (b"\xef\xbb\xbf" + json.dumps(BASE).encode(), "not_json"),
    (json.dumps(BASE).encode() + b" x", "not_json"),
    (json.dumps(BASE).encode()[:-1] + b",}", "not_json"),
    (raw("customer.name", r'"\ud800"'), "not_json"),
    (raw("customer.name", r'"\ud83d\ude00"'), "valid"),
    (raw("customer.name", '"a"').replace(b'"a"', b'"\xc3\x28"'), "not_json"),
    (raw("items.0.quantity", "18446744073709551616"), "not_json"),
    (raw("items.0.quantity", "18446744073709551615"), "bad_quantity"),
    (raw("items.0.quantity", "02"), "not_json"),
    (raw("items.0.quantity", "NaN"), "not_json"),
    (raw("items.0.unit_price", "1e309"), "not_json"),
    (raw("event_id", '""'), "missing_field"), (raw("event_id", "null"), "missing_field"),
    (raw("event_id", "1"), "wrong_type"), (raw("event_type", "1"), "wrong_type"),
    (raw("event_time", '"2026-11-30T23:59:00"'), "bad_event_time"),
    (raw("event_time", '"2026-11-30t23:59:00z"'), "valid"),
    (raw("event_time", '"2026-11-30 23:59:00+00:00"'), "valid"),
    (raw("event_time", '"2016-12-31T23:59:60Z"'), "bad_event_time"),
    (raw("event_time", "1.5"), "wrong_type"), (raw("event_time", "-1"), "event_time_out_of_range"),
    (raw("event_time", '"1970-01-01T00:00:00Z"'), "valid"),
    (raw("event_time", '"2026-12-01T00:10:00Z"'), "valid"),
    (raw("event_time", '"2026-12-01T00:10:00.000001Z"'), "event_time_in_future"),
    (raw("event_time", '"9999-12-31T23:59:59.999999Z"'), "event_time_in_future"),
    (raw("status", '"paid"'), "unknown_status"), (raw("customer", '"c"'), "wrong_type"),
    (raw("items", "{}"), "wrong_type"), (raw("items", "[]"), "empty_items"), (raw("items", "[1]"), "wrong_type"),
    (raw("items.0.quantity", "2.0"), "wrong_type"), (raw("items.0.quantity", "0"), "bad_quantity"),
    (raw("items.0.quantity", "1000000001"), "bad_quantity"),
    (raw("items.0.unit_price", "0.00015"), "bad_unit_price"), (raw("items.0.unit_price", "0.0001"), "valid"),
    (raw("items.0.unit_price", "-0.0"), "valid"), (raw("items.0.unit_price", "-0.01"), "bad_unit_price"),
    (raw("items.0.unit_price", "1e-320"), "bad_unit_price"), (raw("items.0.unit_price", "1.5e3"), "valid"),
    (raw("items.0.unit_price", "99999999999999"), "amount_out_of_range"),
    (raw("items.0.unit_price", "100000000000000"), "bad_unit_price"),
    (raw("payment", "[]"), "wrong_type"), (raw("payment.amount", "1.00001"), "bad_payment_amount"),
    (raw("payment.amount", '"1"'), "wrong_type"),
    (b'{"event_id":"a","event_id":"","status":"PAID"}', "missing_field"),  # first occurrence counts
    (raw("customer.name", "[" * 1022 + "]" * 1022), "wrong_type"),  # depth 1024 with the root
    (raw("customer.name", "[" * 1023 + "]" * 1023), "not_json"),  # depth 1025
    (raw("items", "[]").replace(b'"items": []', b'"items": [], "items": [1]'), "empty_items"),
])
def test_verdicts(value, want):
    assert code(value) == want


def test_valid_event_values():
    ev = oracle.judge(raw("items.0.unit_price", "0.1"), T0).event
    assert ev.event_time_us == T0 - 60_000_000
    assert [(ln.quantity, ln.unit_price, ln.line_amount) for ln in ev.lines] == [
        (3, Decimal("0.1000"), Decimal("0.3000"))]
    assert ev.payment_amount == Decimal("59.9700")


def test_iso_fraction_is_cut_to_microseconds():
    assert oracle.parse_iso8601_us("1970-01-01T00:00:00.123456999Z") == 123456
    assert oracle.parse_iso8601_us("1970-01-01T01:00:00+01:00") == 0
    assert oracle.parse_iso8601_us("1970-01-01T00:00:00.1234567891Z") is None


V2 = {**json.loads(json.dumps(BASE)), "schema_version": 2, "channel": "app",
      "customer": {"customer_id": "c", "loyalty_tier": "gold"},
      "items": [{"product_id": "p", "category": "k", "quantity": 3, "unit_price": 19.99,
                 "sku": "SKU-1", "discount": 5.5}]}


def raw2(path: str, literal: str, base: dict = V2) -> bytes:
    ev = json.loads(json.dumps(base))
    cur = ev
    *parents, last = path.split(".")
    for p in parents:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    cur[last] = "@@"
    return json.dumps(ev).replace('"@@"', literal).encode()


@pytest.mark.parametrize("value, want", [
    (json.dumps(V2).encode(), "valid"),
    (raw2("schema_version", "1"), "valid"), (raw2("schema_version", "null"), "valid"),
    (raw("schema_version", "1"), "valid"), (raw("schema_version", "2"), "valid"),
    (raw2("schema_version", "3"), "unsupported_schema_version"),
    (raw2("schema_version", "0"), "unsupported_schema_version"),
    (raw2("schema_version", "-1"), "unsupported_schema_version"),
    (raw2("schema_version", "18446744073709551615"), "unsupported_schema_version"),
    (raw2("schema_version", '"2"'), "wrong_type"), (raw2("schema_version", "2.5"), "wrong_type"),
    (raw2("schema_version", "2.0"), "wrong_type"), (raw2("schema_version", "true"), "wrong_type"),
    (raw2("schema_version", "{}"), "wrong_type"),
    # the version is judged first: an unknown version hides every other break
    (raw2("schema_version", "3").replace(b'"status": "PAID"', b'"status": "LOST"'), "unsupported_schema_version"),
    (raw2("channel", '"web"'), "valid"), (raw2("channel", '"store"'), "valid"), (raw2("channel", "null"), "valid"),
    (raw2("channel", '"WEB"'), "bad_channel"), (raw2("channel", '"phone"'), "bad_channel"),
    (raw2("channel", "1"), "wrong_type"), (raw2("channel", "[]"), "wrong_type"),
    (raw2("customer.loyalty_tier", "7"), "wrong_type"), (raw2("items.0.sku", "7"), "wrong_type"),
    (raw2("items.0.discount", "0"), "valid"), (raw2("items.0.discount", "-0.0"), "valid"),
    (raw2("items.0.discount", "59.97"), "valid"), (raw2("items.0.discount", "0.0001"), "valid"),
    (raw2("items.0.discount", "59.9701"), "discount_exceeds_line"),
    (raw2("items.0.discount", "-0.01"), "negative_discount"),
    (raw2("items.0.discount", "0.00001"), oracle.DISCOUNT_PRECISION_CODE),
    (raw2("items.0.discount", "1.23456"), oracle.DISCOUNT_PRECISION_CODE),
    (raw2("items.0.discount", '"1"'), "wrong_type"),
    # a version-1 event's v2 fields are not read
    (raw2("items.0.discount", "-1", base={**V2, "schema_version": 1}), "valid"),
    (raw2("channel", '"phone"', base={**V2, "schema_version": 1}), "valid"),
    (raw2("channel", "1", base={k: v for k, v in V2.items() if k != "schema_version"}), "valid"),
])
def test_v2_verdicts(value, want):
    assert code(value) == want


def test_v2_event_values():
    ev = oracle.judge(json.dumps(V2).encode(), T0).event
    assert (ev.schema_version, ev.channel, ev.customer_loyalty_tier) == (2, "app", "gold")
    assert [(ln.sku, ln.discount, ln.line_amount) for ln in ev.lines] == [
        ("SKU-1", Decimal("5.5000"), Decimal("54.4700"))]
    ev = oracle.judge(raw2("items.0.discount", "null"), T0).event
    assert (ev.lines[0].discount, ev.lines[0].line_amount) == (None, Decimal("59.9700"))
    ev = oracle.judge(raw2("schema_version", "1"), T0).event
    assert (ev.schema_version, ev.channel, ev.customer_loyalty_tier) == (1, None, None)
    assert [(ln.sku, ln.discount, ln.line_amount) for ln in ev.lines] == [(None, None, Decimal("59.9700"))]
    assert oracle.judge(json.dumps(BASE).encode(), T0).event.schema_version == 1
