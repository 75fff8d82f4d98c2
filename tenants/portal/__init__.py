"""Portal pages for accounts, tenants and access: sign-up, members, API keys, usage, audit log.

Templates live in the project's ``templates/`` folder; the URL names are
Django's own for account pages and the ``portal`` namespace for the rest.
"""
