"""How much of its plan a tenant uses, for the usage API and the portal.

Other apps register a counter for the quotas they own (rows, models, runs), so
this module needs no import of theirs.
"""

_counters = {}


def register_quota(name, limit_field, count):
    """Declare quota ``name``: its limit is ``plan.<limit_field>``; ``count(tenant)`` is what is used."""
    _counters[name] = (limit_field, count)


def quota_use(tenant):
    """``{name: {"used": n, "limit": m}}`` for every registered quota."""
    return {
        name: {"used": count(tenant), "limit": getattr(tenant.plan, limit_field)}
        for name, (limit_field, count) in sorted(_counters.items())
    }
