"""Views of the account and access pages, split by area."""
