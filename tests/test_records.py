"""Records (hostwarden.records): values by value at run time, frozen to the type checker."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, datetime

import pytest
from mypy import api as mypy_api

from hostwarden.core.decision import Decision, Verdict
from hostwarden.records import record
from hostwarden.storage.base import HitResult
from hostwarden.storage.counting import CounterState


@record
class Point:
    x: int
    y: int = 0


def test_a_record_compares_and_hashes_by_value_and_has_no_dict() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(2, 1)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert {Point(1): "a"}[Point(1, 0)] == "a"
    assert dataclasses.replace(Point(1, 2), y=5) == Point(1, 5)
    with pytest.raises(AttributeError):
        Point(1).z = 3  # type: ignore[attr-defined]  # slots: no new attributes either


def test_the_decision_values_are_records_but_a_cached_state_stays_frozen() -> None:
    for kind in (Decision, HitResult, CounterState):
        assert dataclasses.is_dataclass(kind)
        assert "__dict__" not in dir(kind)
    state = CounterState(1, datetime.now(UTC), 0, datetime.now(UTC), None)
    with pytest.raises(dataclasses.FrozenInstanceError):  # the read cache hands it to callers
        state.count = 0  # type: ignore[misc]
    decision = Decision(Verdict.ALLOW, "allowed")
    assert {decision: 1}[Decision(Verdict.ALLOW, "allowed")] == 1


def test_the_type_checker_refuses_an_assignment_to_a_record_field() -> None:
    # What frozen=True checked at run time, mypy --strict checks before, here as a project that
    # imports hostwarden sees it (no config of ours; the package is typed, py.typed): this is
    # the guard that replaced it. The test command runs it on src/ too.
    program = textwrap.dedent(
        """
        from hostwarden.core.decision import Decision, Verdict
        decision = Decision(Verdict.DENY, "role")
        decision.verdict = Verdict.ALLOW
        """
    )
    out, _, status = mypy_api.run(
        ["--config-file", "", "--strict", "--no-incremental", "-c", program]
    )
    assert status == 1, out
    assert 'Property "verdict" defined in "Decision" is read-only' in out
