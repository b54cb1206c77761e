"""Whether an enrolled agent answers now: one mutual-TLS handshake, bounded in time.

``hostwarden hosts list`` shows the result as "reachable". A handshake is all it takes: the
agent must show the certificate the hub enrolled for it, for its name, at its address; no request
is sent, so the agent's API is not involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

from hostwarden.fleet.pki import agent_dns_name
from hostwarden.fleet.tls import peer_fingerprint
from hostwarden.storage.fleet import HostRecord

PROBE_SECONDS = 3.0
YES = "yes"


async def probe(host: HostRecord, context: ssl.SSLContext, seconds: float = PROBE_SECONDS) -> str:
    """``"yes"``, or ``"no (why)"`` in a few words; never raises for a network failure."""
    if host.url is None:
        return "no address"
    parts = urlsplit(host.url)
    try:
        async with asyncio.timeout(seconds):
            _, writer = await asyncio.open_connection(
                parts.hostname, parts.port or 443, ssl=context,
                server_hostname=agent_dns_name(host.name),
            )  # fmt: skip
    except TimeoutError:
        return "no (timed out)"
    except ssl.SSLCertVerificationError:
        return "no (certificate refused)"
    except ConnectionRefusedError:
        return "no (connection refused)"
    except (OSError, ssl.SSLError, ValueError) as exc:
        return f"no ({type(exc).__name__})"
    seen = peer_fingerprint(writer.get_extra_info("ssl_object"))
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
        async with asyncio.timeout(seconds):
            await writer.wait_closed()
    return YES if seen == host.fingerprint else "no (another certificate)"


async def probe_all(
    hosts: list[HostRecord], context: ssl.SSLContext, seconds: float = PROBE_SECONDS
) -> dict[str, str]:
    """:func:`probe` every host at once: the answers by name, within about ``seconds``."""
    answers = await asyncio.gather(*(probe(host, context, seconds) for host in hosts))
    return {host.name: answer for host, answer in zip(hosts, answers, strict=True)}
