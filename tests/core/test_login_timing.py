"""Unknown user, wrong password and locked account take the same time (medians within 15%)."""

from __future__ import annotations

import statistics
import time

from hostwarden.core.clock import ManualClock
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import LockoutSettings
from hostwarden.storage.memory import MemoryStore
from tests.conftest import fast_settings

PW = "correct horse battery"


async def test_failure_paths_take_the_same_time() -> None:
    # A high limit keeps the wrong-password account from being blocked during the run.
    settings = fast_settings(
        lockout=LockoutSettings(password_max_failures=1000, ip_max_failures=1000)
    )
    core = AccessCore(MemoryStore(), settings, ManualClock())
    await core.accounts.register("present", PW)
    await core.accounts.register("locked", PW)
    await core.accounts.lock("locked", "test")
    cases = {
        "unknown user": ("absent", PW),
        "wrong password": ("present", "wrong password"),
        "locked account": ("locked", PW),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(3):  # warm up
        for username, password in cases.values():
            await core.accounts.login(username, password, "10.0.0.1", "ua")
    for _ in range(25):  # interleaved, so drift in machine load hits every case alike
        for name, (username, password) in cases.items():
            start = time.perf_counter()
            result = await core.accounts.login(username, password, "10.0.0.1", "ua")
            samples[name].append(time.perf_counter() - start)
            assert not result.ok
    medians = {name: statistics.median(values) for name, values in samples.items()}
    fastest, slowest = min(medians.values()), max(medians.values())
    assert slowest <= fastest * 1.15, medians
