"""Exposure: how many times a member text occurs in the training stream of ``paramem fit``.

Members are split into equal, seeded exposure groups (e.g. 1, 2, 4, 8, 16 occurrences);
non-members have exposure 0. ``paramem fit`` then trains on one shuffled stream in which
each member occurs exactly ``exposure`` times among background text, so a score can be
read against a known dose of memorization instead of "seen 30 times or never".
"""

from __future__ import annotations

from typing import Any, Sequence

from paramem.io import InputError


# More occurrences than any training stream holds: a typo or a unit error, not a dose.
MAX_EXPOSURE = 1_000_000_000


def _shuffled(items: list, *key: object) -> list:
    # The embedded corpus' RNG: built on random.random() alone, whose sequence Python
    # keeps across versions (random.shuffle's is not promised).
    from paramem.data.embedded import _Rng

    _Rng(*key).shuffle(items)
    return items


def check_exposures(exposures: Sequence[int], n_members: int) -> list[int]:
    """Distinct positive ints, and a member count they divide into equal groups."""
    values = [int(e) for e in exposures]
    if not values or any(e < 1 for e in values) or len(set(values)) != len(values):
        raise InputError(f"exposures {list(exposures)!r}: need distinct positive integers")
    if n_members % len(values):
        raise InputError(f"n_members={n_members} does not split into {len(values)} equal exposure groups "
                         f"({values}); use a multiple of {len(values)}")
    return sorted(values)


def assign_exposures(member_uids: Sequence[str], exposures: Sequence[int], seed: int) -> dict[str, int]:
    """{uid: exposure}: a seeded shuffle of the (sorted) uids cut into equal groups, one
    per exposure value. Depends only on the uids, the values and the seed."""
    values = check_exposures(exposures, len(member_uids))
    uids = _shuffled(sorted(member_uids), "exposure", seed, *values)
    size = len(uids) // len(values)
    return {uid: values[i // size] for i, uid in enumerate(uids)}


def parse_exposure(value: Any, label: int, where: str, field: str = "exposure") -> int | None:
    """A sample's exposure: a non-negative integer, >= 1 for members, 0 for non-members
    (a non-member seen in training would not be a non-member). Missing -> None."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: field '{field}' must be a non-negative integer, got {value!r}") from None
    if isinstance(value, bool) or not number.is_integer() or number < 0:
        raise InputError(f"{where}: field '{field}' must be a non-negative integer, got {value!r}")
    if number > MAX_EXPOSURE:
        raise InputError(f"{where}: field '{field}' is {value!r}, above {MAX_EXPOSURE:,} occurrences")
    exposure = int(number)
    if label == 1 and exposure == 0:
        raise InputError(f"{where}: field '{field}' is 0 for a member (members occur at least once)")
    if label == 0 and exposure != 0:
        raise InputError(f"{where}: field '{field}' is {exposure} for a non-member (non-members have 0)")
    return exposure


def check_consistent(samples: Sequence[dict], source: str) -> None:
    """Exposure is all or nothing: a data set where some members carry it and others do
    not has no defined training stream."""
    members = [s for s in samples if s["label"] == 1]
    have = sum("exposure" in s for s in members)
    if 0 < have < len(members):
        missing = next(s["uid"] for s in members if "exposure" not in s)
        raise InputError(f"{source}: {have} of {len(members)} members have an exposure, "
                         f"member {missing!r} has none (give every member one, or none)")


def build_stream(members: Sequence[dict], background: Sequence[dict], seed: int) -> list[dict]:
    """The training stream: each member ``exposure`` times, each background item once,
    shuffled together with a seeded RNG. Items keep their dicts (shared, not copied)."""
    stream = [m for m in members for _ in range(int(m["exposure"]))] + list(background)
    return _shuffled(stream, "stream", seed)
