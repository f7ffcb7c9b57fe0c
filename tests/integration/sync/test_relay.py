"""The outbox relay on real PostgreSQL: documents follow the system of record, a late-committing
transaction is never skipped, poison events are parked, rebuild reproduces the documents, and
killing the relay at random points loses nothing."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyshop import bootstrap
from polyshop.adapters.mongo import MongoDocumentStore
from polyshop.domain.errors import AuthenticationError
from polyshop.settings import Settings
from polyshop.sync import DocumentProjector, Relay
from polyshop.sync.maintenance import rebuild, verify
from tests.conftest import TEST_DATA_DIR, TEST_DATABASE
from tests.support.ferretdb import FerretDB
from tests.support.shops import make_shop


async def test_documents_follow_postgres_in_the_spec_shapes(app: bootstrap.Container) -> None:
    shop = await make_shop(app)
    t = shop.tenant_id
    placed = await app.checkout.place_order(t, shop.request(shop.line("headphones", 2)))
    await app.relay.run_until_idle()

    page = await app.document_reads.product_by_slug(t, "headphones")
    assert page["pricing"] == {
        "price": Decimal("50.00"),
        "comparePrice": None,
        "costPrice": None,
        "currency": "USD",
    }
    assert page["inventory"]["quantity"] == 8  # the order's stock movement reached the document
    assert page["category"]["path"] == ["Electronics", "Audio"]
    assert page["tenant_id"] == str(t)
    history = await app.document_reads.order_history(t, shop.customer_id)
    assert [o["orderNumber"] for o in history] == [placed.order_number]
    assert history[0]["pricing"]["totalAmount"] == placed.total
    assert history[0]["items"][0]["unitPrice"] == Decimal("50.00")
    listing = await app.document_reads.category_listing(t, shop.category)
    assert [p["sku"] for p in listing] == ["CABLE", "EBOOK", "HEADPHONES", "PREORDER", "SPEAKER"]
    user = await app.documents.get(t, "users", str(shop.customer_id))
    assert user is not None
    assert user["email"] == "ann@example.com"
    assert "passwordHash" not in user["authentication"]

    await app.catalog.update_product(t, shop.products["headphones"], price="45.00")
    await app.orders.cancel(t, placed.id)
    await app.relay.run_until_idle()
    page = await app.document_reads.product_by_slug(t, "headphones")
    assert (page["pricing"]["price"], page["inventory"]["quantity"]) == (Decimal("45.00"), 10)
    assert (await app.document_reads.order_history(t, shop.customer_id))[0]["status"] == "cancelled"
    assert (await verify(app.relay, tenants=[t])).clean


async def test_sign_ins_reach_the_user_document(app: bootstrap.Container) -> None:
    """A sign-in writes the user's row (failed attempts, last sign-in), which the user document
    shows: it must announce itself like every other write (found by `polyshop demo`)."""
    shop = await make_shop(app)
    t = shop.tenant_id
    await app.relay.run_until_idle()  # the shop's own events are applied: only sign-ins remain
    with pytest.raises(AuthenticationError):
        await app.customers.authenticate(t, "ann@example.com", "not the password at all")
    await app.relay.run_until_idle()
    user = await app.documents.get(t, "users", str(shop.customer_id))
    assert user is not None
    assert (user["authentication"]["loginAttempts"], user["authentication"]["lastLogin"]) == (
        1,
        None,
    )

    await app.customers.authenticate(t, "ann@example.com", "correct horse battery staple")
    await app.relay.run_until_idle()
    user = await app.documents.get(t, "users", str(shop.customer_id))
    assert user is not None
    assert user["authentication"]["loginAttempts"] == 0
    assert user["authentication"]["lastLogin"] is not None
    drift = await verify(app.relay, tenants=[t])
    assert drift.clean, drift


async def test_a_transaction_that_commits_late_is_never_skipped(app: bootstrap.Container) -> None:
    shop = await make_shop(app)
    t = shop.tenant_id
    await app.relay.run_until_idle()
    async with app.database.unit_of_work(t) as slow:
        # Starts first (the older transaction id), writes, and stays open...
        await slow.connection.execute(
            "UPDATE products SET price = 11.11 WHERE id = %s", (shop.products["cable"],)
        )
        await slow.append_event("product", shop.products["cable"], "product.updated", {})
        # ...while a later transaction commits.
        await app.catalog.update_product(t, shop.products["speaker"], price="22.22")
        await app.relay.run_until_idle()
        position = await app.relay.checkpoint()
        cursor = await slow.connection.execute("SELECT pg_current_xact_id()::text")
        slow_xid = int((await cursor.fetchone())[0])  # type: ignore[index]
        assert position.transaction_id < slow_xid  # the relay waits behind the open transaction
        await slow.commit()
    await app.relay.run_until_idle()
    cable = await app.document_reads.product_by_slug(t, "cable")
    speaker = await app.document_reads.product_by_slug(t, "speaker")
    assert (cable["pricing"]["price"], speaker["pricing"]["price"]) == (
        Decimal("11.11"),
        Decimal("22.22"),
    )
    assert (await app.relay.pending())[0] == 0


async def test_a_poison_event_is_parked_and_the_relay_moves_on(app: bootstrap.Container) -> None:
    shop = await make_shop(app)
    t = shop.tenant_id
    async with app.database.unit_of_work(t) as uow:
        await uow.append_event("product", "not-a-uuid", "product.updated", {})
        await uow.commit()
    await app.catalog.update_product(t, shop.products["speaker"], price="33.00")
    await app.relay.run_until_idle()
    assert (await app.document_reads.product_by_slug(t, "speaker"))["pricing"]["price"] == Decimal(
        "33.00"
    )
    async with app.relay_database.unit_of_work(t) as uow:
        cursor = await uow.connection.execute(
            "SELECT event_type, error, attempts FROM sync_parked WHERE projector = 'documents'"
        )
        parked = await cursor.fetchall()
    assert len(parked) == 1
    assert parked[0][0] == "product.updated"
    assert "ValueError" in parked[0][1]
    assert (await app.relay.pending())[0] == 0


async def test_rebuild_from_empty_reproduces_the_documents(app: bootstrap.Container) -> None:
    shop = await make_shop(app)
    t = shop.tenant_id
    await app.checkout.place_order(t, shop.request(shop.line("shirt:black", 2), shop.line("cable")))
    await app.relay.run_until_idle()
    before = {c: await app.documents.all(t, c) for c in ("products", "users", "orders")}
    assert all(before.values())
    for collection in before:
        await app.documents.clear(t, collection)
    assert await app.documents.all(t, "products") == {}
    await rebuild(app.relay, tenants=[t])
    after = {c: await app.documents.all(t, c) for c in ("products", "users", "orders")}
    assert after == before
    assert (await verify(app.relay, tenants=[t])).clean


async def test_killing_the_relay_at_random_points_loses_nothing(
    app: bootstrap.Container, tmp_path: Path
) -> None:
    shop = await make_shop(app, stock=100_000)
    t = shop.tenant_id
    await app.relay.run_until_idle()
    env = {**os.environ, "POLYSHOP_DATA_DIR": str(TEST_DATA_DIR), "POLYSHOP_DATABASE": TEST_DATABASE,
           "POLYSHOP_EMBEDDED_FSYNC": "false"}  # fmt: skip
    command = [str(Path(sys.executable).with_name("polyshop")), "sync", "run"]
    rng = random.Random(5)
    log = (tmp_path / "relay.log").open("w")
    relay = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    kills = 0
    names = ["headphones", "speaker", "cable", "shirt:black", "shirt:white"]
    try:
        for n in range(3000):
            lines = [shop.line(name, rng.randint(1, 3)) for name in rng.sample(names, 2)]
            placed = await app.checkout.place_order(t, shop.request(*lines))
            if n % 7 == 0:
                await app.orders.cancel(t, placed.id)
            if rng.random() < 0.004:  # about every 250 orders: kill -9, start again
                relay.send_signal(signal.SIGKILL)
                relay.wait()
                kills += 1
                relay = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            if n % 50 == 0:
                await asyncio.sleep(0.01)  # let the relay breathe
    finally:
        relay.send_signal(signal.SIGKILL)
        relay.wait()
        log.close()
    assert kills >= 3
    assert "Traceback" not in (tmp_path / "relay.log").read_text()  # it only ever died by our hand
    await app.relay.run_until_idle()
    drift = await verify(app.relay, tenants=[t])
    assert drift.checked > 3000
    assert (drift.missing, drift.extra, drift.different) == ([], [], [])
    assert (await app.relay.pending())[0] == 0


async def test_the_relay_delivers_to_mongodb_too(
    app: bootstrap.Container, ferretdb: FerretDB
) -> None:
    """The same relay and projector, with the MongoDB adapter (FerretDB): no drift after a run."""
    mongo = MongoDocumentStore(
        ferretdb.url, app.relay_database, database_name="polyshop_relay_test"
    )
    await mongo.prepare()
    try:
        projector = DocumentProjector(
            app.relay_database, mongo, name=f"mongo-{os.getpid()}-{random.randint(0, 10**6)}"
        )
        relay = Relay(app.relay_database, projector)
        shop = await make_shop(app)
        t = shop.tenant_id
        # Start this projector at the head, as a new deployment would (then rebuild catches up).
        await rebuild(relay, tenants=[t])
        placed = await app.checkout.place_order(
            t, shop.request(shop.line("headphones", 2), shop.line("shirt:white"))
        )
        await app.orders.cancel(t, placed.id)
        await app.catalog.update_product(t, shop.products["speaker"], price="12.34")
        await relay.run_until_idle()
        page = (await mongo.find(t, "products", equals={"slug": "speaker"}))[0]
        assert page["pricing"]["price"] == Decimal("12.34")
        order = await mongo.get(t, "orders", str(placed.id))
        assert order is not None
        assert order["status"] == "cancelled"
        assert order["pricing"]["totalAmount"] == placed.total
        drift = await verify(relay, tenants=[t])
        assert drift.clean, drift
    finally:
        await mongo.close()


async def test_a_service_process_runs_the_relay_in_its_background(
    settings: Settings, urls: bootstrap.StoreUrls
) -> None:
    async with bootstrap.application(settings, urls, run_relay=True) as service:
        shop = await make_shop(service)
        placed = await service.checkout.place_order(
            shop.tenant_id, shop.request(shop.line("cable"))
        )
        deadline = time.monotonic() + 10
        while (
            document := await service.documents.get(shop.tenant_id, "orders", str(placed.id))
        ) is None:
            assert time.monotonic() < deadline, "the background relay did not deliver the order"
            await asyncio.sleep(0.05)
        assert document["orderNumber"] == placed.order_number


async def test_rebuild_resumes_from_the_true_head(app: bootstrap.Container, admin: Any) -> None:
    """The head is the greatest (transaction, id) numerically: an event of the long-finished
    transaction 9999 must not beat five-digit ones, as it would in a text sort."""
    # A young cluster (this test run alone) has not reached five-digit transaction ids yet.
    # Each autocommit statement is a transaction that takes the next id.
    while int(admin.execute("SELECT pg_current_xact_id()::text").fetchone()[0]) < 10_000:
        pass
    shop = await make_shop(app)
    admin.execute(
        "INSERT INTO outbox (tenant_id, transaction_id, aggregate_type, aggregate_id, event_type,"
        " payload) VALUES (%s, '9999', 'tenant', %s, 'tenant.touched', '{}')",
        (shop.tenant_id, str(shop.tenant_id)),
    )
    await rebuild(app.relay, tenants=[shop.tenant_id])
    position = await app.relay.checkpoint()
    async with app.relay_database.unit_of_work() as uow:
        cursor = await uow.connection.execute(
            "SELECT transaction_id::text, id FROM outbox_after('0'::xid8, 0, 2147483647)"
        )
        positions = [(int(txid), event_id) for txid, event_id in await cursor.fetchall()]
    assert min(txid for txid, _ in positions) < 10_000 <= max(txid for txid, _ in positions)
    assert (position.transaction_id, position.event_id) == max(positions)
