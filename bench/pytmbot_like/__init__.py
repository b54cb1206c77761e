"""The side-by-side baselines: in memory, logging per message what pyTMBot's access control does.

Both are written from a reading of pyTMBot 0.3.3's ``AccessControl`` middleware
(``pytmbot/middleware/access_control.py``) and its logger (``pytmbot/logs.py``); no code taken.
The decision is the same in both: an allow-list, a per-ID attempt counter, a block at the 3rd
attempt for an hour (checked, and lazily expired, before the allow-list), an admin notification
at most once per ID every 300 s, the stranger's "no access" reply; the two Telegram calls are
stubbed (as on hostwarden's side), nothing is persisted (counts, blocks and notification times
live in dicts under a lock, as pyTMBot keeps them).

:class:`PyTMBotLike`, "loguru as shipped": pyTMBot logs through loguru, so this one does too,
set up as pyTMBot 0.3.3 sets it up by default (``--mode prod``, the default mode, with no
``--log-format``, hence JSON; level INFO). loguru's global logger with its handlers removed and
two sinks added, both at INFO, ``diagnose=False``, ``catch=True``, no patcher, no ``serialize``:

* the "default" sink takes records without a ``sensitive_exception`` extra, the "sensitive" one
  only those (so for the access control only the first one's filter does work);
* that filter rewrites the record: the message goes through the masker's ``sanitize_text`` (an
  LRU cache of 1,000 entries under a lock, a fifth dropped when full; on a miss five exclusion
  patterns, then six secret patterns substituted with a replacement callable); every ``extra``
  field is normalised (``None`` values and ``operation``/``action``/``handler``/``event``
  dropped, ``component`` dropped if it repeats the module or logger name, ``update_type``
  renamed ``update``), masked (``username`` masked again, ``user_id``/``chat_id`` numbers masked,
  every string sanitised as above) and reordered (a fixed head, then sorted);
* the sink is a function: loguru formats the record with its default format (which the function
  then ignores) and hands it over; the function renders one compact JSON line (``ts`` in UTC to
  the millisecond, ``level``, ``module``, ``msg``, then every extra field) with ``json.dumps``
  and writes it (to stdout in pyTMBot, to ``configure``'s stream here). ``configure(stream,
  "human")`` instead adds the ``--mode dev`` sinks: the stream itself with pyTMBot's
  colourised human format (time, level, module, message, the ``extra`` dict).

Per message, as ``pre_process`` does: a debug record "incoming" with a small masked context, a
context of a dozen fields (user ID and username masked, chat ID raw) pushed into a context
variable with the component name; each log call binds the whole context into a new loguru
logger (``bind``) and logs through it; records below INFO (the debug ones, the allowed user's
trace, a suppressed notification's debug) stop at loguru's level check after the binding. What
reaches the sinks: nothing for an allowed user; a warning per refused message (attempt, block,
or a blocked ID's silent drop, each with the context plus attempt and block fields); an info
record per admin notification sent, with its own masked context.

:class:`StdlibPyTMBotLike`, "stdlib logging (lighter than shipped)": the earlier imitation, kept
for comparison. The same decisions and log calls at the same levels, but through the standard
library's ``logging``: a smaller context, two handlers whose filters run three secret patterns
over the message and fields (no cache), one text line per record; no binding, no context
variable, no JSON. It is several times faster than pyTMBot measured as shipped.
"""

from __future__ import annotations

from typing import TextIO

from bench.pytmbot_like.middleware import PyTMBotLike
from bench.pytmbot_like.records import LogFormat, configure_loguru
from bench.pytmbot_like.stdlib import StdlibPyTMBotLike, configure_stdlib

__all__ = ["PyTMBotLike", "StdlibPyTMBotLike", "configure"]


def configure(stream: TextIO, fmt: LogFormat = "json") -> None:
    """Both baselines' logging on ``stream``: pyTMBot's loguru sinks (``fmt``: "json", its
    default, or "human"), and the stdlib variant's handlers."""
    configure_loguru(stream, fmt)
    configure_stdlib(stream)
