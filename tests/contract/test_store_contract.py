"""One contract, every backend: memory, SQLite and PostgreSQL must behave alike."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hostwarden.core.audit import Kind
from hostwarden.core.decision import (
    DecisionContext,
    DecisionPlan,
    DecisionResult,
    OutboxEntry,
    Verdict,
)
from hostwarden.core.identity import Actor, Role, User
from hostwarden.core.lockout import bounded_key
from hostwarden.core.policy import Policy
from hostwarden.core.settings import AccessSettings
from hostwarden.errors import Conflict, NotFound
from hostwarden.storage.base import (
    AuditEvent,
    AuditQuery,
    Block,
    CounterRule,
    Delivery,
    HitResult,
    Outcome,
    SessionRecord,
    TotpFactor,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULE = CounterRule(limit=3, window_seconds=600, block_seconds=60, max_block_seconds=240)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class TestUsers:
    async def test_create_get_and_case_insensitive_names(self, store: Any) -> None:
        created = await store.users.create(
            User(0, "Alice", (111, 222), frozenset({Role.ADMIN}), "hash", False, T0)
        )
        assert created.id > 0
        found = await store.users.get("alice")
        assert found == created
        assert (await store.users.by_telegram_id(222)) == created
        assert (await store.users.by_id(created.id)) == created
        assert await store.users.by_id(created.id + 1000) is None
        assert await store.users.get("bob") is None
        assert await store.users.by_telegram_id(333) is None

    async def test_names_and_telegram_ids_are_unique(self, store: Any) -> None:
        await store.users.create(User(0, "alice", (111,), frozenset({Role.USER})))
        with pytest.raises(Conflict):
            await store.users.create(User(0, "ALICE", (), frozenset({Role.USER})))
        with pytest.raises(Conflict):
            await store.users.create(User(0, "bob", (111,), frozenset({Role.USER})))
        assert [u.username for u in await store.users.list()] == ["alice"]

    async def test_update_roles_ids_and_lock(self, store: Any) -> None:
        user = await store.users.create(User(0, "carol", (5,), frozenset({Role.USER})))
        changed = User(user.id, "carol", (6, 7), frozenset({Role.ADMIN}), "h2", True, None)
        await store.users.update(changed)
        again = await store.users.get("carol")
        assert again is not None
        assert again.telegram_ids == (6, 7)
        assert again.roles == frozenset({Role.ADMIN})
        assert again.locked and again.password_hash == "h2"
        assert await store.users.by_telegram_id(5) is None
        with pytest.raises(NotFound):
            await store.users.update(User(9999, "nobody"))


class TestUserDelete:
    async def _user_with_everything(self, store: Any, name: str, telegram_id: int) -> User:
        user = await store.users.create(
            User(0, name, (telegram_id,), frozenset({Role.USER}), "h", False, T0)
        )
        uid = user.id
        await store.sessions.put(SessionRecord(name[0] * 64, uid, at(0), at(0)))
        await store.totp.put_factor(TotpFactor(uid, "enc", True, at(0)), uid)
        assert await store.totp.claim_step(uid, 1000, at(0))
        await store.totp.set_recovery(uid, ["r1", "r2"])
        await store.elevations.grant(uid, "telegram", at(0))
        return user

    async def test_delete_removes_the_user_and_what_refers_to_it(self, store: Any) -> None:
        gone = await self._user_with_everything(store, "dora", 41)
        kept = await self._user_with_everything(store, "emil", 42)
        assert await store.users.delete(gone.id)
        uid = gone.id
        assert await store.users.get("dora") is None
        assert await store.users.by_id(uid) is None
        assert await store.users.by_telegram_id(41) is None
        assert await store.sessions.list(user_id=uid) == []
        assert await store.totp.get_factor(uid) is None
        assert not await store.totp.use_recovery(uid, "r1")
        assert await store.totp.claim_step(uid, 1000, at(1))  # its used steps went too
        assert await store.elevations.granted_at(uid, "telegram") is None
        # The other account keeps everything.
        assert [u.username for u in await store.users.list()] == ["emil"]
        assert await store.users.by_telegram_id(42) == kept
        assert len(await store.sessions.list(user_id=kept.id)) == 1
        assert await store.totp.get_factor(kept.id) is not None
        assert await store.elevations.granted_at(kept.id, "telegram") == at(0)
        assert not await store.totp.claim_step(kept.id, 1000, at(1))
        assert await store.totp.use_recovery(kept.id, "r1")
        # The name and the Telegram ID are free again.
        again = await store.users.create(User(0, "Dora", (41,), frozenset({Role.USER})))
        assert await store.users.by_telegram_id(41) == again

    async def test_delete_of_an_unknown_id_is_false(self, store: Any) -> None:
        kept = await store.users.create(User(0, "fay", (43,), frozenset({Role.USER})))
        assert not await store.users.delete(kept.id + 1000)
        assert await store.users.list() == [kept]
        assert await store.users.delete(kept.id)
        assert not await store.users.delete(kept.id)


class TestCounters:
    async def test_counts_blocks_at_limit_and_refuses_while_blocked(self, store: Any) -> None:
        first = await store.counters.hit("tg:1", at(0), RULE)
        assert (first.counted, first.count, first.blocked) == (True, 1, False)
        await store.counters.hit("tg:1", at(1), RULE)
        third = await store.counters.hit("tg:1", at(2), RULE)
        assert third.newly_blocked and third.count == 3
        assert third.blocked_until == at(2 + 60)
        refused = await store.counters.hit("tg:1", at(3), RULE)
        assert not refused.counted and refused.blocked and refused.event is None
        block = await store.blocks.active(("ip:x", "tg:1"), at(3))
        assert block is not None and block.key == "tg:1"
        assert await store.blocks.active(("tg:1",), at(63)) is None

    async def test_back_off_doubles_up_to_the_cap_then_permanent(self, store: Any) -> None:
        rule = CounterRule(1, 600, 60, 240, permanent_after=4)
        now = 0.0
        lengths = []
        for _ in range(4):
            hit = await store.counters.hit("user:x", at(now), rule)
            assert hit.newly_blocked
            if hit.blocked_until is None:
                lengths.append(None)
                break
            lengths.append((hit.blocked_until - at(now)).total_seconds())
            now = (hit.blocked_until - T0).total_seconds() + 1
        assert lengths == [60, 120, 240, None]
        assert await store.blocks.active(("user:x",), at(10**7)) is not None

    async def test_window_restarts_the_count(self, store: Any) -> None:
        await store.counters.hit("ip:1", at(0), RULE)
        await store.counters.hit("ip:1", at(1), RULE)
        later = await store.counters.hit("ip:1", at(601), RULE)
        assert later.count == 1 and not later.blocked

    async def test_alert_due_once_per_interval(self, store: Any) -> None:
        rule = CounterRule(limit=None, window_seconds=3600, alert_every_seconds=300)
        due = [(await store.counters.hit("tg:9", at(s), rule)).alert_due for s in (0, 10, 299, 300)]
        assert due == [True, False, False, True]

    async def test_reset_prune_and_size(self, store: Any) -> None:
        for key in ("a", "b", "c"):
            await store.counters.hit(key, at(0), RULE)
        await store.counters.reset("a")
        assert await store.counters.size() == 2
        await store.counters.hit("c", at(500), RULE)
        assert await store.counters.prune(at(700), 600, 86400) == 1  # b went quiet; c did not
        assert await store.counters.size() == 1

    async def test_a_new_block_is_stored_with_its_event(self, store: Any) -> None:
        results = [await store.counters.hit("tg:7", at(n), RULE) for n in range(3)]
        assert [r.event for r in results[:2]] == [None, None]
        event = results[2].event
        assert event is not None and event.id > 0
        assert (event.kind, event.subject, event.at) == ("block.created", "tg:7", at(2))
        assert event.detail == {"until": at(62).isoformat(), "level": 1}
        assert await store.audit.query(AuditQuery(kind="block.created")) == [event]


def _event(kind: str, subject: str, n: int) -> AuditEvent:
    return AuditEvent(kind, at(n), "user:admin", subject, {"n": n})


class TestBlocks:
    async def test_put_list_remove(self, store: Any) -> None:
        made = await store.blocks.put(
            Block("tg:5", None, "by hand", 0, at(0)), _event("block.created", "tg:5", 0)
        )
        assert made.id > 0 and made.subject == "tg:5"
        await store.blocks.put(
            Block("ip:1.2.3.4", at(30), "auto", 1, at(1)), _event("block.created", "ip:1.2.3.4", 1)
        )
        keys = [b.key for b in await store.blocks.list(at(10))]
        assert keys == ["tg:5", "ip:1.2.3.4"]
        assert [b.key for b in await store.blocks.list(at(40))] == ["tg:5"]
        lifted = await store.blocks.remove("tg:5", _event("block.lifted", "tg:5", 2))
        assert lifted is not None and lifted.id > made.id
        assert await store.blocks.remove("tg:5", _event("block.lifted", "tg:5", 3)) is None
        assert await store.blocks.active(("tg:5",), at(40)) is None
        stored = await store.audit.query(AuditQuery())
        assert [(e.kind, e.detail["n"]) for e in stored] == [
            ("block.lifted", 2),
            ("block.created", 1),
            ("block.created", 0),
        ]


class TestSessions:
    async def test_touch_renews_only_live_sessions(self, store: Any) -> None:
        record = SessionRecord("a" * 64, 1, at(0), at(0), "10.0.0.1", "UA", None)
        await store.sessions.put(record)
        touched = await store.sessions.touch("a" * 64, at(100), at(-1), at(-1000))
        assert touched is not None and touched.last_seen == at(100) and touched.ip == "10.0.0.1"
        assert await store.sessions.touch("a" * 64, at(200), at(150), at(-1000)) is None  # idle
        assert await store.sessions.touch("a" * 64, at(200), at(0), at(0)) is None  # too old
        assert await store.sessions.touch("b" * 64, at(200), at(0), at(-10)) is None

    async def test_delete_by_prefix_and_user_and_purge(self, store: Any) -> None:
        for n, (h, uid) in enumerate((("ab" * 32, 1), ("ac" * 32, 1), ("cd" * 32, 2))):
            await store.sessions.put(SessionRecord(h, uid, at(n), at(n * 100)))
        assert await store.sessions.delete("ab", 2) == 0
        assert await store.sessions.delete("ab") == 1
        assert [r.user_id for r in await store.sessions.list()] == [1, 2]
        assert len(await store.sessions.list(user_id=2)) == 1
        assert await store.sessions.purge(at(150), at(-1)) == 1  # ac was idle since 100
        assert await store.sessions.delete("", 2) == 1
        assert await store.sessions.list() == []


class TestTotp:
    async def test_factor_roundtrip_and_delete(self, store: Any) -> None:
        await store.totp.put_factor(TotpFactor(7, "enc", False, at(0)), 7)
        await store.totp.put_factor(TotpFactor(7, "enc2", True, at(0)), 7)
        assert await store.totp.get_factor(7) == TotpFactor(7, "enc2", True, at(0))
        await store.totp.set_recovery(7, ["h1", "h2"])
        await store.totp.put_factor(None, 7)
        assert await store.totp.get_factor(7) is None
        assert not await store.totp.use_recovery(7, "h1")

    async def test_a_step_is_claimed_once(self, store: Any) -> None:
        assert await store.totp.claim_step(1, 1000, at(0))
        assert not await store.totp.claim_step(1, 1000, at(1))
        assert await store.totp.claim_step(2, 1000, at(1))

    async def test_recovery_codes_work_once(self, store: Any) -> None:
        await store.totp.set_recovery(3, ["x", "y"])
        assert await store.totp.use_recovery(3, "x")
        assert not await store.totp.use_recovery(3, "x")
        await store.totp.set_recovery(3, ["z"])
        assert not await store.totp.use_recovery(3, "y")


class TestElevations:
    async def test_grant_read_revoke(self, store: Any) -> None:
        await store.elevations.grant(1, "telegram", at(0))
        await store.elevations.grant(1, "telegram", at(5))
        assert await store.elevations.granted_at(1, "telegram") == at(5)
        assert await store.elevations.granted_at(1, "password") is None
        await store.elevations.revoke(1)
        assert await store.elevations.granted_at(1, "telegram") is None


class TestAudit:
    async def test_append_and_query_with_filters_and_keyset(self, store: Any) -> None:
        ids = []
        for n in range(7):
            kind = "login.failed" if n % 2 else "login.succeeded"
            event = AuditEvent(kind, at(n), f"user:u{n % 3}", "s", {"n": n})
            ids.append((await store.audit.append(event)).id)
        assert ids == sorted(ids)
        newest = await store.audit.query(AuditQuery(limit=3))
        assert [e.detail["n"] for e in newest] == [6, 5, 4]
        page2 = await store.audit.query(AuditQuery(limit=3, before_id=newest[-1].id))
        assert [e.detail["n"] for e in page2] == [3, 2, 1]
        failed = await store.audit.query(AuditQuery(kind="login.failed"))
        assert [e.detail["n"] for e in failed] == [5, 3, 1]
        by_actor = await store.audit.query(AuditQuery(actor="user:u0"))
        assert [e.detail["n"] for e in by_actor] == [6, 3, 0]
        window = await store.audit.query(AuditQuery(since=at(2), until=at(4)))
        assert [e.detail["n"] for e in window] == [3, 2]
        assert window[0].at == at(3)


class TestOutbox:
    async def test_due_lists_messages_oldest_first_up_to_the_limit(self, store: Any) -> None:
        await store.outbox.put("one", at(0))
        await store.outbox.put("two", at(1))
        assert [m.text for m in await store.outbox.due(at(0), 10)] == ["one"]
        due = await store.outbox.due(at(1), 10)
        assert [(m.text, m.deliveries) for m in due] == [("one", ()), ("two", ())]
        assert [m.text for m in await store.outbox.due(at(1), 1)] == ["one"]

    async def test_a_claim_counts_the_attempt_and_holds_off_until_its_retry(
        self, store: Any
    ) -> None:
        await store.outbox.put("one", at(0))
        [message] = await store.outbox.due(at(0), 10)
        assert await store.outbox.claim(message.id, "telegram:1", at(0), at(30))
        assert not await store.outbox.claim(message.id, "telegram:1", at(1), at(31))
        assert await store.outbox.claim(message.id, "telegram:2", at(1), at(31))
        assert not await store.outbox.settle(
            message.id, "telegram:1", Outcome.FAILED, at(2), ["telegram:1", "telegram:2"]
        )
        assert await store.outbox.due(at(29), 10) == []  # both wait for their retry
        [again] = await store.outbox.due(at(30), 10)
        assert again.delivery("telegram:1") == Delivery("telegram:1", 1, at(30))
        assert again.delivery("telegram:2") == Delivery("telegram:2", 1, at(31))
        assert again.delivery("apprise:1") is None
        assert await store.outbox.claim(message.id, "telegram:1", at(30), at(90))
        [third] = await store.outbox.due(at(30), 10)
        assert third.delivery("telegram:1") == Delivery("telegram:1", 2, at(90))
        assert not await store.outbox.claim(message.id + 1000, "telegram:1", at(30), at(90))

    async def test_each_recipient_settles_once_and_the_message_goes_when_all_have(
        self, store: Any
    ) -> None:
        everyone = ["telegram:1", "apprise:1"]
        await store.outbox.put("one", at(0))
        [message] = await store.outbox.due(at(0), 10)
        for name in everyone:
            assert await store.outbox.claim(message.id, name, at(0), at(30))
        settle = store.outbox.settle
        assert await settle(message.id, "telegram:1", Outcome.DELIVERED, at(1), everyone)
        assert not await settle(message.id, "telegram:1", Outcome.DELIVERED, at(2), everyone)
        assert not await settle(message.id, "telegram:1", Outcome.GAVE_UP, at(2), everyone)
        assert await store.outbox.due(at(29), 10) == []  # only apprise:1 is left, at 30
        [left] = await store.outbox.due(at(30), 10)
        assert left.delivery("telegram:1") == Delivery("telegram:1", 1, at(30), delivered_at=at(1))
        assert not await store.outbox.claim(message.id, "telegram:1", at(30), at(90))
        assert await store.outbox.claim(message.id, "apprise:1", at(30), at(90))
        assert await settle(message.id, "apprise:1", Outcome.GAVE_UP, at(31), everyone)
        assert await store.outbox.due(at(10**6), 10) == []
        assert not await settle(message.id, "apprise:1", Outcome.GAVE_UP, at(32), everyone)
        assert not await store.outbox.claim(message.id, "apprise:1", at(10**6), at(10**7))

    async def test_untried_recipients_keep_a_message_and_unlisted_ones_do_not(
        self, store: Any
    ) -> None:
        await store.outbox.put("one", at(0))
        [message] = await store.outbox.due(at(0), 10)
        assert await store.outbox.claim(message.id, "telegram:1", at(0), at(30))
        await store.outbox.settle(
            message.id, "telegram:1", Outcome.DELIVERED, at(0), ["telegram:1", "telegram:2"]
        )
        [still] = await store.outbox.due(at(0), 10)  # telegram:2 was never tried: due now
        assert [d.recipient for d in still.deliveries] == ["telegram:1"]
        # telegram:2 left the configuration: nobody the message waits for is left.
        await store.outbox.settle(message.id, "telegram:1", Outcome.FAILED, at(1), ["telegram:1"])
        assert await store.outbox.due(at(10**6), 10) == []

    async def test_only_one_of_concurrent_claims_wins(self, store: Any) -> None:
        await store.outbox.put("one", at(0))
        [message] = await store.outbox.due(at(0), 10)
        claims = [store.outbox.claim(message.id, "telegram:1", at(0), at(30)) for _ in range(8)]
        assert sorted(await asyncio.gather(*claims)) == [False] * 7 + [True]

    async def test_fold_counts_into_one_bucket(self, store: Any) -> None:
        for _ in range(4):
            await store.outbox.fold("m1|unauthorized", "unauthorized", at(0), at(60))
        await store.outbox.fold("m1|totp", "totp", at(0), at(60))
        assert await store.outbox.due(at(59), 10) == []
        due = await store.outbox.due(at(60), 10)
        assert sorted((m.bucket, m.count) for m in due) == [("m1|totp", 1), ("m1|unauthorized", 4)]

    async def test_a_delivered_digest_frees_its_bucket(self, store: Any) -> None:
        await store.outbox.fold("m1|totp", "totp", at(0), at(60))
        [digest] = await store.outbox.due(at(60), 10)
        assert await store.outbox.claim(digest.id, "telegram:1", at(60), at(90))
        await store.outbox.settle(
            digest.id, "telegram:1", Outcome.DELIVERED, at(60), ["telegram:1"]
        )
        assert await store.outbox.due(at(60), 10) == []
        await store.outbox.fold("m1|totp", "totp", at(61), at(120))
        [fresh] = await store.outbox.due(at(120), 10)
        assert (fresh.count, fresh.deliveries) == (1, ())

    async def test_a_digest_folded_into_while_it_is_sent_keeps_the_rest(self, store: Any) -> None:
        everyone = ["telegram:1", "apprise:1"]
        for _ in range(3):
            await store.outbox.fold("m1|totp", "totp", at(0), at(60))
        [digest] = await store.outbox.due(at(60), 10)
        assert digest.count == 3
        for name in everyone:
            assert await store.outbox.claim(digest.id, name, at(60), at(90))
        await store.outbox.fold("m1|totp", "totp", at(59), at(60))  # a late write, mid-send
        settle = store.outbox.settle
        assert await settle(digest.id, "telegram:1", Outcome.DELIVERED, at(61), everyone, seen=3)
        assert await settle(digest.id, "apprise:1", Outcome.DELIVERED, at(62), everyone, seen=3)
        [rest] = await store.outbox.due(at(62), 10)  # the fourth alert, due for everyone afresh
        assert (rest.id, rest.bucket, rest.count, rest.deliveries) == (digest.id, "m1|totp", 1, ())
        assert rest.created_at == at(62)
        await store.outbox.fold("m1|totp", "totp", at(59), at(60))  # still folds into the rest
        [rest] = await store.outbox.due(at(62), 10)
        for name in everyone:
            assert await store.outbox.claim(rest.id, name, at(62), at(92))
            assert await settle(rest.id, name, Outcome.DELIVERED, at(63), everyone, seen=2)
        assert await store.outbox.due(at(10**6), 10) == []

    async def test_a_digest_given_up_while_folded_into_keeps_the_rest(self, store: Any) -> None:
        await store.outbox.fold("m1|totp", "totp", at(0), at(60))
        [digest] = await store.outbox.due(at(60), 10)
        assert await store.outbox.claim(digest.id, "telegram:1", at(60), at(90))
        await store.outbox.fold("m1|totp", "totp", at(59), at(60))
        await store.outbox.settle(
            digest.id, "telegram:1", Outcome.GAVE_UP, at(61), ["telegram:1"], seen=1
        )
        [rest] = await store.outbox.due(at(61), 10)
        assert (rest.count, rest.deliveries) == (1, ())


MAX_ATTEMPTS = 3


def _plan_alert(
    kind: str, ref: str, actor: Actor, hit: HitResult, left: int, now: datetime
) -> OutboxEntry:
    # Even Telegram IDs fold into one digest, so that folds in one batch are covered too.
    if actor.telegram_id is not None and actor.telegram_id % 2 == 0:
        return OutboxEntry("digest", f"{T0.isoformat()}|{kind}", at(60))
    return OutboxEntry(f"{kind} {ref} attempt {hit.count}")


DECISIONS = DecisionContext(
    access=AccessSettings(max_attempts=MAX_ATTEMPTS, rate_limit=2, rate_window_seconds=10),
    unknown_rule=CounterRule(MAX_ATTEMPTS, 600, 60, 240, alert_every_seconds=300),
    rate_rule=CounterRule(limit=None, window_seconds=10),
    rule_for=Policy().rule_for,
    resolve_user=lambda user: user if user.roles else None,
    config_roles=lambda _telegram_id: frozenset(),
    mfa_fresh=lambda granted: granted is not None and granted >= at(1),
    bounded_key=bounded_key,
    plan_alert=_plan_alert,
)


def _decide(store: Any, actor: Actor, seconds: float, action: str = "host.view") -> Any:
    return store.decisions.decide(DecisionPlan(actor, action, at(seconds), DECISIONS))


def _kinds(result: DecisionResult) -> list[str]:
    return [e.kind for e in result.writes.events]


class TestDecisions:
    async def test_a_stranger_is_counted_then_blocked_with_its_event(self, store: Any) -> None:
        stranger = Actor(telegram_id=555)
        results = [await _decide(store, stranger, n) for n in range(MAX_ATTEMPTS + 1)]
        reasons = [r.decision.reason for r in results]
        assert reasons == ["unknown"] * (MAX_ATTEMPTS - 1) + ["blocked now", "blocked"]
        made = results[MAX_ATTEMPTS - 1]
        assert made.writes.block is not None and made.writes.block.key == "tg:555"
        [created] = [e for e in made.writes.events if e.kind == Kind.BLOCK_CREATED]
        assert created.subject == "tg:555" and created.id is not None
        assert await store.blocks.active(("tg:555",), at(MAX_ATTEMPTS)) == made.writes.block
        assert await store.audit.query(AuditQuery(kind=Kind.BLOCK_CREATED)) == [created]
        assert _kinds(results[-1]) == [Kind.ACCESS_BLOCKED] and results[-1].writes.block is None

    async def test_concurrent_decisions_for_one_stranger_count_exactly_max_attempts(
        self, store: Any
    ) -> None:
        stranger = Actor(telegram_id=557)
        results = await asyncio.gather(
            *(_decide(store, stranger, 0) for _ in range(2 * MAX_ATTEMPTS))
        )
        assert Counter(r.decision.reason for r in results) == {
            "unknown": MAX_ATTEMPTS - 1,
            "blocked now": 1,
            "blocked": MAX_ATTEMPTS,
        }
        unknown = await store.audit.query(AuditQuery(kind=Kind.ACCESS_UNKNOWN))
        assert sorted(e.detail["attempt"] for e in unknown) == list(range(1, MAX_ATTEMPTS + 1))
        assert len(await store.audit.query(AuditQuery(kind=Kind.BLOCK_CREATED))) == 1
        assert [b.key for b in await store.blocks.list(at(0))] == ["tg:557"]

    async def test_event_ids_follow_the_decisions_and_read_back_as_written(
        self, store: Any
    ) -> None:
        strangers = [Actor(telegram_id=601), Actor(username="Mallory", ip="192.0.2.7")]
        results = await asyncio.gather(*(_decide(store, a, 1) for a in strangers * 2))
        events = [e for r in results for e in r.writes.events]
        ids = [e.id for e in events]
        assert all(isinstance(i, int) for i in ids) and ids == sorted(set(ids))
        stored = await store.audit.query(AuditQuery(limit=100))
        assert list(reversed(stored)) == events
        assert events[0].at == at(1) and events[0].detail == {"action": "host.view", "attempt": 1}
        assert results[1].writes.counter is not None
        assert results[1].writes.counter[0] == "user:mallory"

    async def test_a_known_user_is_rate_limited_and_2fa_reads_factor_and_elevation(
        self, store: Any
    ) -> None:
        root = await store.users.create(User(0, "root", (777,), frozenset({Role.ADMIN})))
        actor = Actor(telegram_id=777)
        denied = await _decide(store, actor, 0, "containers.manage")
        assert (denied.decision.verdict, denied.decision.reason) == (
            Verdict.DENY,
            "no second factor",
        )
        assert denied.decision.user == root
        await store.totp.put_factor(TotpFactor(root.id, "enc", True, at(0)), root.id)
        await store.elevations.grant(root.id, "telegram", at(0))
        asked = await _decide(store, actor, 20, "containers.manage")
        assert asked.decision.verdict is Verdict.ASK_TOTP  # granted at 0: not fresh here
        await store.elevations.grant(root.id, "telegram", at(1))
        allowed = await _decide(store, actor, 40, "containers.manage")
        assert allowed.decision.allowed and _kinds(allowed) == [Kind.ACCESS_GRANTED]
        rated = [await _decide(store, actor, 60) for _ in range(4)]
        assert [r.decision.reason for r in rated] == ["allowed", "allowed", "rate", "rate"]
        assert [_kinds(r) for r in rated[2:]] == [[Kind.ACCESS_THROTTLED], []]

    async def test_alerts_reach_the_outbox_alone_or_folded(self, store: Any) -> None:
        actors = [Actor(telegram_id=n) for n in (701, 702, 704, 706)]
        results = await asyncio.gather(*(_decide(store, a, 0) for a in actors))
        assert all(Kind.ALERT_RAISED in _kinds(r) for r in results)
        [alone] = await store.outbox.due(at(0), 10)
        assert (alone.text, alone.count, alone.bucket) == ("unauthorized tg:701 attempt 1", 1, None)
        due = await store.outbox.due(at(60), 10)
        assert [(m.text, m.count) for m in due] == [(alone.text, 1), ("digest", 3)]


class TestKeyRotation:
    async def test_reencrypting_keeps_each_factor_its_steps_and_its_recovery_codes(
        self, store: Any
    ) -> None:
        from pydantic import SecretStr

        from hostwarden.core.clock import ManualClock
        from hostwarden.core.secretbox import SecretBox, generate_key
        from hostwarden.core.service import AccessCore
        from hostwarden.core.settings import TotpSettings
        from tests.conftest import fast_settings

        old, new = generate_key(), generate_key()
        user = await store.users.create(
            User(0, "kim", (5,), frozenset({Role.USER}), None, False, at(0))
        )
        before = AccessCore(store, fast_settings(totp=TotpSettings(encryption_key=SecretStr(old))))
        sealed = SecretBox(old).encrypt("JBSWY3DPEHPK3PXP")
        await store.totp.put_factor(TotpFactor(user.id, sealed, True, at(5)), user.id)
        codes = await before.totp.new_recovery_codes(user)
        assert await store.totp.claim_step(user.id, 77, at(6))
        rotated = TotpSettings(encryption_key=SecretStr(new), previous_keys=[SecretStr(old)])
        after = AccessCore(store, fast_settings(totp=rotated), ManualClock())

        assert await after.totp.reencrypt([user.id, user.id + 1000]) == 1  # no factor: skipped
        factor = await store.totp.get_factor(user.id)
        assert factor is not None and factor.confirmed and factor.created_at == at(5)
        assert SecretBox(new).decrypt(factor.secret_encrypted) == "JBSWY3DPEHPK3PXP"
        assert not await store.totp.claim_step(user.id, 77, at(7))  # used steps stay used
        outcome = await after.totp.use_recovery_code(user, codes[0])
        assert outcome.value == "accepted"  # hashed under the old key
