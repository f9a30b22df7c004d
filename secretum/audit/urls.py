from django.urls import path

from secretum.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.log, name="log"),
    path("export/", views.export, name="export"),
    path("report/", views.report_search, name="report_search"),
    path("report/<uuid:patient>/", views.report, name="report"),
    path("report/<uuid:patient>/pdf/", views.report_pdf, name="report_pdf"),
    path("alerts/", views.alerts, name="alerts"),
]
