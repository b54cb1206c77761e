"""The ``hostwarden`` entry point.

``hostwarden --version`` answers before anything else is imported; every other command loads
the command tree (:mod:`hostwarden.cli.root`), whose modules import the database, the bot and the
settings only inside the commands that use them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from hostwarden import __version__

if TYPE_CHECKING:
    import typer


def __getattr__(name: str) -> typer.Typer:
    """``app``: the command tree, imported on first use."""
    if name == "app":
        from hostwarden.cli.root import app

        return app
    raise AttributeError(name)


def main() -> None:
    """Entry point: no traceback ever reaches the user."""
    if sys.argv[1:] == ["--version"]:
        print(f"hostwarden {__version__}")
        return
    from hostwarden.cli.common import err, one_line, unexpected
    from hostwarden.cli.root import app
    from hostwarden.errors import HostwardenError

    try:
        app()
    except HostwardenError as exc:
        err.print(f"error: {one_line(str(exc))}", markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the last guard; commands handle their expected errors
        err.print(f"error: {unexpected(exc)}", markup=False)  # secrets masked
        sys.exit(2)
