"""Cross-cutting UI views and helpers: role checks and login."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from striv.core import roles

logger = logging.getLogger(__name__)


def role_required(role: str) -> Callable:
    """Decorate a view so that only users with ``role`` (or a higher one) reach it.

    Anonymous users are sent to the login page; logged-in users without the role get 403, so a viewer's write is
    refused by the server even when it is crafted by hand.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not roles.has_role(request.user, role):
                raise PermissionDenied(f"This needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


viewer_required = role_required(roles.VIEWER)
operator_required = role_required(roles.OPERATOR)


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
