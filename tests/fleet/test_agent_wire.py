"""The wire models both sides share: cleaning, bounds, and a round trip of real readings."""

from __future__ import annotations

from hostwarden.fleet.target import read_report
from hostwarden.fleet.wire import Report, clean_line, clean_text, parse
from hostwarden.host.metrics import HostReader


def test_clean_line_removes_every_invisible_and_line_breaking_character() -> None:
    tricky = "a\nb\r\tc\x1b[31md\u202ee\u200bf\u2028g\u2066h\ufeffi\U000e0041j\x85k"
    assert clean_line(tricky, 100) == "a b c [31md e f g h i j k"
    assert clean_line("x" * 50, 10) == "x" * 10
    assert clean_line(5, 10) == 5  # left for strict validation to refuse


def test_clean_text_keeps_lines_and_tabs_only() -> None:
    assert clean_text("one\n\ttwo\x1b[0m\u202e\x00", 100) == "one\n\ttwo[0m"


def test_a_real_reading_goes_there_and_back_unchanged() -> None:
    report = read_report(HostReader(cpu_interval=0.0), top=3)
    wire = Report.of(report)
    again = parse(Report, wire.model_dump_json().encode(), "db1").to_report()
    assert again.status.memory == report.status.memory
    assert again.status.disks == report.status.disks
    assert [p.pid for p in again.by_cpu] == [p.pid for p in report.by_cpu]
