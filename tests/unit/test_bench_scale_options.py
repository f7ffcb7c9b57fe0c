"""`bench.scale --existing`: which seeded platform stands for which size."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.scale import existing


def test_existing_platforms_by_size_with_the_default_database() -> None:
    assert existing(["1000000=/work/scale/1m", "10000=/srv/ten:polyshop_small"]) == {
        1_000_000: (Path("/work/scale/1m"), "polyshop"),
        10_000: (Path("/srv/ten"), "polyshop_small"),
    }


@pytest.mark.parametrize("entry", ["/work/scale/1m", "1m=/work/scale/1m", "1000000="])
def test_a_malformed_entry_is_refused_in_one_line(entry: str) -> None:
    with pytest.raises(SystemExit, match="ORDERS=DATA_DIR"):
        existing([entry])
