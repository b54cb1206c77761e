"""A local base image for the Dockerfile, built from Debian packages (no container registry).

The Dockerfile takes its base as the build argument ``BASE`` (by default the official slim
Python image, which cannot be pulled here). This module makes an equivalent one: ``debootstrap``
a minimal Debian bookworm with python3 (3.11) and its venv module from the mirror this machine's
apt already uses, trim it, tar it and ``podman import`` it. The image is tagged with a hash of the
recipe below, so later runs find it in podman's store and skip the build.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
#: Removed after debootstrap: package caches and lists, documentation, translations.
TRIM = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)
#: What the official Python images set; an imported image has no environment at all.
CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)
REPOSITORY = "localhost/hostwarden-test-base"
SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def recipe_tag() -> str:
    """The image name for this recipe: any change to it makes (and caches) a new base."""
    recipe = {"suite": SUITE, "packages": PACKAGES, "trim": TRIM, "changes": CHANGES, "v": 1}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    return f"{REPOSITORY}:{digest[:16]}"


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _mirrors(path: Path) -> list[str]:
    """URIs in one apt sources file that serve ``SUITE`` (main) as binary packages."""
    text = path.read_text(errors="replace")
    found: list[str] = []
    if path.suffix == ".sources":
        for stanza in _deb822_stanzas(text):
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in stanza.get("types", "").split():
                continue
            if SUITE in stanza.get("suites", "").split():
                found.extend(stanza.get("uris", "").split())
        return found
    for line in text.splitlines():
        line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0])  # drop [options]
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "deb" and fields[2] == SUITE:
            found.append(fields[1])
    return found


def debian_mirror(sources: tuple[Path, ...] = SOURCES) -> str:
    """The first mirror of Debian ``SUITE`` this machine's apt is configured with."""
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files.extend(sorted(p for p in source.iterdir() if p.suffix in (".list", ".sources")))
        elif source.is_file():
            files.append(source)
    for path in files:
        for uri in _mirrors(path):
            if uri.startswith(("http://", "https://", "file:/")):
                return uri
    raise RuntimeError(
        f"no apt source for Debian {SUITE} in /etc/apt/sources.list or /etc/apt/sources.list.d; "
        "the image test builds its base image with debootstrap from that mirror"
    )


def ensure_base_image(podman: Callable[..., str], workdir: Path) -> tuple[str, bool]:
    """The base image's name, and whether it was built now (podman may already have it)."""
    tag = recipe_tag()
    if podman("images", "--quiet", tag):
        return tag, False
    if os.geteuid() != 0:
        raise RuntimeError("building the base image needs root (debootstrap): run ./scripts/test")
    if shutil.which("debootstrap") is None:
        raise RuntimeError(
            "debootstrap is missing: run ./scripts/test, or apt-get install debootstrap"
        )
    mirror = debian_mirror()
    root = workdir / "rootfs"
    result = subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
         str(root), mirror],
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise RuntimeError(f"debootstrap failed:\n{tail}")
    for part in TRIM:
        target = root / part
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir()
    archive = workdir / "rootfs.tar"
    subprocess.run(
        ["tar", "--create", "--file", str(archive), "--numeric-owner", "--xattrs",
         "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "-C", str(root), "."],
        check=True,
        timeout=300,
    )  # fmt: skip
    shutil.rmtree(root)
    changes = [arg for change in CHANGES for arg in ("--change", change)]
    podman("import", *changes, str(archive), tag)
    archive.unlink()
    return tag, True
