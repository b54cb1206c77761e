"""Attempt counting and progressive blocks, per Telegram ID, username and source IP.

Every count and check is one atomic store call (:meth:`CounterStore.hit`), so parallel requests,
even from several processes, cannot slip past a limit. A block and its audit event
(``block.created`` or ``block.lifted``) are written in one store transaction: neither exists
without the other.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import datetime, timedelta

from hostwarden.core.audit import AuditTrail, Kind
from hostwarden.core.clock import Clock
from hostwarden.core.settings import AlertSettings, LockoutSettings
from hostwarden.errors import InvalidInput, NotFound
from hostwarden.storage.base import Block, BlockStore, CounterRule, CounterStore, HitResult

KEY_KINDS = ("tg", "user", "ip", "totp", "enrol")  # enrol: enrolment tokens, by address
MAX_KEY_LENGTH = 200


def bounded_key(key: str) -> str:
    """``key`` itself, or for attacker-sized values (a 4 KB "username") a fixed-size digest.

    Stores keep keys in bounded columns; the digest keeps distinct values distinct.
    """
    if len(key) <= MAX_KEY_LENGTH:
        return key
    kind, _, value = key.partition(":")
    return f"{kind[:16]}:#{hashlib.sha256(value.encode()).hexdigest()}"


_TELEGRAM_ID = re.compile(r"-?[0-9]{1,20}")


def parse_key(text: str) -> str:
    """Normalise a block key given by a person: ``123`` means ``tg:123``."""
    text = text.strip()
    if _TELEGRAM_ID.fullmatch(text):
        return f"tg:{int(text)}"
    kind, sep, value = text.partition(":")
    if not sep or kind not in KEY_KINDS or not value:
        raise InvalidInput(f"a block key is a Telegram ID or one of {', '.join(KEY_KINDS)}:VALUE")
    return bounded_key(f"{kind}:{value.casefold() if kind == 'user' else value}")


class Lockout:
    """The counting rules of the configuration, applied through the store."""

    def __init__(
        self,
        counters: CounterStore,
        blocks: BlockStore,
        audit: AuditTrail,
        clock: Clock,
        settings: LockoutSettings,
        alerts: AlertSettings,
    ) -> None:
        self._counters = counters
        self._blocks = blocks
        self._audit = audit
        self._clock = clock
        self._settings = settings
        base = CounterRule(
            limit=None,
            window_seconds=settings.window_seconds,
            block_seconds=settings.block_seconds,
            max_block_seconds=settings.max_block_seconds,
            permanent_after=settings.permanent_after,
            remember_seconds=settings.remember_seconds,
            alert_every_seconds=alerts.suppress_seconds,
        )
        self._base = base
        self.password_rule = replace(base, limit=settings.password_max_failures)
        self.totp_rule = replace(base, limit=settings.totp_max_failures)
        self.ip_rule = replace(base, limit=settings.ip_max_failures)

    def rule(self, limit: int) -> CounterRule:
        """The configured rule with another limit (e.g. MAX_ATTEMPTS for unknown actors)."""
        return replace(self._base, limit=limit)

    async def hit(self, key: str, rule: CounterRule) -> HitResult:
        """Count one failed attempt against ``key``; a block reached here is audited.

        The store writes the block and its ``block.created`` event in one transaction; only the
        log line is written here.
        """
        result = await self._counters.hit(bounded_key(key), self._clock.now(), rule)
        if result.event is not None:
            self._audit.logged(result.event)
        return result

    async def blocked(self, keys: tuple[str, ...]) -> Block | None:
        """The active block on any of ``keys``, if one exists."""
        if not keys:
            return None
        return await self._blocks.active(tuple(map(bounded_key, keys)), self._clock.now())

    async def clear(self, key: str) -> None:
        """Forget the failures counted against ``key`` (after a success)."""
        await self._counters.reset(bounded_key(key))

    async def block(
        self, key: str, actor: str, reason: str = "blocked by an admin", seconds: int | None = None
    ) -> Block:
        """Block ``key`` by hand, for ``seconds`` or until lifted."""
        now = self._clock.now()
        until: datetime | None = None if seconds is None else now + timedelta(seconds=seconds)
        block = Block(parse_key(key), until, reason, 0, now)
        event = self._audit.draft(Kind.BLOCK_CREATED, actor=actor, subject=block.key, reason=reason)
        self._audit.logged(await self._blocks.put(block, event))
        return block

    async def unblock(self, key: str, actor: str) -> None:
        """Lift a block and forget its counter; raises :class:`NotFound` if there was none."""
        normalised = parse_key(key)
        event = self._audit.draft(Kind.BLOCK_LIFTED, actor=actor, subject=normalised)
        lifted = await self._blocks.remove(normalised, event)
        await self._counters.reset(normalised)
        if lifted is None:
            raise NotFound(f"no block on {normalised}")
        self._audit.logged(lifted)

    async def list_blocks(self) -> list[Block]:
        """Blocks in force now."""
        return await self._blocks.list(self._clock.now())

    async def prune(self) -> int:
        """Forget counters of actors who stopped trying; returns how many were dropped."""
        return await self._counters.prune(
            self._clock.now(), self._settings.window_seconds, self._settings.remember_seconds
        )
