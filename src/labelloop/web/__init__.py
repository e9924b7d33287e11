"""The HTTP server: JSON API under /api/v1, sign-in page, auth as dependencies."""

from __future__ import annotations

from labelloop.web.app import create_app

__all__ = ["create_app"]
