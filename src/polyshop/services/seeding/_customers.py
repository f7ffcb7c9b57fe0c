"""Customers: a shop admin, then customers with a profile and a default address, registered
over the period (earlier ones are the loyal ones), all signing in with `SEED_PASSWORD`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from argon2.low_level import Type, hash_secret

from polyshop.domain.identity import Role
from polyshop.services.seeding._plan import CHUNK, Batch, empty_batches
from polyshop.services.seeding._shop import ShopState
from polyshop.services.seeding._vocabulary import LANGUAGES, ascii_lower

# Everyone the generator creates signs in with this password (it is a demo platform).
SEED_PASSWORD = "polyshop seed password"  # noqa: S105 (documented demo credential)


def password_hash(seed: int) -> str:
    """One argon2id hash of SEED_PASSWORD with a salt from the seed (deterministic; hashing a
    million times would take hours and prove nothing)."""
    salt = f"polyshop-seed-{seed}".encode().ljust(16, b"0")[:16]
    return hash_secret(SEED_PASSWORD.encode(), salt, time_cost=3, memory_cost=65536,
                       parallelism=4, hash_len=32, type=Type.ID).decode()  # fmt: skip


class CustomerRows(ShopState):
    def users(self, password_hash: str) -> Iterator[list[Batch]]:
        t = self.tenant_id
        admin_at = self.start - timedelta(days=365)
        for start in range(0, self.n_users + 1, CHUNK):
            b = empty_batches("users", "user_profiles", "user_addresses")
            if start == 0:
                admin = self._uuid()
                b["users"].rows.append((t, admin, f"admin@{self.domain}", password_hash,
                                        "Shop", "Admin", None, None, Role.TENANT_ADMIN, True,
                                        admin_at, admin_at))  # fmt: skip
            for u in range(start, min(start + CHUNK, self.n_users)):
                uid = self._uuid()
                created = self._user_time(u)
                self.user_ids.append(uid)
                self.user_times.append(created)
                first, last, address = self._person(u)
                email = f"{ascii_lower(first)}.{ascii_lower(last)}.{u + 1}@{self.domain}"
                email = email.replace(" ", "")
                birth = date(1950, 1, 1) + timedelta(days=self.rng.randrange(20000))
                phone = f"+{self.rng.randint(10, 99)} {self.rng.randint(100000000, 999999999)}"
                b["users"].rows.append((t, uid, email, password_hash, first, last, phone, birth,
                                        Role.CUSTOMER, self.rng.random() < 0.8, created,
                                        created))  # fmt: skip
                b["user_profiles"].rows.append(
                    (t, uid, {"newsletter": self.rng.random() < 0.4,
                              "currency": self.currency},
                     "UTC", LANGUAGES[self.country], created, created))  # fmt: skip
                b["user_addresses"].rows.append(
                    (t, self._uuid(), uid, "both", first, last, address["street"],
                     address["city"], address["postalCode"], self.country, True, created,
                     created))  # fmt: skip
            if b["users"].rows:
                yield list(b.values())
