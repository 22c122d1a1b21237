from datetime import datetime, timedelta, timezone

from dashboard.i18n import translator
from dashboard.timefmt import absolute, duration, relative

NOW = datetime(2024, 4, 1, 3, 0, tzinfo=timezone.utc)


def test_absolute_is_tokyo_time_and_treats_naive_as_utc():
    assert absolute(NOW) == "2024-04-01 12:00:00"
    assert absolute(NOW.replace(tzinfo=None)) == "2024-04-01 12:00:00"
    assert absolute(None) == ""


def test_relative_in_both_languages():
    ja, en = translator("ja"), translator("en")
    assert relative(NOW - timedelta(seconds=10), NOW, en) == "just now"
    assert relative(NOW + timedelta(seconds=30), NOW, en) == "just now"  # clock skew
    assert relative(NOW - timedelta(minutes=7), NOW, ja) == "7分前"
    assert relative(NOW - timedelta(hours=5, minutes=59), NOW, en) == "5 h ago"
    assert relative(NOW - timedelta(days=3), NOW, ja) == "3日前"


def test_duration_in_the_largest_whole_unit():
    ja, en = translator("ja"), translator("en")
    assert duration(0, en) == "0 s" and duration(59.9, ja) == "59秒"
    assert duration(150, en) == "2 min" and duration(2 * 3600 + 59, ja) == "2時間"
    assert duration(3 * 86400, en) == "3 d"
