"""The fleet's storage contract: memory, SQLite and PostgreSQL must behave alike.

A token is redeemed once, by one agent, before it expires; a removed host stays removed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from hostwarden.storage.base import AuditEvent, AuditQuery
from hostwarden.storage.fleet import CertInfo, HostRecord, PendingEnrolment

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def cert(n: int) -> CertInfo:
    return CertInfo(f"{n:064x}", f"{n:x}", at(30 * 86400))


def token(name: str, secret_hash: str, expires: float = 900, url: str | None = None) -> Any:
    return PendingEnrolment(name, secret_hash, url, at(0), at(expires))


class TestEnrolments:
    async def test_a_token_enrols_its_host_once(self, store: Any) -> None:
        await store.enrolments.put(token("db1", "a" * 64, url="https://10.0.0.5:9443"), at(0))
        assert [p.name for p in await store.enrolments.pending(at(1))] == ["db1"]
        host = await store.enrolments.redeem("a" * 64, "db1", at(10), cert(1))
        assert host == HostRecord(
            "db1", "https://10.0.0.5:9443", cert(1).fingerprint, "1", cert(1).not_after, at(10)
        )
        assert await store.hosts.get("db1") == host
        assert await store.enrolments.redeem("a" * 64, "db1", at(11), cert(2)) is None
        assert await store.hosts.get("db1") == host  # the replay changed nothing
        assert await store.enrolments.pending(at(11)) == []

    async def test_an_expired_wrong_or_misnamed_token_enrols_nothing(self, store: Any) -> None:
        await store.enrolments.put(token("db1", "a" * 64, expires=900), at(0))
        assert await store.enrolments.redeem("b" * 64, "db1", at(1), cert(1)) is None
        assert await store.enrolments.redeem("a" * 64, "db2", at(1), cert(1)) is None
        assert await store.enrolments.redeem("a" * 64, "db1", at(900), cert(1)) is None
        assert await store.enrolments.pending(at(900)) == []
        assert await store.hosts.list() == []

    async def test_concurrent_redemptions_of_one_token_enrol_exactly_once(self, store: Any) -> None:
        await store.enrolments.put(token("db1", "a" * 64), at(0))
        tries = [store.enrolments.redeem("a" * 64, "db1", at(1), cert(n)) for n in range(1, 9)]
        results = await asyncio.gather(*tries)
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert await store.hosts.list() == winners

    async def test_a_new_token_replaces_the_name_s_earlier_one_and_expired_ones_go(
        self, store: Any
    ) -> None:
        await store.enrolments.put(token("db1", "a" * 64), at(0))
        await store.enrolments.put(token("db2", "c" * 64, expires=60), at(0))
        await store.enrolments.put(token("db1", "b" * 64, expires=2000), at(100))
        assert [p.secret_hash for p in await store.enrolments.pending(at(100))] == ["b" * 64]
        assert await store.enrolments.redeem("a" * 64, "db1", at(101), cert(1)) is None
        assert await store.enrolments.redeem("b" * 64, "db1", at(101), cert(1)) is not None


class TestHosts:
    async def _enrolled(self, store: Any, name: str, n: int) -> HostRecord:
        await store.enrolments.put(token(name, f"{n:064x}"), at(0))
        host = await store.enrolments.redeem(f"{n:064x}", name, at(1), cert(n))
        assert host is not None
        return host

    async def test_list_seen_and_remove(self, store: Any) -> None:
        await self._enrolled(store, "db2", 2)
        await self._enrolled(store, "db1", 1)
        assert [h.name for h in await store.hosts.list()] == ["db1", "db2"]
        assert await store.hosts.seen("db1", at(50), "1.4.0")
        again = await store.hosts.get("db1")
        assert again is not None and again.last_seen == at(50) and again.agent_version == "1.4.0"
        assert await store.hosts.seen("db1", at(60), None)  # no version told: the last one kept
        again = await store.hosts.get("db1")
        assert again is not None and again.last_seen == at(60) and again.agent_version == "1.4.0"
        assert not await store.hosts.seen("nope", at(50), None)
        assert await store.hosts.remove("db1")
        assert await store.hosts.get("db1") is None
        assert not await store.hosts.remove("db1")
        assert [h.name for h in await store.hosts.list()] == ["db2"]

    async def test_remove_takes_a_pending_token_too(self, store: Any) -> None:
        await store.enrolments.put(token("db3", "d" * 64), at(0))
        assert await store.hosts.remove("db3")
        assert await store.enrolments.redeem("d" * 64, "db3", at(1), cert(3)) is None
        assert await store.hosts.get("db3") is None

    async def test_renew_only_the_certificate_still_enrolled(self, store: Any) -> None:
        old = await self._enrolled(store, "db1", 1)
        assert not await store.hosts.renew("db1", "f" * 64, cert(5))
        assert await store.hosts.renew("db1", old.fingerprint, cert(2))
        renewed = await store.hosts.get("db1")
        assert renewed is not None and renewed.cert == cert(2)
        assert renewed.enrolled_at == old.enrolled_at and renewed.url == old.url
        assert not await store.hosts.renew("db1", old.fingerprint, cert(3))  # already replaced
        await store.hosts.remove("db1")
        assert not await store.hosts.renew("db1", cert(2).fingerprint, cert(4))
        assert await store.hosts.get("db1") is None  # a renewal never brings a host back


class TestFleetEvents:
    """Each change's audit event is written in the change's own transaction, and only with it."""

    async def events(self, store: Any) -> list[tuple[str, str]]:
        found = await store.audit.query(AuditQuery())
        return sorted((event.kind, event.detail.get("url", "-")) for event in found)

    async def test_events_commit_with_their_change_and_never_without(self, store: Any) -> None:
        draft = AuditEvent("host.enrolled", at(1), "ip:192.0.2.7", "host:db1", {"serial": "1"})
        await store.enrolments.put(token("db1", "a" * 64, url="https://10.0.0.5:9443"), at(0))
        assert await store.enrolments.redeem("b" * 64, "db1", at(1), cert(1), draft) is None
        assert await self.events(store) == []  # a refused token writes no event
        assert await store.enrolments.redeem("a" * 64, "db1", at(1), cert(1), draft) is not None
        assert await self.events(store) == [("host.enrolled", "https://10.0.0.5:9443")]
        renewed = AuditEvent("host.renewed", at(2), "hub", "host:db1", {})
        assert not await store.hosts.renew("db1", "f" * 64, cert(2), renewed)
        assert await store.hosts.renew("db1", cert(1).fingerprint, cert(2), renewed)
        removed = AuditEvent("host.removed", at(3), "cli:root", "host:db1", {})
        assert await store.hosts.remove("db1", removed)
        assert not await store.hosts.remove("db1", removed)
        assert await self.events(store) == [
            ("host.enrolled", "https://10.0.0.5:9443"), ("host.removed", "-"),
            ("host.renewed", "-"),
        ]  # fmt: skip
