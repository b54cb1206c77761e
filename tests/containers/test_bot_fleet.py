"""The hub restarts a real container (podman) on the host named in the command, and only there."""

from __future__ import annotations

import docker

from hostwarden.containers.engine import ContainerEngine
from hostwarden.containers.registry import RegistryChecker
from hostwarden.containers.settings import ContainerSettings
from hostwarden.core.audit import Kind
from hostwarden.core.clock import ManualClock
from hostwarden.fleet.target import Fleet, LocalHost
from hostwarden.storage.base import AuditQuery
from tests.bot.conftest import ADMIN_ID, bot_settings, make_harness
from tests.containers.podman import PodmanService
from tests.fleet_fakes import NO_REGISTRY, fake_host
from tests.web.fakes import FakeContainer, FakeEngine, FixedHost


async def test_restart_named_host_acts_on_the_real_engine_of_that_host_only(
    podman: PodmanService,
    clock: ManualClock,
    web_container: str,
    engine_client: docker.DockerClient,
) -> None:
    before = engine_client.containers.get(web_container).attrs["State"]["StartedAt"]
    twins = {name: FakeEngine().add(FakeContainer(web_container)) for name in ("hub", "db2")}
    real = ContainerEngine(ContainerSettings(docker_url=podman.url, timeout_seconds=30))
    fleet = Fleet(
        [
            fake_host("hub", twins["hub"]),
            LocalHost("db1", FixedHost(hostname="db1"), real, RegistryChecker(NO_REGISTRY)),
            fake_host("db2", twins["db2"]),
        ]
    )
    harness, core = await make_harness(bot_settings(), clock)
    harness.app.services.fleet = fleet
    secret = await harness.enrol(ADMIN_ID)
    [prompt] = await harness.say(ADMIN_ID, f"/restart {web_container}@db1")
    assert "on host <b>db1</b>" in prompt
    [_, question] = await harness.say(ADMIN_ID, harness.code(secret))
    assert question == f"Restart container <b>{web_container}</b> on host <b>db1</b>?"
    [sent] = harness.session.named("SendMessage")[-1:]
    ok = sent.reply_markup.inline_keyboard[0][0].callback_data  # type: ignore[attr-defined]
    assert isinstance(ok, str) and ok.startswith("ok:")
    [done] = await harness.press(ADMIN_ID, ok)
    assert "on <b>db1</b> is now running" in done
    after = engine_client.containers.get(web_container).attrs["State"]["StartedAt"]
    assert after != before
    assert [t.containers_by_name[web_container].restarts for t in twins.values()] == [0, 0]
    [event] = await core.audit.query(AuditQuery(kind=Kind.CONTAINER_ACTION))
    assert (event.detail["host"], event.detail["outcome"]) == ("db1", "running")
    await real.close()
    await core.close()
