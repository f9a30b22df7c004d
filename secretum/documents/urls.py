from django.urls import path

from secretum.documents import views

app_name = "documents"
urlpatterns = [
    path("<uuid:patient>/attach/", views.attach, name="attach"),
    path("<uuid:uid>/", views.show, name="show"),
    path("<uuid:uid>/download/", views.download, name="download"),
]
