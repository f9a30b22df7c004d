from django.urls import include, path
from django.views.i18n import set_language

from secretum.access.decorators import public
from secretum.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("i18n/setlang/", public(set_language), name="set_language"),
    path("accounts/", include("secretum.accounts.urls")),
    path("patients/", include("secretum.patients.urls")),
    path("clinical/", include("secretum.clinical.urls")),
    path("documents/", include("secretum.documents.urls")),
    path("letters/", include("secretum.letters.urls")),
    path("exchange/", include("secretum.exchange.urls")),
    path("mail/", include("secretum.mail.urls")),
    path("agenda/", include("secretum.scheduling.urls")),
    path("audit/", include("secretum.audit.urls")),
    path("compliance/", include("secretum.compliance.urls")),
    # The breach register keeps the addresses it had inside the measures register.
    path("compliance/", include("secretum.breaches.urls")),
    path("access/", include("secretum.access.urls")),
    path("maintenance/", include("secretum.maintenance.urls")),
    path("records/", include("secretum.retention.urls")),
]

handler403 = "secretum.core.errors.forbidden"
handler404 = "secretum.core.errors.not_found"
handler500 = "secretum.core.errors.server_error"
