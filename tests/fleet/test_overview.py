"""``/hosts`` counts unhealthy containers from the list, which carries each one's health.

One request for the list per host, not one per running container: the engine's list already
inspects every container, and the agent sends the health along (an older agent's list, without
it, still parses: health unknown).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hostwarden.containers.engine import ContainerDetails, ContainerSummary
from hostwarden.core.clock import ManualClock
from hostwarden.fleet.overview import FleetOverview
from hostwarden.fleet.target import Fleet
from hostwarden.fleet.wire import parse
from hostwarden.fleet.wire_containers import Container, Containers
from tests.fleet_fakes import fake_host
from tests.web.fakes import FakeContainer, FakeEngine


class ListOnly(FakeEngine):
    """A fake engine that fails the test if the overview asks for a container's details."""

    async def details(self, name: str) -> ContainerDetails:
        raise AssertionError(f"the overview asked for the details of {name}")


def test_health_travels_with_the_list_and_an_older_agents_list_still_parses() -> None:
    started = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    sick = ContainerSummary("api", "0123456789ab", "api:1", "running", started, "unhealthy")
    wire = Containers(containers=(Container.of(sick),))
    [back] = parse(Containers, wire.model_dump_json().encode(), "db1").containers
    assert back.to_summary() == sick
    older = json.loads(wire.model_dump_json())
    del older["containers"][0]["health"]
    [legacy] = parse(Containers, json.dumps(older).encode(), "db1").containers
    assert legacy.to_summary().health is None


async def test_the_overview_counts_unhealthy_containers_without_reading_their_details() -> None:
    engine = ListOnly().add(
        FakeContainer("api", health="unhealthy"),
        FakeContainer("db", health="healthy"),
        FakeContainer("web"),
        FakeContainer("old", state="exited", health="unhealthy"),  # not running: not counted
    )
    fleet = Fleet([fake_host("db1", engine)])
    [row] = await FleetOverview(ManualClock(datetime.now(UTC))).read(fleet)
    assert row.reachable and (row.containers, row.running, row.unhealthy) == (4, 3, 1)
