"""``python -m hostwarden``."""

from hostwarden.cli.app import main

main()
