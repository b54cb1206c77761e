"""Enrolment tokens: ``hw1.NAME.SECRET.CAHASH``, short-lived and single-use.

- ``NAME`` is the host the token enrols (the hub checks it against what it stored);
- ``SECRET`` is 32 random URL-safe characters (192 bits); the hub stores only its SHA-256;
- ``CAHASH`` is the SHA-256 of the hub's CA certificate (like kubeadm's discovery hash): the
  agent checks the CA it receives against it before trusting or storing anything.

A token's text is a secret: it appears once, where ``hostwarden hosts add`` prints it, and never
in a log line, an error or an audit event (its ``repr`` hides it).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from hostwarden.errors import InvalidInput
from hostwarden.fleet.target import check_host_name

PREFIX = "hw1"
#: Token lifetimes, in seconds: the default and the bounds.
TOKEN_SECONDS = 15 * 60
MIN_TOKEN_SECONDS = 60
MAX_TOKEN_SECONDS = 24 * 3600
_SECRET_CHARS = 32
_TOKEN = re.compile(
    rf"{PREFIX}\.([a-z0-9](?:[a-z0-9-]{{0,30}}[a-z0-9])?)\.([A-Za-z0-9_-]{{{_SECRET_CHARS}}})"
    r"\.([0-9a-f]{64})"
)


def check_token_seconds(seconds: int) -> int:
    """``seconds`` if it is an allowed token lifetime, else :class:`InvalidInput`."""
    if not MIN_TOKEN_SECONDS <= seconds <= MAX_TOKEN_SECONDS:
        raise InvalidInput(
            f"a token lives {MIN_TOKEN_SECONDS // 60}-{MAX_TOKEN_SECONDS // 60} minutes"
        )
    return seconds


def secret_hash(secret: str) -> str:
    """What the hub stores of a token's secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class EnrolmentToken:
    """One token: the host it enrols, its secret and the hub CA's fingerprint."""

    name: str
    secret: str
    ca_hash: str

    @classmethod
    def new(cls, name: str, ca_hash: str) -> EnrolmentToken:
        """A fresh token for host ``name`` of the hub whose CA has fingerprint ``ca_hash``."""
        secret = secrets.token_urlsafe(_SECRET_CHARS * 3 // 4)
        return cls(check_host_name(name), secret, ca_hash)

    @classmethod
    def parse(cls, text: object) -> EnrolmentToken:
        """The token in ``text`` (surrounding blanks allowed); one generic error otherwise."""
        if not isinstance(text, str) or len(text) > 200:
            raise InvalidInput("that is not an enrolment token")
        match = _TOKEN.fullmatch(text.strip())
        if match is None:
            raise InvalidInput("that is not an enrolment token")
        return cls(match.group(1), match.group(2), match.group(3))

    @property
    def secret_hash(self) -> str:
        """The SHA-256 of the secret, as the hub stores it."""
        return secret_hash(self.secret)

    def reveal(self) -> str:
        """The token's text, secret included: for the one place that prints it."""
        return f"{PREFIX}.{self.name}.{self.secret}.{self.ca_hash}"

    def __repr__(self) -> str:
        return f"EnrolmentToken(name={self.name!r}, secret=***, ca_hash={self.ca_hash[:16]}...)"

    __str__ = __repr__
