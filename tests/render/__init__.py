"""Render tier: a package, so its package-scoped fixtures end with it."""
