#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/parse_fuzz (fuzz/corpus/), one file per contract case: valid
version 1 and version 2 events, one record per quarantine reason, numbers at the boundaries, Unicode oddities,
and a few multi-record inputs (records separated by SEPARATOR, as parse_fuzz splits them).

Deterministic; run it again after changing the cases: python3 fuzz/make_corpus.py
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

SEPARATOR = b"\xff\xfe\xfd\xfc"
OUT = Path(__file__).resolve().parent / "corpus"

VALID = {
    "event_id": "e-1", "event_type": "order_status_changed",
    "event_time": "2026-11-30T23:58:30.123Z", "order_id": "ORD-1", "status": "PAID",
    "customer": {"customer_id": "C-1", "name": "Ann", "email": "a@x", "country": "DE",
                 "segment": "consumer"},
    "items": [{"product_id": "P-1", "product_name": "Pen", "category": "Office", "quantity": 2,
               "unit_price": 19.99},
              {"product_id": "P-2", "category": "Toys", "quantity": 1, "unit_price": 5}],
    "payment": {"method": "card", "currency": "USD", "amount": 44.98},
    "schema_version": 1,
}


# A version 2 event: channel, customer.loyalty_tier, items[].sku and items[].discount.
V2 = copy.deepcopy(VALID)
V2.update({"schema_version": 2, "channel": "web"})
V2["customer"]["loyalty_tier"] = "gold"
V2["items"][0].update({"sku": "SKU-P-1", "discount": 4.98})
V2["items"][1]["sku"] = "SKU-P-2"


def dump(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def with_(path: str, value, base=VALID) -> dict:
    """A copy of `base` with the dotted `path` ("items.0.quantity") set (value DELETE removes)."""
    obj = copy.deepcopy(base)
    *parents, last = path.split(".")
    cur = obj
    for p in parents:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    key = int(last) if isinstance(cur, list) else last
    if value is DELETE:
        del cur[key]
    else:
        cur[key] = value
    return obj


DELETE = object()


def raw_with(path_literal: str, literal: str, base=VALID) -> bytes:
    """`base` with the JSON text of one field replaced by `literal` (raw bytes)."""
    placeholder = "@@RAW@@"
    return dump(with_(path_literal, placeholder, base)).replace(f'"{placeholder}"'.encode(), literal.encode())


def cases() -> dict[str, bytes]:
    c: dict[str, bytes] = {}
    c["valid"] = dump(VALID)
    for status in ("CREATED", "SHIPPED", "CANCELLED", "REFUNDED"):
        c[f"valid_{status.lower()}"] = dump(with_("status", status))
    c["valid_epoch_millis"] = dump(with_("event_time", 1796083100000))
    c["valid_offset_zone"] = dump(with_("event_time", "2026-12-01T00:58:30.5+01:00"))
    c["valid_no_payment"] = dump(with_("payment", DELETE))
    c["valid_null_optional"] = dump(with_("customer.name", None))
    c["valid_unknown_fields"] = dump(with_("extra", {"deep": [1, 2, {"x": None}]}))
    c["valid_unicode"] = dump(with_("customer.name", "Zoë \u202eRTL\u202c \U0001F600 \u0000 \uFFFF"))
    c["valid_escapes"] = raw_with("customer.name", r'"\ud83d\ude00 \u00e9 \/ \b\f\n\r\t"')
    c["dup_keys"] = dump(VALID)[:-1] + b',"status":"BOGUS","event_id":""}'
    # not_json
    c["empty"] = b""
    c["truncated"] = dump(VALID)[:40]
    c["trailing_bytes"] = dump(VALID) + b"x"
    c["trailing_comma"] = dump(VALID)[:-1] + b",}"
    c["comment"] = b"/*c*/" + dump(VALID)
    c["single_quotes"] = b"{'event_id':'e'}"
    c["nan"] = raw_with("items.0.unit_price", "NaN")
    c["leading_zero"] = raw_with("items.0.quantity", "02")
    c["plus_sign"] = raw_with("items.0.quantity", "+1")
    c["bom"] = b"\xef\xbb\xbf" + dump(VALID)
    c["invalid_utf8"] = dump(with_("customer.name", "@@")).replace(b"@@", b"\xc3\x28")
    c["overlong_utf8"] = dump(with_("customer.name", "@@")).replace(b"@@", b"\xc0\xaf")
    c["lone_surrogate"] = raw_with("customer.name", r'"\ud800"')
    c["int_beyond_64"] = raw_with("items.0.quantity", "18446744073709551616")
    c["deep_nesting"] = b"[" * 2000 + b"]" * 2000
    # not_object
    c["top_array"] = b"[" + dump(VALID) + b"]"
    c["top_scalar"] = b"42"
    c["top_string"] = b'"x"'
    # missing_field / wrong_type
    for f in ("event_id", "event_time", "order_id", "status", "customer", "items",
              "customer.customer_id", "items.0.product_id", "items.0.category",
              "items.0.quantity", "items.0.unit_price"):
        c[f"missing_{f}"] = dump(with_(f, DELETE))
    c["empty_event_id"] = dump(with_("event_id", ""))
    c["null_event_id"] = dump(with_("event_id", None))
    c["wrong_event_id"] = dump(with_("event_id", 7))
    c["wrong_event_type"] = dump(with_("event_type", True))
    c["wrong_event_time"] = dump(with_("event_time", 1.5))
    c["wrong_customer"] = dump(with_("customer", "C-1"))
    c["wrong_items"] = dump(with_("items", {"0": 1}))
    c["wrong_item"] = dump(with_("items", [1]))
    c["wrong_quantity_fraction"] = raw_with("items.0.quantity", "2.0")
    c["wrong_quantity_exp"] = raw_with("items.0.quantity", "1e2")
    c["wrong_payment"] = dump(with_("payment", []))
    c["wrong_currency"] = dump(with_("payment.currency", 1))
    c["empty_items"] = dump(with_("items", []))
    # event time
    for name, t in {"bad_time_no_zone": "2026-11-30T23:58:30", "bad_time_feb30": "2026-02-30T00:00:00Z",
                    "bad_time_hour24": "2026-11-30T24:00:00Z", "bad_time_lower": "2026-11-30t23:58:30z",
                    "bad_time_space": "2026-11-30 23:58:30Z", "bad_time_10frac": "2026-11-30T23:58:30.1234567891Z",
                    "bad_time_leap_second": "2016-12-31T23:59:60Z", "bad_time_short_zone": "2026-11-30T23:58:30+01",
                    "time_before_epoch": "1969-12-31T23:59:59.999999Z", "time_year_9999": "9999-12-31T23:59:59.999999Z",
                    "time_year_0000": "0000-01-01T00:00:00Z", "time_future": "2026-12-01T00:10:00.000001Z",
                    "time_future_edge": "2026-12-01T00:10:00Z",
                    "time_utf8_long": "2026-11-30T23:58:30." + "1" * 60 + "\U0001F600Z"}.items():
        c[name] = dump(with_("event_time", t))
    for name, ms in {"millis_negative": -1, "millis_max": 253402300799999, "millis_beyond": 253402300800000,
                     "millis_int64_max": 2**63 - 1, "millis_uint64": 2**63, "millis_future": 1796083800001}.items():
        c[name] = dump(with_("event_time", ms))
    # status
    c["unknown_status"] = dump(with_("status", "paid"))
    c["unknown_status_utf8"] = dump(with_("status", "P" * 31 + "\u00e9\U0001F600"))
    # quantity
    for name, lit in {"qty_zero": "0", "qty_negative": "-1", "qty_max": "1000000000", "qty_beyond": "1000000001",
                      "qty_int64_max": "9223372036854775807", "qty_int64_min": "-9223372036854775808",
                      "qty_uint64": "9223372036854775808", "qty_uint64_max": "18446744073709551615",
                      "qty_neg_zero": "-0", "qty_string": '"2"'}.items():
        c[name] = raw_with("items.0.quantity", lit)
    # unit price
    for name, lit in {"price_zero": "0", "price_neg_zero": "-0.0", "price_negative": "-0.01",
                      "price_4dec": "0.0001", "price_5dec": "0.00015", "price_exp": "1.5e3", "price_exp_upper": "1E2",
                      "price_max_int": "99999999999999", "price_beyond_int": "100000000000000",
                      "price_1e308": "1e308", "price_1e-320": "1e-320", "price_2pow53": "900719925474.0992",
                      "price_tiny_fraction": "19.990000000000002", "price_int64_max": "9223372036854775807",
                      "price_uint64": "18446744073709551615", "price_string": '"19.99"', "price_bool": "true"}.items():
        c[name] = raw_with("items.0.unit_price", lit)
    # amounts
    big = with_("items.0.quantity", 1000000000)
    big = with_("items.0.unit_price", 99999999999999, big)
    c["amount_out_of_range"] = dump(big)
    c["amount_edge"] = dump(with_("items.0.unit_price", 999999999.9999, with_("items.0.quantity", 1000000000)))
    many = with_("items", [dict(VALID["items"][0], quantity=1000000000, unit_price=99999999.9999)] * 11)
    c["total_out_of_range"] = dump(many)
    c["payment_5dec"] = raw_with("payment.amount", "44.98001")
    c["payment_negative"] = raw_with("payment.amount", "-1")
    c["payment_string"] = raw_with("payment.amount", '"44.98"')
    c["payment_huge"] = raw_with("payment.amount", "1e300")
    # the records of the hostile-input issue (#9), each of which once stopped or bent a run
    c["issue9_status_utf8_cut"] = dump(with_("status", "A" + "\u00e9" * 16))
    c["issue9_line_overflow"] = dump(with_("items.0.unit_price", 10000000, with_("items.0.quantity", 1000000000)))
    c["issue9_price_wraps"] = raw_with("items.0.unit_price", "1844674407370956")
    c["issue9_price_beyond"] = raw_with("items.0.unit_price", "100000000000000")
    c["issue9_year_2099"] = dump(with_("event_time", "2099-01-01T00:00:00Z"))
    c["issue9_year_0"] = dump(with_("event_time", "0000-01-01T00:00:00+01:00"))
    # schema version 2 and unknown versions
    c["schema_v2"] = dump(with_("schema_version", 2))
    c["schema_v3"] = dump(with_("schema_version", 3))
    c["schema_v0"] = dump(with_("schema_version", 0))
    c["schema_missing"] = dump(with_("schema_version", DELETE))
    c["schema_null"] = dump(with_("schema_version", None))
    c["schema_string"] = dump(with_("schema_version", "2"))
    c["schema_fraction"] = raw_with("schema_version", "2.5")
    c["schema_uint64"] = raw_with("schema_version", "18446744073709551615")
    c["valid_v2"] = dump(V2)
    c["valid_v2_no_discount"] = dump(with_("items.0.discount", DELETE, V2))
    c["valid_v2_discount_whole_line"] = dump(with_("items.0.discount", 39.98, V2))
    c["valid_v1_with_v2_fields"] = dump(with_("schema_version", 1, with_("channel", "tv", V2)))
    for channel in ("app", "store"):
        c[f"valid_v2_channel_{channel}"] = dump(with_("channel", channel, V2))
    c["v2_bad_channel"] = dump(with_("channel", "WEB", V2))
    c["v2_wrong_channel"] = dump(with_("channel", 1, V2))
    c["v2_wrong_loyalty_tier"] = dump(with_("customer.loyalty_tier", ["gold"], V2))
    c["v2_wrong_sku"] = dump(with_("items.1.sku", 7, V2))
    for name, lit in {"negative": "-0.01", "5dec": "0.00001", "exceeds": "39.9801", "huge": "1e300",
                      "beyond_int": "100000000000000", "string": '"1"', "exp": "1e-4"}.items():
        c[f"v2_discount_{name}"] = raw_with("items.0.discount", lit, V2)
    # money violations on a later item: the detail names items[1], built only for a violation
    for name, lit in {"5dec": "0.00015", "negative": "-0.01", "string": '"5"', "beyond_int": "100000000000000"}.items():
        c[f"price2_{name}"] = raw_with("items.1.unit_price", lit)
        c[f"v2_discount2_{name}"] = raw_with("items.1.discount", lit, V2)
    # keys in reverse order at every level (the parser searches from the key after the last one
    # found), and a duplicate key met right after its first occurrence
    def reversed_keys(value):
        if isinstance(value, dict):
            return {k: reversed_keys(value[k]) for k in reversed(list(value))}
        return [reversed_keys(v) for v in value] if isinstance(value, list) else value

    c["key_order_reversed"] = dump(reversed_keys(VALID))
    c["key_order_reversed_v2"] = dump(reversed_keys(V2))
    c["key_order_reversed_dup"] = dump(reversed_keys(VALID)).replace(b'"status":"PAID"',
                                                                     b'"status":"PAID","status":"BOGUS"', 1)
    # Silver's string stats: a value whose 33rd character is U+10FFFF (the max's cut must move
    # past it), one with a first byte above 0x7f beside an ASCII one, and an empty one.
    stats = with_("items.0.product_id", "P" * 32 + "\U0010FFFFx")
    stats = with_("items.1.product_id", "\u00e9" + "Q" * 40, stats)
    c["stats_bounds_u10ffff"] = dump(with_("customer.customer_id", "C" * 32 + "\U0010FFFF\U0010FFFF", stats))
    c["stats_bounds_empty"] = dump(with_("items.1.category", "", with_("items.0.product_id", "")))
    # several records in one input
    c["multi"] = SEPARATOR.join([dump(VALID), b"{", dump(with_("status", "NOPE")), dump(with_("event_id", "e-2"))])
    return c


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    for name, data in cases().items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(list(OUT.iterdir()))} seeds to {OUT}")


if __name__ == "__main__":
    main()
