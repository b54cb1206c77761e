"""Sizes and durations as people read them, for every front end's views."""

from __future__ import annotations


def human_size(value: float) -> str:
    """``1536`` becomes ``1.5 KiB``."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"


def human_duration(seconds: float) -> str:
    """``93784`` becomes ``1d 2h 3m``."""
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m" if total >= 60 else f"{secs}s")
    return " ".join(parts)
