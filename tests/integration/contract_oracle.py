"""An independent implementation of the order-event contract (EVENTS.md and the rules of the
issue "Nothing a producer sends can stop, stall or bend the stream"), written from the rules,
not from the engine's code: it judges one Kafka record value and says which quarantine code it
gets, or, for a valid event, its exact values and Silver lines.

The first violated rule, in the order of the contract, gives the code:
  not_json, not_object, schema_version (wrong_type / unsupported_schema_version), event_id, event_type, event_time (bad_event_time / wrong_type /
  event_time_out_of_range / event_time_in_future), order_id, status (unknown_status),
  channel (v2: wrong_type / bad_channel), customer (v2: loyalty_tier after segment),
  items (each item: product_id, product_name, category, quantity, unit_price, then in v2 sku and
  discount: wrong_type / DISCOUNT_PRECISION_CODE / negative_discount / discount_exceeds_line),
  empty_items, amount_out_of_range, payment (wrong_type / bad_payment_amount).

Version 2 (EVENTS.md): schema_version absent or null is 1; a value that is no integer literal is
wrong_type; an integer other than 1 and 2 is unsupported_schema_version, judged before any other
field (an event of a version nobody knows is never read as another one). A version-1 event's
v2 fields are ignored. In version 2, channel is web | app | store, customer.loyalty_tier and
items[].sku are strings, items[].discount is money >= 0 with at most 4 decimals and at most
quantity x unit_price, and the line amount is quantity x unit_price - discount. A null v2 field
counts as absent, as for every optional field. amount_out_of_range bounds each line's
quantity x unit_price and the sum of the (net) line amounts.

Switches (module constants) for the points the contract leaves to what the JSON parser does:
  BIGINT_IS_NOT_JSON   an integer literal outside [-2^63, 2^64-1] anywhere makes the record
                       not_json (True), or it is read as a double (False)
  MAX_DEPTH            nesting deeper than this is not_json (simdjson's default is 1024)
  HUGE_FLOAT_IS_NOT_JSON  a number literal beyond the double range (1e309) makes the record
                       not_json (True), or it is read as infinity (False: then it breaks the
                       money rule)
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal

BIGINT_IS_NOT_JSON = True
MAX_DEPTH = 1024
HUGE_FLOAT_IS_NOT_JSON = True
MAX_FUTURE_SKEW_US = 10 * 60 * 1_000_000
MIN_TIME_US = 0
MAX_TIME_US = 253402300799999999  # 9999-12-31T23:59:59.999999Z
MAX_QUANTITY = 1_000_000_000
MAX_PRICE_INT = 99_999_999_999_999
MAX_AMOUNT_UNITS = 999_999_999_999_999_999
STATUSES = {"CREATED", "PAID", "SHIPPED", "CANCELLED", "REFUNDED"}
SCALE = 10_000
SCHEMA_VERSIONS = {1, 2}
CHANNELS = {"web", "app", "store"}
# The code of a discount that breaks the money rule (more than 4 decimals, beyond the range):
# the contract names none, so it follows bad_unit_price and bad_payment_amount.
DISCOUNT_PRECISION_CODE = "bad_discount"


class IntLit(int):
    """A JSON integer literal (no fraction, no exponent)."""


class FloatLit(float):
    """A JSON number literal with a fraction or an exponent, read as an IEEE double."""


class _NotJson(Exception):
    pass


class Quarantined(Exception):
    def __init__(self, code: str, why: str = "", field: str = ""):
        super().__init__(code, why)
        self.code = code
        self.why = why
        self.field = field  # the path the engine's detail starts with, where the oracle knows it


@dataclass
class Line:
    line_no: int
    product_id: str
    product_name: str | None
    category: str
    quantity: int
    unit_price: Decimal
    line_amount: Decimal
    sku: str | None = None
    discount: Decimal | None = None  # None: absent, or a version-1 event


@dataclass
class Event:
    event_id: str
    event_type: str | None
    event_time_us: int
    order_id: str
    status: str
    customer_id: str
    customer_name: str | None
    customer_email: str | None
    customer_country: str | None
    customer_segment: str | None
    lines: list[Line] = field(default_factory=list)
    payment_method: str | None = None
    currency: str | None = None
    payment_amount: Decimal | None = None
    schema_version: int = 1
    channel: str | None = None
    customer_loyalty_tier: str | None = None


@dataclass
class Verdict:
    code: str | None  # None: a valid event
    event: Event | None = None
    why: str = ""
    field: str = ""  # Quarantined.field: the path the engine's detail starts with, or ""

    @property
    def valid(self) -> bool:
        return self.code is None


# ---------------------------------------------------------------------------------- JSON

def _max_depth(text: str) -> int:
    """Nesting depth of arrays and objects, outside strings."""
    depth = best = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


def _int(text: str):
    v = int(text)
    if not -(2**63) <= v <= 2**64 - 1:
        if BIGINT_IS_NOT_JSON:
            raise _NotJson(f"integer {text[:30]} does not fit 64 bits")
        return FloatLit(float(text))
    return IntLit(v)


def _float(text: str):
    d = float(text)
    if not math.isfinite(d) and HUGE_FLOAT_IS_NOT_JSON:
        raise _NotJson(f"number {text[:30]} beyond the double range")
    return FloatLit(d)


def _constant(name: str):
    raise _NotJson(f"{name} is not JSON")


def _first_wins(pairs):
    out: dict = {}
    for k, v in pairs:
        _check_str(k)
        if k not in out:
            out[k] = v
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_str(s: str) -> None:
    # Raw surrogates cannot come from strict UTF-8 decoding, so one here is an escape that
    # did not pair up.
    if _SURROGATE.search(s):
        raise _NotJson("unpaired surrogate escape")


def _walk_strings(v) -> None:
    if isinstance(v, str):
        _check_str(v)
    elif isinstance(v, list):
        for x in v:
            _walk_strings(x)
    elif isinstance(v, dict):
        for x in v.values():
            _walk_strings(x)


def parse_json(data: bytes):
    """The value of one RFC 8259 JSON text in UTF-8; raises _NotJson."""
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise _NotJson(f"not UTF-8: {e}") from None
    if _max_depth(text) > MAX_DEPTH:
        raise _NotJson("nested too deep")
    # json's scanner recurses once per level (plus the hooks): room for MAX_DEPTH levels.
    if sys.getrecursionlimit() < 4 * MAX_DEPTH + 1000:
        sys.setrecursionlimit(4 * MAX_DEPTH + 1000)
    try:
        value = json.loads(text, object_pairs_hook=_first_wins, parse_int=_int,
                           parse_float=_float, parse_constant=_constant,
                           strict=True)
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise _NotJson(str(e)[:80]) from None
    _walk_strings(value)
    return value


# ---------------------------------------------------------------------------------- values

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))")


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, including 0)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def parse_iso8601_us(s: str) -> int | None:
    """UTC microseconds of an ISO-8601 instant with a zone, or None. Accepted: YYYY-MM-DD,
    T/t/space, hh:mm:ss, an optional fraction of 1..9 digits (cut to microseconds), and Z/z or
    ±hh:mm (hh <= 23, mm <= 59). No leap second, no hour 24."""
    m = _ISO.fullmatch(s)
    if not m or not s.isascii():
        return None
    y, mo, d, hh, mi, ss = (int(m.group(i)) for i in range(1, 7))
    if not 1 <= mo <= 12 or hh > 23 or mi > 59 or ss > 59:
        return None
    mdays = [31, 29 if _leap(y) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]
    if not 1 <= d <= mdays:
        return None
    frac = (m.group(7) or "")[:6].ljust(6, "0")
    offset = 0
    if m.group(9):
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        offset = (1 if m.group(9) == "+" else -1) * (oh * 3600 + om * 60)
    secs = _days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - offset
    return secs * 1_000_000 + int(frac)


def money_units(v) -> int | None:
    """A JSON number as 1/10^4 units under the money rule, or None when it breaks it (the
    sign is checked by the caller)."""
    if isinstance(v, IntLit):
        return int(v) * SCALE if abs(int(v)) <= MAX_PRICE_INT else None
    d = float(v)
    if not math.isfinite(d):
        return None
    scaled = d * 10000.0
    if not math.isfinite(scaled):
        return None
    n = round(scaled)  # half to even
    if abs(n) > 2**53 or n / 10000.0 != d:
        return None
    return n



def _money(v, field: str, malformed: str, negative: str) -> int:
    """A present money field in 1/10000 units: a JSON number (else wrong_type) that
    money_units accepts (else `malformed`) and that is >= 0 (else `negative`)."""
    if not _is_number(v):
        raise Quarantined("wrong_type", field, field)
    units = money_units(v)
    if units is None:
        raise Quarantined(malformed, repr(v), field)
    if units < 0:
        raise Quarantined(negative, repr(v), field)
    return units

def _is_number(v) -> bool:
    return isinstance(v, (IntLit, FloatLit))


def _is_str(v) -> bool:
    return isinstance(v, str)


def _get(obj: dict, key: str):
    return obj.get(key)  # a null value counts as absent


def _required_str(obj: dict, key: str) -> str:
    v = _get(obj, key)
    if v is None or v == "":
        raise Quarantined("missing_field", key)
    if not _is_str(v):
        raise Quarantined("wrong_type", key)
    return v


def _optional_str(obj: dict, key: str) -> str | None:
    v = _get(obj, key)
    if v is not None and not _is_str(v):
        raise Quarantined("wrong_type", key)
    return v


def _event_time(obj: dict, reference_us: int) -> int:
    v = _get(obj, "event_time")
    if v is None:
        raise Quarantined("missing_field", "event_time")
    if _is_str(v):
        t = parse_iso8601_us(v)
        if t is None:
            raise Quarantined("bad_event_time", v[:40])
    elif isinstance(v, IntLit):
        t = int(v) * 1000
    else:
        raise Quarantined("wrong_type", "event_time")
    if not MIN_TIME_US <= t <= MAX_TIME_US:
        raise Quarantined("event_time_out_of_range", str(t))
    if t > reference_us + MAX_FUTURE_SKEW_US:
        raise Quarantined("event_time_in_future", str(t))
    return t


def _schema_version(obj: dict) -> int:
    v = _get(obj, "schema_version")
    if v is None:
        return 1
    if not isinstance(v, IntLit):
        raise Quarantined("wrong_type", "schema_version")
    if int(v) not in SCHEMA_VERSIONS:
        raise Quarantined("unsupported_schema_version", str(int(v))[:40])
    return int(v)


def _item(it, index: int, version: int = 1) -> Line:
    if not isinstance(it, dict):
        raise Quarantined("wrong_type", f"items[{index}]")
    product_id = _required_str(it, "product_id")
    product_name = _optional_str(it, "product_name")
    category = _required_str(it, "category")
    q = _get(it, "quantity")
    if q is None:
        raise Quarantined("missing_field", "quantity")
    if not isinstance(q, IntLit):
        raise Quarantined("wrong_type", "quantity")
    if not 1 <= int(q) <= MAX_QUANTITY:
        raise Quarantined("bad_quantity", str(int(q)))
    p = _get(it, "unit_price")
    if p is None:
        raise Quarantined("missing_field", "unit_price")
    units = _money(p, f"items[{index}].unit_price", "bad_unit_price", "bad_unit_price")
    gross = int(q) * units
    line = Line(index + 1, product_id, product_name, category, int(q),
                Decimal(units).scaleb(-4), Decimal(gross).scaleb(-4))
    if version < 2:
        return line
    line.sku = _optional_str(it, "sku")
    d = _get(it, "discount")
    if d is not None:
        d_units = _money(d, f"items[{index}].discount", DISCOUNT_PRECISION_CODE, "negative_discount")
        if d_units > gross:
            raise Quarantined("discount_exceeds_line", repr(d))
        line.discount = Decimal(d_units).scaleb(-4)
        line.line_amount = Decimal(gross - d_units).scaleb(-4)
    return line


def judge(value: bytes | None, reference_us: int) -> Verdict:
    """The contract's verdict on one record value; `reference_us` is min(Kafka timestamp,
    ingest time), or the ingest time for a record without a timestamp."""
    if not value:
        return Verdict("not_json", why="empty or null")
    try:
        root = parse_json(value)
    except _NotJson as e:
        return Verdict("not_json", why=str(e))
    if not isinstance(root, dict):
        return Verdict("not_object")
    try:
        return Verdict(None, _event(root, reference_us))
    except Quarantined as q:
        return Verdict(q.code, why=q.why, field=q.field)


def _event(root: dict, reference_us: int) -> Event:
    version = _schema_version(root)
    event_id = _required_str(root, "event_id")
    event_type = _optional_str(root, "event_type")
    t = _event_time(root, reference_us)
    order_id = _required_str(root, "order_id")
    status = _required_str(root, "status")
    if status not in STATUSES:
        raise Quarantined("unknown_status", status[:40])
    channel = None
    if version >= 2:
        channel = _optional_str(root, "channel")
        if channel is not None and channel not in CHANNELS:
            raise Quarantined("bad_channel", channel[:40])
    c = _get(root, "customer")
    if c is None:
        raise Quarantined("missing_field", "customer")
    if not isinstance(c, dict):
        raise Quarantined("wrong_type", "customer")
    ev = Event(event_id, event_type, t, order_id, status, _required_str(c, "customer_id"),
               _optional_str(c, "name"), _optional_str(c, "email"), _optional_str(c, "country"),
               _optional_str(c, "segment"))
    ev.schema_version, ev.channel = version, channel
    if version >= 2:
        ev.customer_loyalty_tier = _optional_str(c, "loyalty_tier")
    items = _get(root, "items")
    if items is None:
        raise Quarantined("missing_field", "items")
    if not isinstance(items, list):
        raise Quarantined("wrong_type", "items")
    ev.lines = [_item(it, i, version) for i, it in enumerate(items)]
    if not ev.lines:
        raise Quarantined("empty_items")
    limit = Decimal(MAX_AMOUNT_UNITS).scaleb(-4)
    if any(line.quantity * line.unit_price > limit for line in ev.lines) or sum(
            line.line_amount for line in ev.lines) > limit:
        raise Quarantined("amount_out_of_range")
    pay = _get(root, "payment")
    if pay is not None:
        if not isinstance(pay, dict):
            raise Quarantined("wrong_type", "payment")
        ev.payment_method = _optional_str(pay, "method")
        ev.currency = _optional_str(pay, "currency")
        amount = _get(pay, "amount")
        if amount is not None:
            units = _money(amount, "payment.amount", "bad_payment_amount", "bad_payment_amount")
            ev.payment_amount = Decimal(units).scaleb(-4)
    return ev
