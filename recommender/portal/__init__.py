"""Portal pages for the recommender: dashboard, data, models and "try it".

A small app (label ``portal_pages``) with no models: it holds these views,
their URLs (the ``portal`` namespace, which also mounts the account and access
pages of ``tenants.portal``), the template tags and the inline SVG charts.
"""
