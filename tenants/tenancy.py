"""The tenant the running code acts for, held in a context variable.

A request, a Celery task or a service call binds its tenant with :func:`bind_tenant`; the default
manager of every tenant-owned model (``tenants.models.TenantOwnedManager``) then restricts its
queries to that tenant, and refuses to run a query on a tenant-owned model when no tenant is bound
and the query names none (``.for_tenant(tenant)``, ``.filter(tenant=…)``) or is not released with
``.unscoped()`` (operator admin and cross-tenant maintenance only).

Context variables do not cross threads: a thread that queries tenant-owned rows binds inside.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

_bound_tenant_id: ContextVar[int | None] = ContextVar("bound_tenant_id", default=None)

F = TypeVar("F", bound=Callable[..., Any])


class TenantScopeError(RuntimeError):
    """A tenant-owned query with no tenant to restrict it to: a programming error, never a user's."""


def _tenant_id_of(tenant_or_id: Any) -> int:
    tenant_id = getattr(tenant_or_id, "pk", tenant_or_id)
    if tenant_id is None or isinstance(tenant_id, bool):
        raise TenantScopeError(f"Cannot bind a tenant from {tenant_or_id!r}: a tenant or its id is needed.")
    try:
        return int(tenant_id)
    except (TypeError, ValueError):
        raise TenantScopeError(f"Cannot bind a tenant from {tenant_or_id!r}: a tenant or its id is needed.") from None


def current_tenant_id() -> int | None:
    """The id of the tenant bound in this context, or ``None``."""
    return _bound_tenant_id.get()


@contextmanager
def bind_tenant(tenant_or_id: Any) -> Iterator[int]:
    """Act for one tenant (a ``Tenant`` or its id) inside the ``with`` block; the previous binding comes back after."""
    token = _bound_tenant_id.set(_tenant_id_of(tenant_or_id))
    try:
        yield _bound_tenant_id.get()
    finally:
        _bound_tenant_id.reset(token)


def enter_tenant(tenant_or_id: Any) -> Any:
    """Bind a tenant until :func:`leave_tenant` is given the returned token (for request hooks that cannot nest)."""
    return _bound_tenant_id.set(_tenant_id_of(tenant_or_id))


def leave_tenant(token: Any) -> None:
    """Undo :func:`enter_tenant`."""
    _bound_tenant_id.reset(token)


def _argument_getter(func: Callable[..., Any], names: tuple[str, ...]) -> Callable[[tuple, dict], Any]:
    """Read the first of ``names`` from a call's arguments, by keyword or by position."""
    parameters = list(inspect.signature(func).parameters)
    name = next((name for name in names if name in parameters), None)
    if name is None:
        raise TypeError(f"{func.__qualname__} takes none of {', '.join(names)}: there is no tenant to bind.")
    position = parameters.index(name)

    def get(args: tuple, kwargs: dict) -> Any:
        if name in kwargs:
            return kwargs[name]
        return args[position] if position < len(args) else None

    return get


def tenant_task(func: F) -> F:
    """Bind the tenant of a Celery task from its ``tenant_id`` argument for the task's whole run.

    Put it under ``@shared_task``: ``@shared_task(...)`` then ``@tenant_task``. The task still looks its
    object up within the tenant; binding makes a forgotten filter return nothing instead of another
    tenant's row.
    """
    get_tenant = _argument_getter(func, ("tenant_id",))

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with bind_tenant(get_tenant(args, kwargs)):
            return func(*args, **kwargs)

    # Celery checks a call's arguments against getfullargspec, which reads __signature__ but not __wrapped__.
    wrapper.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
    wrapper.binds_tenant = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def maintenance_task(func: F) -> F:
    """Mark a periodic task that works across tenants (it releases its queries with ``.unscoped()``)."""
    func.cross_tenant = True  # type: ignore[attr-defined]
    return func


def acts_for_tenant(func: F) -> F:
    """Bind the tenant of a service or selector from its ``tenant`` (or ``tenant_id``) argument.

    For functions that callers outside a request or task (tests, management commands, the admin) call
    directly. A call inside a binding of the same tenant changes nothing; inside another tenant's it
    is refused, since one piece of code acting for two tenants at once is a bug.
    """
    get_tenant = _argument_getter(func, ("tenant", "tenant_id"))

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tenant = get_tenant(args, kwargs)
        if tenant is None:
            return func(*args, **kwargs)  # the function reports the missing tenant itself
        tenant_id = _tenant_id_of(tenant)
        bound = _bound_tenant_id.get()
        if bound == tenant_id:
            return func(*args, **kwargs)
        if bound is not None:
            raise TenantScopeError(
                f"{func.__qualname__} was called for tenant {tenant_id} while tenant {bound} is bound."
            )
        with bind_tenant(tenant_id):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
