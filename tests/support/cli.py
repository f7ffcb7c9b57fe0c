"""The `polyshop` command run as a person runs it: a subprocess, with only the POLYSHOP_
settings a test gives it."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

POLYSHOP = str(Path(sys.executable).with_name("polyshop"))


def run(
    *args: str, env: dict[str, str] | None = None, user: str | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POLYSHOP_")}
    environment.update(env or {})
    return subprocess.run(
        [POLYSHOP, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        user=user,
        group=pwd.getpwnam(user).pw_gid if user else None,
        extra_groups=[] if user else None,
        check=False,
    )
