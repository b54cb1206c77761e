"""The console's own policy actions, added to the core's."""

from __future__ import annotations

from hostwarden.core.identity import Role
from hostwarden.core.policy import ActionRule, Policy

ACCOUNT = "web.account"
SETTINGS = "admin.settings"
FACTORS = "web.factors"

WEB_RULES = (
    ActionRule(ACCOUNT, Role.USER, description="one's own account and sessions"),
    ActionRule(SETTINGS, Role.ADMIN, description="read the effective configuration"),
    ActionRule(FACTORS, Role.USER, True, "replace one's own recovery codes"),
)


def web_policy(base: Policy | None = None) -> Policy:
    """The core's policy (or ``base``) with the console's actions added."""
    return (base or Policy()).with_rules(*WEB_RULES)
