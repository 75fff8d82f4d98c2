"""The portal: the server-rendered pages of the platform, above ``tenants`` and ``recommender``.

An app with no models: its views (dashboard, data, models, "try it", online
metrics and experiments, organisations and access), their URLs (the
``portal`` namespace, and the account pages under ``/accounts/``), forms,
the template tags and the inline SVG charts. Templates live in the project's
``templates/`` folder.
"""
