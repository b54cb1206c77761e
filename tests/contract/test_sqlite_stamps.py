"""SQLite timestamps: written as SQLAlchemy writes them (naive UTC, always six digits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hostwarden.storage.sql import sqlite_rows
from hostwarden.storage.sql.sqlite_rows import MAX_STAMPS, stamp, unstamp


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def test_a_stamp_is_the_utc_isoformat_with_microseconds() -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    values = [
        datetime(2026, 11, 26, 1, 2, 3, 0, tzinfo=UTC),  # whole seconds keep ".000000"
        datetime(2026, 11, 26, 1, 2, 3, 4, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 11, 26, 1, 2, 3, 500, tzinfo=east),  # another zone: its UTC instant
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # a year below 1000, padded
    ]
    for value in values:
        assert stamp(value) == _iso(value)
        assert unstamp(stamp(value)) == value
    assert stamp(None) is None


def test_the_remembered_stamps_stay_bounded() -> None:
    start = datetime(2026, 11, 26, tzinfo=UTC)
    for n in range(3 * MAX_STAMPS):
        value = start + timedelta(microseconds=n)
        assert stamp(value) == _iso(value)
    assert len(sqlite_rows._STAMPS) <= MAX_STAMPS


def test_the_two_times_of_a_dst_fold_get_their_own_stamps() -> None:
    """1:30 in New York on 2024-11-03 happens twice; Python calls the two equal."""
    new_york = ZoneInfo("America/New_York")
    first = datetime(2024, 11, 3, 1, 30, tzinfo=new_york)
    second = first.replace(fold=1)
    assert first == second  # the trap: one dict key for both
    assert (stamp(first), stamp(second)) == (
        "2024-11-03 05:30:00.000000",
        "2024-11-03 06:30:00.000000",
    )
    assert stamp(second) == _iso(second) and stamp(first) == _iso(first)
