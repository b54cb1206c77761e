"""QR codes for TOTP enrolment, as PNG bytes or terminal text (segno)."""

from __future__ import annotations

import io

import segno


def qr_png(uri: str, scale: int = 6) -> bytes:
    """The provisioning URI as a PNG image."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_text(uri: str) -> str:
    """The provisioning URI as text that a terminal shows as a scannable code."""
    out = io.StringIO()
    segno.make(uri, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()
