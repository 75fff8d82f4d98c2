"""Accounts and access: sign-up, organisations, members, invitations, the sign-in lock and portal rate limits.

The services and selectors behind the portal's account and access pages (``portal.views.account``,
``portal.views.access``).
"""
