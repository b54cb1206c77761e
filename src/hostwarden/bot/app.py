"""The bot, assembled: aiogram's Bot and Dispatcher, the gate, the routers, the background loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import Update
from aiogram.utils.token import TokenValidationError, validate_token
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from hostwarden.bot.actions import MENU
from hostwarden.bot.claim import lift_config_blocks, open_claim
from hostwarden.bot.fsm_storage import LazyFsm, StoreStorage
from hostwarden.bot.gate import AccessGate
from hostwarden.bot.handlers import admin, containers, host, hosts, menu, twofactor, updates
from hostwarden.bot.hostpick import DESTINY
from hostwarden.bot.notifiers import AppriseNotifier, TelegramNotifier
from hostwarden.bot.services import BotServices
from hostwarden.bot.webhook_guard import webhook_guard
from hostwarden.config import Settings, TelegramSettings
from hostwarden.containers.event_rules import EventJudge, EventRules
from hostwarden.containers.follower import DockerEventSource, EventFollower
from hostwarden.core.alerts import AlertDispatcher, HostNamed, Notifier
from hostwarden.core.health import StoreLossAlerts
from hostwarden.core.service import AccessCore
from hostwarden.errors import ConfigError
from hostwarden.fleet.hubside import HubAgents
from hostwarden.host.monitor import HostMonitor
from hostwarden.metrics import Metrics
from hostwarden.metrics import serve as serve_metrics

LOG = logging.getLogger("hostwarden.bot")

WEBHOOK_PREFIX = "/webhook/"
# Every kind of update, not only those with handlers: the gate must see (and count) them all.
ALL_UPDATE_TYPES = sorted(name for name in Update.model_fields if name != "update_id")
# Updates handled at once, at most: under a flood aiogram would otherwise fetch faster than the
# bot decides and keep every fetched update in memory (bench/bot_flood: 680 MiB and growing
# with a Bot API next door); beyond this the backlog stays at Telegram. One getUpdates batch
# (Telegram sends at most 100): a known user's update then waits behind at most one batch of
# strangers, not three (bench/bot_flood: user p99 37 ms instead of 55-110, same throughput).
UPDATE_TASKS = 100


def make_bot(telegram: TelegramSettings) -> Bot:
    """A Bot for the configured token, talking to ``api_base`` when one is set."""
    if telegram.token is None:
        raise ConfigError("telegram.token is not set (put the token from @BotFather in the config)")
    token = telegram.token.get_secret_value()
    try:
        validate_token(token)
    except TokenValidationError:
        raise ConfigError(
            "telegram.token does not look like a bot token (digits:letters)"
        ) from None
    api = TelegramAPIServer.from_base(telegram.api_base) if telegram.api_base else None
    session = AiohttpSession(api=api) if api else AiohttpSession()
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def routers() -> list[Router]:
    """Fresh routers with every handler, in matching order."""
    return [
        twofactor.build_router(),
        host.build_router(),
        hosts.build_router(),
        containers.build_router(),
        admin.build_router(),
        updates.build_router(),
        menu.build_router(),  # last: it answers whatever nothing else took
    ]


def build_dispatcher(services: BotServices, metrics: Metrics | None = None) -> Dispatcher:
    """A dispatcher whose every update passes the gate; ``hw`` reaches handlers as ``hw``.

    Its FSM lives in the core's store (so a code prompt survives a restart and is seen by
    every hub replica on the same database), read only when needed (:class:`LazyFsm`)."""
    # The host picked in a chat is a setting of that chat, not a conversation: it lasts.
    storage = StoreStorage(services.core.store.conversations, services.clock, lasting=[DESTINY])
    dispatcher = Dispatcher(storage=storage, disable_fsm=True, hw=services)
    fsm = dispatcher.fsm
    dispatcher.update.outer_middleware(LazyFsm(storage, fsm.events_isolation, fsm.strategy))
    dispatcher.update.outer_middleware(AccessGate(services, metrics))
    dispatcher.include_routers(*routers())
    return dispatcher


def notifiers_for(bot: Bot, telegram: TelegramSettings) -> list[Notifier]:
    """One recipient per admin chat, then one per Apprise target; each is delivered separately."""
    found: list[Notifier] = [
        TelegramNotifier(bot, chat_id) for chat_id in dict.fromkeys(telegram.admin_chat_ids)
    ]
    for number, url in enumerate(telegram.apprise_urls, start=1):
        found.append(AppriseNotifier(url.get_secret_value(), number))
    return found


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop`` is set, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _every(
    seconds: float, stop: asyncio.Event, step: Callable[[], Awaitable[object]], name: str
) -> None:
    while not stop.is_set():
        try:
            await step()
        except Exception as exc:  # a loop must outlive a passing failure (Telegram down, ...)
            LOG.warning("%s failed: %s", name, type(exc).__name__)
        await _wait(stop, seconds)


class BotApp:
    """The running product: polling or webhook, plus alert delivery, housekeeping and monitoring."""

    def __init__(
        self,
        settings: Settings,
        core: AccessCore,
        services: BotServices | None = None,
        bot: Bot | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if core.policy.rule_for(MENU) is None:
            raise ConfigError("the bot needs a core built with hostwarden.bot.actions.bot_policy()")
        self.settings = settings
        self.core = core
        self.services = services or BotServices.build(core, settings)
        self.bot = bot or make_bot(settings.telegram)
        self.metrics = metrics or Metrics()
        self.metrics.watch(core)
        self.serving = False  # True while polling or the webhook runs: /healthz reads it
        self.dispatcher = build_dispatcher(self.services, self.metrics)
        host = settings.monitor.host_label
        self.services.renderer.host = host
        # Every message to a recipient names this host (alerts, digests, store-loss alerts).
        notifiers: list[Notifier] = [
            HostNamed(n, host) for n in notifiers_for(self.bot, settings.telegram)
        ]
        self.alerts: AlertDispatcher = core.dispatcher(notifiers)
        # The outbox lives in the store: a lost store is reported to the notifiers directly.
        self.store_alerts = StoreLossAlerts(core.health, [n.send for n in notifiers], core.clock)
        self.monitor = HostMonitor(
            core.alerts, core.clock, settings.monitor, self.services.host, self.services.engine
        )
        # Enrolled agents join the fleet; their alerts enter the outbox naming their host.
        self.agents = HubAgents(
            self.services.hosts, core, settings.storage.data_dir, poll=True,
            overview=self.services.host_overview(), settings=settings.fleet,
        )  # fmt: skip
        engine = self.services.engine
        self.events = EventFollower(
            core.alerts,
            core.clock,
            DockerEventSource(settings.containers.docker_url, settings.containers.timeout_seconds),
            EventJudge(EventRules.from_settings(settings.monitor), engine.expected),
            engine=engine,
        )

    async def deliver_alerts(self) -> int:
        """Send what is due in the outbox (retried later on failure)."""
        sent = await self.alerts.deliver_due()
        self.metrics.alerts_delivered.inc(sent)
        return sent

    async def flush_deletions(self) -> int:
        return await self.services.deletions.flush(self.bot)

    async def prepare(self) -> None:
        """Before serving: unblock configured IDs, open a claim if no admin exists, warn if
        alerts have nowhere to go."""
        lifted = await lift_config_blocks(self.core)
        if lifted:
            LOG.warning("lifted %d block(s) on Telegram IDs the config allows", lifted)
        self.services.claim = await open_claim(self.core)
        if not self.alerts.has_recipients:
            LOG.warning(
                "alerts have no destination: set telegram.admin_chat_ids or telegram.apprise_urls"
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        await self.prepare()
        telegram = self.settings.telegram
        loops = [
            _every(telegram.alert_every_seconds, stop, self.deliver_alerts, "alert delivery"),
            _every(5, stop, self.flush_deletions, "message deletion"),
            self.core.maintain_forever(stop, lambda seconds: _wait(stop, seconds)),
            self.agents.run(stop),
        ]
        if self.settings.monitor.enabled:
            loops.append(self.monitor.run(stop))
            if self.settings.monitor.watch_containers:
                loops.append(self.events.run(stop))
        listen = self.settings.metrics
        if listen.port:
            loops.append(
                serve_metrics(
                    self.metrics, self.core, listen.host, listen.port, stop, lambda: self.serving
                )
            )
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            self.serving = True
            if telegram.mode == "webhook":
                await self._serve_webhook(stop)
            else:
                await self._poll(stop)
        finally:
            self.serving = False
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.services.engine.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.store_alerts.drain(), 10)
            await self.bot.session.close()

    async def _poll(self, stop: asyncio.Event) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)
        polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=ALL_UPDATE_TYPES,
                tasks_concurrency_limit=UPDATE_TASKS,
            )
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not polling.done():
            # aiogram cancels its pending long poll at once, not after the poll's timeout.
            await self.dispatcher.stop_polling()
        await polling

    def webhook_app(self) -> web.Application:
        """The aiohttp app Telegram posts to: one secret path, the secret-token header checked."""
        hook = self.settings.telegram.webhook
        assert hook.path_secret is not None and hook.secret_token is not None  # checked by config
        path = WEBHOOK_PREFIX + hook.path_secret.get_secret_value()
        secret = hook.secret_token.get_secret_value()
        app = web.Application(
            middlewares=[webhook_guard(self.core.lockout, path, secret, hook.allowed_networks)]
        )
        SimpleRequestHandler(self.dispatcher, self.bot, secret_token=secret).register(
            app, path=path
        )
        return app

    async def _serve_webhook(self, stop: asyncio.Event) -> None:
        hook = self.settings.telegram.webhook
        assert (
            hook.url is not None and hook.path_secret is not None and hook.secret_token is not None
        )
        runner = web.AppRunner(self.webhook_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, hook.listen_host, hook.listen_port)
        await site.start()
        try:
            await self.bot.set_webhook(
                hook.url.rstrip("/") + WEBHOOK_PREFIX + hook.path_secret.get_secret_value(),
                secret_token=hook.secret_token.get_secret_value(),
                allowed_updates=ALL_UPDATE_TYPES,
            )
            await stop.wait()
        finally:
            await runner.cleanup()
