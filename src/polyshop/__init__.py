"""polyshop: a multi-tenant e-commerce backend whose data lives in the store that fits it."""

__version__ = "0.1.0"
