from django.urls import path

from secretum.retention import views

app_name = "retention"
urlpatterns = [
    path("due/", views.due, name="due"),
    path("<uuid:uid>/destroy/", views.destroy, name="destroy"),
    path("<uuid:uid>/erasure/", views.erasure, name="erasure"),
    path("certificates/", views.certificate_list, name="certificates"),
    path("certificates/<uuid:uid>/", views.certificate, name="certificate"),
    path("certificates/<uuid:uid>/certificate.txt", views.certificate_text, name="text"),
    path("certificates/<uuid:uid>/certificate.txt.sig", views.certificate_sig, name="signature"),
]
