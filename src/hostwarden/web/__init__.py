"""The web admin console: Starlette + Jinja2 over hostwarden's core. Plain forms, no script."""
