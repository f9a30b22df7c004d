from django.urls import path

from secretum.patients import views

app_name = "patients"
urlpatterns = [
    path("", views.search, name="search"),
    path("new/", views.register, name="register"),
    path("<uuid:uid>/", views.detail, name="detail"),
    path("<uuid:uid>/edit/", views.edit, name="edit"),
    path("<uuid:uid>/archive/open/", views.archive_open, name="archive_open"),
    path("<uuid:uid>/archive/restore/", views.restore, name="restore"),
]
