from django.urls import path

from secretum.exchange import views

app_name = "exchange"
urlpatterns = [
    path("<uuid:patient>/copy/", views.patient_copy, name="patient_copy"),
]
