"""`polyshop sync` as an operator runs it, on a database of its own."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.cli import own_database, run


@pytest.mark.slow
def test_sync_run_status_verify_and_rebuild() -> None:
    with own_database("polyshop_sync_cli") as database:
        env = database.env
        # Migrates, seeds three shops and runs them live for a moment (the API's relays apply
        # what the shoppers write); what follows checks the stores the demo left behind.
        demo = run("demo", "--duration", "2", "--shoppers", "2", env=env)
        assert demo.returncode == 0, demo.stderr
        with psycopg.connect(database.admin_url, autocommit=True) as admin:
            (waiting,) = admin.execute("SELECT count(*) FROM outbox").fetchone()  # type: ignore[misc]
        assert waiting > 0
        caught_up = run("sync", "run", "--until-idle", env=env)
        assert caught_up.returncode == 0, caught_up.stderr
        status = run("sync", "status", env=env)
        assert status.returncode == 0
        assert "documents" in status.stdout
        clean = run("sync", "verify", env=env)
        assert clean.returncode == 0, clean.stdout
        assert "no drift" in clean.stdout

        with psycopg.connect(database.admin_url, autocommit=True) as admin:
            admin.execute('UPDATE documents SET body = body || \'{"email": "tampered"}\'')
            admin.execute("INSERT INTO documents (tenant_id, collection, id, body, version)"
                          " SELECT id, 'products', 'ghost', '{}', 1 FROM tenants LIMIT 1")  # fmt: skip
        drifted = run("sync", "verify", env=env)
        assert drifted.returncode == 1
        assert "DRIFT" in drifted.stdout
        assert "extra" in drifted.stdout and "different" in drifted.stdout

        rebuilt = run("sync", "rebuild", "documents", env=env)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert run("sync", "verify", env=env).returncode == 0
        # The recommendation graph: verified node by node, then rebuilt and verified again.
        graph = run("sync", "verify", "graph", env=env)
        assert graph.returncode == 0 and "no drift" in graph.stdout, graph.stdout
        assert run("sync", "rebuild", "graph", env=env).returncode == 0
        assert run("sync", "verify", "graph", env=env).returncode == 0
        with psycopg.connect(database.admin_url, autocommit=True) as admin:
            admin.execute("UPDATE graph_pairs SET similarity = similarity + 1")
        assert run("sync", "verify", "graph", env=env).returncode == 1
        unknown = run("sync", "rebuild", "nosuch", env=env)
        assert unknown.returncode == 1
        assert unknown.stderr.strip() == (
            "error: no projector 'nosuch' (known: documents, analytics, graph)"
        )
