"""The counting rule shared by every backend: one attempt in, the new state out.

Backends call :func:`apply_hit` while they hold the key exclusively (a dict on one event loop, a
row lock or SQLite's write lock), so the read and the write form one atomic step; a new block is
stored with its :func:`block_event` in that same step.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from hostwarden.core.audit import Kind
from hostwarden.storage.base import AuditEvent, Block, CounterRule, HitResult


@dataclass(frozen=True, slots=True)  # frozen when it runs: caches hold it and hand it out
class CounterState:
    """One key's counter as stored."""

    count: int
    window_start: datetime
    level: int
    last_seen: datetime
    last_alert: datetime | None

    def stale(self, now: datetime, window_seconds: int, remember_seconds: int) -> bool:
        """Whether the row can be forgotten: window over, and no back-off level worth keeping."""
        keep_for = remember_seconds if self.level else window_seconds
        return self.last_seen <= now - span(keep_for)


@functools.lru_cache(maxsize=64)  # a rule's few lengths, asked for on every counted request
def span(seconds: int) -> timedelta:
    """``seconds`` as a :class:`timedelta`."""
    return timedelta(seconds=seconds)


def block_duration(rule: CounterRule, level: int) -> timedelta | None:
    """The length of the ``level``-th block (1-based): doubling, capped; ``None`` = permanent."""
    if rule.permanent_after and level >= rule.permanent_after:
        return None
    seconds = min(rule.block_seconds * 2 ** min(level - 1, 40), rule.max_block_seconds)
    return timedelta(seconds=seconds)


def block_event(block: Block) -> AuditEvent:
    """The ``block.created`` event a backend appends with an automatic block, in one transaction."""
    until = block.until.isoformat() if block.until else "permanent"
    detail = {"until": until, "level": block.level}
    return AuditEvent(Kind.BLOCK_CREATED, block.created_at, "", block.key, detail)


def apply_hit(
    key: str,
    state: CounterState | None,
    block: Block | None,
    now: datetime,
    rule: CounterRule,
) -> tuple[HitResult, CounterState | None, Block | None]:
    """Count one attempt. Returns the result, the state to store and a new block to store."""
    if block is not None and block.active(now):
        count = state.count if state else 0
        result = HitResult(False, count, block.until, True, False, False, block.level)
        return result, None, None
    if state is None or state.stale(now, rule.window_seconds, rule.remember_seconds):
        state = CounterState(0, now, 0, now, None)
    window_over = now - state.window_start >= span(rule.window_seconds)
    count = 1 if window_over else state.count + 1
    window_start = now if window_over else state.window_start
    alert_due = rule.alert_every_seconds is not None and (
        state.last_alert is None or now - state.last_alert >= span(rule.alert_every_seconds)
    )
    last_alert = now if alert_due else state.last_alert
    level = state.level
    new_block: Block | None = None
    if rule.limit is not None and count >= rule.limit:
        level += 1
        duration = block_duration(rule, level)
        until = None if duration is None else now + duration
        new_block = Block(key, until, "too many attempts", level, now)
        new_state = CounterState(0, now, level, now, last_alert)
        result = HitResult(True, count, until, True, True, alert_due, level)
        return result, new_state, new_block
    new_state = CounterState(count, window_start, level, now, last_alert)
    return HitResult(True, count, None, False, False, alert_due, level), new_state, None
