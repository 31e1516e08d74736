"""The one place a staff route learns who is acting: `staff(Role.ADMIN)` checks the role and
builds the audit Actor (user, role, country, request id, client IP) for `service.append`."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request

from letsbet.accounts.domain import Role
from letsbet.accounts.tokens import Principal
from letsbet.compliance.audit.domain import Actor
from letsbet.platform.http.deps import CurrentUser, get_runtime, require_role
from letsbet.platform.http.errors import request_id_of
from letsbet.platform.http.middleware import client_ip


def actor_of(request: Request, principal: Principal) -> Actor:
    """The audit actor for a verified caller of this request (a player too, for their own
    sensitive changes such as closing their account)."""
    settings = get_runtime(request).settings
    return Actor(
        user_id=principal.user_id,
        role=principal.role.value,
        country=principal.country,
        request_id=request_id_of(request),
        client_ip=client_ip(request.scope, settings.trust_forwarded_for),
    )


def staff(*roles: Role) -> Callable[..., Coroutine[Any, Any, Actor]]:
    """A dependency: 403 unless the caller has one of `roles`, else their audit Actor."""
    guard = require_role(*roles)

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(guard)]
    ) -> Actor:
        return actor_of(request, principal)

    return dependency


async def _caller(request: Request, principal: CurrentUser) -> Actor:
    return actor_of(request, principal)


CallerActor = Annotated[Actor, Depends(_caller)]
