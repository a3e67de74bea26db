"""What each load-generator connection sends, and the answer each request must get.

Every connection owns a set of badges no other connection touches, so the outcome of each of
its scans follows from the plan alone: a badge's first scan in admits it, a second says
`already_inside`, an exit says `exited` and the re-entry after it admits again; a damaged code
is `invalid`, a genuine badge the replica does not know is `unknown`, an exit before any entry
is `not_inside`. A plan is a cycle that ends with every badge outside again, so a connection
that runs through it starts over with the same expectations.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# How often, per badge, a scan other than its first entry comes along: a gate's morning.
REPEAT, REENTRY, INVALID, UNKNOWN, NOT_INSIDE = 0.08, 0.05, 0.03, 0.02, 0.02


@dataclass(frozen=True)
class Step:
    token: str
    direction: str  # in, out
    expected: str  # the `result` the answer must carry


def cycle(
    badges: Sequence[int],
    token: Callable[[int], str],
    unknown: Callable[[], str],
    rng: random.Random,
) -> list[Step]:
    """One connection's cycle over its badges (see the module's docstring)."""
    steps: list[Step] = []
    texts = [token(badge) for badge in badges]
    for text in texts:
        if rng.random() < NOT_INSIDE:
            steps.append(Step(text, "out", "not_inside"))
        steps.append(Step(text, "in", "admitted"))
        if rng.random() < REPEAT:
            steps.append(Step(text, "in", "already_inside"))
        if rng.random() < REENTRY:
            steps += [Step(text, "out", "exited"), Step(text, "in", "admitted")]
        if rng.random() < INVALID:
            steps.append(Step(damaged(text, rng), "in", "invalid"))
        if rng.random() < UNKNOWN:
            steps.append(Step(unknown(), "in", "unknown"))
    steps += [Step(text, "out", "exited") for text in texts]
    return steps


def damaged(token: str, rng: random.Random) -> str:
    """The token with one character changed: what a torn or forged badge reads as."""
    at = rng.randrange(len(token))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return token[:at] + rng.choice(alphabet.replace(token[at], "")) + token[at + 1 :]


def split(badges: Sequence[int], connections: int) -> list[Sequence[int]]:
    """Disjoint shares of the badges, one a connection."""
    return [badges[i::connections] for i in range(connections)]


def write(directory: Path, plans: list[list[Step]], scanner_tokens: Sequence[str]) -> None:
    """One file a connection (plan-<n>.txt): its scanner token, then a step a line."""
    directory.mkdir(parents=True, exist_ok=True)
    for n, steps in enumerate(plans):
        lines = [scanner_tokens[n % len(scanner_tokens)]]
        lines += [f"{s.token} {s.direction} {s.expected}" for s in steps]
        (directory / f"plan-{n}.txt").write_text("\n".join(lines) + "\n")
