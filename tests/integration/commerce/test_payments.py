"""Payments in durable steps on real PostgreSQL: no lock held while the gateway thinks, the
reconciler's decisions, refunds pending then settled, one reconciler at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest

from polyshop import bootstrap
from polyshop.adapters.payments import SLOW_METHOD, TestPaymentGateway
from polyshop.adapters.postgres import Database
from polyshop.domain.errors import ValidationError
from polyshop.ports import PaymentOutcome
from polyshop.services.checkout import CheckoutService, PlacedOrder
from polyshop.services.orders import OrderService
from polyshop.services.payments import RECONCILE_LOCK, Gateways, Reconciler
from tests import conftest as base
from tests.support.shops import Shop, assert_stock_matches_ledger, stock_and_ledger


@pytest.fixture
async def slow_world(urls: bootstrap.StoreUrls) -> AsyncIterator[tuple[CheckoutService, Database]]:
    """A checkout whose gateway takes 2 s for `card_slow`, with its own roomy pool."""
    database = Database(urls.postgres, min_size=4, max_size=16)
    await database.open()
    yield CheckoutService(database, TestPaymentGateway(slow_seconds=2.0)), database
    await database.close()


async def _pending_payments(app: bootstrap.Container, tenant_id: UUID) -> int:
    async with app.database.unit_of_work(tenant_id) as uow:
        cursor = await uow.connection.execute(
            "SELECT count(*) FROM payments WHERE status = 'pending'"
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _wait_for_pending(app: bootstrap.Container, tenant_id: UUID) -> None:
    for _ in range(200):
        if await _pending_payments(app, tenant_id):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the slow checkout never reserved")


async def test_a_slow_gateway_holds_no_lock_and_slows_no_other_checkout(
    shop: Shop, slow_world: tuple[CheckoutService, Database]
) -> None:
    checkout, _ = slow_world
    slow = asyncio.create_task(
        checkout.place_order(
            shop.tenant_id, shop.request(shop.line("headphones"), payment_method=SLOW_METHOD)
        )
    )
    await _wait_for_pending(shop.app, shop.tenant_id)
    # While that charge waits 2 s: other products, and the very same product, check out.
    others = await asyncio.gather(
        *(checkout.place_order(shop.tenant_id, shop.request(shop.line("speaker"))) for _ in range(3)),
        *(checkout.place_order(shop.tenant_id, shop.request(shop.line("headphones"))) for _ in range(3)),
    )  # fmt: skip
    assert not slow.done(), "the fast checkouts waited for the slow charge"
    assert {o.status for o in others} == {"confirmed"}
    # And a writer that must lock the slow order's stock row gets it at once.
    async with shop.app.database.unit_of_work(shop.tenant_id) as uow:
        await uow.connection.execute("SET LOCAL lock_timeout = '200ms'")
        await uow.connection.execute(
            "SELECT 1 FROM products WHERE id = %s FOR UPDATE", (shop.products["headphones"],)
        )
    assert not slow.done()
    placed = await slow
    assert placed.status == "confirmed"
    stock = {sku: q for sku, q, _ in await stock_and_ledger(shop.app, shop.tenant_id)}
    assert (stock["HEADPHONES"], stock["SPEAKER"]) == (10 - 4, 10 - 3)
    await assert_stock_matches_ledger(shop.app, shop.tenant_id)


async def _reserve_only(
    shop: Shop, database: Database, gateway: TestPaymentGateway
) -> tuple[UUID, UUID]:
    """A checkout whose process 'dies' right after the reservation: the order and payment stay
    pending (we call the reservation step alone, as a killed process leaves it)."""
    checkout = CheckoutService(database, gateway, reservation_seconds=1)
    reservation = await checkout._reserve(
        shop.tenant_id, shop.request(shop.line("speaker", 2)), None
    )
    return reservation.order.id, reservation.payment_id


async def _expire(admin_url: str, payment_id: UUID) -> None:
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await conn.execute(
            "UPDATE payments SET expires_at = now() - interval '1 second' WHERE id = %s",
            (payment_id,),
        )


async def _order(shop: Shop, order_id: UUID) -> dict[str, Any]:
    return await shop.app.orders.get(shop.tenant_id, order_id)  # type: ignore[no-any-return]


async def test_reconcile_releases_a_reservation_the_gateway_never_saw_and_refuses_it_later(
    shop: Shop, admin_url: str
) -> None:
    gateway = TestPaymentGateway()
    order_id, payment_id = await _reserve_only(shop, shop.app.database, gateway)
    reconciler = Reconciler(shop.app.database, Gateways([gateway]))
    # Not due yet: the checkout may still be charging.
    assert (await reconciler.reconcile_due()).resolved == 0
    await _expire(admin_url, payment_id)
    report = await reconciler.reconcile_due()
    assert (report.confirmed, report.released, report.errors) == (0, 1, [])
    order = await _order(shop, order_id)
    assert (order["status"], order["payment_status"]) == ("cancelled", "failed")
    assert order["events"][-1]["note"] == "reservation expired"
    assert [p["status"] for p in order["payments"]] == ["failed"]
    stock = {sku: q for sku, q, _ in await stock_and_ledger(shop.app, shop.tenant_id)}
    assert stock["SPEAKER"] == 10
    await assert_stock_matches_ledger(shop.app, shop.tenant_id)
    # The charge that was "still on its way" arrives now: the gateway refuses it.
    late = await gateway.charge(
        reference=str(payment_id), amount=Decimal("66.00"), currency="USD", method="card"
    )
    assert late.outcome is PaymentOutcome.FAILED
    assert [(r.reference, r.status) for r in gateway.records()] == [(str(payment_id), "voided")]


async def test_reconcile_confirms_a_charge_whose_process_died_before_confirming(
    shop: Shop, admin_url: str
) -> None:
    gateway = TestPaymentGateway()
    order_id, payment_id = await _reserve_only(shop, shop.app.database, gateway)
    charged = await gateway.charge(
        reference=str(payment_id), amount=Decimal("66.00"), currency="USD", method="card"
    )
    await _expire(admin_url, payment_id)
    report = await Reconciler(shop.app.database, Gateways([gateway])).reconcile_due()
    assert (report.confirmed, report.released) == (1, 0)
    order = await _order(shop, order_id)
    assert (order["status"], order["payment_status"]) == ("confirmed", "paid")
    assert [(p["status"], p["gateway_transaction_id"]) for p in order["payments"]] == [
        ("completed", charged.transaction_id)
    ]
    # A second pass finds nothing; the late confirm of the dead process would find nothing too.
    assert (await Reconciler(shop.app.database, Gateways([gateway])).reconcile_due()).resolved == 0


async def test_one_reconciler_at_a_time_across_processes(
    shop: Shop, urls: bootstrap.StoreUrls
) -> None:
    reconciler = Reconciler(shop.app.database, Gateways([TestPaymentGateway()]))
    async with await psycopg.AsyncConnection.connect(urls.postgres, autocommit=True) as other:
        await other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (RECONCILE_LOCK,))
        assert await reconciler.run_once(urls.postgres, wait=False) is None
        waiting = asyncio.create_task(reconciler.run_once(urls.postgres, wait=True))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await other.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (RECONCILE_LOCK,))
        assert await asyncio.wait_for(waiting, 10) is not None


async def _placed(shop: Shop, gateway: TestPaymentGateway) -> PlacedOrder:
    return await CheckoutService(shop.app.database, gateway).place_order(
        shop.tenant_id, shop.request(shop.line("speaker", 2))
    )


async def test_a_refund_interrupted_after_the_gateway_paid_settles_once(
    shop: Shop, admin_url: str
) -> None:
    gateway = TestPaymentGateway()
    placed = await _placed(shop, gateway)
    rest = placed.total - Decimal("10.00")
    orders = OrderService(shop.app.database, gateway, reservation_seconds=1)
    # A refund recorded as pending whose process died after the gateway paid it out.
    async with shop.app.database.unit_of_work(shop.tenant_id) as uow:
        refund_ids = await orders._record_refunds(
            uow, placed.id, Decimal("10.00"), "USD", "damaged", None, target=None
        )
        await uow.commit()
    (refund_id,) = refund_ids
    async with shop.app.database.unit_of_work(shop.tenant_id) as uow:
        cursor = await uow.connection.execute(
            "SELECT gateway_transaction_id FROM payments WHERE order_id = %s", (placed.id,)
        )
        (transaction,) = await cursor.fetchone()  # type: ignore[misc]
    paid_out = await gateway.refund(
        reference=str(refund_id), transaction_id=transaction, amount=Decimal("10.00"),
        currency="USD",
    )  # fmt: skip
    assert paid_out.outcome is PaymentOutcome.APPROVED
    # While it is pending, it counts: nothing can refund those 10.00 a second time.
    with pytest.raises(ValidationError, match=rf"only {rest} is left"):
        await orders.refund(shop.tenant_id, placed.id, rest + Decimal("0.01"))
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await conn.execute(
            "UPDATE refunds SET expires_at = now() - interval '1 second' WHERE id = %s",
            (refund_id,),
        )
    report = await Reconciler(shop.app.database, Gateways([gateway]), orders).reconcile_due()
    assert (report.refunds_settled, report.errors) == (1, [])
    order = await _order(shop, placed.id)
    assert order["payment_status"] == "partially_refunded"
    assert [p["refunded_amount"] for p in order["payments"]] == [Decimal("10.00")]
    # The gateway paid once: asked again by the reconciler, it answered with the first refund.
    (record,) = gateway.records()
    assert record.refunded == Decimal("10.00")
    # The rest refunds normally and the order becomes refunded.
    assert await orders.refund(shop.tenant_id, placed.id) == rest
    order = await _order(shop, placed.id)
    assert (order["status"], order["payment_status"]) == ("refunded", "refunded")
    (record,) = gateway.records()
    assert record.refunded == placed.total


async def test_a_service_process_reconciles_in_its_background(
    shop: Shop, urls: bootstrap.StoreUrls, admin_url: str
) -> None:
    """What `polyshop serve` does: the application opened with `run_reconciler` releases an
    expired reservation by itself."""
    gateway = TestPaymentGateway()
    order_id, payment_id = await _reserve_only(shop, shop.app.database, gateway)
    await _expire(admin_url, payment_id)
    settings = base.test_settings(payment_reconcile_interval_seconds=0.1)
    async with bootstrap.application(settings, urls, gateway=gateway, run_reconciler=True):
        for _ in range(100):
            if (await _order(shop, order_id))["status"] != "pending":
                break
            await asyncio.sleep(0.05)
    order = await _order(shop, order_id)
    assert (order["status"], order["events"][-1]["note"]) == ("cancelled", "reservation expired")
