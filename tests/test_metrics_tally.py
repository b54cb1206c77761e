"""The decision tally exports what prometheus_client's own counter and histogram would."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from hostwarden.metrics import LATENCY_BUCKETS, Metrics
from hostwarden.metrics_tally import DecisionTally


def _samples(registry: CollectorRegistry) -> set[str]:
    """Exposition lines without help, type and ``_created`` (the tally keeps no start time)."""
    lines = generate_latest(registry).decode().splitlines()
    return {line for line in lines if line and not line.startswith("#") and "_created" not in line}


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
    rng = random.Random(7)
    # Every bound exactly (a value on a bound is in that bucket), zero, past the last, at random.
    values = [*LATENCY_BUCKETS, 0.0, 3.0, *(rng.uniform(0, 0.02) for _ in range(500))]
    for i, value in enumerate(values):
        front = "bot" if i % 3 else "web"
        verdict = ("allow", "drop", "deny", "ask_totp")[i % 4]
        (updates if front == "bot" else web).labels(verdict=verdict).inc()
        seconds.labels(front=front).observe(value)
        tally.add(front, verdict, value)
    assert _samples(tallied) == _samples(reference)


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
