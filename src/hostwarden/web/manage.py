"""Start, stop and restart from the console: a question naming the container and the host, then
the shared action (:func:`hostwarden.containers.actions.manage_container`), as in the bot.

Both steps ask the guard for ``containers.manage`` (admin, fresh 2FA: the step-up page first);
the GET only asks, and only a POST from that page (CSRF and confirmation tokens) acts. The
``container.action`` event names the admin (``user:NAME``), the verb, the container, the host,
the outcome and the channel ``web``.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hostwarden.containers.actions import LABELS, MANAGE, VERBS, manage_container
from hostwarden.containers.engine import check_container_name
from hostwarden.errors import HostwardenError, NotFound
from hostwarden.fleet.target import ManagedHost
from hostwarden.web.confirm import Question, ask, confirmed
from hostwarden.web.console import Console
from hostwarden.web.hostparam import named_host
from hostwarden.web.hosts import require_host
from hostwarden.web.viewer import Viewer

DONE = {"start": "Started", "stop": "Stopped", "restart": "Restarted"}


async def _what(console: Console, verb: str, name: str, host: ManagedHost) -> str:
    """What a confirmation token is for: the verb, the container and its host (``restart:web@db1``),
    so a confirmation for one host's container is worth nothing for another's; for an agent's
    host, also its enrolled certificate's fingerprint (``...@db1#FINGERPRINT``), so a page asked
    before the host was removed and enrolled again under its name acts on nothing."""
    record = await console.core.store.hosts.get(host.name)
    return f"{verb}:{name}@{host.name}" + (f"#{record.fingerprint}" if record else "")


async def _question(
    console: Console, request: Request, chosen: ManagedHost, name: str, verb: str
) -> Question:
    """The question; raises the engine's error for a container (or host) it does not know."""
    details = await chosen.engine.details(name)
    host = console.services.title(chosen)
    label = LABELS[verb]
    hq = f"?host={chosen.name}" if named_host(request) else ""
    return Question(
        f"{label} container {name} on host {host}?", await _what(console, verb, name, chosen),
        f"/containers/{quote(name)}/{verb}{hq}", label, f"/containers/{quote(name)}{hq}",
        (("Container", name), ("Host", host), ("State now", details.summary.state),
         ("Image", details.summary.image)),
        danger=verb != "start",
    )  # fmt: skip


def _problem(console: Console, request: Request, viewer: Viewer, exc: HostwardenError) -> Response:
    status = 404 if isinstance(exc, NotFound) else 400
    return console.page(request, "error.html", viewer, status, status=status, message=str(exc))


async def manage(request: Request) -> Response:
    """GET: "Restart container X on host H?"; POST from that page: do it, audited."""
    console: Console = request.app.state.console
    viewer, chosen = await require_host(console, request, MANAGE)
    form = await console.form(request, viewer) if request.method == "POST" else None
    name, verb = str(request.path_params["name"])[:200], str(request.path_params["verb"])
    if verb not in VERBS:
        return console.page(request, "error.html", viewer, 404, status=404, message="No such page.")
    try:
        check_container_name(name)
        what = await _what(console, verb, name, chosen)
        if form is None or not await confirmed(console, viewer, form, what):
            question = await _question(console, request, chosen, name, verb)
            return ask(console, request, viewer, question)
        summary = await manage_container(
            chosen.engine, console.core.audit, verb=verb, container=name,
            actor=viewer.ref, channel="web", host=chosen.name,
        )  # fmt: skip
    except HostwardenError as exc:  # a failed action is already audited as such
        return _problem(console, request, viewer, exc)
    fleet = len(console.services.hosts().names()) > 1
    where = f" on {console.services.title(chosen)}" if fleet else ""
    done = f"{DONE[verb]}: {summary.name}{where} is now {summary.state}."
    on = f"host={chosen.name}&" if named_host(request) else ""
    return RedirectResponse(f"/containers/{quote(name)}?{on}done={quote(done)}", 303)
