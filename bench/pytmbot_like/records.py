"""The loguru side of the baseline: pyTMBot's record filter, its sinks and its context logger.

:class:`RecordFilter` rewrites each record a sink takes (message sanitised, extra fields
normalised, masked and reordered); the JSON sink renders one compact line per record;
:func:`configure_loguru` sets up both loguru sinks as pyTMBot does;
:class:`ContextLogger` binds the fields pushed into a context variable into a new loguru logger
on every log call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TextIO

from loguru import logger as loguru_logger

from bench.pytmbot_like.masking import Masker

if TYPE_CHECKING:
    from loguru import Message, Record

# pyTMBot's human (``--mode dev``) line; the format string is kept to reproduce its cost.
HUMAN_FORMAT = (
    "<green>{time:YYYY-MM-DD}</green> "
    "[<cyan>{time:HH:mm:ss}</cyan>]"
    "[<level>{level: <8}</level>]"
    "[<magenta>{module: <16}</magenta>] › "  # noqa: RUF001
    "<level>{message}</level> "
    "<fg #A9A9A9>{extra}</fg #A9A9A9>"
)
LogFormat = Literal["json", "human"]


# --- the record filter (pyTMBot's logs.SecureLoggerFilter) --------------------------------------


def _squash(text: str) -> str:
    """Lower-case letters and digits only, to compare names written differently."""
    return "".join(ch.lower() for ch in text if ch.isalnum())


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_") if part)


class RecordFilter:
    """Rewrites each record a sink takes: message sanitised, extra fields normalised and masked."""

    DROPPED = frozenset({"action", "operation", "handler", "event"})
    RENAMED: ClassVar[dict[str, str]] = {
        "update_type": "update",
        "execution_time": "ms",
        "execution_time_ms": "ms",
        "duration_ms": "ms",
        "elapsed_ms": "ms",
        "check_duration": "check_ms",
    }
    FIRST = (
        "trace_id",
        "span_id",
        "update",
        "update_id",
        "user_id",
        "chat_id",
        "ms",
        "check_ms",
        "error",
        "error_type",
    )
    SAME_COMPONENT: ClassVar[dict[str, set[str]]] = {
        "main": {"main", "botlauncher"},
        "botlauncher": {"main", "botlauncher"},
        "pytmbotinstance": {"pytmbotinstance", "core"},
        "core": {"pytmbotinstance", "core"},
        "healthsystem": {"healthsystem", "healthmonitor"},
        "healthmonitor": {"healthsystem", "healthmonitor"},
    }
    UNKNOWN = frozenset({"", "unknown", "n/a", "none"})
    LONGEST = 512
    MOST_ITEMS = 12

    def __init__(self, masker: Masker) -> None:
        self.masker = masker

    def __call__(self, record: Record) -> bool:
        if record["message"]:
            record["message"] = self.masker.sanitize(str(record["message"]))
        if record["extra"]:
            record["extra"] = self._fields(
                record["extra"], record["module"], record["name"], record["message"]
            )
        return True

    def _fields(
        self, extra: dict[str, Any], module: str, logger_name: str | None, message: str
    ) -> dict[str, Any]:
        squashed_message = _squash(message)  # for "action" fields (dropped before they use it)
        component = extra.get("component")
        out: dict[str, Any] = {}
        for key, value in extra.items():
            if value is None or key in self.DROPPED:
                continue
            if (
                key == "component"
                and isinstance(component, str)
                and self._repeats_module(component, module, logger_name)
            ):
                continue
            if key == "action" and self._action_redundant(value, component, squashed_message):
                continue
            name = self.RENAMED.get(key, key)
            clean = self._value(name, value)
            if name in ("ms", "check_ms") and isinstance(clean, int | float):
                clean = round(float(clean), 2)
            if name in out:
                clean = self._merge(out[name], clean)
            out[name] = clean
        ordered = {key: out[key] for key in self.FIRST if key in out}
        for key in sorted(out):
            ordered.setdefault(key, out[key])
        return ordered

    def _names_for(self, name: str | None) -> set[str]:
        squashed = _squash(name or "")
        if not squashed:
            return set()
        return self.SAME_COMPONENT.get(squashed, {squashed})

    def _repeats_module(self, component: str, module: str, logger_name: str | None) -> bool:
        squashed = _squash(component)
        if not squashed:
            return True
        seen: set[str] = set()
        for part in (module, (logger_name or "").rpartition(".")[2]):
            if part:
                seen |= self._names_for(part) | self._names_for(_camel(part))
        return squashed in seen

    @staticmethod
    def _action_redundant(value: object, component: object, squashed_message: str) -> bool:
        if value == component:
            return True
        if not isinstance(value, str):
            return False
        squashed = _squash(value)
        return bool(squashed) and (
            squashed in squashed_message
            or (isinstance(component, str) and squashed == _squash(component))
        )

    def _merge(self, old: object, new: object) -> object:
        if isinstance(old, str) and old.lower() in self.UNKNOWN:
            return new
        if isinstance(new, str) and new.lower() in self.UNKNOWN:
            return old
        if isinstance(old, str) and isinstance(new, int | float):
            return new
        return new if old in (None, [], {}, ()) else old

    def _value(self, key: str, value: object, depth: int = 0) -> object:
        if depth > 2:
            return "[truncated]"
        if isinstance(value, str):
            if key == "username":
                if value.strip().lower() in self.UNKNOWN:
                    return value
                return self.masker.mask_username(value.strip())
            if len(value) > self.LONGEST:
                value = value[: self.LONGEST - 3] + "..."
            return self.masker.sanitize(value)
        if key == "user_id" and isinstance(value, int | float):
            return self.masker.mask_user_id(int(value))
        if key == "chat_id" and isinstance(value, int | float):
            return self.masker.mask_chat_id(int(value))
        if hasattr(value, "value") and hasattr(value, "name"):
            inner = value.value
            return inner if isinstance(inner, str | int | float | bool) else str(value)
        if isinstance(value, dict):
            items = list(value.items())
            nested: dict[str, object] = {
                str(k): self._value(str(k), v, depth + 1) for k, v in items[: self.MOST_ITEMS]
            }
            if len(items) > self.MOST_ITEMS:
                nested["_truncated_items"] = len(items) - self.MOST_ITEMS
            return nested
        if isinstance(value, list | tuple | set):
            values = list(value)
            listed = [self._value(key, v, depth + 1) for v in values[: self.MOST_ITEMS]]
            if len(values) > self.MOST_ITEMS:
                listed.append(f"...(+{len(values) - self.MOST_ITEMS} items)")
            return listed
        return value


# --- the sinks (pyTMBot's Logger._configure_logger) ----------------------------------------------


def _json_sink(stream: TextIO) -> Callable[[Message], None]:
    """pyTMBot's prod sink: one compact JSON object per record, built from the record."""

    def write(message: Message) -> None:
        record = message.record
        when = record["time"].astimezone(UTC).isoformat(timespec="milliseconds")
        line: dict[str, object] = {
            "ts": when.replace("+00:00", "Z"),
            "level": record["level"].name,
            "module": record["module"],
            "msg": record["message"],
        }
        for key, value in record["extra"].items():
            if value is not None and key not in line:
                line[key] = value
        text = json.dumps(line, ensure_ascii=False, default=str, separators=(",", ":"))
        stream.write(text + "\n")

    return write


def configure_loguru(stream: TextIO, fmt: LogFormat = "json") -> None:
    """pyTMBot's two loguru sinks, on ``stream``.

    ``fmt`` picks pyTMBot's sinks: "json" is what it runs with by default (``--mode prod``),
    "human" what ``--mode dev`` (or ``--log-format human``) gives.
    """
    record_filter = RecordFilter(Masker())

    def default_records(record: Record) -> bool:
        return "sensitive_exception" not in record["extra"] and record_filter(record)

    def sensitive_records(record: Record) -> bool:
        return "sensitive_exception" in record["extra"] and record_filter(record)

    loguru_logger.remove()
    for record_filter_ in (default_records, sensitive_records):
        common: dict[str, Any] = {
            "level": "INFO",
            "backtrace": False,  # pyTMBot turns it on only at DEBUG
            "diagnose": False,
            "catch": True,
            "filter": record_filter_,
        }
        if fmt == "json":
            loguru_logger.add(_json_sink(stream), **common)
        else:
            loguru_logger.add(stream, format=HUMAN_FORMAT, colorize=True, **common)


# --- the context logger (pyTMBot's Logger.context / BaseComponent.log_context) -----------------

_CONTEXT: ContextVar[dict[str, object] | None] = ContextVar("pytmbot_like_context", default=None)


class ContextLogger:
    """Log calls made with the fields pushed by :meth:`context` bound into the loguru logger."""

    @contextmanager
    def context(self, **fields: object) -> Iterator[ContextLogger]:
        current = _CONTEXT.get() or {}
        added = {key: value for key, value in fields.items() if value is not None}
        if "trace_id" not in added and current.get("trace_id"):
            added["trace_id"] = current["trace_id"]
        token = _CONTEXT.set({**current, **added})
        try:
            yield self
        finally:
            _CONTEXT.reset(token)

    def __getattr__(self, level: str) -> Callable[..., None]:
        def log(*args: object, **kwargs: object) -> None:
            fields = _CONTEXT.get() or {}
            bound = loguru_logger.bind(**fields) if fields else loguru_logger
            getattr(bound, level)(*args, **kwargs)

        return log
