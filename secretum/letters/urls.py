from django.urls import path

from secretum.letters import views

app_name = "letters"
urlpatterns = [
    path("<uuid:patient>/", views.patient_letters, name="list"),
    path("<uuid:patient>/new/", views.new_letter, name="new"),
    path("letter/<uuid:uid>/", views.letter, name="letter"),
    path("letter/<uuid:uid>/finalise/", views.finalise, name="finalise"),
    path("letter/<uuid:uid>/correct/", views.correct, name="correct"),
    path("letter/<uuid:uid>/print/", views.print_letter, name="print"),
]
