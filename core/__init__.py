"""Platform plumbing shared by every app: domain errors and, over time, the rest of the glue.

Nothing here knows about tenants' data or models; apps depend on ``core``, never the reverse.
"""
