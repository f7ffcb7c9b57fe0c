"""`ShopGenerator`: one shop's rows, the stages (`_catalog`, `_customers`, `_orders`,
`_sessions`) over the state they share (`_shop`)."""

from __future__ import annotations

from polyshop.services.seeding._catalog import CatalogRows
from polyshop.services.seeding._customers import CustomerRows
from polyshop.services.seeding._orders import OrderRows
from polyshop.services.seeding._sessions import SessionRows


class ShopGenerator(CatalogRows, CustomerRows, OrderRows, SessionRows):
    """Rows of one shop. Call `catalog`, `users`, `orders`, `sessions`, then `final_stock`, in
    that order (orders need the catalog and the customers; stock is known after the orders):
    each stage draws from the one random source in turn, so another order makes other rows."""
