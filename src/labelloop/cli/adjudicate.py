"""`labelloop aggregate` and `labelloop agreement` (truth inference and agreement)."""

from __future__ import annotations
