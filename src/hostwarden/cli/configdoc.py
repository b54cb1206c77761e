"""``docs/configuration.md``, generated from the settings model so that it cannot drift.

``python -m hostwarden.cli.configdoc > docs/configuration.md`` rewrites it; a test checks that the
committed file equals :func:`render`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

HEADER = """\
# Configuration

Generated from the settings model by `python -m hostwarden.cli.configdoc`; a test fails when this
file and the model disagree.

Settings come from `hostwarden.yaml` (`hostwarden init` writes a commented one, mode 600; a file
others can read is refused) and from environment variables, which win over the file. Each
setting's variable is `HOSTWARDEN_<SECTION>__<KEY>` (nested sections add `__<KEY>`); lists and
mappings are given as JSON, e.g. `HOSTWARDEN_ACCESS__ADMIN_TELEGRAM_IDS='[123456789]'`. The file
is found with `--config PATH`, else `$HOSTWARDEN_CONFIG`, else `./hostwarden.yaml`.

A value outside its bounds is refused at start with one line naming the setting and its range.
A relative `storage.data_dir` is relative to the config file's folder; with no config file, state
goes to `$XDG_DATA_HOME/hostwarden` (`~/.local/share/hostwarden`). `hostwarden doctor` checks a
configuration end to end.
"""


#: Defaults that depend on the machine, described instead of shown.
MACHINE_DEFAULTS = {"monitor.host_label": "(this machine's hostname)"}


def _model(annotation: Any) -> type[BaseModel] | None:
    options = [arg for arg in get_args(annotation) if arg is not type(None)] or [annotation]
    for option in options:
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def leaves(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every setting below ``model``: its dotted name and its field, in declaration order."""
    for name, info in model.model_fields.items():
        inner = _model(info.annotation)
        if inner is not None:
            yield from leaves(inner, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info


def env_name(dotted: str) -> str:
    """``lockout.window_seconds`` -> ``HOSTWARDEN_LOCKOUT__WINDOW_SECONDS``."""
    return "HOSTWARDEN_" + "__".join(part.upper() for part in dotted.split("."))


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def default_text(info: FieldInfo) -> str:
    """The default as it would be written in YAML (JSON is YAML); secrets are never shown."""
    value = _plain(info.get_default(call_default_factory=True))
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _limits(metadata: list[Any], unit: str) -> list[str]:
    found = []
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            found.append(f"≥ {item.ge}")
        elif isinstance(item, annotated_types.Gt):
            found.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Le):
            found.append(f"≤ {item.le}")
        elif isinstance(item, annotated_types.Lt):
            found.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.MinLen) and item.min_length > 1:
            found.append(f"at least {item.min_length} {unit}")
        elif isinstance(item, annotated_types.MinLen) and item.min_length == 1:
            found.append("not empty")
        elif isinstance(item, annotated_types.MaxLen):
            found.append(f"at most {item.max_length} {unit}")
    return found


def _item(annotation: Any) -> tuple[Any, list[Any]]:
    """An item type and its constraints (``Annotated[int, Field(ge=1)]`` -> int, [Ge(1)])."""
    metadata: list[Any] = []
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        for part in extra:
            metadata.extend(part.metadata if isinstance(part, FieldInfo) else [part])
    options = [arg for arg in get_args(annotation) if arg is not type(None)]
    if get_origin(annotation) not in (list, dict, Literal) and len(options) == 1:
        return _item(options[0])
    return annotation, metadata


def bounds_text(info: FieldInfo) -> str:
    """Choices, ranges and lengths, for the setting and for the items of a list or mapping."""
    annotation, extra = _item(info.annotation)
    metadata = [*info.metadata, *extra]
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(annotation))
    if origin in (list, dict):
        parts = _limits(metadata, "entries")
        item, item_meta = _item(get_args(annotation)[-1])
        item_unit = "characters" if item in (str, SecretStr) else ""
        each = _limits(item_meta, item_unit)
        if each:
            parts.append("each " + ", ".join(part.strip() for part in each))
        return "; ".join(parts)
    unit = "characters" if annotation in (str, SecretStr) else ""
    return ", ".join(part.strip() for part in _limits(metadata, unit))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def render() -> str:
    """The whole of ``docs/configuration.md``."""
    from hostwarden.config import Settings

    lines = [HEADER]
    section = ""
    for dotted, info in leaves(Settings):
        top = dotted.split(".", 1)[0]
        if top != section:
            section = top
            lines += [f"\n## `{section}`\n", "| setting | default | bounds | environment | notes |"]
            lines.append("|---|---|---|---|---|")
        default = MACHINE_DEFAULTS.get(dotted) or f"`{_cell(default_text(info))}`"
        row = (
            f"`{dotted}`",
            default,
            _cell(bounds_text(info)),
            f"`{env_name(dotted)}`",
            _cell(info.description or ""),
        )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
