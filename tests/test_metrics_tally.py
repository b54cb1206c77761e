"""The decision tally exports what prometheus_client's own counter and histogram would."""

from __future__ import annotations

import random
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    enable_created_metrics,
    generate_latest,
)

from hostwarden.core.guard import Verdict
from hostwarden.metrics import LATENCY_BUCKETS, Metrics
from hostwarden.metrics_tally import DecisionTally


def _samples(registry: CollectorRegistry, since: float, until: float) -> set[str]:
    """Exposition lines without help and type; a ``_created`` line's value (a wall-clock
    stamp) is checked to fall in ``[since, until]`` and left out."""
    found = set()
    for line in generate_latest(registry).decode().splitlines():
        if not line or line.startswith("#"):
            continue
        if "_created" in line:
            series, _, value = line.rpartition(" ")
            assert since <= float(value) <= until, line
            line = series
        found.add(line)
    return found


def test_the_tally_exposes_what_prometheus_clients_metrics_would() -> None:
    reference = CollectorRegistry()
    updates = Counter("hostwarden_updates", "u", ["verdict"], registry=reference)
    web = Counter("hostwarden_web_decisions", "w", ["verdict"], registry=reference)
    seconds = Histogram(
        "hostwarden_guard_seconds", "s", ["front"], buckets=LATENCY_BUCKETS, registry=reference
    )
    tallied = CollectorRegistry()
    tally = DecisionTally(LATENCY_BUCKETS)
    tallied.register(tally)
    since = time.time()
    rng = random.Random(7)
    # Every bound exactly (a value on a bound is in that bucket), zero, past the last, at random.
    values = [*LATENCY_BUCKETS, 0.0, 3.0, *(rng.uniform(0, 0.02) for _ in range(500))]
    for i, value in enumerate(values):
        front = "bot" if i % 3 else "web"
        verdict = ("allow", "drop", "deny", "ask_totp")[i % 4]
        (updates if front == "bot" else web).labels(verdict=verdict).inc()
        seconds.labels(front=front).observe(value)
        tally.add(front, verdict, value)
    until = time.time()
    assert _samples(tallied, since, until) == _samples(reference, since, until)
    assert any("hostwarden_guard_seconds_created" in line for line in _samples(tallied, 0, until))


def test_a_front_end_with_no_decisions_yet_shows_its_families_empty() -> None:
    metrics = Metrics()
    text = generate_latest(metrics.registry).decode()
    assert "# TYPE hostwarden_updates_total counter" in text
    assert "# TYPE hostwarden_guard_seconds histogram" in text
    assert "hostwarden_guard_seconds_count" not in text
    metrics.decided("web", "allow", 0.001)
    assert (
        metrics.registry.get_sample_value(
            "hostwarden_guard_seconds_bucket", {"front": "web", "le": "0.001"}
        )
        == 1.0
    )


def test_created_series_follow_prometheus_clients_switch() -> None:
    metrics = Metrics()
    metrics.decided("bot", "allow", 0.001)
    disable_created_metrics()
    try:
        text = generate_latest(metrics.registry).decode()
    finally:
        enable_created_metrics()
    assert "hostwarden_updates_created" not in text
    assert "hostwarden_guard_seconds_created" not in text
    assert "hostwarden_updates_created" in generate_latest(metrics.registry).decode()


def test_a_verdict_and_its_value_count_in_one_series_labelled_with_the_plain_value() -> None:
    metrics = Metrics()
    metrics.decided("bot", Verdict.ALLOW, 0.001)  # what the gate passes
    metrics.decided("bot", "allow", 0.001)
    metrics.decided("bot", Verdict.DROP, 0.001)
    lines = [
        line
        for line in generate_latest(metrics.registry).decode().splitlines()
        if line.startswith("hostwarden_updates_total")
    ]
    assert sorted(lines) == [
        'hostwarden_updates_total{verdict="allow"} 2.0',
        'hostwarden_updates_total{verdict="drop"} 1.0',
    ]
    labels = [
        sample.labels["verdict"]
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "hostwarden_updates_total"
    ]
    assert labels and all(type(label) is str for label in labels)  # no enum leaks out
