"""Carts, checkout, orders, payments and refunds over HTTP.

Customers see and change only their own cart and orders (another's order is a 404); shop
admins see every order and ship, cancel and refund; vendor staff see their order lines only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from pydantic import ConfigDict, Field

from polyshop.api._common import (
    PROBLEMS,
    Limit,
    Model,
    Money,
    MoneyIn,
    cursor_after,
    decode_position,
    page,
)
from polyshop.api._context import (
    Allowed,
    MaybePrincipal,
    Principal,
    Services,
    Tenant,
    rate_limit,
)
from polyshop.api._problems import unauthorized
from polyshop.codec import dumps
from polyshop.domain.access import has_cart, orders_scope
from polyshop.domain.errors import ForbiddenError
from polyshop.domain.identity import Permission
from polyshop.services.carts import CartLine, anonymous_cart, user_cart
from polyshop.services.checkout import CheckoutRequest, OrderLine, PlacedOrder
from polyshop.services.orders import OrderSummary, VendorLine
from polyshop.services.payments import handle_webhook

router = APIRouter(responses=PROBLEMS, dependencies=[Depends(rate_limit)])

OrderWriter = Annotated[Principal, Depends(Allowed(Permission.WRITE_ORDERS))]
OrderReader = Annotated[Principal, Depends(Allowed(Permission.READ_ORDERS))]
Fulfilment = Annotated[Principal, Depends(Allowed(Permission.WRITE_FULFILMENT))]
Refunder = Annotated[Principal, Depends(Allowed(Permission.WRITE_REFUNDS))]
LineReader = Annotated[Principal, Depends(Allowed(Permission.READ_ORDER_LINES))]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=255,
           description="Retries with the same key return the first result"),
]  # fmt: skip
CartToken = Annotated[
    str | None,
    Header(alias="X-Cart-Token", min_length=16, max_length=256,
           description="Names an anonymous visitor's cart"),
]  # fmt: skip
Cursor = Annotated[str | None, Query(max_length=500)]
# Counts are strict: `true`, `"2"` and `2.0` are refused as the schema's `integer` says.
Quantity = Annotated[int, Field(ge=1, le=10_000, strict=True)]
Field100 = Annotated[str, Field(max_length=100)]


class CartItemIn(Model):
    product_id: UUID
    variant_id: UUID | None = None
    quantity: Quantity = 1


class CartQuantity(Model):
    product_id: UUID
    variant_id: UUID | None = None
    quantity: int = Field(ge=0, le=10_000, strict=True, description="0 removes the line")


class CartOut(Model):
    lines: list[CartLine]
    subtotal: Money
    currency: str
    item_count: int


class AddressDoc(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    firstName: Field100 | None = None
    lastName: Field100 | None = None
    street: Annotated[str, Field(min_length=1, max_length=255)]
    city: Annotated[str, Field(min_length=1, max_length=100)]
    state: Field100 | None = None
    postalCode: Annotated[str, Field(min_length=1, max_length=20)]
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]


class Payment(Model):
    shipping_address: AddressDoc
    billing_address: AddressDoc | None = None
    shipping_method: Annotated[str, Field(max_length=50)] | None = None
    discount_code: Annotated[str, Field(max_length=50)] | None = None
    payment_method: Annotated[str, Field(min_length=1, max_length=50)] = "card"


class OrderLineIn(Model):
    product_id: UUID
    variant_id: UUID | None = None
    quantity: Quantity


class OrderIn(Payment):
    lines: list[OrderLineIn] = Field(min_length=1, max_length=100)
    notes: Annotated[str, Field(max_length=2000)] | None = None


class OrderList(Model):
    items: list[OrderSummary]
    next: str | None


class OrderDetail(Model):
    """An order with its items, payments and status history; more fields may appear."""

    model_config = ConfigDict(extra="allow")
    id: UUID
    order_number: str
    user_id: UUID
    status: str
    payment_status: str
    shipping_status: str
    currency: str
    items: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    events: list[dict[str, Any]]


class PaymentOut(Model):
    id: UUID
    payment_method: str
    payment_gateway: str
    gateway_transaction_id: str | None
    amount: Money
    refunded_amount: Money
    currency: str
    status: str
    processed_at: datetime | None


class Shipment(Model):
    carrier: Annotated[str, Field(max_length=100)] | None = None
    tracking_number: Annotated[str, Field(max_length=100)] | None = None


class CancelIn(Model):
    reason: Annotated[str, Field(min_length=1, max_length=255)] = "cancelled"


class RefundIn(Model):
    amount: MoneyIn | None = Field(default=None, description="Everything left when omitted")
    reason: Annotated[str, Field(min_length=1, max_length=255)] = "refund"


class RefundOut(Model):
    order_id: UUID
    amount: Money


class VendorLineList(Model):
    items: list[VendorLine]
    next: str | None


async def _cart_owner(principal: MaybePrincipal, cart_token: CartToken = None) -> str:
    """Whose cart: the signed-in customer's, or the anonymous visitor's named by its token."""
    if principal is not None:
        if not has_cart(principal.permissions):
            raise ForbiddenError("only customers have carts")
        return user_cart(principal.user_id)
    if cart_token is None:
        raise unauthorized("sign in, or send an X-Cart-Token for an anonymous cart")
    return anonymous_cart(cart_token)


CartOwner = Annotated[str, Depends(_cart_owner)]


def _placed(order: PlacedOrder, response: Response) -> PlacedOrder:
    response.headers["Location"] = f"/orders/{order.id}"
    if order.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return order


# -- cart ----------------------------------------------------------------------------------


@router.get("/cart", response_model=CartOut, tags=["cart"])
async def view_cart(container: Services, tenant_id: Tenant, owner: CartOwner) -> Any:
    return await container.carts.view(tenant_id, owner)


@router.post("/cart/items", response_model=CartOut, tags=["cart"])
async def add_to_cart(
    body: CartItemIn, container: Services, tenant_id: Tenant, owner: CartOwner
) -> Any:
    return await container.carts.add(
        tenant_id, owner, body.product_id, body.quantity, body.variant_id
    )


@router.put("/cart/items", response_model=CartOut, tags=["cart"])
async def set_cart_quantity(
    body: CartQuantity, container: Services, tenant_id: Tenant, owner: CartOwner
) -> Any:
    return await container.carts.set_quantity(
        tenant_id, owner, body.product_id, body.quantity, body.variant_id
    )


@router.post(
    "/cart/checkout", status_code=status.HTTP_201_CREATED, response_model=PlacedOrder,
    tags=["cart"],
)  # fmt: skip
async def checkout_cart(
    body: Payment, response: Response, container: Services, tenant_id: Tenant, who: OrderWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:  # fmt: skip
    """Order the cart at current prices; it empties only once the order has committed."""
    order = await container.carts.checkout(
        tenant_id, who.user_id, **_payment_fields(body), idempotency_key=idempotency_key
    )
    return _placed(order, response)


def _payment_fields(body: Payment) -> dict[str, Any]:
    return {
        "shipping_address": body.shipping_address.model_dump(exclude_none=True),
        "billing_address": (
            body.billing_address.model_dump(exclude_none=True) if body.billing_address else None
        ),
        "shipping_method": body.shipping_method,
        "discount_code": body.discount_code,
        "payment_method": body.payment_method,
    }


# -- orders --------------------------------------------------------------------------------


@router.post("/orders", status_code=status.HTTP_201_CREATED, response_model=PlacedOrder,
             tags=["orders"])  # fmt: skip
async def place_order(
    body: OrderIn, response: Response, container: Services, tenant_id: Tenant, who: OrderWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:  # fmt: skip
    request = CheckoutRequest(
        customer_id=who.user_id,
        lines=tuple(OrderLine(l.product_id, l.quantity, l.variant_id) for l in body.lines),  # noqa: E741
        notes=body.notes,
        **_payment_fields(body),
    )
    order = await container.checkout.place_order(
        tenant_id, request, idempotency_key=idempotency_key
    )
    return _placed(order, response)


def _own_scope(who: Principal) -> UUID | None:
    """None (every order) for those who may read all; else the caller's own orders only."""
    return orders_scope(who.permissions, who.user_id)


@router.get("/orders", response_model=OrderList, tags=["orders"])
async def list_orders(
    request: Request, response: Response, container: Services, tenant_id: Tenant,
    who: OrderReader, limit: Limit = 20, cursor: Cursor = None,
) -> Any:  # fmt: skip
    """The caller's orders, newest first (a shop admin: every order of the shop)."""
    orders = await container.orders.history(
        tenant_id, _own_scope(who), limit=limit, before=decode_position(cursor)
    )
    return page(request, response, orders, cursor_after(orders, limit, "created_at"))


@router.get("/me/order-history", response_model=list[dict[str, Any]], tags=["orders"])
async def order_history(
    container: Services, tenant_id: Tenant, who: OrderReader, limit: Limit = 20
) -> Response:
    """The caller's latest orders as documents (the spec's order documents, one read)."""
    documents = await container.document_reads.order_history(tenant_id, who.user_id, limit=limit)
    return Response(dumps(documents), media_type="application/json")


@router.get("/orders/{order_id}", response_model=OrderDetail, tags=["orders"])
async def get_order(
    order_id: UUID, container: Services, tenant_id: Tenant, who: OrderReader
) -> Any:
    return await container.orders.get(tenant_id, order_id, customer_id=_own_scope(who))


@router.get("/orders/{order_id}/payments", response_model=list[PaymentOut], tags=["payments"])
async def order_payments(
    order_id: UUID, container: Services, tenant_id: Tenant, who: OrderReader
) -> Any:
    return await container.orders.payments(tenant_id, order_id, customer_id=_own_scope(who))


@router.post("/orders/{order_id}/cancel", status_code=status.HTTP_204_NO_CONTENT, tags=["orders"])
async def cancel_order(
    order_id: UUID, body: CancelIn, container: Services, tenant_id: Tenant, who: OrderWriter
) -> None:
    """Cancel before shipping: stock goes back and the payment is refunded. A customer may
    cancel only their own order."""
    await container.orders.cancel(
        tenant_id, order_id, actor=who.user_id, reason=body.reason, customer_id=_own_scope(who)
    )


@router.post(
    "/orders/{order_id}/status/{target}", status_code=status.HTTP_204_NO_CONTENT, tags=["orders"]
)
async def advance_order(
    order_id: UUID, target: Literal["processing", "shipped", "delivered"], body: Shipment,
    container: Services, tenant_id: Tenant, who: Fulfilment,
) -> None:  # fmt: skip
    """Move an order along fulfilment; `carrier` and `tracking_number` apply to `shipped`."""
    orders = container.orders
    if target == "processing":
        await orders.mark_processing(tenant_id, order_id, actor=who.user_id)
    elif target == "shipped":
        await orders.ship(
            tenant_id, order_id, carrier=body.carrier, tracking_number=body.tracking_number,
            actor=who.user_id,
        )  # fmt: skip
    else:
        await orders.deliver(tenant_id, order_id, actor=who.user_id)


@router.post(
    "/orders/{order_id}/refunds", status_code=status.HTTP_201_CREATED, response_model=RefundOut,
    tags=["payments"],
)  # fmt: skip
async def refund_order(
    order_id: UUID, body: RefundIn, container: Services, tenant_id: Tenant, who: Refunder,
    idempotency_key: Annotated[
        str, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ],
) -> Any:  # fmt: skip
    """Refund part or all of what was paid; the key makes a retried refund pay out once."""
    amount = await container.orders.refund(
        tenant_id, order_id, body.amount, actor=who.user_id, reason=body.reason,
        idempotency_key=idempotency_key,
    )  # fmt: skip
    return {"order_id": order_id, "amount": amount}


class WebhookOut(Model):
    received: bool
    outcome: Literal["applied", "duplicate", "ignored"]


@router.post("/payments/webhooks/{gateway}", response_model=WebhookOut, tags=["payments"])
async def payment_webhook(
    gateway: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,49}$")], request: Request,
    container: Services, tenant_id: Tenant,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature", max_length=4000)] = None,
) -> Any:  # fmt: skip
    """A gateway's signed event about one of the shop's payments (Stripe's scheme: the
    `Stripe-Signature` header). A bad or stale signature is a 400 and changes nothing; an
    event id seen before changes nothing (`duplicate`)."""
    outcome = await handle_webhook(
        container.database, container.gateways, tenant_id, gateway, await request.body(),
        stripe_signature,
    )  # fmt: skip
    return {"received": True, "outcome": outcome}


@router.get("/vendor/order-lines", response_model=VendorLineList, tags=["orders"])
async def vendor_order_lines(
    request: Request, response: Response, container: Services, tenant_id: Tenant,
    who: LineReader, limit: Limit = 20, cursor: Cursor = None,
) -> Any:  # fmt: skip
    """What vendor staff see of orders: their own products' lines, no customer details."""
    assert who.vendor_id is not None
    lines = await container.orders.vendor_lines(
        tenant_id, who.vendor_id, limit=limit, before=decode_position(cursor)
    )
    return page(request, response, lines, cursor_after(lines, limit, "ordered_at"))
