from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.reset_request, name="reset_request"),
    path("password-reset/code/", views.reset, name="reset"),
    path("language/", views.language_switch, name="language"),
    path("account/contact-hours/", views.contact_hours, name="contact_hours"),
]
