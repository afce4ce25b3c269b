"""Execution profiles: the same chapter code, run small (``quick``) or in full.

Continuous integration and nbval run every chapter in the ``quick`` profile
(few epochs, small data) so the whole book executes in minutes on two CPU
cores; the published book is built in the ``full`` profile. A chapter asks the
profile for its sizes instead of branching on it, so both profiles run exactly
the same code path::

    profile = current_profile()
    epochs = profile.pick(quick=3, full=30)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

PROFILE_VARIABLE = "VAE_BOOK_PROFILE"
PROFILES = ("quick", "full")

T = TypeVar("T")


@dataclass(frozen=True)
class ExecutionProfile:
    """A named execution profile, ``"quick"`` or ``"full"``."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            raise ValueError(
                f"profile name must be one of {PROFILES}, got {self.name!r}"
            )

    def pick(self, *, quick: T, full: T) -> T:
        """Return ``quick`` in the quick profile and ``full`` in the full one."""
        return quick if self.name == "quick" else full


def current_profile() -> ExecutionProfile:
    """The profile named by the ``VAE_BOOK_PROFILE`` environment variable.

    Unset means ``full``: a reader who opens a chapter in Jupyter gets what the
    published book shows. ``make test`` and CI set ``VAE_BOOK_PROFILE=quick``.
    """
    name = os.environ.get(PROFILE_VARIABLE, "full").strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"environment variable {PROFILE_VARIABLE} must be one of "
            f"{PROFILES}, got {name!r}"
        )
    return ExecutionProfile(name)
