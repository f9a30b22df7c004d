from django.urls import path

from secretum.documents import views

app_name = "documents"
urlpatterns = [
    path("unfiled/", views.unfiled, name="unfiled"),
    path("unfiled/<uuid:uid>/", views.unfiled_show, name="unfiled_show"),
    path("unfiled/<uuid:uid>/file/", views.unfiled_file, name="unfiled_file"),
    path("<uuid:patient>/attach/", views.attach, name="attach"),
    path("<uuid:uid>/", views.show, name="show"),
    path("<uuid:uid>/download/", views.download, name="download"),
]
