"""The bot under 2,000 seeded hostile updates per store, with an oracle written apart from the bot.

For every update: no exception escapes; strangers and blocked users get nothing but /getmyid's
answer; nothing secret reaches a group; every reply passes Telegram's markup and length rules.
For every handler that runs: the guard's decision just before it allowed exactly the action this
test's own table gives that handler, for an actor who holds that role, with a fresh code where the
action needs one, who is not blocked, in a chat where that handler may answer.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiogram import BaseMiddleware
from aiogram.methods import TelegramMethod
from aiogram.types import TelegramObject, Update

from hostwarden.bot.actions import bot_policy
from hostwarden.bot.app import BotApp
from hostwarden.config import Settings, TelegramSettings
from hostwarden.core.clock import ManualClock
from hostwarden.core.guard import Decision, Verdict
from hostwarden.core.identity import Actor
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AccessSettings
from tests.bot.conftest import ADMIN_CHAT, bot_settings
from tests.bot.fakes import RecordingSession, make_bot, telegram_refusal, user_dict
from tests.bot.updates_gen import ALLOWED_GROUP, Sender, UpdateFactory
from tests.conftest import make_store
from tests.fleet_fakes import fleet_of

UPDATES = 2_000
USER, ADMIN, ADMIN_NO_CODE, BLOCKED_USER = 1001, 1002, 1003, 1004
BLOCKED_STRANGER = 777_000_777

# The action each handler serves, written here apart from hostwarden.bot.reading.
EXPECTED = {
    "start": "bot.menu",
    "menu": "bot.menu",
    "menu_button": "bot.menu",
    "cancel": "bot.menu",
    "anything_else": "bot.menu",
    "private_only": "bot.menu",
    "private_only_press": "bot.menu",
    "expired_press": "bot.menu",
    "cancel_manage": "bot.menu",
    "getmyid": "getmyid",
    "host_command": "host.view",
    "host_button": "host.view",
    "containers_command": "containers.view",
    "containers_button": "containers.view",
    "containers_pager": "containers.view",
    "images_command": "containers.view",
    "images_button": "containers.view",
    "container_details": "containers.inspect",
    "logs": "containers.logs",
    "ask_to_manage": "containers.manage",
    "confirmed_manage": "containers.manage",
    "check_command": "updates.check",
    "check_button": "updates.check",
    "hosts_command": "host.view",
    "hosts_button": "host.view",
    "pick_host": "bot.menu",
    "bad_host": "bot.menu",
    "enroll": "totp.enroll",
    "confirm_enrolment": "totp.enroll",
    "code_for_parked_action": "totp.verify",
    "audit": "admin.audit",
    "blocked": "admin.blocks",
    "unblock": "admin.blocks",
    "unblock_button": "admin.blocks",
    "sessions": "admin.sessions",
    "revoke": "admin.sessions",
}
# Command handlers and the commands whose text may reach them.
COMMANDS = {
    "start": {"start", "help"},
    "revoke": {"revoke"},
    "host_command": {"status", "cpu", "memory", "disks", "network", "processes", "sensors"}
    | {"uptime"},
    "ask_to_manage": {"up", "down", "restart"},
    **{
        name: {name}
        for name in ("menu", "cancel", "getmyid", "logs", "audit", "blocked", "unblock", "sessions")
    },
    "containers_command": {"containers"},
    "images_command": {"images"},
    "container_details": {"container"},
    "check_command": {"check_bot_updates"},
    "enroll": {"enroll2fa"},
    "hosts_command": {"hosts"},
    "bad_host": {"status", "cpu", "memory", "disks", "network", "processes", "sensors", "uptime"}
    | {"containers", "images", "container", "logs", "up", "down", "restart"},
}
# The fleet the fuzzed bot acts on, and the hosts USER is granted (everyone else: all).
HOSTS = ("hub", "db1", "db2")
USER_HOSTS = frozenset({"hub", "db1"})
GROUP_HANDLERS = {
    "start",
    "menu",
    "menu_button",
    "anything_else",
    "private_only",
    "private_only_press",
    "host_command",
    "host_button",
    "containers_command",
    "containers_button",
    "containers_pager",
    "images_command",
    "images_button",
    "check_command",
    "check_button",
    "hosts_command",
    "hosts_button",
    "pick_host",
    "bad_host",
}
GROUP_SECRETS = ("key by hand", "Recovery codes", "Your Telegram ID", "recovery")


class FuzzSession(RecordingSession):
    """Also remembers what Telegram would have refused (markup or length)."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []

    async def make_request(
        self,
        bot: Any,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> Any:
        refusal = telegram_refusal(method)
        if refusal is not None:
            self.refused.append(f"{type(method).__name__}: {refusal}")
        return await super().make_request(bot, method, timeout)


class Oracle:
    """Checks every handler run against the last guard decision and the store's own state."""

    def __init__(self, core: AccessCore) -> None:
        self.core = core
        self.decisions: list[tuple[Actor, str, Decision]] = []
        self.hosts: list[str | None] = []
        self.failures: list[str] = []
        self.runs: dict[str, int] = {}
        self.group_runs = 0
        decide = core.guard.decide

        async def recording_decide(actor: Actor, action: str, host: str | None = None) -> Decision:
            decision = await decide(actor, action, host)
            self.decisions.append((actor, action, decision))
            self.hosts.append(host)
            return decision

        core.guard.decide = recording_decide  # type: ignore[method-assign]

    async def check(self, name: str, event: Any, data: dict[str, Any]) -> None:
        self.runs[name] = self.runs.get(name, 0) + 1
        expected = EXPECTED.get(name)
        sender = data.get("event_from_user")
        update: Update = data["event_update"]
        where = f"{name} on {update.model_dump_json(exclude_none=True)[:300]}"
        if expected is None or sender is None or not self.decisions:
            self.failures.append(f"unexpected handler run: {where}")
            return
        actor, action, decision = self.decisions[-1]
        if actor.telegram_id != sender.id or action != expected or not decision.allowed:
            self.failures.append(f"guard allowed {action!r}/{decision.verdict}, ran {where}")
        await self._check_actor(name, expected, sender.id, where)
        reading = data.get("hw_reading")
        host = reading.host if reading is not None else None
        if host != self.hosts[-1]:
            self.failures.append(f"decided on host {self.hosts[-1]!r}, ran on {host!r}: {where}")
        if sender.id == USER and host is not None and host not in USER_HOSTS:
            self.failures.append(f"host {host!r} not granted: {where}")
        chat = data.get("event_chat")
        if chat is not None and chat.type != "private":
            self.group_runs += 1
            if name not in GROUP_HANDLERS or chat.id != ALLOWED_GROUP:
                self.failures.append(f"served in a group: {where}")
        if name in COMMANDS:
            body = update.message.text or update.message.caption if update.message else None
            word = (body or "").split()[0] if (body or "").split() else ""
            command = word[1:].split("@", 1)[0] if word.startswith("/") else None
            if command not in COMMANDS[name]:
                self.failures.append(f"command {command!r} reached {where}")

    async def _check_actor(self, name: str, expected: str, sender_id: int, where: str) -> None:
        core = self.core
        if await core.lockout.blocked((f"tg:{sender_id}",)) is not None and name != "getmyid":
            self.failures.append(f"blocked actor served: {where}")
        user = await core.directory.resolve(Actor(telegram_id=sender_id))
        rule = core.policy.rule_for(expected)
        if user is None:
            if expected != "getmyid":
                self.failures.append(f"stranger served: {where}")
            return
        if rule is None or not user.has_role(rule.role):
            self.failures.append(f"role {sorted(user.roles)} served: {where}")
        elif rule.needs_2fa:
            granted = await core.store.elevations.granted_at(user.id, "telegram")
            if not core.sessions.mfa_fresh(granted):
                self.failures.append(f"no fresh code: {where}")


def recorder(oracle: Oracle) -> BaseMiddleware:
    class Recorder(BaseMiddleware):
        async def __call__(
            self,
            handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
            event: TelegramObject,
            data: dict[str, Any],
        ) -> Any:
            await oracle.check(data["handler"].callback.__name__, event, data)
            return await handler(event, data)

    return Recorder()


def fuzz_settings() -> Settings:
    base = bot_settings()
    return base.model_copy(
        update={
            "telegram": TelegramSettings(
                token=base.telegram.token,
                admin_chat_ids=[ADMIN_CHAT],
                group_chat_ids=[ALLOWED_GROUP],
            ),
            "access": AccessSettings(
                allowed_telegram_ids=[USER, BLOCKED_USER],
                admin_telegram_ids=[ADMIN, ADMIN_NO_CODE],
                host_grants={str(USER): sorted(USER_HOSTS)},
            ),
        }
    )


def check_calls(
    calls: list[TelegramMethod[Any]], sender: Sender, strangers_ids: set[int], failures: list[str]
) -> None:
    """What one update made the bot send, against who sent it and where."""
    for call in calls:
        name = type(call).__name__
        if name == "GetMe":
            continue
        text = str(getattr(call, "text", "") or getattr(call, "caption", "") or "")
        chat_id = getattr(call, "chat_id", None)
        for stranger in strangers_ids:
            if str(stranger) in text and chat_id != stranger:
                failures.append(f"a stranger's full ID in {name} to {chat_id}")
        secretive = name == "SendPhoto" or any(word in text for word in GROUP_SECRETS)
        if isinstance(chat_id, int) and chat_id < 0 and secretive:
            failures.append(f"secret-looking {name} in group {chat_id}: {text[:80]}")
        if sender.kind in ("stranger", "blocked", "anonymous"):
            getmyid = (
                sender.kind == "stranger"
                and name == "SendMessage"
                and chat_id == sender.user_id
                and text.startswith("Your Telegram ID is")
            )
            spinner = name == "AnswerCallbackQuery" and text == ""
            if not (getmyid or spinner):
                failures.append(f"{sender.kind} {sender.user_id} got {name}: {text[:80]}")


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_bot_fuzz(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    clock = ManualClock()
    settings = fuzz_settings()
    core = AccessCore(
        await make_store(backend, tmp_path, request), settings.core(), clock, bot_policy()
    )
    await core.start()
    session = FuzzSession()
    app = BotApp(settings, core, bot=make_bot(session))
    app.services.fleet = fleet_of(*HOSTS)
    oracle = Oracle(core)
    for router in app.dispatcher.sub_routers:
        router.message.middleware(recorder(oracle))
        router.callback_query.middleware(recorder(oracle))
    try:
        await _run(app, core, session, oracle, clock, random.Random(f"fuzz-{backend}"))
    finally:
        await core.close()


async def _run(
    app: BotApp,
    core: AccessCore,
    session: FuzzSession,
    oracle: Oracle,
    clock: ManualClock,
    rng: random.Random,
) -> None:
    secrets = {}
    for admin in (ADMIN, ADMIN_NO_CODE):
        user = await core.directory.resolve(Actor(telegram_id=admin))
        assert user is not None
        enrolment = await core.totp.begin_enrolment(user)
        await core.totp.confirm_enrolment(user, pyotp.TOTP(enrolment.secret).at(clock.now()))
        secrets[admin] = enrolment.secret
    clock.advance(30)
    admin_user = await core.directory.resolve(Actor(telegram_id=ADMIN))
    assert admin_user is not None
    await core.lockout.block(f"tg:{BLOCKED_USER}", "test")
    await core.lockout.block(f"tg:{BLOCKED_STRANGER}", "test")
    book = app.services.confirmations
    book_entries = [
        (ADMIN, "restart", "web@db1", "containers.manage", "db1"),
        (ADMIN, "unblock", f"tg:{BLOCKED_STRANGER}", "admin.blocks"),
        (USER, "down", "web@db2", "containers.manage", "db2"),
        (ADMIN_NO_CODE, "up", "web@hub", "containers.manage", "hub"),
        (ADMIN, "restart", "web", "containers.manage"),  # of an older hub: no host, expired
    ]
    nonces = [await book.add(*entry) for entry in book_entries]
    strangers = [rng.randrange(10**8, 10**9) for _ in range(30)]
    senders = [
        *(Sender(s, "stranger") for s in strangers),
        Sender(BLOCKED_STRANGER, "blocked"),
        Sender(BLOCKED_USER, "blocked"),
        Sender(None, "anonymous"),
        *[Sender(USER, "user")] * 10,
        *[Sender(ADMIN, "admin")] * 10,
        *[Sender(ADMIN_NO_CODE, "admin_no_code")] * 6,
    ]
    factory = UpdateFactory(rng, senders, nonces)
    failures: list[str] = []
    for number in range(UPDATES):
        clock.advance(0.5)
        if number % 40 == 0:
            await core.store.elevations.grant(admin_user.id, "telegram", clock.now())
            for entry in book_entries:  # keep live nonces around to press
                nonces.append(await book.add(*entry))
            del nonces[: -len(book_entries) * 3]
        update, sender = factory.next()
        if sender.kind == "admin_no_code" and rng.random() < 0.05:
            code = pyotp.TOTP(secrets[ADMIN_NO_CODE]).at(clock.now())
            update = _code_message(update.update_id, ADMIN_NO_CODE, code)
        if sender.kind == "stranger" and await core.lockout.blocked((f"tg:{sender.user_id}",)):
            sender = Sender(sender.user_id, "blocked")
        session.clear()
        try:
            await app.dispatcher.feed_update(app.bot, update)
        except Exception as exc:  # the test reports which update broke the bot
            dump = update.model_dump_json(exclude_none=True)[:300]
            failures.append(f"{type(exc).__name__}: {exc!s:.100} on {dump}")
        check_calls(session.calls, sender, set(strangers), failures)
        if number % 200 == 199:
            session.clear()
            await app.deliver_alerts()
            check_calls(session.calls, Sender(ADMIN_CHAT, "admin"), set(strangers), failures)
    failures += oracle.failures + session.refused
    assert not failures, f"{len(failures)} problems, first: " + "\n".join(failures[:10])
    # The run exercised what it claims to: handlers of every role, and refusals.
    assert {"host_command", "audit", "getmyid", "anything_else", "private_only"} <= set(oracle.runs)
    assert {"ask_to_manage", "code_for_parked_action", "confirmed_manage"} <= set(oracle.runs)
    assert {"hosts_command", "pick_host", "bad_host"} <= set(oracle.runs)
    assert {"db1", "db2"} <= set(oracle.hosts)
    verdicts = {decision.verdict for _, _, decision in oracle.decisions}
    assert verdicts == set(Verdict)
    assert oracle.group_runs > 0


def _code_message(update_id: int, user_id: int, code: str) -> Update:
    """``user_id`` typing ``code`` in their private chat."""
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": 1,
                "date": 1_767_225_600,
                "chat": {"id": user_id, "type": "private"},
                "from": user_dict(user_id),
                "text": code,
            },
        }
    )
