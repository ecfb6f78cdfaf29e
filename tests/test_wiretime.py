"""kandian.wiretime: the wire's YYYYMMDDHHMMSS times."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st
from twisted.trial import unittest

from kandian.wiretime import FORMAT, format_time, parse_time

TZ = ZoneInfo("Asia/Shanghai")


def by_strptime(value: str):
    fmt = FORMAT if len(value.strip()) == 14 else "%Y%m%d%H%M"
    return datetime.datetime.strptime(value.strip(), fmt).replace(tzinfo=TZ)


class ParseTimeTests(unittest.TestCase):
    @given(st.text(alphabet="0123456789", min_size=12, max_size=14).filter(lambda v: len(v) != 13))
    def test_as_strptime_reads_it(self, value):
        try:
            expected = by_strptime(value)
        except ValueError:
            self.assertRaises(ValueError, parse_time, value, TZ)
        else:
            self.assertEqual(parse_time(value, TZ), expected)

    @given(st.datetimes(min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(9999, 12, 30)))
    def test_a_formatted_time_reads_back(self, when):
        seconds = when.replace(tzinfo=TZ).timestamp() // 1
        self.assertEqual(parse_time(format_time(seconds, TZ), TZ).timestamp(), seconds)

    def test_anything_else_is_refused(self):
        for value in ("", "2026111819064", "202611181906401", "2026-11-18T19", "20261118 90640", "20261318190640",
                      "20260230190640", "20261118250640", "00001118190640"):
            self.assertRaises(ValueError, parse_time, value, TZ)
        self.assertEqual(parse_time(" 202611181906 ", TZ), datetime.datetime(2026, 11, 18, 19, 6, tzinfo=TZ))
