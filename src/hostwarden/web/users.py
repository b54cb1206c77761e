"""User administration: add, roles and Telegram IDs, lock, unlock, passwords, second factors.

Every change goes through the core, which audits it with the acting admin.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hostwarden.core.identity import Role
from hostwarden.errors import HostwardenError, InvalidInput
from hostwarden.web.confirm import Question, ask, confirmed
from hostwarden.web.console import Console
from hostwarden.web.format import telegram_id
from hostwarden.web.viewer import Viewer

ACTION = "admin.users"
#: (op, button, whether it asks first) for the user page's account buttons.
OPS = (
    ("lock", "Lock", True),
    ("unlock", "Unlock", True),
    ("totp-reset", "Reset 2FA", True),
    ("totp-enrol", "Enrol 2FA (QR)", False),
    ("recovery", "New recovery codes", False),
    ("sessions", "End all sessions", True),
)
#: The question each op that asks first puts, and its effect.
QUESTIONS = {
    "lock": ("Lock user {name}?", "Lock", "They cannot log in or use the bot; their sessions end."),
    "unlock": ("Unlock user {name}?", "Unlock", "Their failures and block are cleared."),
    "totp-reset": (
        "Reset the second factor of {name}?", "Reset 2FA",
        "Their authenticator and recovery codes stop working; admins must enrol again.",
    ),
    "sessions": ("End every session of {name}?", "End sessions", "They are logged out."),
}  # fmt: skip
_IDS = re.compile(r"^\s*-?[0-9]{1,15}\s*$")


def parse_telegram_ids(text: str) -> tuple[int, ...]:
    parts = [p for p in text.split(",") if p.strip()]
    if not all(_IDS.match(p) for p in parts):
        raise InvalidInput("Telegram IDs are numbers separated by commas")
    return tuple(int(p) for p in parts)


def _roles(form: FormData) -> frozenset[Role]:
    return frozenset({Role.USER, Role.ADMIN}) if form.get("admin") else frozenset({Role.USER})


async def _list(console: Console, request: Request, viewer: Viewer, **extra: Any) -> Response:
    users = await console.core.store.users.list()
    rows = [(u, await console.core.totp.is_enrolled(u)) for u in users]
    reveal = await console.identities.reveal(viewer, request.url.path)
    return console.page(request, "users.html", viewer, users=rows, reveal=reveal, **extra)


async def users_page(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACTION)
    return await _list(console, request, viewer, notice=request.query_params.get("done"))


async def add_user(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACTION)
    form = await console.form(request, viewer)
    username = str(form.get("username") or "").strip()[:64]
    try:
        await console.core.accounts.register(
            username,
            str(form.get("password") or ""),
            _roles(form),
            parse_telegram_ids(str(form.get("telegram_ids") or "")),
            actor=viewer.ref,
        )
    except HostwardenError as exc:
        return await _list(console, request, viewer, error=str(exc))
    return RedirectResponse(f"/users?done=Added+{quote(username)}.", 303)


async def _target(console: Console, request: Request) -> str:
    return str(request.path_params["name"])[:64]


async def user_page(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACTION)
    try:
        user = await console.core.accounts.get(await _target(console, request))
    except HostwardenError as exc:
        return console.page(request, "error.html", viewer, 404, status=404, message=str(exc))
    return console.page(
        request, "user.html", viewer, u=user, is_admin=Role.ADMIN in user.roles, ops=OPS,
        enrolled=await console.core.totp.is_enrolled(user), notice=request.query_params.get("done"),
        reveal=await console.identities.reveal(viewer, request.url.path),
    )  # fmt: skip


def _question(name: str, op: str, telegram_ids: tuple[int, ...], full: bool) -> Question:
    title, button, effect = QUESTIONS[op]
    ids = ", ".join(telegram_id(i, full) for i in telegram_ids) or "none"
    return Question(
        title.format(name=name), f"{op}:{name}", f"/users/{quote(name)}/{op}", button,
        f"/users/{quote(name)}", (("User", name), ("Telegram IDs", ids), ("Effect", effect)),
    )  # fmt: skip


async def confirm_action(request: Request) -> Response:
    """GET /users/NAME/OP: the question for an op that asks first (lock, unlock, ...)."""
    console: Console = request.app.state.console
    viewer = await console.require(request, ACTION)
    name, op = await _target(console, request), request.path_params["op"]
    if op not in QUESTIONS:
        return console.page(request, "error.html", viewer, 404, status=404, message="No such page.")
    try:
        user = await console.core.accounts.get(name)
    except HostwardenError as exc:
        return console.page(request, "error.html", viewer, 404, status=404, message=str(exc))
    full = await console.identities.reveal(viewer, request.url.path)
    return ask(console, request, viewer, _question(name, op, user.telegram_ids, full))


async def user_action(request: Request) -> Response:
    console: Console = request.app.state.console
    viewer = await console.require(request, ACTION)
    form = await console.form(request, viewer)
    name, op = await _target(console, request), request.path_params["op"]
    core, who = console.core, viewer.ref
    back = f"/users/{quote(name)}"
    try:
        user = await core.accounts.get(name)
        if op in QUESTIONS and not await confirmed(console, viewer, form, f"{op}:{name}"):
            full = await console.identities.reveal(viewer, request.url.path)
            return ask(console, request, viewer, _question(name, op, user.telegram_ids, full))
        if op == "update":
            ids_text = str(form.get("telegram_ids") or "").strip()
            ids = parse_telegram_ids(ids_text) if ids_text else None
            await core.accounts.update(user, who, roles=_roles(form), telegram_ids=ids)
            done = "Saved."
        elif op == "lock":
            await core.accounts.lock(name, who)
            done = "Locked; their sessions ended."
        elif op == "unlock":
            await core.accounts.unlock(name, who)
            done = "Unlocked."
        elif op == "password":
            await core.accounts.set_password(name, str(form.get("password") or ""), who)
            done = "Password set; their sessions ended."
        elif op == "sessions":
            count = await core.sessions.revoke_user(user.id, who)
            done = f"{count} session(s) ended."
        elif op == "totp-reset":
            await core.totp.reset(user, who)
            done = "Second factor removed."
        elif op == "totp-enrol":
            enrolment = await core.totp.begin_enrolment(user)
            reason = f"For {name}: scan it on their phone, then type the first code it shows."
            return console.enrolment_page(
                request, viewer, enrolment, reason, f"/users/{quote(name)}/totp-confirm"
            )
        elif op == "totp-confirm":
            codes = await core.totp.confirm_enrolment(user, str(form.get("code") or ""))
            return console.page(
                request, "codes.html", viewer, codes=codes, next=back, for_user=name
            )
        elif op == "recovery":
            codes = await core.totp.new_recovery_codes(user)
            return console.page(
                request, "codes.html", viewer, codes=codes, next=back, for_user=name
            )
        else:
            return console.page(
                request, "error.html", viewer, 404, status=404, message="No such action."
            )
    except HostwardenError as exc:
        return console.page(request, "error.html", viewer, 400, status=400, message=str(exc))
    return RedirectResponse(f"{back}?done={quote(done)}", 303)
