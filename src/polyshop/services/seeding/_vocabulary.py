"""The words, places and weights the generator draws from, and the small text helpers it shares.

Changing anything here changes the rows every seed makes (the draws shift), so a seeded
database and a fresh one of the same seed would no longer match.
"""

from __future__ import annotations

import itertools
import unicodedata
from decimal import Decimal
from typing import Any

# (Faker locale, country, currency), one per shop in turn.
LOCALES = (("en_US", "US", "USD"), ("en_GB", "GB", "GBP"), ("de_DE", "DE", "EUR"),
           ("fr_FR", "FR", "EUR"))  # fmt: skip
LANGUAGES = {"US": "en", "GB": "en", "DE": "de", "FR": "fr"}

# category → subcategories → product nouns
TAXONOMY: dict[str, dict[str, tuple[str, ...]]] = {
    "Electronics": {"Audio": ("Headphones", "Earbuds", "Speaker", "Soundbar"),
                    "Phones": ("Smartphone", "Phone Case", "Charger", "Power Bank"),
                    "Computers": ("Laptop", "Keyboard", "Mouse", "Monitor")},
    "Home": {"Kitchen": ("Chef Knife", "Skillet", "Kettle", "Blender"),
             "Furniture": ("Desk Chair", "Bookshelf", "Side Table", "Floor Lamp"),
             "Bedding": ("Duvet", "Pillow", "Sheet Set", "Throw Blanket")},
    "Apparel": {"Men": ("T-Shirt", "Hoodie", "Chinos", "Jacket"),
                "Women": ("Dress", "Blouse", "Cardigan", "Jeans"),
                "Shoes": ("Sneakers", "Boots", "Sandals", "Loafers")},
    "Sports": {"Outdoor": ("Tent", "Backpack", "Sleeping Bag", "Headlamp"),
               "Fitness": ("Yoga Mat", "Dumbbell Set", "Resistance Band", "Jump Rope")},
    "Beauty": {"Skincare": ("Moisturizer", "Serum", "Cleanser", "Sunscreen"),
               "Hair": ("Shampoo", "Conditioner", "Hair Dryer", "Brush")},
}  # fmt: skip
ADJECTIVES = ("Classic", "Premium", "Essential", "Ultra", "Compact", "Pro", "Everyday",
              "Eco", "Deluxe", "Smart", "Vintage", "Modern", "Lightweight", "Rugged")  # fmt: skip
COLORS = ("black", "white", "navy", "grey", "red", "green", "sand")
SIZES = ("XS", "S", "M", "L", "XL")
CARRIERS = ("UPS", "DHL", "FedEx", "Royal Mail", "La Poste")
SEARCHES = ("wireless", "gift", "sale", "black", "organic", "running", "kids", "waterproof",
            "summer", "leather", "usb-c", "bestseller")  # fmt: skip

# Every shop's pricing rules (tenants.settings); the discount codes are the ones customers use.
DISCOUNTS = {"WELCOME10": {"type": "percent", "value": "10"},
             "SAVE5": {"type": "fixed", "value": "5.00"}}  # fmt: skip
DISCOUNT_CODES = tuple(DISCOUNTS)


def rules_settings(country: str) -> dict[str, Any]:
    return {
        "tax": {"default_rate": "0.08" if country == "US" else "0.20",
                "rates": {"DE": "0.19", "FR": "0.20", "GB": "0.20"}},
        "shipping": {"standard": {"price": "4.95", "free_over": "60.00"},
                     "express": {"price": "14.95"}},
        "discounts": DISCOUNTS,
    }  # fmt: skip


# Weighted draws. Cumulative weights, computed once: `choices(weights=...)` would add them up
# on every call (the same draws either way).
RATINGS, RATING_CUM = (1, 2, 3, 4, 5), tuple(itertools.accumulate((5, 5, 12, 33, 45)))
HOURS = tuple(range(24))
HOUR_CUM = tuple(itertools.accumulate(
    (2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 9, 11, 10, 8, 8, 8, 9, 10, 12, 13, 12, 8, 4)))  # fmt: skip
LINES, LINES_CUM = (1, 2, 3, 4), tuple(itertools.accumulate((55, 25, 12, 8)))
QUANTITIES, QUANTITIES_CUM = (1, 2, 3), tuple(itertools.accumulate((80, 15, 5)))


def ascii_lower(text: str) -> str:
    """`text` in lowercase ASCII, accents dropped (for email addresses)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")
