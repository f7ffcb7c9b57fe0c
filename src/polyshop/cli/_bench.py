"""`polyshop bench`: the benchmark suite (`bench/suite.py`) of a source checkout.

The benchmarks are not part of the application (the package never imports `bench`), so the
command runs the suite as a process of its own from the checkout this package is installed
from (uv installs the project editable).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

import polyshop
from polyshop.domain.errors import NotFoundError

_ROOT = Path(polyshop.__file__).resolve().parents[2]


_Scale = Annotated[str, typer.Option(help="smoke (seconds), short, or full (the docs' runs)")]
_Only = Annotated[str | None, typer.Option(help="comma-separated: checkout,cache,reads,api,...")]
_Orders = Annotated[str | None, typer.Option(help="sizes for the scale reads: 10000,100000")]
_Profile = Annotated[str | None, typer.Option(help="embedded or full (default: the setting)")]
_DataDir = Annotated[Path | None, typer.Option(help="the benchmarks' stores (default .bench-data)")]
_Existing = Annotated[
    list[str] | None,
    typer.Option(help="ORDERS=DATA_DIR[:DATABASE]: a seeded platform the scale reads use at that"
                      " size (e.g. 1000000=/work/scale/1m), repeatable"),
]  # fmt: skip
_Out = Annotated[Path | None, typer.Option(help="where bench-results.json and the charts go")]


def bench(
    scale: _Scale = "short",
    only: _Only = None,
    orders: _Orders = None,
    profile: _Profile = None,
    out: _Out = None,
    data_dir: _DataDir = None,
    existing: _Existing = None,
) -> None:
    """Run every benchmark as one suite: a table (scenario, rate, p50, p99, baseline, ratio,
    target, met?), bench-results.json and PNG charts."""
    if not (_ROOT / "bench" / "suite.py").is_file():
        raise NotFoundError(f"no benchmark suite at {_ROOT / 'bench'}: run from a source checkout")
    args = ["--scale", scale]
    options = {"--only": only, "--orders": orders, "--profile": profile,
               "--out": out, "--data-dir": data_dir}  # fmt: skip
    for flag, value in options.items():
        if value is not None:
            args += [flag, str(value)]
    for entry in existing or []:
        args += ["--existing", entry]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.suite", *args], cwd=_ROOT, env=env, check=False
    )
    if done.returncode != 0:
        raise typer.Exit(done.returncode)


def register(app: typer.Typer) -> None:
    app.command()(bench)
