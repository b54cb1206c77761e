"""``hostwarden keys rotate``: a new TOTP encryption key, without anyone enrolling again."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from hostwarden.cli.common import (
    ConfigOption,
    DatabaseOption,
    InsecureOption,
    fail,
    group,
    guarded,
    out,
    run_with_core,
    settings_for,
)

if TYPE_CHECKING:
    from hostwarden.core.service import AccessCore

app = group("Manage the key that encrypts TOTP secrets.")

KEY_VARIABLES = ("HOSTWARDEN_TOTP__ENCRYPTION_KEY", "HOSTWARDEN_TOTP__PREVIOUS_KEYS")


@app.command("rotate")
def rotate(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    allow_insecure_config: InsecureOption = False,
) -> None:
    """Generate a new key, keep the old one in totp.previous_keys, re-encrypt every secret.

    Stop the bot and the console first and start them again after: they hold the old key list.
    Recovery codes made before keep working while the old key stays in totp.previous_keys.
    """
    from hostwarden.config import default_config_path
    from hostwarden.configfile import with_rotated_key, write_private
    from hostwarden.core.secretbox import generate_key
    from hostwarden.core.settings import MAX_PREVIOUS_KEYS
    from hostwarden.errors import remember_secrets

    path = config or default_config_path()
    if path is None:
        fail("keys rotate writes the new key to the config file: give --config PATH")
    if any(name in os.environ for name in KEY_VARIABLES):
        fail("the TOTP key comes from the environment: rotate it there, not in the file")
    settings = settings_for(path, allow_insecure_config)
    current = settings.totp.encryption_key
    if current is None:
        fail("there is no totp.encryption_key to rotate (`hostwarden init` writes one)")
    previous = [current.get_secret_value()]
    previous += [key.get_secret_value() for key in settings.totp.previous_keys]
    if len(previous) > MAX_PREVIOUS_KEYS:
        fail(
            f"totp.previous_keys already holds {MAX_PREVIOUS_KEYS} keys: remove the oldest (last) "
            "once no recovery code made under it is needed, then rotate"
        )
    new_key = generate_key()
    remember_secrets([new_key])
    text = guarded(with_rotated_key, path.read_text(encoding="utf-8"), new_key, previous)
    # The file first: until every secret is re-encrypted, the old key still decrypts them.
    write_private(path, text)

    async def action(core: AccessCore) -> int:
        return await core.totp.reencrypt([user.id for user in await core.store.users.list()])

    count = run_with_core(path, database, action, allow_insecure_config)
    out.print(
        f"new TOTP key in {path} (the old one is first in totp.previous_keys); "
        f"{count} secret(s) re-encrypted. Restart hostwarden to use it.",
        markup=False,
    )
