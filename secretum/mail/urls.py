from django.urls import path

from secretum.mail import views

app_name = "mail"
urlpatterns = [
    path("correspondents/", views.correspondents, name="correspondents"),
    path("correspondents/<uuid:uid>/verify/", views.verify, name="verify"),
    path("document/<uuid:uid>/send/", views.send_document, name="send_document"),
    path("letter/<uuid:uid>/send/", views.send_letter, name="send_letter"),
]
