from django.urls import path

from secretum.compliance import views

app_name = "compliance"
urlpatterns = [
    path("", views.register, name="register"),
    path("profile/", views.profile, name="profile"),
    path("report/", views.report, name="report"),
    path("measures/<slug:measure>/", views.measure, name="measure"),
    path("measures/<slug:measure>/declare/", views.declare, name="declare"),
    path("measures/<slug:measure>/review/", views.review, name="review"),
    path("measures/<slug:measure>/withdraw/", views.withdraw, name="withdraw"),
    path("measures/<slug:measure>/documents/", views.attach, name="attach"),
    path("documents/<uuid:uid>/", views.document, name="document"),
    path("access-review/", views.access_review, name="access_review"),
    path("reports/", views.reports, name="reports"),
    path("reports/public-key/", views.public_key, name="public_key"),
    path("reports/<uuid:uid>/<slug:part>/", views.report_file, name="report_file"),
    path("print/<uuid:patient>/", views.print_patient, name="print_patient"),
    path(
        "print/prescription/<uuid:medication>/",
        views.print_prescription,
        name="print_prescription",
    ),
]
