"""Which role and which factors each action needs. Unknown actions are denied."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from hostwarden.core.identity import Role


@dataclass(frozen=True, slots=True)
class ActionRule:
    """What it takes to run one action."""

    name: str
    role: Role
    needs_2fa: bool = False
    description: str = ""


# Claiming the admin role with the one-time code a fresh install prints: any known user, and
# strangers too (counted like any stranger's attempt; the code decides, once).
CLAIM = "admin.claim"

# The core's own vocabulary; front ends may extend it with Policy.with_rules().
DEFAULT_RULES: tuple[ActionRule, ...] = (
    ActionRule(CLAIM, Role.USER, description="claim the admin role with the first-run code"),
    ActionRule("host.view", Role.USER, description="read CPU, memory, disks, network, uptime"),
    ActionRule("containers.view", Role.USER, description="list containers and images"),
    ActionRule("containers.inspect", Role.ADMIN, True, "container details and runtime info"),
    ActionRule("containers.logs", Role.ADMIN, True, "read container logs"),
    ActionRule("containers.manage", Role.ADMIN, True, "start, stop, restart containers"),
    ActionRule("updates.check", Role.USER, description="check for new releases"),
    ActionRule("totp.enroll", Role.USER, description="enrol a second factor"),
    ActionRule("admin.audit", Role.ADMIN, description="read the audit trail"),
    ActionRule("admin.blocks", Role.ADMIN, True, "list and lift blocks"),
    ActionRule("admin.sessions", Role.ADMIN, True, "list and revoke sessions"),
    ActionRule("admin.users", Role.ADMIN, True, "manage accounts and factors"),
)


class Policy:
    """An immutable map from action names to rules."""

    def __init__(self, rules: Iterable[ActionRule] = DEFAULT_RULES) -> None:
        self._rules: Mapping[str, ActionRule] = {rule.name: rule for rule in rules}

    def rule_for(self, action: str) -> ActionRule | None:
        """The rule for ``action``, or ``None`` when the action is unknown (and so denied)."""
        return self._rules.get(action)

    def with_rules(self, *rules: ActionRule) -> Policy:
        """A copy with ``rules`` added or replacing rules of the same name."""
        return Policy([*self._rules.values(), *rules])

    def __iter__(self) -> Iterator[ActionRule]:
        return iter(self._rules.values())
