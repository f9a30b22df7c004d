from django.urls import path

from secretum.clinical import views

app_name = "clinical"
urlpatterns = [
    path("<uuid:patient>/<slug:kind>/new/", views.new_entry, name="new"),
    path("<slug:kind>/<uuid:uid>/correct/", views.correct, name="correct"),
    path("<slug:kind>/<uuid:uid>/retract/", views.retract, name="retract"),
    path("<slug:kind>/<uuid:uid>/history/", views.history, name="history"),
    path("codes/icd-10/", views.icd10_codes, name="icd10"),
    path("medication/<uuid:uid>/stop/", views.stop_medication, name="stop"),
    path("medication/<uuid:uid>/renew/", views.renew_medication, name="renew"),
    path("prescriber/", views.prescriber, name="prescriber"),
]
