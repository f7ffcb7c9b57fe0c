"""Where the test and benchmark tools live, and how the Go-built ones are built: once, from the
Go module proxy, into the user's cache directory (`POLYSHOP_CACHE_DIR` overrides it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import platformdirs

CACHE = Path(os.environ.get("POLYSHOP_CACHE_DIR") or platformdirs.user_cache_dir("polyshop"))


def go() -> str:
    return shutil.which("go") or "/usr/local/go/bin/go"


def go_env(**extra: str) -> dict[str, str]:
    """A Go environment whose module cache is ours (kept between runs), without cgo."""
    gopath = CACHE / "gopath"
    return {**os.environ, "GOPATH": str(gopath), "GOMODCACHE": str(gopath / "pkg" / "mod"),
            "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", **extra}  # fmt: skip


def go_install(package: str, binary: Path, *, quiet: bool = False) -> Path:
    """`go install package@version` into binary's folder, unless binary is there already."""
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([go(), "install", package], env=go_env(GOBIN=str(binary.parent)),
                       check=True, capture_output=quiet)  # fmt: skip
    return binary
