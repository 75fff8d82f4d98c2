"""The tenants part of the public API."""
