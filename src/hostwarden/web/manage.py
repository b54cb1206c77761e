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
from hostwarden.web.confirm import Question, ask, confirmed
from hostwarden.web.console import Console
from hostwarden.web.viewer import Viewer

DONE = {"start": "Started", "stop": "Stopped", "restart": "Restarted"}


async def _question(console: Console, name: str, verb: str) -> Question:
    """The question; raises the engine's error for a container it does not know."""
    details = await console.services.engine.details(name)
    host = console.services.host_name
    label = LABELS[verb]
    return Question(
        f"{label} container {name} on host {host}?", f"{verb}:{name}",
        f"/containers/{quote(name)}/{verb}", label, f"/containers/{quote(name)}",
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
    viewer = await console.require(request, MANAGE)
    form = await console.form(request, viewer) if request.method == "POST" else None
    name, verb = str(request.path_params["name"])[:200], str(request.path_params["verb"])
    if verb not in VERBS:
        return console.page(request, "error.html", viewer, 404, status=404, message="No such page.")
    try:
        check_container_name(name)
        if form is None or not confirmed(console, viewer, form, f"{verb}:{name}"):
            return ask(console, request, viewer, await _question(console, name, verb))
        summary = await manage_container(
            console.services.engine, console.core.audit, verb=verb, container=name,
            actor=viewer.ref, channel="web", host=console.services.host_name,
        )  # fmt: skip
    except HostwardenError as exc:  # a failed action is already audited as such
        return _problem(console, request, viewer, exc)
    done = f"{DONE[verb]}: {summary.name} is now {summary.state}."
    return RedirectResponse(f"/containers/{quote(name)}?done={quote(done)}", 303)
