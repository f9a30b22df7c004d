from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from secretum.access.decorators import public, requires
from secretum.access.policy import Permission


@method_decorator(never_cache, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


login_view = public(LoginView.as_view())
logout_view = requires(Permission.SESSION_OWN)(LogoutView.as_view())
