"""The ``web`` section of the config."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebSettings(BaseModel):
    """Where the console listens and how its cookies are set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port")
    plain_http: bool = Field(
        False,
        description="serve cookies without Secure over plain HTTP; allowed on loopback only",
    )
    secret_key: SecretStr | None = Field(
        None, description="signs CSRF tokens; a random one per start if unset"
    )
    trusted_proxy: bool = Field(
        False, description="take the client address from X-Forwarded-For (behind a proxy only)"
    )

    @model_validator(mode="after")
    def _plain_http_on_loopback_only(self) -> WebSettings:
        if self.plain_http and not is_loopback(self.host):
            raise ValueError("web.plain_http is allowed only when web.host is a loopback address")
        return self

    @property
    def cookie_name(self) -> str:
        """``__Host-`` needs Secure; over plain HTTP on loopback the prefix is dropped."""
        return "hw_session" if self.plain_http else "__Host-hw_session"

    @property
    def csrf_cookie_name(self) -> str:
        return "hw_csrf" if self.plain_http else "__Host-hw_csrf"
