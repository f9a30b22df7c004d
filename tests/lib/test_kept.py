"""lib/kept.py: made once per key, given again; bounded, whatever the keys asked."""

from __future__ import annotations

from secretum.lib.kept import Kept


def test_a_value_is_made_once_per_key_and_given_again() -> None:
    made: list[str] = []

    def make(word: str) -> str:
        made.append(word)
        return word.upper()

    kept = Kept(most=8)
    assert kept.made("a", make, "a") == "A" and kept.made("a", make, "other") == "A"
    assert kept.made("b", make, "b") == "B"
    assert made == ["a", "b"] and len(kept) == 2


def test_keys_beyond_the_bound_never_grow_it() -> None:
    kept = Kept(most=4)
    for n in range(1000):
        assert kept.made(("key", n), abs, -n) == n
        assert len(kept) <= 4
    # What was forgotten is made again when asked.
    assert kept.made(("key", 0), abs, 0) == 0 and ("key", 0) in kept
