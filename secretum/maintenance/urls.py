from django.urls import path

from secretum.maintenance import views

app_name = "maintenance"
urlpatterns = [
    path("", views.log, name="log"),
    path("new/", views.new_entry, name="new"),
    path("<uuid:uid>/correct/", views.correct_entry, name="correct"),
    path("export.csv", views.export, name="export"),
    # K2: maintenance access of outside technicians.
    path("access/", views.windows_view, name="windows"),
    path("access/open/", views.window_open, name="window_open"),
    path("access/close/", views.window_close, name="window_close"),
]
