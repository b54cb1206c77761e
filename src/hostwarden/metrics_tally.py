"""Guard decisions by front end and verdict, and the guard's latency: tallied, exported at scrape.

prometheus_client's counter and histogram take a lock per observation and find the bucket with a
Python loop: about 3 µs per decision, a few percent of an allowed update on SQLite. Here a
decision adds to plain integers (one event loop feeds them; the scrape reads them on that loop),
and :meth:`DecisionTally.collect` turns them into the same families at scrape time:
``hostwarden_updates_total{verdict}``, ``hostwarden_web_decisions_total{verdict}`` and the
histogram ``hostwarden_guard_seconds{front}``.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# Per front end: the counter family's name and help.
FAMILIES = {
    "bot": ("hostwarden_updates", "Telegram updates by the guard's verdict."),
    "web": ("hostwarden_web_decisions", "Console requests decided by the guard, by verdict."),
}
LATENCY = ("hostwarden_guard_seconds", "Time the guard took to decide, by front end.")
# How prometheus_client writes a bucket's bound ("1.0", "0.0005"); it is untyped there.
_go = cast("Callable[[float], str]", floatToGoString)


def _created_series() -> bool:
    """Whether ``_created`` samples are exported: prometheus_client's own switch
    (``disable_created_metrics()`` or ``PROMETHEUS_DISABLE_CREATED_SERIES``), kept in a private
    global there."""
    return bool(getattr(prometheus_metrics, "_use_created", True))


class _Count:
    __slots__ = ("count", "created")

    def __init__(self) -> None:
        self.count = 0
        self.created = time.time()  # as prometheus_client stamps a labelled child


class _Latency:
    __slots__ = ("counts", "created", "total")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets  # per bucket, not cumulative; the last one is +Inf
        self.total = 0.0
        self.created = time.time()


class DecisionTally(Collector):
    """Decisions counted by ``(front, verdict)`` and timed per front, for one registry."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self._bounds = tuple(sorted(buckets))
        self._counts: dict[tuple[str, str], _Count] = {}  # by (front, verdict)
        self._latency: dict[str, _Latency] = {}

    def add(self, front: str, verdict: str, seconds: float) -> None:
        """One decision of ``front`` (``bot`` or ``web``) with ``verdict``, taking ``seconds``."""
        counted = self._counts.get((front, verdict))  # a Verdict finds its value's entry
        if counted is None:
            counted = self._counts[(str(front), str(verdict))] = _Count()
        counted.count += 1
        latency = self._latency.get(front)
        if latency is None:
            latency = self._latency[front] = _Latency(len(self._bounds) + 1)
        # A bucket holds values up to and including its bound, as prometheus_client's do.
        latency.counts[bisect.bisect_left(self._bounds, seconds)] += 1
        latency.total += seconds

    def describe(self) -> Iterable[Metric]:
        return self._families(with_samples=False)

    def collect(self) -> Iterable[Metric]:
        return self._families(with_samples=True)

    def _families(self, with_samples: bool) -> list[Metric]:
        found: list[Metric] = []
        created = _created_series()
        counts = sorted(self._counts.items()) if with_samples else []
        for front, (name, text) in FAMILIES.items():
            family = CounterMetricFamily(name, text, labels=["verdict"])
            for (of, verdict), counted in counts:
                if of == front:
                    since = counted.created if created else None
                    family.add_metric([verdict], counted.count, created=since)
            found.append(family)
        histogram = HistogramMetricFamily(*LATENCY, labels=["front"])
        bounds = [_go(b) for b in self._bounds] + ["+Inf"]
        for front, latency in sorted(self._latency.items()) if with_samples else ():
            cumulative = itertools.accumulate(latency.counts)
            buckets = [(bound, float(n)) for bound, n in zip(bounds, cumulative, strict=True)]
            histogram.add_metric([front], buckets, latency.total)
            if created:
                labels = {"front": front}
                histogram.samples.append(Sample(f"{LATENCY[0]}_created", labels, latency.created))
        found.append(histogram)
        return found
