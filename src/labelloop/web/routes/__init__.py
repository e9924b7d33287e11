"""JSON API routers, one per resource, all under /api/v1."""
