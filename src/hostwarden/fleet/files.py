"""Key and certificate files: private ones 0600 in 0700 folders, written atomically.

A private key is written to a temporary file created with mode 0600 (never wider, whatever the
umask), synced, then renamed over its name. Reading one refuses a file that group or others may
read or write: a key others can read is a key others hold.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from hostwarden.errors import ConfigError, NotFound

DIR_MODE = 0o700
KEY_MODE = 0o600
PUBLIC_MODE = 0o644
#: The largest key or certificate file read (a PEM certificate is about 1 KiB).
MAX_FILE = 64 * 1024


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can open (made with its parents if missing)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode``, atomically (a temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, path)


def write_private(path: Path, data: bytes) -> None:
    """Write a private key (mode 0600)."""
    write_file(path, data, KEY_MODE)


def write_public(path: Path, data: bytes) -> None:
    """Write a certificate or another public file (mode 0644)."""
    write_file(path, data, PUBLIC_MODE)


def read_file(path: Path, private: bool = False) -> bytes:
    """The bytes of ``path``; a private file must be its owner's alone. One-line errors."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NotFound(f"{path} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path} is not a regular file")
    if private and info.st_mode & 0o077:
        raise ConfigError(f"{path} may be read by others: chmod 600 it (and check who read it)")
    if info.st_size > MAX_FILE:
        raise ConfigError(f"{path} is larger than {MAX_FILE} bytes")
    return path.read_bytes()
