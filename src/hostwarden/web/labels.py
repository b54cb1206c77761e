"""Readable names for audit kinds and alert kinds (the stored names stay as they are)."""

from __future__ import annotations

from typing import Final

from hostwarden.core.audit import ALL_KINDS, Kind

KIND_LABELS: Final = {
    Kind.LOGIN_SUCCEEDED: "Logged in",
    Kind.LOGIN_FAILED: "Wrong password",
    Kind.LOGIN_REFUSED: "Login refused",
    Kind.LOGOUT: "Logged out",
    Kind.TOTP_SUCCEEDED: "Code accepted",
    Kind.TOTP_FAILED: "Wrong code",
    Kind.TOTP_REPLAYED: "Code replayed",
    Kind.TOTP_REFUSED: "Code refused (2FA blocked)",
    Kind.TOTP_ENROLLED: "2FA enrolled",
    Kind.TOTP_ENROLMENT_STARTED: "2FA enrolment started",
    Kind.TOTP_RESET: "2FA reset",
    Kind.RECOVERY_USED: "Recovery code used",
    Kind.ACCESS_GRANTED: "Access granted",
    Kind.ACCESS_DENIED: "Access denied",
    Kind.ACCESS_BLOCKED: "Blocked request",
    Kind.ACCESS_UNKNOWN: "Unknown user",
    Kind.ACCESS_THROTTLED: "Rate limited",
    Kind.BLOCK_CREATED: "Blocked",
    Kind.BLOCK_LIFTED: "Unblocked",
    Kind.ACCOUNT_CREATED: "Account created",
    Kind.ACCOUNT_LOCKED: "Account locked",
    Kind.ACCOUNT_UNLOCKED: "Account unlocked",
    Kind.ACCOUNT_UPDATED: "Account changed",
    Kind.PASSWORD_CHANGED: "Password set",
    Kind.PASSWORD_REHASHED: "Password hash upgraded",
    Kind.SESSION_BINDING_MISMATCH: "Session used elsewhere",
    Kind.SESSION_REVOKED: "Session revoked",
    Kind.SESSION_EXPIRED: "Session expired",
    Kind.ALERT_RAISED: "Alert",
    Kind.ALERT_UNDELIVERABLE: "Alert undeliverable",
    Kind.ADMIN_ACTION: "Admin action",
    "admin.claimed": "Admin claimed (first run)",
    Kind.CONTAINER_ACTION: "Container action",
    Kind.IDENTITY_REVEALED: "Identities shown",
    Kind.ERROR: "Error",
}
ALERT_LABELS: Final = {
    "unauthorized": "Unauthorized attempt",
    "blocked": "Blocked after attempts",
    "factor": "Second factor",
    "security": "Security",
    "threshold": "Host threshold",
    "session": "Session",
}


def _readable(name: str) -> str:
    words = name.replace(".", " ").replace("_", " ").replace(":", " ").split()
    return " ".join(words).capitalize() if words else "-"


def kind_label(kind: object) -> str:
    """``login.failed`` -> ``Wrong password``; a kind added later reads as its words."""
    name = str(kind)
    return KIND_LABELS.get(name) or _readable(name[:64])


def alert_label(kind: object) -> str:
    """``unauthorized`` -> ``Unauthorized attempt``; others read as their words."""
    name = str(kind)
    return ALERT_LABELS.get(name) or _readable(name[:64])


def kind_choices() -> list[tuple[str, str]]:
    """Every kind with its label, ordered by label (for the audit filter)."""
    return sorted(((kind, kind_label(kind)) for kind in ALL_KINDS), key=lambda pair: pair[1])
