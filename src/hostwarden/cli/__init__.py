"""The ``hostwarden`` command line (typer + rich), a thin front end over the core."""
