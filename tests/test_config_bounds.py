"""Config bounds: every setting has a range, the file a size cap, and no error path shows a secret.

The config table (``BOUNDS``) lists every number of every section but ``web`` (bounded on its
own): a value just inside each bound loads, a value just outside gives exactly one line naming the
setting and its range, and absurd values (1e14, 10**30, -1e14, inf, nan) never get further than
that line. ``test_every_setting_is_bounded`` keeps the table complete.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import types
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import annotated_types
import pytest
import yaml
from pydantic import BaseModel, SecretStr
from typer.testing import CliRunner

from hostwarden.cli.app import app, main
from hostwarden.config import MAX_CONFIG_BYTES, MAX_DEPTH, Settings, load_settings
from hostwarden.core.clock import ManualClock
from hostwarden.core.guard import Verdict
from hostwarden.core.identity import Actor
from hostwarden.core.secretbox import generate_key
from hostwarden.core.service import AccessCore
from hostwarden.core.settings import AlertSettings, LockoutSettings, SessionSettings
from hostwarden.errors import ConfigError, remember_secrets, scrub
from hostwarden.runtime import JsonFormatter
from hostwarden.storage.memory import MemoryStore
from tests.conftest import fast_settings

TEN_YEARS = 3650 * 86_400
DAY = 86_400
BIG_ID = 2**63 - 1
MIB = 1024 * 1024
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
KEY = generate_key()
STRANGER = Actor(telegram_id=987654321, username="mallory")


@dataclass(frozen=True)
class Bound:
    """One row of the config table: a setting, its lowest and highest accepted value."""

    setting: str
    low: float
    high: float
    low_exclusive: bool = False  # gt rather than ge: ``low`` itself is refused
    integer: bool = True
    companions: dict[str, Any] = field(default_factory=dict)  # other values the case needs

    def inside(self) -> list[float]:
        low = self.low + 0.001 if self.low_exclusive else self.low
        return [low, self.high]

    def outside(self) -> list[float]:
        step = 1 if self.integer else 0.001
        low = self.low if self.low_exclusive else self.low - step
        return [low, self.high + step]

    def range_words(self) -> list[str]:
        def number(value: float) -> str:
            return str(int(value)) if value == int(value) else str(value)

        lower = "more than" if self.low_exclusive else "at least"
        return [f"{lower} {number(self.low)}", f"at most {number(self.high)}"]


def seconds(setting: str, low: float, high: float, **companions: Any) -> Bound:
    return Bound(
        setting, low, high, companions={k.replace("__", "."): v for k, v in companions.items()}
    )


def fraction(setting: str, high: float) -> Bound:
    """A float above 0 and at most ``high``."""
    return Bound(setting, 0, high, low_exclusive=True, integer=False)


BOUNDS = [
    fraction("telegram.alert_every_seconds", 3600),
    Bound("telegram.challenge_seconds", 15, 900),
    Bound("telegram.qr_delete_seconds", 5, 3600),
    Bound("telegram.webhook.listen_port", 1, 65535),
    Bound("metrics.port", 0, 65535),
    Bound("fleet.poll_seconds", 5, 3600),
    Bound("fleet.request_timeout_seconds", 1, 120),
    Bound("fleet.cert_days", 1, 90),
    Bound("access.max_attempts", 1, 100),
    Bound("access.rate_limit", 0, 1_000_000),
    Bound("access.rate_window_seconds", 1, DAY),
    seconds("lockout.window_seconds", 1, TEN_YEARS),
    seconds("lockout.block_seconds", 1, TEN_YEARS, lockout__max_block_seconds=TEN_YEARS),
    seconds("lockout.max_block_seconds", 1, TEN_YEARS, lockout__block_seconds=1),
    Bound("lockout.permanent_after", 0, 1_000_000),
    seconds("lockout.remember_seconds", 1, TEN_YEARS),
    Bound("lockout.password_max_failures", 1, 1000),
    Bound("lockout.totp_max_failures", 1, 1000),
    Bound("lockout.ip_max_failures", 1, 1_000_000),
    Bound("alerts.suppress_seconds", 0, DAY),
    Bound("alerts.digest_above_per_minute", 1, 1_000_000),
    Bound("alerts.retry_seconds", 1, DAY),
    Bound("alerts.max_retry_seconds", 1, DAY),
    Bound("alerts.give_up_seconds", 60, 30 * DAY),
    Bound("sessions.idle_seconds", 30, 30 * DAY),
    Bound("sessions.absolute_seconds", 60, 365 * DAY),
    Bound("sessions.mfa_fresh_seconds", 30, DAY),
    Bound("sessions.cleanup_every_seconds", 10, DAY),
    Bound("totp.digits", 6, 8),
    Bound("totp.period", 15, 120),
    Bound("totp.valid_window", 0, 1),
    Bound("totp.recovery_codes", 1, 20),
    Bound("passwords.time_cost", 2, 20),
    Bound("passwords.memory_kib", 19456, 1_048_576),
    Bound("passwords.parallelism", 1, 16),
    Bound("passwords.min_length", 1, 1024),
    fraction("containers.timeout_seconds", 300),
    Bound("containers.page_size", 1, 50),
    Bound("containers.log_lines", 1, 1000),
    Bound("containers.max_log_lines", 1, 5000),
    fraction("containers.registry_timeout_seconds", 120),
    fraction("updates.timeout_seconds", 120),
    Bound("monitor.interval_seconds", 5, DAY),
    fraction("monitor.cpu_percent", 100),
    fraction("monitor.memory_percent", 100),
    fraction("monitor.disk_percent", 100),
    fraction("monitor.temperature_celsius", 200),
    Bound("monitor.hysteresis", 0, 100, integer=False),
    Bound("monitor.restart_loop_count", 1, 1000),
    Bound("monitor.restart_loop_minutes", 1, 1440),
]

# Lists: (setting, most entries accepted, one acceptable entry)
LIST_LENGTHS: list[tuple[str, int, Any]] = [
    ("access.allowed_telegram_ids", 10_000, 42),
    ("access.admin_telegram_ids", 10_000, 42),
    ("telegram.admin_chat_ids", 100, -100123),
    ("telegram.group_chat_ids", 10_000, -100123),
    ("telegram.apprise_urls", 100, "json://alerts.example.org/hook"),
    ("telegram.webhook.allowed_networks", 1000, "10.0.0.0/8"),
    ("containers.env_allow_list", 1000, "PATH"),
    ("monitor.muted_containers", 1000, "web"),
    ("totp.previous_keys", 10, KEY),
]

# Texts (secrets among them): (setting, most characters accepted)
TEXT_LENGTHS: list[tuple[str, int]] = [
    ("access.setup_action", 64),
    ("totp.issuer", 64),
    ("telegram.token", 256),
    ("telegram.webhook.secret_token", 256),
    ("telegram.webhook.path_secret", 256),
    ("telegram.webhook.listen_host", 255),
    ("totp.encryption_key", 256),
    ("storage.url", 4096),
    ("containers.docker_url", 2048),
    ("updates.release_feed_url", 2048),
    ("monitor.host_label", 64),
]

# Elements of ID lists: (setting, lowest, highest)
ID_BOUNDS = [
    ("access.allowed_telegram_ids", 1, BIG_ID),
    ("access.admin_telegram_ids", 1, BIG_ID),
    ("telegram.admin_chat_ids", -BIG_ID, BIG_ID),
    ("telegram.group_chat_ids", -BIG_ID, BIG_ID),
]

ABSURD = [1e14, -1e14, 10**30, -(10**30), 1e308, math.inf, -math.inf, math.nan, "1e14"]


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    tree: dict[str, Any] = {}
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def write(tmp_path: Path, values: dict[str, Any], name: str = "hostwarden.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(nested(values)), encoding="utf-8")
    path.chmod(0o600)
    return path


def value_at(settings: Settings, dotted: str) -> Any:
    value: Any = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def one_problem(path: Path) -> str:
    """The single problem loading ``path`` reports (fails if it loads, or reports more)."""
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert len(caught.value.problems) == 1, caught.value.problems
    line = caught.value.problems[0]
    assert "\n" not in line
    return line


@pytest.fixture(autouse=True)
def _forget_secrets() -> Any:
    yield
    remember_secrets([])


# -- the config table -----------------------------------------------------------------------


@pytest.mark.parametrize("bound", BOUNDS, ids=lambda b: b.setting)
def test_values_just_inside_the_bounds_load(tmp_path: Path, bound: Bound) -> None:
    for value in bound.inside():
        settings = load_settings(write(tmp_path, {bound.setting: value, **bound.companions}))
        assert value_at(settings, bound.setting) == pytest.approx(value)


@pytest.mark.parametrize("bound", BOUNDS, ids=lambda b: b.setting)
def test_values_just_outside_the_bounds_give_one_line_with_the_range(
    tmp_path: Path, bound: Bound
) -> None:
    for value in bound.outside():
        line = one_problem(write(tmp_path, {bound.setting: value, **bound.companions}))
        assert f": {bound.setting}: must be " in line
        for words in bound.range_words():
            assert words in line, line


@pytest.mark.parametrize("bound", BOUNDS, ids=lambda b: b.setting)
def test_absurd_numbers_never_overflow(tmp_path: Path, bound: Bound) -> None:
    for value in ABSURD:
        try:
            line = one_problem(write(tmp_path, {bound.setting: value, **bound.companions}))
        except OverflowError:  # pragma: no cover - what the bounds prevent
            pytest.fail(f"{bound.setting}={value!r} raised OverflowError")
        assert f": {bound.setting}: " in line


@pytest.mark.parametrize(("setting", "longest", "entry"), LIST_LENGTHS, ids=lambda x: str(x))
def test_lists_have_a_maximum_length(
    tmp_path: Path, setting: str, longest: int, entry: Any
) -> None:
    settings = load_settings(write(tmp_path, {setting: [entry] * longest}))
    assert len(value_at(settings, setting)) == longest
    line = one_problem(write(tmp_path, {setting: [entry] * (longest + 1)}))
    assert line.endswith(f": {setting}: must have at most {longest} entries; got {longest + 1}")


@pytest.mark.parametrize(("setting", "longest"), TEXT_LENGTHS, ids=lambda x: str(x))
def test_texts_have_a_maximum_length(tmp_path: Path, setting: str, longest: int) -> None:
    text = "http://h" + "x" * (longest - 8)
    loaded = value_at(load_settings(write(tmp_path, {setting: text})), setting)
    assert (loaded.get_secret_value() if isinstance(loaded, SecretStr) else loaded) == text
    line = one_problem(write(tmp_path, {setting: text + "x"}))
    assert line.endswith(f": {setting}: must have at most {longest} characters; got {longest + 1}")


@pytest.mark.parametrize(("setting", "lowest", "highest"), ID_BOUNDS, ids=lambda x: str(x))
def test_telegram_ids_fit_the_store(
    tmp_path: Path, setting: str, lowest: int, highest: int
) -> None:
    settings = load_settings(write(tmp_path, {setting: [lowest, highest]}))
    assert value_at(settings, setting) == [lowest, highest]
    for value in (lowest - 1, highest + 1, 10**30, 1e14 + 0.5):
        line = one_problem(write(tmp_path, {setting: [lowest, value]}))
        assert f": {setting}.1: " in line


def test_environment_values_out_of_range_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, {})
    monkeypatch.setenv("HOSTWARDEN_LOCKOUT__BLOCK_SECONDS", "100000000000000")
    assert one_problem(path) == (
        "environment HOSTWARDEN_LOCKOUT__BLOCK_SECONDS: lockout.block_seconds: must be at least 1"
        " and at most 315360000 (10 years); got 100000000000000"
    )
    monkeypatch.setenv("HOSTWARDEN_LOCKOUT__BLOCK_SECONDS", "1e14")
    assert "lockout.block_seconds: Input should be a valid integer" in one_problem(path)


def test_the_cli_prints_a_bound_error_as_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, {"lockout.block_seconds": 1e14})
    result = CliRunner().invoke(app, ["users", "list", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: lockout.block_seconds: must be at least 1 and at most 315360000"
        " (10 years); got 1e+14\n"
    )


def test_urls_and_networks_are_checked(tmp_path: Path) -> None:
    assert "telegram.api_base: must be an http:// or https:// URL" in one_problem(
        write(tmp_path, {"telegram.api_base": "ftp://bots.example.org"})
    )
    assert "telegram.webhook.allowed_networks.0: must be an IP network" in one_problem(
        write(tmp_path, {"telegram.webhook.allowed_networks": ["1.2.3"]})
    )
    assert "storage.data_dir: must be at most 4096 characters" in one_problem(
        write(tmp_path, {"storage.data_dir": "d" * 4097})
    )


def test_many_problems_are_capped(tmp_path: Path) -> None:
    path = write(tmp_path, {f"access.nonsense_{n}": 1 for n in range(500)})
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert len(caught.value.problems) == 21
    assert caught.value.problems[-1] == "... and 480 more problems"


def _unwrap(annotation: Any) -> Any:
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    if isinstance(annotation, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def _kinds(metadata: list[Any]) -> set[type]:
    return {type(item) for item in metadata}


def _item_metadata(item: Any) -> tuple[Any, list[Any]]:
    if get_origin(item) is Annotated:
        base, *extra = get_args(item)
        found: list[Any] = []
        for entry in extra:
            found.extend(getattr(entry, "metadata", [entry]))
        return base, found
    return item, []


def _walk(model: type[BaseModel], prefix: str) -> list[tuple[str, Any, list[Any]]]:
    leaves = []
    for name, info in model.model_fields.items():
        annotation = _unwrap(info.annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            leaves += _walk(annotation, f"{prefix}{name}.")
        else:
            leaves.append((f"{prefix}{name}", annotation, list(info.metadata)))
    return leaves


def test_every_setting_is_bounded() -> None:
    """Numbers have both bounds and a row in the table; lists and texts a maximum length."""
    numbers = set()
    low = {annotated_types.Ge, annotated_types.Gt}
    high = {annotated_types.Le, annotated_types.Lt}
    for name, annotation, metadata in _walk(Settings, ""):
        if name.startswith("web."):
            continue  # bounded with the web console
        if annotation in (int, float):
            numbers.add(name)
            assert _kinds(metadata) & low and _kinds(metadata) & high, name
        elif annotation in (str, SecretStr) or get_origin(annotation) in (list, dict):
            assert annotated_types.MaxLen in _kinds(metadata), f"{name} has no max_length"
            for item in get_args(annotation):
                base, item_meta = _item_metadata(item)
                if base in (int, float):
                    assert _kinds(item_meta) & low and _kinds(item_meta) & high, name
                elif base in (str, SecretStr):
                    assert annotated_types.MaxLen in _kinds(item_meta), f"{name} items"
    assert numbers == {bound.setting for bound in BOUNDS}


# -- the core at the bounds -----------------------------------------------------------------


def _upper(model: type[BaseModel], name: str) -> int:
    """The highest value ``model.name`` accepts (fails if it has none)."""
    highs = [m.le for m in model.model_fields[name].metadata if isinstance(m, annotated_types.Le)]
    assert highs, f"{model.__name__}.{name} has no upper bound"
    highest = highs[0]
    assert isinstance(highest, int)
    return highest


async def test_the_core_blocks_strangers_with_every_duration_at_its_maximum() -> None:
    longest = _upper(LockoutSettings, "block_seconds")
    assert longest == TEN_YEARS
    lockout = LockoutSettings(
        window_seconds=_upper(LockoutSettings, "window_seconds"),
        block_seconds=longest,
        max_block_seconds=_upper(LockoutSettings, "max_block_seconds"),
        remember_seconds=_upper(LockoutSettings, "remember_seconds"),
    )
    alerts = AlertSettings(
        suppress_seconds=_upper(AlertSettings, "suppress_seconds"),
        retry_seconds=_upper(AlertSettings, "retry_seconds"),
        max_retry_seconds=_upper(AlertSettings, "max_retry_seconds"),
    )
    sessions = SessionSettings(
        idle_seconds=_upper(SessionSettings, "idle_seconds"),
        absolute_seconds=_upper(SessionSettings, "absolute_seconds"),
        mfa_fresh_seconds=_upper(SessionSettings, "mfa_fresh_seconds"),
    )
    clock = ManualClock()
    start = clock.now()
    core = AccessCore(
        MemoryStore(), fast_settings(lockout=lockout, alerts=alerts, sessions=sessions), clock
    )
    await core.start()
    try:
        for _ in range(3):
            await core.guard.decide(STRANGER, "host.view")
        block = await core.lockout.blocked(("tg:987654321",))
        assert block is not None and block.until == start + timedelta(seconds=longest)
        assert (await core.guard.decide(STRANGER, "host.view")).verdict is Verdict.DROP
        await core.maintain()
        # Ten years later the block ends; the stranger comes back and is blocked again.
        clock.advance(longest + 1)
        assert await core.lockout.blocked(("tg:987654321",)) is None
        for _ in range(3):
            await core.guard.decide(STRANGER, "host.view")
        again = await core.lockout.blocked(("tg:987654321",))
        assert again is not None and again.until == clock.now() + timedelta(seconds=longest)
        await core.maintain()
        assert core.sessions.mfa_fresh(clock.now())
    finally:
        await core.close()


# -- the config file itself -----------------------------------------------------------------


def test_a_file_over_the_size_cap_is_refused_unparsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert MAX_CONFIG_BYTES == MIB
    path = tmp_path / "huge.yaml"
    ids = ", ".join("123456789" for _ in range(MIB // 11 + 1))
    path.write_text(f"access:\n  allowed_telegram_ids: [{ids}]\n")
    path.chmod(0o600)
    assert path.stat().st_size > MIB

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(yaml, "load", never)
    monkeypatch.setattr(yaml, "parse", never)
    monkeypatch.setattr(yaml, "safe_load", never)
    line = one_problem(path)
    assert line.startswith(f"{path}: the file is over the size limit") and "1 MiB" in line
    result = CliRunner().invoke(app, ["users", "list", "--config", str(path)])
    assert result.exit_code == 2 and result.stderr == f"error: {line}\n"


def test_a_file_at_the_size_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "padded.yaml"
    body = "lockout:\n  window_seconds: 60\n"
    path.write_text(body + "#" * (MIB - len(body) - 1) + "\n")
    path.chmod(0o600)
    assert path.stat().st_size == MIB
    assert load_settings(path).lockout.window_seconds == 60


def test_deep_nesting_and_alias_bombs_are_refused_before_they_are_built(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("access:\n  allowed_telegram_ids: " + "[" * 100_000 + "]" * 100_000 + "\n")
    deep.chmod(0o600)
    assert f"nested deeper than {MAX_DEPTH} levels" in one_problem(deep)
    bomb = tmp_path / "bomb.yaml"
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for level, name in enumerate("bcdef"):
        previous = "abcdef"[level]
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]")
    lines.append("access:\n  allowed_telegram_ids: *f")
    bomb.write_text("\n".join(lines) + "\n")
    bomb.chmod(0o600)
    assert "more than 100000 values (counting what YAML aliases repeat)" in one_problem(bomb)


# -- secrets --------------------------------------------------------------------------------


def secret_config(tmp_path: Path, **extra: Any) -> tuple[Path, list[str]]:
    """A config holding one of every kind of secret; returns it and the secrets."""
    secrets = {
        "telegram.token": TOKEN,
        "telegram.webhook.path_secret": "pathSECRETpathSECRET",
        "telegram.webhook.secret_token": "hookSECREThookSECRET",
        "telegram.apprise_urls": ["json://alerts.example.org/appriseSECRET"],
        "storage.url": "postgresql://hw:dbPASSWORD42@127.0.0.1:1/hw",
        "totp.encryption_key": KEY,
    }
    path = write(tmp_path, {**secrets, **extra})
    words = [
        TOKEN,
        TOKEN.split(":")[1],
        "pathSECRET",
        "hookSECRET",
        "appriseSECRET",
        "dbPASSWORD42",
        KEY,
    ]
    return path, words


def test_scrub_masks_every_secret_of_the_settings(tmp_path: Path) -> None:
    path, words = secret_config(tmp_path)
    settings = load_settings(path)
    remember_secrets(settings.secret_values())
    text = (
        f"GET https://api.telegram.org/bot{TOKEN}/getMe; quoted bot{TOKEN.replace(':', '%3A')};"
        " postgresql://hw:dbPASSWORD42@127.0.0.1:1/hw; json://alerts.example.org/appriseSECRET;"
        " /webhook/pathSECRETpathSECRET hookSECREThookSECRET"
        f" {KEY}"
    )
    masked = scrub(text)
    for word in words:
        assert word not in masked
    assert "/***/getMe" in masked
    assert scrub("nothing secret here") == "nothing secret here"
    assert scrub("a pw: hunter2!", ["hunter2!"]) == "a pw: ***"


def test_log_lines_never_show_a_secret(tmp_path: Path) -> None:
    path, words = secret_config(tmp_path)
    remember_secrets(load_settings(path).secret_values())
    formatter = JsonFormatter()
    for name in ("aiogram.dispatcher", "hostwarden.audit"):
        record = logging.LogRecord(
            name,
            logging.ERROR,
            __file__,
            1,
            "failed: %s",
            (f"json://alerts.example.org/appriseSECRET /bot{TOKEN}/ hookSECREThookSECRET",),
            None,
        )
        line = formatter.format(record)
        for word in words:
            assert word not in line


def test_unexpected_errors_in_the_cli_show_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, words = secret_config(tmp_path)
    from hostwarden import runtime as common  # the CLI imports these when a command runs

    def leaky(*args: object, **kwargs: object) -> None:
        raise RuntimeError(
            f"GET http://[bad/bot{TOKEN}/getMe: postgresql://hw:dbPASSWORD42@127.0.0.1:1/hw"
            f" json://alerts.example.org/appriseSECRET {KEY}"
            "\nsecond line hookSECREThookSECRET pathSECRETpathSECRET"
        )

    monkeypatch.setattr(common, "open_core", leaky)
    monkeypatch.setattr(common, "configure_logging", lambda *a, **k: None)
    monkeypatch.setattr(sys, "argv", ["hostwarden", "users", "list", "--config", str(path)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: unexpected RuntimeError: GET http://[bad/***/getMe")
    assert len(captured.err.splitlines()) == 1
    for word in words:
        assert word not in captured.out + captured.err


def test_a_bad_api_base_does_not_print_the_bot_token(tmp_path: Path) -> None:
    """aiogram's error for an unusable api_base holds ``/bot<TOKEN>/``: the real CLI masks it."""
    path, words = secret_config(
        tmp_path,
        **{
            "telegram.api_base": "http://127.0.0.1:99999",  # no such port: aiohttp's InvalidURL
            "storage.url": None,
            "storage.data_dir": str(tmp_path / "data"),
            "monitor.enabled": False,
        },
    )
    words.remove("dbPASSWORD42")
    result = subprocess.run(
        [sys.executable, "-m", "hostwarden", "bot", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "/***/" in result.stderr, result.stderr  # the failing URL is shown, masked
    assert "Traceback" not in result.stderr
    for word in [*words, f"bot{TOKEN}"]:
        assert word not in result.stdout + result.stderr
