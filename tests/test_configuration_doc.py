"""docs/configuration.md is generated from the settings model: it lists every setting, right."""

from __future__ import annotations

from pathlib import Path

from hostwarden.cli.configdoc import env_name, leaves, render
from hostwarden.config import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_the_committed_file_is_what_the_model_generates() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run "
        "`uv run python -m hostwarden.cli.configdoc > docs/configuration.md`"
    )


def test_every_setting_has_a_row_with_its_default_bound_and_variable() -> None:
    text = render()
    names = [name for name, _ in leaves(Settings)]
    assert len(names) > 50 and "lockout.window_seconds" in names
    for name in names:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"`{env_name(name)}`" in row
    window = next(line for line in text.splitlines() if "`lockout.window_seconds`" in line)
    assert "`3600`" in window and "≥ 1, ≤ 315360000" in window
    assert env_name("telegram.webhook.url") == "HOSTWARDEN_TELEGRAM__WEBHOOK__URL"


def test_no_secret_default_is_written() -> None:
    from pydantic import SecretStr

    from hostwarden.cli.configdoc import default_text
    from hostwarden.core.settings import TotpSettings

    key = "k" * 44
    field = TotpSettings.model_fields["encryption_key"]
    assert default_text(field) == "none"
    shown = default_text(type(field)(default=SecretStr(key)))
    assert key not in shown and shown == "(secret)"
