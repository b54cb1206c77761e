"""The event rules as a pure function: recorded Docker and podman events in, alerts out."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from hostwarden.containers.event_rules import EventJudge, EventRules
from hostwarden.containers.event_shapes import ContainerEvent, parse_event
from hostwarden.containers.expected import EXPECT_SECONDS, LATE_DIE_SECONDS, ExpectedActions
from hostwarden.containers.follower import EngineLink
from hostwarden.core.alerts import Alert
from hostwarden.core.clock import ManualClock
from tests.containers.events_recorded import (
    CID,
    PODMAN_DIE_EXIT_1,
    docker_event,
    podman_event,
    podman_outside_restart,
    podman_policy_restart,
    podman_run,
)

MIB = 1024 * 1024


class Judged:
    """A judge over a manual clock; :meth:`feed` returns the titles of the alerts raised."""

    def __init__(self, rules: EventRules | None = None) -> None:
        self.clock = ManualClock()
        self.expected = ExpectedActions()
        self.judge = EventJudge(rules or EventRules(), self.expected)
        self.alerts: list[Alert] = []

    def feed(self, *raws: dict[str, Any], **enriched: Any) -> list[str]:
        titles = []
        for raw in raws:
            event = parse_event(raw)
            if event is None:
                continue
            if enriched and event.action in ("die", "health_status"):
                event = replace(event, **enriched)
            raised = self.judge.judge(event, self.clock.now())
            self.alerts += raised
            titles += [a.title for a in raised]
        return titles


def test_both_engines_shapes_read_alike() -> None:
    died = parse_event(PODMAN_DIE_EXIT_1)
    assert died == ContainerEvent(
        "die", CID, "exp-exit1", "localhost/hostwarden-test-busybox:latest", exit_code=1
    )
    assert parse_event(docker_event("die", exit_code=3)) == ContainerEvent(
        "die", CID, "web", "nginx:1.27", exit_code=3
    )
    docker_health = parse_event(docker_event("health_status: unhealthy"))
    podman5_health = parse_event(podman_event("health_status", health_status="unhealthy"))
    podman4_health = parse_event(podman_event("health_status"))
    assert docker_health is not None and docker_health.health == "unhealthy"
    assert podman5_health is not None and podman5_health.health == "unhealthy"
    assert podman4_health is not None and podman4_health.health is None  # asked of the engine
    kill = parse_event(docker_event("kill", signal="15"))
    assert kill is not None and kill.signal == "15"
    oom = parse_event(podman_event("die", exit_code=137, oomKilled="true"))
    assert oom is not None and oom.oom_reported
    muted = parse_event(docker_event("die", exit_code=1, **{"hostwarden.alerts": "false"}))
    assert muted is not None and muted.muted_by_label
    old = parse_event({"status": "die", "id": CID, "from": "busybox", "time": 1})
    assert old is not None and (old.action, old.name, old.image) == ("die", CID[:12], "busybox")
    for ignored in (
        docker_event("exec_start: sh -c 'echo API_TOKEN=secret'"),
        podman_event("cleanup"),
        {**docker_event("die"), "Type": "image"},
        {"Action": "die"},  # no container ID
    ):
        assert parse_event(ignored) is None


def test_names_from_events_are_cut_and_stripped_and_escaped_in_the_alert() -> None:
    judged = Judged()
    hostile = "web\x1b[31m<b>\n" + "x" * 500
    [title] = judged.feed(docker_event("die", name=hostile, exit_code=1))
    assert "\x1b" not in title and "\n" not in title and len(title) < 200
    text = judged.alerts[0].render()
    assert "&lt;b&gt;" in text and "<b>\n" not in text


def test_a_non_zero_exit_alerts_once_while_it_keeps_failing() -> None:
    judged = Judged(EventRules(loop_count=100))  # the loop has its own test
    assert judged.feed(*podman_run(), PODMAN_DIE_EXIT_1) == ["Container exp-exit1 exited"]
    assert "exit code 1" in judged.alerts[0].detail
    # Started again from outside and failing again at once: the same failure, no new alert.
    for _ in range(5):
        judged.clock.advance(30)
        assert judged.feed(podman_event("start", "exp-exit1"), PODMAN_DIE_EXIT_1) == []
    # It then runs fine for a whole window before failing: a new failure.
    judged.feed(podman_event("start", "exp-exit1"))
    judged.clock.advance(11 * 60)
    assert judged.feed(PODMAN_DIE_EXIT_1) == ["Container exp-exit1 exited"]


def test_an_exit_0_not_through_hostwarden_is_a_stop() -> None:
    # podman sends only "die" (exit 0) for `podman stop` of a process that ends on SIGTERM.
    judged = Judged()
    titles = judged.feed(*podman_run(), podman_event("die", exit_code=0))
    assert titles == ["Container web stopped outside hostwarden"]
    assert "process finished" in judged.alerts[0].detail


def test_a_signal_exit_is_named() -> None:
    judged = Judged()
    assert judged.feed(docker_event("start"), docker_event("die", exit_code=137)) == [
        "Container web exited"
    ]
    assert "killed by SIGKILL" in judged.alerts[0].detail


def test_docker_oom_event_makes_one_out_of_memory_alert() -> None:
    judged = Judged()
    titles = judged.feed(
        docker_event("start"), docker_event("oom"), docker_event("die", exit_code=137)
    )
    assert titles == ["Container web killed: out of memory"]


def test_podman_oom_kill_is_told_by_exit_137_under_a_memory_limit() -> None:
    judged = Judged()
    judged.feed(*podman_run())
    titles = judged.feed(podman_event("die", exit_code=137), memory_limit=6 * MIB)
    assert titles == ["Container web killed: out of memory"]
    assert "6.0 MiB" in judged.alerts[0].detail
    judged.feed(podman_event("start"))
    assert judged.feed(podman_event("die", exit_code=137), memory_limit=6 * MIB) == []
    # The engine saying so outright (Docker's inspect, newer podman) reads the same.
    other = Judged()
    other.feed(*podman_run())
    titles = other.feed(podman_event("die", exit_code=137), oom_reported=True, memory_limit=0)
    assert titles == ["Container web killed: out of memory"]


def test_unhealthy_alerts_once_and_again_only_after_healthy() -> None:
    judged = Judged()
    judged.feed(docker_event("start"))
    unhealthy = docker_event("health_status: unhealthy")
    assert judged.feed(unhealthy, unhealthy, unhealthy) == ["Container web is unhealthy"]
    assert judged.feed(docker_event("health_status: healthy"), unhealthy) == [
        "Container web is unhealthy"
    ]
    # podman 4: a bare health_status, the status read from the engine.
    podman = Judged()
    podman.feed(*podman_run())
    bare = podman_event("health_status")
    assert podman.feed(bare, bare, health="unhealthy") == ["Container web is unhealthy"]
    assert podman.feed(bare, health="starting") == []


def test_a_restart_loop_alerts_once_when_it_reaches_the_count() -> None:
    judged = Judged(EventRules(loop_count=3, loop_window=timedelta(minutes=10)))
    judged.feed(*podman_run())
    seen = []
    for _ in range(20):
        judged.clock.advance(5)
        seen.append(judged.feed(*podman_outside_restart()))
    assert seen[2] == ["Container web is in a restart loop"]
    assert [t for titles in seen for t in titles] == ["Container web is in a restart loop"]
    # Quiet for a whole window, then looping again: a new loop.
    judged.clock.advance(11 * 60)
    again = [judged.feed(*podman_outside_restart()) for _ in range(3)]
    assert [t for titles in again for t in titles] == ["Container web is in a restart loop"]


def test_a_restart_policy_loop_gives_the_first_stop_then_the_loop() -> None:
    judged = Judged()
    judged.feed(*podman_run())
    titles = []
    for _ in range(30):
        judged.clock.advance(2)
        titles += judged.feed(*podman_policy_restart(0))
    assert titles == [
        "Container web stopped outside hostwarden",
        "Container web is in a restart loop",
    ]


def test_a_crash_loop_gives_the_exit_then_the_loop_and_nothing_more() -> None:
    judged = Judged()
    judged.feed(*podman_run())
    titles = []
    for _ in range(30):
        judged.clock.advance(2)
        titles += judged.feed(*podman_policy_restart(1))
    assert titles == ["Container web exited", "Container web is in a restart loop"]


def test_restarts_spread_wider_than_the_window_are_no_loop() -> None:
    judged = Judged(EventRules(loop_count=3, loop_window=timedelta(minutes=10)))
    judged.feed(*podman_run())
    for _ in range(10):
        judged.clock.advance(301)
        assert judged.feed(*podman_outside_restart()) == []


def test_stops_from_outside_alert_once_on_both_engines() -> None:
    judged = Judged()
    judged.feed(docker_event("start"))
    # docker stop: kill (SIGTERM), die, stop.
    titles = judged.feed(
        docker_event("kill", signal="15"), docker_event("die", exit_code=0), docker_event("stop")
    )
    assert titles == ["Container web stopped outside hostwarden"]
    # podman stop (CLI): stop, then die by SIGKILL: a stop, not an OOM kill or a crash.
    podman = Judged()
    podman.feed(*podman_run())
    titles = podman.feed(
        podman_event("stop"), podman_event("die", exit_code=137), memory_limit=6 * MIB
    )
    assert titles == ["Container web stopped outside hostwarden"]
    # docker restart: kill, die, stop, start, then "restart" as a notice: a crash after it counts.
    restarted = Judged()
    restarted.feed(docker_event("start"))
    titles = restarted.feed(
        docker_event("kill", signal="15"),
        docker_event("die", exit_code=0),
        docker_event("stop"),
        docker_event("start"),
        docker_event("restart"),
    )
    assert titles == ["Container web stopped outside hostwarden"]
    assert restarted.feed(docker_event("die", exit_code=1)) == ["Container web exited"]
    # A SIGHUP (reload) is no stop: a crash after it is a crash.
    docker = Judged()
    docker.feed(docker_event("start"), docker_event("kill", signal="1"))
    assert docker.feed(docker_event("die", exit_code=2)) == ["Container web exited"]


def test_hostwardens_own_stops_and_restarts_alert_nothing() -> None:
    judged = Judged()
    judged.feed(*podman_run())
    for _ in range(10):  # ten restarts through hostwarden: no loop either
        judged.expected.expect("restart", CID)
        assert judged.feed(podman_event("restart"), podman_event("die", exit_code=143)) == []
        assert judged.feed(podman_event("init"), podman_event("start")) == []
    judged.expected.expect("stop", CID)
    assert judged.feed(docker_event("kill", signal="15"), docker_event("die", exit_code=137)) == []
    assert judged.feed(docker_event("stop")) == []  # Docker's stop comes after the die
    assert len(judged.expected) == 0  # the die used the expectation up
    judged.feed(podman_event("start"))
    # After that, an outside stop is reported again.
    assert judged.feed(podman_event("stop"), podman_event("die", exit_code=0)) == [
        "Container web stopped outside hostwarden"
    ]


def test_hostwardens_quick_actions_are_quiet_when_podman_writes_a_die_late() -> None:
    judged = Judged()
    judged.feed(*podman_run())
    for verb in ("stop", "start", "restart"):  # asked before any of their events came
        judged.expected.expect(verb, CID)
    late = [podman_event("init"), podman_event("start"), podman_event("die", exit_code=0)]
    assert judged.feed(*late, *podman_outside_restart()) == []
    assert judged.feed(podman_event("die", exit_code=1)) == ["Container web exited"]


def test_a_start_through_hostwarden_rearms_a_failure() -> None:
    judged = Judged()
    judged.feed(*podman_run())
    assert judged.feed(podman_event("die", exit_code=1)) == ["Container web exited"]
    judged.expected.expect("start", CID)
    judged.feed(podman_event("start"))
    assert judged.feed(podman_event("die", exit_code=1)) == ["Container web exited"]


def test_an_expectation_lapses_so_it_cannot_hide_a_later_failure() -> None:
    now = [0.0]
    expected = ExpectedActions(monotonic=lambda: now[0])
    expected.expect("stop", CID)
    assert expected.explains_stop(CID)
    now[0] += EXPECT_SECONDS + 1
    assert not expected.explains_stop(CID) and not expected.take_die(CID) and len(expected) == 0
    failed = expected.expect("restart", CID)
    expected.discard(CID, failed)
    assert len(expected) == 0


def test_quick_actions_each_explain_their_own_events() -> None:
    """stop, start, restart asked before the follower saw any of their events."""
    expected = ExpectedActions()
    for verb in ("stop", "start", "restart"):
        expected.expect(verb, CID)
    assert expected.take_die(CID)  # the stop's die
    assert not expected.take_die(CID)  # a second die before our start is not ours
    assert expected.take_start(CID)  # the start's
    assert expected.explains_stop(CID) and expected.take_die(CID)  # the restart's die
    assert expected.take_start(CID) and len(expected) == 0
    # A stop whose die has not come by our start (podman writes die late) waits a little more.
    now = [0.0]
    late = ExpectedActions(monotonic=lambda: now[0])
    late.expect("stop", CID)
    late.expect("start", CID)
    assert late.take_start(CID) and late.explains_stop(CID)
    now[0] += LATE_DIE_SECONDS
    assert not late.take_die(CID) and len(late) == 0
    assert not late.take_start(CID)


@pytest.mark.parametrize("shape", [docker_event, podman_event])
def test_muted_containers_never_alert(shape: Any) -> None:
    judged = Judged(EventRules(muted=frozenset({"quiet"})))
    for name, labels in (("quiet", {}), ("web", {"hostwarden.alerts": "false"})):
        events = [shape("start", name, **labels)]
        for _ in range(5):
            events += [shape("die", name, 1, **labels), shape("start", name, **labels)]
        events.append(shape("health_status: unhealthy", name, **labels))
        assert judged.feed(*events) == []
    assert judged.feed(shape("die", "web", 1)) == ["Container web exited"]


def test_the_engine_link_alerts_once_each_way() -> None:
    clock = ManualClock()
    link = EngineLink()
    assert link.lost(clock.now()) == []  # never reached yet (no engine, or still starting)
    assert link.reached(clock.advance(5)) == []  # first contact is no news
    [lost] = link.lost(clock.now())
    assert link.lost(clock.advance(5)) == [] and link.lost(clock.advance(5)) == []
    [back] = link.reached(clock.advance(20))
    assert (lost.title, back.title) == ("Container engine unreachable", "Container engine is back")
    assert "30 s" in back.detail
    assert link.reached(clock.now()) == []
