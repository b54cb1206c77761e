"""The bot's container commands acting on a real engine (podman), and the registry update check."""

from __future__ import annotations

import docker
import pytest

from hostwarden.bot.actions import bot_policy
from hostwarden.containers.registry import ImageRef, RegistryChecker, UpdateState
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.host.monitor import HostMonitor
from hostwarden.host.thresholds import MonitorSettings
from hostwarden.storage.base import AuditQuery
from tests.bot.conftest import ADMIN_ID, USER_ID, Harness, bot_settings, make_harness
from tests.containers.podman import IMAGE, PodmanService
from tests.doubles import Registry, serving


@pytest.fixture
async def harness(podman: PodmanService, clock: ManualClock):  # type: ignore[no-untyped-def]
    settings = bot_settings(containers=ContainerSettings(docker_url=podman.url, timeout_seconds=30))
    h, core = await make_harness(settings, clock)
    yield h
    await core.close()


async def _fresh_2fa(harness: Harness) -> None:
    secret = await harness.enrol(ADMIN_ID)
    prompt = await harness.say(ADMIN_ID, "/blocked")
    assert "2FA code" in prompt[0]
    replies = await harness.say(ADMIN_ID, harness.code(secret))
    assert replies[0] == "✅ Code accepted."


async def _confirm(harness: Harness, command: str) -> list[str]:
    [question] = await harness.say(ADMIN_ID, command)
    assert "?" in question
    [sent] = harness.session.named("SendMessage")
    assert sent.reply_markup is not None
    ok = sent.reply_markup.inline_keyboard[0][0].callback_data  # type: ignore[union-attr]
    assert ok is not None and ok.startswith("ok:")
    return await harness.press(ADMIN_ID, ok)


async def test_down_up_restart_through_the_bot_act_and_are_audited(
    harness: Harness, web_container: str, engine_client: docker.DockerClient
) -> None:
    await _fresh_2fa(harness)
    [done] = await _confirm(harness, f"/down {web_container}")
    assert "is now exited" in done
    assert engine_client.containers.get(web_container).status == "exited"
    [done] = await _confirm(harness, f"/up {web_container}")
    assert "is now running" in done
    assert engine_client.containers.get(web_container).status == "running"
    [done] = await _confirm(harness, f"/restart {web_container}")
    assert "is now running" in done

    events = await harness.core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))
    assert [e.detail["verb"] for e in reversed(events)] == ["stop", "start", "restart"]
    assert all(
        e.actor == f"tg:{ADMIN_ID}" and e.detail["container"] == web_container for e in events
    )


async def test_a_confirmation_is_single_use_and_only_for_its_asker(
    harness: Harness, web_container: str, engine_client: docker.DockerClient
) -> None:
    await _fresh_2fa(harness)
    await harness.say(ADMIN_ID, f"/down {web_container}")
    [sent] = harness.session.named("SendMessage")
    ok = sent.reply_markup.inline_keyboard[0][0].callback_data  # type: ignore[union-attr]
    assert ok is not None
    # A user pressing the admin's button: the gate maps it to containers.manage -> denied.
    await harness.press(USER_ID, ok)
    assert harness.session.named("AnswerCallbackQuery")[0].text == "Access denied."
    assert engine_client.containers.get(web_container).status == "running"
    await harness.press(ADMIN_ID, ok)
    await harness.press(ADMIN_ID, ok)  # the second press finds nothing
    assert harness.session.named("AnswerCallbackQuery")[0].text == "This confirmation has expired."
    assert len(await harness.core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))) == 1


async def test_views_logs_and_details_through_the_bot(harness: Harness, web_container: str) -> None:
    [listing] = await harness.say(USER_ID, "/containers")
    assert web_container in listing and "running" in listing
    await _fresh_2fa(harness)
    [logs] = await harness.say(ADMIN_ID, f"/logs {web_container} 20")
    assert "tick 0" in logs and "password=***" in logs and "hunter2" not in logs
    [details] = await harness.say(ADMIN_ID, f"/container {web_container}")
    assert "TZ=UTC" in details and "API_TOKEN=(hidden)" in details and "s3cr3t" not in details
    assert "Command:" in details and "hunter2" not in details  # the command line is masked too
    [missing] = await harness.say(ADMIN_ID, "/logs no-such-thing")
    assert "no such container" in missing


async def test_image_update_check_against_a_registry_double(podman: PodmanService) -> None:
    from hostwarden.containers.engine import ContainerEngine

    engine = ContainerEngine(ContainerSettings(docker_url=podman.url))
    [image] = [i for i in await engine.images() if IMAGE in i.tags]
    local_digest = image.repo_digests[0].split("@", 1)[1]
    ref = ImageRef.parse(IMAGE)
    assert (ref.registry, ref.repository, ref.tag) == (
        "localhost",
        "hostwarden-test-busybox",
        "latest",
    )

    registry = Registry()
    async with serving(registry) as url:
        checker = RegistryChecker(
            ContainerSettings(docker_url=podman.url, registries={"localhost": url})
        )
        registry.digests[(ref.repository, "latest")] = local_digest
        [same] = await checker.check([image])
        assert same.state is UpdateState.UP_TO_DATE
        registry.digests[(ref.repository, "latest")] = "sha256:" + "f" * 64
        [newer] = await checker.check([image])
        assert newer.state is UpdateState.UPDATE_AVAILABLE
        registry.digests.clear()
        [gone] = await checker.check([image])
        assert gone.state is UpdateState.UNKNOWN
    assert any(r.startswith("HEAD hostwarden-test-busybox:latest") for r in registry.requests)
    await engine.close()


async def test_images_command_shows_the_check(podman: PodmanService, clock: ManualClock) -> None:
    registry = Registry()
    async with serving(registry) as url:
        settings = bot_settings(
            containers=ContainerSettings(docker_url=podman.url, registries={"localhost": url})
        )
        h, core = await make_harness(settings, clock)
        [image] = [i for i in await h.app.services.engine.images() if IMAGE in i.tags]
        registry.digests[("hostwarden-test-busybox", "latest")] = "sha256:" + "e" * 64
        [shown] = await h.say(USER_ID, "/images")
        assert IMAGE in shown and "update available" in shown
        assert image.short_id in shown
        await core.close()


async def test_a_new_container_raises_a_security_alert(
    podman: PodmanService, engine_client: docker.DockerClient, clock: ManualClock
) -> None:
    from hostwarden.containers.engine import ContainerEngine
    from hostwarden.core.service import AccessCore
    from hostwarden.host.metrics import HostReader
    from hostwarden.storage.memory import MemoryStore

    core = AccessCore(MemoryStore(), bot_settings().core(), clock, bot_policy())
    await core.start()
    engine = ContainerEngine(ContainerSettings(docker_url=podman.url))
    monitor = HostMonitor(core.alerts, clock, MonitorSettings(), HostReader(), engine)
    assert await monitor.check({"cpu": 1.0}) == []  # the first look is the baseline
    intruder = engine_client.containers.create(IMAGE, ["sh", "-c", "true"], name="hwtest-intruder")
    try:
        alerts = await monitor.check({"cpu": 1.0})
        assert [a.title for a in alerts] == ["New container appeared"]
        assert "hwtest-intruder" in alerts[0].render()
        assert await monitor.check({"cpu": 1.0}) == []
    finally:
        intruder.remove(force=True)
        await engine.close()
        await core.close()


async def test_container_list_pages(
    podman: PodmanService,
    web_container: str,
    engine_client: docker.DockerClient,
    clock: ManualClock,
) -> None:
    other = engine_client.containers.create(IMAGE, ["sh", "-c", "true"], name=f"{web_container}-b")
    settings = bot_settings(containers=ContainerSettings(docker_url=podman.url, page_size=1))
    harness, core = await make_harness(settings, clock)
    try:
        [first] = await harness.say(USER_ID, "/containers")
        total = len(engine_client.containers.list(all=True))
        assert f"page 1 of {total}" in first
        [sent] = harness.session.named("SendMessage")
        buttons = [b.callback_data for b in sent.reply_markup.inline_keyboard[0]]  # type: ignore[union-attr]
        assert "cp:1" in buttons
        [second] = await harness.press(USER_ID, "cp:1")
        assert f"page 2 of {total}" in second
        [last] = await harness.press(USER_ID, f"cp:{total + 5}")  # clamped to the last page
        assert f"page {total} of {total}" in last
    finally:
        other.remove(force=True)
        await core.close()
