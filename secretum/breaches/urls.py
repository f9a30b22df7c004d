from django.urls import path

from secretum.breaches import views

# Mounted under /compliance/, where these pages were before the breach register was an app of its
# own: links and bookmarks keep working.
app_name = "breaches"
urlpatterns = [
    path("help/", views.help_page, name="help"),
    path("breaches/", views.breaches, name="breaches"),
    path("breaches/new/", views.breach_report, name="breach_report"),
    path("breaches/<uuid:uid>/", views.breach, name="breach"),
    path("breaches/<uuid:uid>/drafts/", views.breach_drafts, name="breach_drafts"),
    path("breaches/<uuid:uid>/<slug:step>/", views.breach_update, name="breach_update"),
]
