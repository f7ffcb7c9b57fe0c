"""The import contracts hold today, and fail when someone plants an import they forbid."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.import_contracts import may_import, private_owner

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def test_private_means_private_to_the_package_above_the_underscore() -> None:
    assert private_owner("polyshop.adapters.postgres._uow") == "polyshop.adapters.postgres"
    assert private_owner("polyshop.adapters.postgres") is None
    assert private_owner("polyshop.__main__") is None
    assert may_import("polyshop.adapters.postgres._database", "polyshop.adapters.postgres._uow")
    assert may_import("polyshop.adapters.postgres", "polyshop.adapters.postgres._uow")
    assert not may_import("polyshop.services.catalog", "polyshop.adapters.postgres._uow")
    assert not may_import("polyshop.adapters.mongo._store", "polyshop.adapters.postgres._uow")


def _copy_with_contracts(tmp_path: Path) -> Path:
    """The application and its layer and privacy contracts, in a directory of their own."""
    shutil.copytree(ROOT / "src" / "polyshop", tmp_path / "polyshop",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[importlinter]", "root_packages =", "    polyshop", "contract_types ="]
    lines += [f"    {entry}" for entry in config["contract_types"]]
    for number, contract in enumerate(config["contracts"]):
        if contract["type"] == "forbidden":
            continue  # about tests and bench, which are not copied
        lines += ["", f"[importlinter:contract:{number}]"]
        for key, value in contract.items():
            if isinstance(value, list):
                lines += [f"{key} ="] + [f"    {v}" for v in value]
            else:
                lines.append(f"{key} = {value}")
    (tmp_path / ".importlinter").write_text("\n".join(lines) + "\n")
    return tmp_path


def _lint(directory: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path (lint-imports adds the working directory); the
    # contract type is found in this checkout's tests package.
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=directory, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        # The domain reaching up into a use case: the layers contract breaks.
        (
            "domain/money.py",
            "import polyshop.services.catalog",
            "polyshop.domain is not allowed to import polyshop.services",
        ),
        # An adapter reaching up into sync, the import the Projector port removed.
        (
            "adapters/mongo/_store.py",
            "import polyshop.sync.documents",
            "polyshop.adapters is not allowed to import polyshop.sync",
        ),
        # A service using another package's private module.
        (
            "services/reviews.py",
            "import polyshop.adapters.postgres._uow",
            "polyshop.services.reviews imports polyshop.adapters.postgres._uow",
        ),
    ],
)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, module: str, planted: str, broken: str
) -> None:
    copy = _copy_with_contracts(tmp_path)
    clean = _lint(copy)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    target = copy / "polyshop" / module
    target.write_text(target.read_text() + f"\n{planted}  # planted\n")
    result = _lint(copy)
    assert result.returncode == 1, result.stdout
    assert "Contracts: 1 kept, 1 broken." in result.stdout
    assert broken in " ".join(result.stdout.split())  # rich wraps long lines
