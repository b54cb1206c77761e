"""The ``web`` section of the config."""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from hostwarden.errors import ConfigError
from hostwarden.listening import is_loopback

MAX_HOPS = 10
LOOPBACK_NETWORKS = ["127.0.0.0/8", "::1/128"]
PLAIN_HTTP_RULE = "web.plain_http is allowed only when web.host is a loopback address"


class WebSettings(BaseModel):
    """Where the console listens, how its cookies are set, and which proxy it believes.

    Forwarded headers (``X-Forwarded-For``, ``-Proto``, ``-Host``) are read only when
    ``trusted_proxy`` is on *and* the direct peer is inside ``proxy_networks`` (loopback by
    default: a proxy on the same machine). Of ``X-Forwarded-For``, the entry written by the
    outermost of ``trusted_hops`` proxies is believed (the last one, with one proxy); whatever
    a client wrote in front of it is ignored. See :mod:`hostwarden.web.proxy`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", min_length=1, max_length=253)
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port")
    plain_http: bool = Field(
        False,
        description="serve cookies without Secure over plain HTTP; allowed on loopback only",
    )
    secret_key: SecretStr | None = Field(
        None, description="signs CSRF tokens; a random one per start if unset"
    )
    trusted_proxy: bool = Field(
        False,
        description="believe X-Forwarded-For/-Proto/-Host from a peer in proxy_networks",
    )
    trusted_hops: int = Field(
        1,
        ge=1,
        le=MAX_HOPS,
        description="how many proxies in a row append to X-Forwarded-For (1: one proxy)",
    )
    proxy_networks: list[str] = Field(
        default_factory=lambda: list(LOOPBACK_NETWORKS),
        max_length=64,
        description="addresses of the proxy itself; forwarded headers from others are ignored",
    )

    @field_validator("proxy_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network[:60]!r} is not an IP network") from None
        return value

    @model_validator(mode="after")
    def _plain_http_on_loopback_only(self) -> WebSettings:
        if self.plain_http and not is_loopback(self.host):
            raise ValueError(PLAIN_HTTP_RULE)
        return self

    def listening_on(self, host: str | None = None, port: int | None = None) -> WebSettings:
        """These settings with ``host`` and ``port`` overridden (``--host``, ``--port``).

        The overrides are validated like the file's values, so plain HTTP stays on loopback
        whatever the flag says; a refusal is a :class:`ConfigError` of one line.
        """
        values: dict[str, Any] = self.model_dump()
        if host is not None:
            values["host"] = host
        if port is not None:
            values["port"] = port
        try:
            return WebSettings.model_validate(values)
        except ValidationError as exc:
            shown = str(values["host"])[:60]
            problems = [_problem(item, shown) for item in exc.errors()]
            raise ConfigError("; ".join(problems), problems) from None

    @property
    def cookie_name(self) -> str:
        """``__Host-`` needs Secure; over plain HTTP on loopback the prefix is dropped."""
        return "hw_session" if self.plain_http else "__Host-hw_session"

    @property
    def csrf_cookie_name(self) -> str:
        """The pre-login CSRF binding's cookie (prefixed like the session's)."""
        return "hw_csrf" if self.plain_http else "__Host-hw_csrf"


def _problem(item: Any, host: str) -> str:
    where = ".".join(str(part) for part in item["loc"])
    message = str(item["msg"]).removeprefix("Value error, ")
    if message == PLAIN_HTTP_RULE:
        return f"{message}, and {host!r} is not one"
    return f"web.{where}: {message}" if where else message
