"""Two senders over one outbox (two hub replicas): each alert is sent once, however slow sends are.

A claim is made with the time of its own send, not the time the batch read the outbox; a batch
stops before its age nears the claim window; a claim that ran out before its send is not sent
on; a digest folded into while it is sent keeps what the send did not count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from hostwarden.core.alerts import AlertDispatcher
from hostwarden.core.clock import ManualClock
from hostwarden.core.settings import AlertSettings
from hostwarden.storage.memory import MemoryStore
from hostwarden.storage.memory_outbox import MemoryOutbox

CHAT = "telegram:900000001"
Hook = Callable[[], Awaitable[None]]


class SlowChat:
    """A recipient whose every send takes ``seconds`` of the manual clock; ``during[text]``
    runs while that text is being sent (another replica's round, a late fold)."""

    name = CHAT

    def __init__(self, clock: ManualClock, log: list[str], seconds: float = 2) -> None:
        self.clock, self.log, self.seconds = clock, log, seconds
        self.during: dict[str, Hook] = {}

    async def send(self, text: str) -> None:
        self.clock.advance(self.seconds)
        for key in [k for k in self.during if k in text]:
            await self.during.pop(key)()
        self.log.append(text)


async def test_slow_sends_never_let_another_sender_repeat_an_alert(clock: ManualClock) -> None:
    store = MemoryStore()
    for n in range(40):
        await store.outbox.put(f"alert {n:02d}", clock.now())
    settings = AlertSettings(retry_seconds=30)
    sent: list[str] = []
    chat_a, chat_b = SlowChat(clock, sent), SlowChat(clock, sent)
    a = AlertDispatcher(store.outbox, [chat_a], clock, settings)
    b = AlertDispatcher(store.outbox, [chat_b], clock, settings)

    async def b_round() -> None:
        await b.deliver_due()

    chat_a.during["alert 15"] = b_round  # b's round while a sends it, 30 s into a's sending
    assert await a.deliver_due() == 12  # a's batch stopped at the send limit (24 s)
    while await store.outbox.due(clock.now(), 100):
        assert await a.deliver_due() + await b.deliver_due() > 0
    assert Counter(sent) == Counter(f"alert {n:02d}" for n in range(40))


async def test_a_batch_claims_each_send_when_it_is_made(clock: ManualClock) -> None:
    store = MemoryStore()
    for n in range(3):
        await store.outbox.put(f"alert {n}", clock.now())
    sent: list[str] = []
    chat = SlowChat(clock, sent, seconds=5)
    claims: list[tuple[datetime, datetime]] = []
    outbox = store.outbox
    claim = outbox.claim

    async def record(message_id: int, recipient: str, now: datetime, retry_at: datetime) -> bool:
        claims.append((now, retry_at))
        return await claim(message_id, recipient, now, retry_at)

    outbox.claim = record  # type: ignore[method-assign]
    start = clock.now()
    dispatcher = AlertDispatcher(outbox, [chat], clock, AlertSettings(retry_seconds=10))
    assert await dispatcher.deliver_due() == 2  # the third would start after the 8 s limit
    assert claims == [(start, start + timedelta(seconds=10)), (start + timedelta(seconds=5),
                      start + timedelta(seconds=15))]  # fmt: skip
    assert sent == ["alert 0", "alert 1"]
    assert await dispatcher.deliver_due() == 1


class SlowClaims(MemoryOutbox):
    """An outbox whose claims take ``seconds`` (a store waiting for its write lock)."""

    def __init__(self, clock: ManualClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    async def claim(
        self, message_id: int, recipient: str, now: datetime, retry_at: datetime
    ) -> bool:
        taken = await super().claim(message_id, recipient, now, retry_at)
        self.clock.advance(self.seconds)
        return taken


async def test_a_claim_that_ran_out_before_its_send_is_not_sent_on(clock: ManualClock) -> None:
    outbox = SlowClaims(clock, seconds=25)
    await outbox.fold("m|unauthorized", "unauthorized", clock.now(), clock.now())
    await outbox.fold("m|blocked", "blocked", clock.now(), clock.now())
    sent: list[str] = []
    dispatcher = AlertDispatcher(outbox, [SlowChat(clock, sent)], clock, AlertSettings())
    # The first row's claim (30 s) has 5 s left once the second is claimed: too little.
    assert await dispatcher.deliver_due() == 0
    assert sent == []
    outbox.seconds = 0
    clock.advance(60)
    assert await dispatcher.deliver_due() == 1
    [digest] = sent
    assert "2 more alerts" in digest


async def test_an_alert_folded_into_a_digest_being_sent_comes_in_the_next(
    clock: ManualClock,
) -> None:
    store = MemoryStore()
    minute = clock.now().replace(second=0, microsecond=0)
    bucket, deliver_at = f"{minute.isoformat()}|noise", minute + timedelta(minutes=1)
    for _ in range(3):
        await store.outbox.fold(bucket, "noise", clock.now(), deliver_at)
    sent: list[str] = []
    chat = SlowChat(clock, sent)

    async def late_fold() -> None:  # an alert of the last instant of the minute, written late
        await store.outbox.fold(
            bucket, "noise", deliver_at - timedelta(milliseconds=10), deliver_at
        )

    chat.during["Alert digest"] = late_fold
    dispatcher = AlertDispatcher(store.outbox, [chat], clock, AlertSettings())
    clock.advance(120)
    assert await dispatcher.deliver_due() == 1
    assert await dispatcher.deliver_due() == 1
    assert await dispatcher.deliver_due() == 0
    assert ["3 more alerts" in sent[0], "1 more alerts" in sent[1]] == [True, True]
    assert await store.outbox.due(clock.now() + timedelta(days=2), 10) == []
