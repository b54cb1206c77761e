"""The agent's own record of what it did: one JSON line per operation, in a bounded file.

Each line names who asked (the SHA-256 fingerprint of the hub's client certificate), what
(``restart``, ``renew``, ...), on what, and how it ended (``running``, ``refused:read-only``,
``failed:not_found``). When the file passes ``max_bytes`` it is renamed ``.1`` (``.1`` to ``.2``,
and so on up to ``keep``) and a new one is started, so the log never holds more than
``(keep + 1) * max_bytes``. Nothing secret is written: there is nothing secret in a request.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from hostwarden.core.clock import Clock, SystemClock

MAX_BYTES = 1024 * 1024
KEEP = 3


class OperationLog:
    """Appends operation lines to ``path`` (mode 0600), rotating it; safe from several threads."""

    def __init__(
        self,
        path: Path,
        clock: Clock | None = None,
        max_bytes: int = MAX_BYTES,
        keep: int = KEEP,
    ) -> None:
        self.path = path
        self._clock = clock or SystemClock()
        self._max = max_bytes
        self._keep = max(keep, 1)
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, peer: str, operation: str, target: str, outcome: str) -> None:
        """Append one line: when, who (``peer``), what (``operation`` on ``target``), outcome."""
        line = json.dumps(
            {
                "at": self._clock.now().isoformat(timespec="seconds"),
                "peer": peer,
                "op": operation,
                "target": target,
                "outcome": outcome,
            },
            ensure_ascii=True,
        )
        data = (line + "\n").encode()
        with self._lock:
            self._rotate_for(len(data))
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def lines(self) -> list[dict[str, str]]:
        """The current file's entries, oldest first (tests and ``agent`` diagnostics)."""
        if not self.path.exists():
            return []
        text = self.path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line]

    def _rotate_for(self, adding: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size + adding <= self._max:
            return
        for index in range(self._keep, 1, -1):
            older = self.path.with_name(f"{self.path.name}.{index - 1}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
