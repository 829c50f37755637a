"""A deterministic generator of hostile order-event messages for the differential test: numbers
at every boundary, every JSON oddity, every Unicode oddity, and sizes up to the broker's limit.

`messages(t0_us, seed)` returns (name, value) pairs. Every event that can be valid has its own
event_id; event times of the events that can reach Silver lie in [t0 - 5 min, t0 - 1 min], so
with Kafka timestamps of t0 none of them is late, beyond the dedup horizon or in the future.
Events whose event_time is itself the subject (epoch, far past, the future edge) are not PAID,
so the watermark cannot move their lines out of Silver. `send` writes them to a topic with
confluent_kafka (the differential test and the Spark tier both use it).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random

MIN = 60 * 1_000_000


def iso(us: int) -> str:
    t = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reorder(value, order):
    """`value` with every object's keys in `order(keys)`, at every depth."""
    if isinstance(value, dict):
        return {k: reorder(value[k], order) for k in order(list(value))}
    if isinstance(value, list):
        return [reorder(v, order) for v in value]
    return value


class Gen:
    def __init__(self, t0_us: int, seed: int, id_prefix: str = "h"):
        self.t0 = t0_us
        self.id_prefix = id_prefix
        self.rng = random.Random(seed)
        self.n = 0
        self.out: list[tuple[str, bytes | None]] = []

    # ------------------------------------------------------------------ building blocks
    def event(self, status: str | None = None, items: int | None = None) -> dict:
        """A fresh valid event (its own event_id), event time within [t0-5min, t0-1min]."""
        self.n += 1
        r = self.rng
        t = self.t0 - MIN - r.randrange(4 * MIN)
        ev = {
            "event_id": f"{self.id_prefix}-{self.n:06d}",
            "event_type": "order_status_changed",
            "event_time": iso(t) if r.random() < 0.8 else t // 1000,
            "order_id": f"ORD-{r.randrange(100000):06d}",
            "status": status or r.choice(["PAID", "PAID", "PAID", "CREATED", "SHIPPED", "CANCELLED", "REFUNDED"]),
            "customer": {"customer_id": f"C-{r.randrange(1000):04d}", "name": r.choice(["Ann", "Bo", "Zoë"]),
                         "email": "a@example.com", "country": r.choice(["DE", "US", "JP"]), "segment": "consumer"},
            "items": [self.item() for _ in range(items if items is not None else r.randint(1, 4))],
            "payment": {"method": "card", "currency": "USD", "amount": round(r.random() * 100, 2)},
            "schema_version": 1,
        }
        if r.random() < 0.2:
            del ev["payment"]
        if r.random() < 0.2:
            ev["customer"]["name"] = None
        return ev

    def item(self) -> dict:
        r = self.rng
        it = {"product_id": f"P-{r.randrange(500):04d}", "product_name": "Thing", "category": r.choice(["A", "B", "C"]),
              "quantity": r.randint(1, 5), "unit_price": r.choice([19.99, 5, 0.01, 1234.5678, 0, 7.5])}
        if r.random() < 0.2:
            del it["product_name"]
        return it

    @staticmethod
    def dump(obj, ascii_: bool = False) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=ascii_).encode()

    def raw(self, path: str, literal: bytes, ev: dict | None = None) -> bytes:
        """An event with the JSON text at dotted `path` replaced by `literal` (bytes)."""
        ev = ev or self.event()
        mark = "@@R%06d@@" % self.n
        self.set(ev, path, mark)
        return self.dump(ev).replace(f'"{mark}"'.encode(), literal)

    @staticmethod
    def set(ev: dict, path: str, value, delete: bool = False) -> dict:
        *parents, last = path.split(".")
        cur = ev
        for p in parents:
            cur = cur[int(p)] if isinstance(cur, list) else cur.setdefault(p, {})
        key = int(last) if isinstance(cur, list) else last
        if delete:
            cur.pop(key, None) if isinstance(cur, dict) else cur.pop(key)
        else:
            cur[key] = value
        return ev

    def add(self, name: str, value: bytes | None) -> None:
        self.out.append((name, value))

    # ------------------------------------------------------------------ the families
    def valid(self, count: int) -> None:
        for _ in range(count):
            self.add("valid", self.dump(self.event(), ascii_=self.rng.random() < 0.3))

    def issue_cases(self) -> None:
        """The records of the hostile-input issue (#9) that each stopped or bent a run once."""
        utf8_status = self.set(self.event(status="PAID"), "status", "A" + "\u00e9" * 16)
        self.add("issue9:status_utf8_cut", self.dump(utf8_status))
        overflow = self.set(self.event(items=1), "items.0.quantity", 1000000000)
        self.add("issue9:line_overflow", self.raw("items.0.unit_price", b"10000000", overflow))
        for lit in ("1844674407370956", "100000000000000"):
            self.add(f"issue9:price:{lit}", self.raw("items.0.unit_price", lit.encode()))
        for status in ("PAID", "CREATED"):
            self.add(f"issue9:year_2099:{status}",
                     self.dump(self.set(self.event(status=status), "event_time", "2099-01-01T00:00:00Z")))
        self.add("issue9:year_0", self.dump(self.set(self.event(), "event_time", "0000-01-01T00:00:00+01:00")))

    def numbers(self) -> None:
        ints = ["0", "-0", "1", "-1", "2", "999999999", "1000000000", "1000000001", "2147483647", "2147483648",
                "4294967296", "9007199254740992", "9007199254740993", "99999999999999", "100000000000000",
                "-99999999999999", "999999999999999999", "1000000000000000000", "9223372036854775807",
                "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551615",
                "18446744073709551616", "-18446744073709551616", "100000000000000000000",
                "1" + "0" * 400, "253402300799999", "253402300800000", "1796083200000"]
        floats = ["0.0", "-0.0", "1.0", "2.0", "1e2", "1E2", "1e+2", "1e-2", "1.5e3", "0.0001", "0.00015", "0.00005",
                  "0.00004999", "0.1", "0.3", "0.7", "19.99", "19.990000000000002", "19.9900000000000001",
                  "1e308", "-1e308", "1.7976931348623157e308", "1e309", "-1e309", "1e-320", "4.9e-324",
                  "1e-400", "99999999999999.99", "99999999999999.9999", "999999999999.9999", "900719925474.0992",
                  "900719925474.0993", "1125899906842.6245", "0.12345", "123456789.1234", "1e15", "1e14",
                  "9.999999999999999e13", "5e-5", "2.5e-4", "-0.0001", "1." + "0" * 300, "0." + "0" * 300 + "1"]
        bad = ["01", "-01", "00", "+1", ".5", "5.", "-", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity",
               "1_000", "1,5", "--1", "1.2.3", "infinity", "nan", "true", "false", "null", '"1"', "[1]", "{}"]
        for lit in ints + floats + bad:
            b = lit.encode()
            self.add(f"qty:{lit[:24]}", self.raw("items.0.quantity", b))
            self.add(f"price:{lit[:24]}", self.raw("items.0.unit_price", b))
            self.add(f"price2:{lit[:24]}", self.raw("items.1.unit_price", b, self.event(items=2)))
            self.add(f"payment:{lit[:24]}", self.raw("payment.amount", b))
            # event_time as a number: only the in-window millis can be valid; keep them not PAID
            self.add(f"time:{lit[:24]}", self.raw("event_time", b, self.event(status="CREATED")))
            self.add(f"extra:{lit[:24]}", self.raw("extra", b))
        # quantity × unit_price and the event total around 10^14 (the decimal(18,4) limit)
        for q, p in [(1000000000, "99999999.9999"), (1000000000, "100000000"), (1000000000, "999999999.9999"),
                     (1000000000, "1000000000"), (10, "99999999999999"), (9, "99999999999999.9"),
                     (1, "99999999999999"), (2, "99999999999999"), (100000, "999999999.9999"),
                     (1000000000, "99999"), (999999999, "100000.0001")]:
            ev = self.event(items=1)
            self.add(f"amount:{q}x{p}", self.raw("items.0.unit_price", p.encode(), self.set(ev, "items.0.quantity", q)))
        for n in (2, 10, 11, 100):  # the total across items
            ev = self.event(items=n)
            for i in range(n):
                ev["items"][i]["quantity"] = 1000000000
                ev["items"][i]["unit_price"] = 99999999.9999 if n < 11 else 9999999.9999
            self.add(f"total:{n}", self.dump(ev))
        for _ in range(300):  # random money literals with 1..6 decimals
            whole = self.rng.choice([0, 1, 19, 999, 10**9, 10**12, 99999999999999])
            dec = self.rng.randint(1, 6)
            lit = f"{whole}.{self.rng.randrange(10**dec):0{dec}d}"
            self.add(f"money:{lit}", self.raw("items.0.unit_price", lit.encode()))
            self.add(f"paymoney:{lit}", self.raw("payment.amount", lit.encode()))

    def times(self) -> None:
        t0 = self.t0
        cases = {
            "epoch": "1970-01-01T00:00:00Z", "before_epoch": "1969-12-31T23:59:59.999999Z",
            "year_9999": "9999-12-31T23:59:59.999999Z", "year_0000": "0000-01-01T00:00:00Z",
            "future_edge": iso(t0 + 10 * MIN), "future_edge+1us": iso(t0 + 10 * MIN + 1),
            "future_far": "2999-01-01T00:00:00Z", "offset_plus": "2026-01-01T01:00:00+01:00",
            "offset_minus": "2025-12-31T23:00:00-01:00", "offset_2359": "2026-01-01T23:59:00+23:59",
            "offset_24": "2026-01-01T00:00:00+24:00", "offset_short": "2026-01-01T00:00:00+01",
            "offset_compact": "2026-01-01T00:00:00+0100", "lower_t_z": "2026-01-01t00:00:00z",
            "space": "2026-01-01 00:00:00Z", "no_zone": "2026-01-01T00:00:00", "date_only": "2026-01-01",
            "frac1": "2026-01-01T00:00:00.1Z", "frac9": "2026-01-01T00:00:00.123456789Z",
            "frac10": "2026-01-01T00:00:00.1234567891Z", "frac_empty": "2026-01-01T00:00:00.Z",
            "leap_day": "2024-02-29T00:00:00Z", "not_leap_day": "2025-02-29T00:00:00Z",
            "feb29_2000": "2000-02-29T12:00:00Z", "feb29_1900": "1900-02-29T12:00:00Z",
            "hour24": "2026-01-01T24:00:00Z", "sec60": "2016-12-31T23:59:60Z", "month13": "2026-13-01T00:00:00Z",
            "day0": "2026-01-00T00:00:00Z", "year5": "10000-01-01T00:00:00Z", "neg_year": "-0001-01-01T00:00:00Z",
            "trailing_space": "2026-01-01T00:00:00Z ", "leading_space": " 2026-01-01T00:00:00Z",
            "fullwidth_digits": "２０２６-01-01T00:00:00Z", "arabic_digits": "٢٠٢٦-01-01T00:00:00Z",
            "comma_frac": "2026-01-01T00:00:00,5Z", "nul": "2026-01-01T00:00:00Z\u0000", "empty": "",
            "long_utf8": "2026-01-01T00:00:00." + "1" * 43 + "\U0001F600" * 8 + "Z",
            "long_cut64": "x" * 63 + "é" + "Z", "long_cut64b": "x" * 62 + "\U0001F600" + "Z",
        }
        for name, s in cases.items():
            self.add(f"time:{name}", self.dump(self.set(self.event(status="SHIPPED"), "event_time", s)))
        for name, v in {"true": True, "obj": {}, "arr": [], "float_ms": 1.5e12, "null": None}.items():
            self.add(f"timetype:{name}", self.dump(self.set(self.event(), "event_time", v)))
        # in-window instants in many spellings: PAID, so Silver must carry the exact microsecond
        for i in range(60):
            us = t0 - MIN - self.rng.randrange(4 * MIN)
            ev = self.event(status="PAID")
            form = i % 4
            if form == 0:
                ev["event_time"] = iso(us)
            elif form == 1:
                ev["event_time"] = iso(us)[:-1] + str(self.rng.randrange(1000)).zfill(3) + "Z"  # 9 digits, cut
            elif form == 2:
                h = self.rng.randint(-12, 14)
                t = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=us + h * 3600 * 10**6)
                sign = "+" if h >= 0 else "-"
                ev["event_time"] = t.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{sign}{abs(h):02d}:00"
            else:
                ev["event_time"] = us // 1000
            self.add(f"timeform:{form}", self.dump(ev))

    def structure(self) -> None:
        fields = ["event_id", "event_type", "event_time", "order_id", "status", "customer", "customer.customer_id",
                  "customer.name", "customer.email", "customer.country", "customer.segment", "items",
                  "items.0", "items.0.product_id", "items.0.product_name", "items.0.category", "items.0.quantity",
                  "items.0.unit_price", "payment", "payment.method", "payment.currency", "payment.amount"]
        values = {"null": None, "int": 7, "float": 7.5, "str": "x", "empty": "", "true": True, "arr": [],
                  "arr1": ["x"], "obj": {}, "obj1": {"a": 1}}
        for f in fields:
            self.add(f"missing:{f}", self.dump(self.set(self.event(), f, None, delete=True)))
            for vn, v in values.items():
                self.add(f"type:{f}:{vn}", self.dump(self.set(self.event(), f, copy.deepcopy(v))))
        for st in ["paid", "Paid", "PAID ", " PAID", "PAYED", "PAID\u0000", "ＰＡＩＤ", "P" * 31 + "é", "P" * 30 + "\U0001F600",
                   "P" * 1000]:
            self.add(f"status:{st[:10]}", self.dump(self.set(self.event(), "status", st)))
        self.add("items:empty", self.dump(self.set(self.event(), "items", [])))
        ev = self.event(items=3)
        ev["items"][2] = 5
        self.add("items:third_not_object", self.dump(ev))
        ev = self.event(items=2)
        ev["items"][1]["quantity"] = 0
        ev["items"][0]["unit_price"] = -1
        self.add("items:order_of_errors", self.dump(ev))
        self.add("items:many", self.dump(self.event(status="PAID", items=500)))
        # duplicate keys: the first occurrence counts
        for key, first, second in [("event_id", '"dupe-%d"', '""'), ("status", '"PAID"', '"BOGUS"'),
                                   ("status", '"BOGUS"', '"PAID"'), ("event_id", 'null', '"dupe-%d"'),
                                   ("items", '[]', '[{"product_id":"p","category":"c","quantity":1,"unit_price":1}]'),
                                   ("customer", '{"customer_id":"a"}', '7')]:
            ev = self.event(status="PAID")
            ev.pop(key, None)
            f, s = first.replace("%d", str(self.n)), second.replace("%d", str(self.n))
            body = self.dump(ev)[1:-1]
            self.add(f"dupkey:{key}:{first[:8]}", b"{" + f'"{key}":{f},'.encode() + body + f',"{key}":{s}'.encode() + b"}")
        ev = self.event(items=1)
        body = self.dump(ev).replace(b'"quantity":', b'"quantity":0,"quantity":', 1)
        self.add("dupkey:quantity", body)
        ev = self.event(items=1)
        self.add("dupkey:null_first", self.dump(ev).replace(b'"order_id":', b'"order_id":null,"order_id":', 1))
        # keys in another order than the parser looks for them (it searches from the key after
        # the last one found): reversed and shuffled at every level, and a duplicate met right
        # after its first occurrence in reversed order
        self.add("keyorder:reversed", self.dump(reorder(self.event(status="PAID", items=3), reversed)))
        for _ in range(3):
            self.add("keyorder:shuffled", self.dump(reorder(self.event(status="PAID", items=2),
                                                           lambda keys: self.rng.sample(keys, len(keys)))))
        body = self.dump(reorder(self.event(status="PAID", items=1), reversed))
        self.add("keyorder:reversed_dupkey", body.replace(b'"status":"PAID"', b'"status":"PAID","status":"BOGUS"', 1))
        # extra unknown fields of every shape, kept in Bronze only
        for v in [None, [], {}, [[[[]]]], {"event_id": 5}, "x" * 1000, -0.0, 1e308]:
            self.add("extra", self.dump(self.set(self.event(), "zz_extra", v)))
        self.add("extra:schema_version_str", self.dump(self.set(self.event(), "schema_version", "1")))

    def json_oddities(self) -> None:
        base = lambda: self.dump(self.event())  # noqa: E731
        odd = {
            "empty": b"", "space": b" ", "ws_only": b"\n\t\r ", "null": b"null", "true": b"true", "num": b"42",
            "str": b'"x"', "arr": b"[]", "arr_obj": b"[" + base() + b"]", "obj_empty": b"{}", "nul": b"\x00",
            "bom": b"\xef\xbb\xbf" + base(), "bom_utf16": b"\xff\xfe" + base(), "lead_ws": b" \n\t\r" + base(),
            "trail_ws": base() + b" \n\t\r", "trail_ff": base() + b"\x0c", "lead_vt": b"\x0b" + base(),
            "trail_nul": base() + b"\x00", "trail_garbage": base() + b"x", "two_objects": base() + base(),
            "two_objects_nl": base() + b"\n" + base(), "trail_comma_obj": base()[:-1] + b",}",
            "comment_block": b"/* c */" + base(), "comment_line": base() + b"// c", "comment_hash": b"# c\n" + base(),
            "single_quotes": base().replace(b'"', b"'"), "unquoted_keys": base().replace(b'"event_id"', b"event_id"),
            "nbsp": b"\xc2\xa0" + base(), "cr_only": base().replace(b",", b",\r"),
            "tab_in_string": base().replace(b'"Thing"', b'"Th\ting"', 1), "nl_in_string": base().replace(b'"Thing"', b'"Th\ning"', 1),
            "escaped_slash": base().replace(b'"Thing"', b'"Th\\/ing"', 1), "bad_escape": base().replace(b'"Thing"', b'"Th\\xing"', 1),
            "short_u": base().replace(b'"Thing"', b'"Th\\u12ing"', 1), "upper_U": base().replace(b'"Thing"', b'"Th\\U0041ing"', 1),
            "unterminated": base()[:-2], "open_only": b"{", "close_only": b"}", "colon_missing": b'{"event_id" "x"}',
            "deep_500": b'{"a":' * 0 + base()[:-1] + b',"zz":' + b"[" * 500 + b"]" * 500 + b"}",
            "deep_1023": base()[:-1] + b',"zz":' + b"[" * 1022 + b"]" * 1022 + b"}",
            "deep_1024": base()[:-1] + b',"zz":' + b"[" * 1023 + b"]" * 1023 + b"}",
            "deep_1025": base()[:-1] + b',"zz":' + b"[" * 1024 + b"]" * 1024 + b"}",
            "deep_3000": base()[:-1] + b',"zz":' + b"[" * 3000 + b"]" * 3000 + b"}",
            "deep_obj_3000": base()[:-1] + b',"zz":' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
            "deep_unbalanced": b"[" * 100000,
        }
        for name, v in odd.items():
            self.add(f"json:{name}", v)
        self.add("json:none", None)
        for i in range(250):  # truncated at every kind of position
            b = base()
            self.add(f"json:truncated:{i}", b[: self.rng.randrange(1, len(b))])
        for i in range(150):  # trailing comma inside an array or object somewhere
            b = base()
            pos = [j for j, c in enumerate(b) if c in b"]}"][self.rng.randrange(3)] if b.count(b"]") else len(b) - 1
            self.add(f"json:trailing_comma:{i}", b[:pos] + b"," + b[pos:])

    def unicode(self) -> None:
        raws = {
            "invalid_c3_28": b"\xc3\x28", "lone_cont": b"\x80", "lone_lead": b"\xc3", "overlong_slash": b"\xc0\xaf",
            "overlong_nul": b"\xc0\x80", "overlong_3": b"\xe0\x80\xaf", "overlong_4": b"\xf0\x80\x80\xaf",
            "surrogate_utf8": b"\xed\xa0\x80", "surrogate_pair_utf8": b"\xed\xa0\xbd\xed\xb8\x80", "f5": b"\xf5\x80\x80\x80",
            "beyond_10ffff": b"\xf4\x90\x80\x80", "fe": b"\xfe", "ff": b"\xff", "five_byte": b"\xf8\x88\x80\x80\x80",
            "truncated_4": b"\xf0\x9f\x98", "latin1_e9": b"\xe9",
            # valid ones, raw
            "emoji": "\U0001F600".encode(), "rtl": "\u202e\u200f".encode(), "nonchar_fffe": "\ufffe".encode(),
            "nonchar_ffff": "\uffff".encode(), "nonchar_1ffff": "\U0001ffff".encode(), "max_10ffff": "\U0010ffff".encode(),
            "bom_inside": "\ufeff".encode(), "zwj": "👩\u200d💻".encode(), "combining": "e\u0301".encode(),
        }
        escapes = {
            "esc_lone_high": rb"\ud800", "esc_lone_low": rb"\udc00", "esc_reversed": rb"\ude00\ud83d",
            "esc_high_then_a": rb"\ud800\u0041", "esc_high_end": rb"x\udbff", "esc_pair": rb"\ud83d\ude00",
            "esc_max_pair": rb"\udbff\udfff", "esc_nul": rb"\u0000", "esc_nonchar": rb"\uffff", "esc_bom": rb"\ufeff",
            "esc_upper_hex": rb"\uD83D\uDE00", "esc_high_high": rb"\ud800\ud800", "esc_ctrl": rb"\u001f",
        }
        fields = ["event_id", "order_id", "customer.customer_id", "customer.name", "items.0.product_id",
                  "items.0.product_name", "items.0.category", "payment.currency", "event_type", "zz_extra"]
        for name, b in list(raws.items()) + list(escapes.items()):
            for f in fields:
                ev = self.event(status="PAID")
                mark = "@@U%06d@@" % self.n
                self.set(ev, f, mark)
                prefix = f.split(".")[-1].encode()
                self.add(f"utf8:{name}:{f}", self.dump(ev).replace(mark.encode(), prefix + b"-" + b + b"-end"))
            ev = self.event()
            self.add(f"utf8key:{name}", self.dump(ev)[:-1] + b',"k' + b + b'":1}')
        for name, s in {"emoji_id": "\U0001F600" * 3, "rtl_id": "\u202eevil", "nul_id": "a\u0000b",
                        "cjk": "注文", "combining": "e\u0301"}.items():
            ev = self.event(status="PAID")
            ev["event_id"] = f"{ev['event_id']}-{s}"
            ev["customer"]["name"] = s
            self.add(f"utf8ok:{name}", self.dump(ev, ascii_=False))
            self.add(f"utf8ok_esc:{name}", self.dump(self.set(copy.deepcopy(ev), "event_id", ev["event_id"] + "e"), ascii_=True))
        for n in (10_000, 100_000):
            ev = self.event(status="PAID")
            ev["customer"]["name"] = "é\U0001F600" * (n // 6)
            self.add(f"utf8long:{n}", self.dump(ev))

    def sizes(self) -> None:
        """Near the broker's limit (message.max.bytes 1048588, producer's 1000000 by default;
        the test raises the producer's to the broker's)."""
        for target, status in [(500_000, "PAID"), (900_000, "PAID"), (1_040_000, "PAID"), (1_040_000, "BOGUS")]:
            ev = self.event(status=status)
            ev["customer"]["name"] = ""
            pad = target - len(self.dump(ev))
            ev["customer"]["name"] = "n" * (pad - 50) + "\U0001F600" * 10
            self.add(f"size:{target}:{status}", self.dump(ev))
        ev = self.event(status="PAID", items=0)
        one = self.dump(self.item())
        ev["items"] = [self.item() for _ in range(900_000 // (len(one) + 1))]
        self.add("size:many_items", self.dump(ev))
        self.add("size:not_json", b"{" + b" " * 1_000_000 + b"}x")

    def mutations(self, count: int) -> None:
        """Random byte edits of valid events."""
        r = self.rng
        for i in range(count):
            b = bytearray(self.dump(self.event()))
            for _ in range(r.randint(1, 3)):
                op, pos = r.randrange(4), r.randrange(len(b))
                if op == 0:
                    b[pos] = r.randrange(256)
                elif op == 1:
                    b.insert(pos, r.choice(b'{}[]",:\\0123456789.eE-+ ntfu\x00\x80\xc3\xff'))
                elif op == 2 and len(b) > 2:
                    del b[pos]
                else:
                    b[pos:pos] = r.choice([b'"', b"\\u0000", b"\\ud800", b"1e400", b"null", b",", b"-0", b"99999999999999999999"])
            self.add(f"mutant:{i}", bytes(b))


def messages(t0_us: int, seed: int = 20261201, valid: int = 1200, mutants: int = 1500
             ) -> list[tuple[str, bytes | None]]:
    g = Gen(t0_us, seed)
    g.valid(valid)
    g.issue_cases()
    g.numbers()
    g.times()
    g.structure()
    g.json_oddities()
    g.unicode()
    g.mutations(mutants)
    g.sizes()
    return g.out


def kafka_keys(n: int) -> list[bytes | None]:
    """Kafka keys for n records in the forms producers send: none, empty, short text, non-UTF-8
    bytes with NULs, multi-byte UTF-8, and every 1,000th a key of 300 KiB. Bronze keeps them as
    sent (null apart from empty); its key column gets LZ4_RAW or zstd by its size per batch."""
    cycle = [b"k", None, b"", bytes(range(256)) + b"\x00\xff", "ключ-✓".encode()]
    return [(b"K" * (300 << 10)) if i % 1000 == 999 else cycle[i % len(cycle)] for i in range(n)]


def send(broker: str, topic: str, values: list[bytes | None], timestamp_ms: int | list[int],
         partitions: int, keys: list[bytes | None] | None = None) -> list[tuple[int, int]]:
    """Sends the values in order, value i to partition i % partitions, all with the Kafka
    timestamp `timestamp_ms` (or value i with timestamp_ms[i]) and the key b"k" (or keys[i]);
    returns each one's (partition, offset)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 20, "message.max.bytes": 1048588, "compression.type": "none"})
    coords: list[tuple[int, int] | None] = [None] * len(values)
    errors: list[str] = []

    def delivered(i):
        def cb(err, msg):
            if err is not None:
                errors.append(f"message {i}: {err}")
            else:
                coords[i] = (msg.partition(), msg.offset())
        return cb

    for i, v in enumerate(values):
        while True:
            try:
                producer.produce(topic, value=v, key=b"k" if keys is None else keys[i], partition=i % partitions,
                                 timestamp=timestamp_ms[i] if isinstance(timestamp_ms, list) else timestamp_ms,
                                 on_delivery=delivered(i))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(120) == 0, "messages still in flight"
    assert not errors, errors[:5]
    return coords  # type: ignore[return-value]


# ---------------------------------------------------------------------------------- version 2

class Gen2(Gen):
    """Version-2 events (EVENTS.md): their optional fields in every form, the rules they add,
    and version-1 events that carry version-2 fields (which a version-1 event ignores)."""

    def event2(self, status: str | None = None, items: int | None = None) -> dict:
        r = self.rng
        ev = self.event(status=status, items=items)
        ev["schema_version"] = 2
        ch = r.choice(["web", "app", "store", "web", None, "absent"])
        if ch != "absent":
            ev["channel"] = ch
        tier = r.choice(["bronze", "silver", "gold", "platinum", "", "Ünïcode ✓", None, "absent"])
        if tier != "absent":
            ev["customer"]["loyalty_tier"] = tier
        for it in ev["items"]:
            sku = r.choice(["SKU-1", "", "sku/ä", None, "absent", "SKU-00042-BLK"])
            if sku != "absent":
                it["sku"] = sku
            kind = r.choice(["absent", "absent", "null", "zero", "part", "part", "whole"])
            line = it["quantity"] * round(it["unit_price"] * 10_000)  # in 1/10^4
            if kind == "null":
                it["discount"] = None
            elif kind == "zero":
                it["discount"] = r.choice([0, 0.0, -0.0])
            elif kind == "part" and line > 0:
                it["discount"] = r.randrange(line) / 10_000
            elif kind == "whole":
                it["discount"] = line / 10_000 if line % 10_000 else line // 10_000
        return ev

    def v2(self, valid: int) -> None:
        for _ in range(valid):
            self.add("v2:valid", self.dump(self.event2(), ascii_=self.rng.random() < 0.3))
        self.add("v2:paid_one_line", self.dump(self.event2(status="PAID", items=1)))
        # schema_version itself
        versions = {"1": "valid", "2": "valid", "null": "valid", "3": "unsupported", "0": "unsupported",
                    "-1": "unsupported", "99": "unsupported", "18446744073709551615": "unsupported",
                    "-9223372036854775808": "unsupported", "2.5": "wrong_type", "2.0": "wrong_type",
                    "2e0": "wrong_type", '"2"': "wrong_type", '"1"': "wrong_type", "true": "wrong_type",
                    "[]": "wrong_type", "{}": "wrong_type", "[2]": "wrong_type",
                    "02": "not_json", "99999999999999999999": "not_json"}
        for lit in versions:
            self.add(f"v2:version:{lit}", self.raw("schema_version", lit.encode(), self.event2()))
            self.add(f"v2:version_on_v1:{lit}", self.raw("schema_version", lit.encode()))
        self.add("v2:version_absent", self.dump(self.set(self.event2(), "schema_version", None, delete=True)))
        # An unknown version hides every other break; a known one does not.
        for f in ["event_id", "items", "customer.customer_id"]:
            ev = self.set(self.event2(), f, None, delete=True)
            self.add(f"v2:v3_and_missing:{f}", self.dump(self.set(ev, "schema_version", 3)))
            self.add(f"v2:v2_and_missing:{f}", self.dump(self.set(self.event2(), f, None, delete=True)))
        self.add("v2:v3_otherwise_valid", self.dump(self.set(self.event2(status="PAID"), "schema_version", 3)))
        # channel
        for lit in ['"web"', '"app"', '"store"', "null", '"WEB"', '"Web"', '" web"', '"web "', '""', '"phone"',
                    '"kiosk"', '"web\\u0000"', "1", "true", "[]", '["web"]', "{}"]:
            self.add(f"v2:channel:{lit}", self.raw("channel", lit.encode(), self.event2(status="PAID")))
            self.add(f"v2:channel_on_v1:{lit}", self.raw("channel", lit.encode(), self.event(status="PAID")))
        # loyalty tier and sku: any string, else wrong_type
        for lit in ['"gold"', '""', "null", "1", "true", "[]", "{}", '"\\ud83d\\ude00"']:
            self.add(f"v2:tier:{lit}", self.raw("customer.loyalty_tier", lit.encode(), self.event2(status="PAID")))
            self.add(f"v2:sku:{lit}", self.raw("items.0.sku", lit.encode(), self.event2(status="PAID")))
            self.add(f"v2:sku2:{lit}", self.raw("items.1.sku", lit.encode(), self.event2(status="PAID", items=2)))
        # discount: money >= 0, at most 4 decimals, at most quantity x unit_price
        for lit in ["0", "-0", "0.0", "-0.0", "0.0001", "0.01", "1", "1.5", "1.2345", "1e-4", "5e-5", "0.00001",
                    "1.23456", "0.00015", "-0.0001", "-0.01", "-1", "-1e-5", "1e309", "NaN", '"1"', '""', "true",
                    "[]", "{}", "[1]", "99999999999999", "100000000000000", "9223372036854775807",
                    "18446744073709551615"]:
            ev = self.event2(status="PAID", items=2)
            for it in ev["items"]:
                it["quantity"], it["unit_price"] = 2, 1234.5678
            self.add(f"v2:discount:{lit}", self.raw("items.0.discount", lit.encode(), copy.deepcopy(ev)))
            self.add(f"v2:discount2:{lit}", self.raw("items.1.discount", lit.encode(), copy.deepcopy(ev)))
            self.set(ev, "schema_version", 1)
            self.add(f"v2:discount_on_v1:{lit}", self.raw("items.0.discount", lit.encode(), ev))
        # the line's edge: quantity x unit_price = 2469.1356
        for lit, name in [("2469.1356", "whole_line"), ("2469.1355", "under_line"), ("2469.1357", "above_line"),
                          ("2469.14", "above_line_cents"), ("4938.2712", "twice_line"), ("1e5", "far_above")]:
            ev = self.event2(status="PAID", items=2)
            for it in ev["items"]:
                it["quantity"], it["unit_price"] = 2, 1234.5678
            self.add(f"v2:discount_edge:{name}", self.raw("items.1.discount", lit.encode(), ev))
        for price, lit, name in [("0", "0", "free_line_zero"), ("0", "0.0001", "free_line_above"),
                                 ("0.0001", "0.0001", "tiny_line_whole")]:
            ev = self.event2(status="PAID", items=1)
            ev["items"][0]["quantity"] = 1
            self.add(f"v2:discount_edge:{name}",
                     self.raw("items.0.discount", lit.encode(),
                              self.set(ev, "items.0.unit_price", float(price) if "." in price else int(price))))
        # a version-2 event still follows every version-1 rule
        for f, lit in [("items.0.quantity", "0"), ("items.0.unit_price", "-1"), ("status", '"LOST"'),
                       ("event_time", '"yesterday"'), ("payment.amount", "-1")]:
            self.add(f"v2:v1_rule:{f}", self.raw(f, lit.encode(), self.event2()))


def v2_messages(t0_us: int, seed: int = 20261215, valid: int = 600) -> list[tuple[str, bytes | None]]:
    """The version-2 family: valid version-2 events in every form and the hostile ones."""
    g = Gen2(t0_us, seed, id_prefix="h2")
    g.v2(valid)
    return g.out
