from django.urls import path

from secretum.scheduling import views

app_name = "scheduling"
urlpatterns = [
    path("", views.agenda, name="agenda"),
    path("book/<uuid:patient>/", views.book, name="book"),
    path("<uuid:uid>/cancel/", views.cancel, name="cancel"),
]
