"""Tenants: the enterprises using the platform, their members, API keys, plans and audit log."""
