"""An alert sink for the event tests: what the follower raised, in order."""

from __future__ import annotations

from hostwarden.core.alerts import Alert


class Sink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def raise_alert(self, alert: Alert) -> None:
        self.alerts.append(alert)

    @property
    def titles(self) -> list[str]:
        return [a.title for a in self.alerts]
