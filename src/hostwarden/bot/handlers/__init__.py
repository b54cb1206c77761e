"""The bot's routers. None of them checks access: the gate has already decided."""
