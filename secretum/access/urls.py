from django.urls import path

from secretum.access import views

app_name = "access"
urlpatterns = [
    path("care/<uuid:patient>/", views.declare, name="declare"),
    path("glass/<uuid:patient>/", views.glass, name="glass"),
    path("reviews/", views.reviews, name="reviews"),
    path("reviews/<uuid:grant>/", views.review, name="review"),
    path("policy/", views.policy_page, name="policy"),
]
