"""`polyshop seed` as a person runs it: progress, a report, derived stores rebuilt with no drift,
and bad options refused in one line."""

from __future__ import annotations

import pytest

from tests.support.cli import own_database, run


@pytest.mark.slow
def test_seed_then_verify_every_derived_store() -> None:
    with own_database("polyshop_seed_cli") as database:
        env = database.env
        seeded = run("seed", "--shops", "2", "--users", "40", "--products", "20", "--orders",
                     "120", "--events", "300", "--seed", "9", env=env)  # fmt: skip
        assert seeded.returncode == 0, seeded.stderr
        assert "seeded 2 shops" in seeded.stdout
        assert "rebuilding documents" in seeded.stdout or "documents:" in seeded.stdout
        for projector in ("documents", "analytics"):
            verified = run("sync", "verify", projector, env=env)
            assert verified.returncode == 0, verified.stdout
            assert "no drift" in verified.stdout

        bad = run("seed", "--until", "someday", env=env)
        assert bad.returncode == 1
        assert bad.stderr.strip() == "error: --until must be YYYY-MM-DD, not 'someday'"
