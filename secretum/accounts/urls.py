from django.urls import path

from secretum.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/verify/", views.verify_view, name="verify"),
    path("login/webauthn/options/", views.verify_webauthn_options, name="verify_webauthn_options"),
    path("login/webauthn/", views.verify_webauthn, name="verify_webauthn"),
    path("logout/", views.logout_view, name="logout"),
    path("oidc/login/", views.oidc_start_view, name="oidc_start"),
    path("oidc/callback/", views.oidc_callback_view, name="oidc_callback"),
    path("oidc/complete/", views.oidc_complete_view, name="oidc_complete"),
    path("oidc/link/", views.oidc_link_view, name="oidc_link"),
    path("oidc/link/confirm/", views.oidc_link_confirm_view, name="oidc_link_confirm"),
    path("oidc/unlink/", views.oidc_unlink_view, name="oidc_unlink"),
    path("enrol/", views.enrol_view, name="enrol"),
    path("factors/new/", views.enrol_factor_view, name="enrol_factor"),
    path(
        "factors/webauthn/options/",
        views.webauthn_register_options,
        name="webauthn_register_options",
    ),
    path("factors/webauthn/", views.webauthn_register, name="webauthn_register"),
    path("factors/remove/", views.factor_remove_view, name="factor_remove"),
    path("factors/rename/", views.factor_rename_view, name="factor_rename"),
    path("recovery-codes/", views.recovery_codes_view, name="recovery_codes"),
    path("password/", views.password_view, name="password"),
    path("charter/", views.charter_view, name="charter"),
    path("unlock/", views.unlock_view, name="unlock"),
    path("confirm/", views.confirm_view, name="confirm"),
    path("reauth/webauthn/options/", views.reauth_webauthn_options, name="reauth_webauthn_options"),
    path("reauth/webauthn/", views.reauth_webauthn, name="reauth_webauthn"),
    path("ping/", views.ping_view, name="ping"),
    path("", views.account_view, name="factors"),
    path("sessions/end/", views.session_end_view, name="session_end"),
    path("users/", views.users_view, name="users"),
    path("users/new/", views.user_create_view, name="user_create"),
    path("users/action/", views.user_action_view, name="user_action"),
    path("settings/", views.settings_view, name="settings"),
    path("settings/charter/", views.charter_publish_view, name="charter_publish"),
]
