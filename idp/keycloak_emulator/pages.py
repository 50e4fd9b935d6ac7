"""The HTML pages of the browser flow, shaped like Keycloak 26's default login theme
(``keycloak.v2``: ``login.ftl``, ``field.ftl``, ``buttons.ftl``, ``error.ftl``,
``logout-confirm.ftl``, ``info.ftl``) with its element ids and English messages, so that a
browser test written against Keycloak (Selenium: ``#username``, ``#password``, ``#kc-login``)
runs unchanged. Styling and scripts are left out; the markup that tests look at is kept.
"""

from __future__ import annotations

from html import escape
from typing import Mapping

from .messages import Response

#: Keycloak's messages (``messages_en.properties``) the pages use.
INVALID_USER = "Invalid username or password."
ACCOUNT_DISABLED = "Account is disabled, contact your administrator."
CLIENT_NOT_FOUND = "Client not found."
CLIENT_DISABLED = "Client disabled."
INVALID_REDIRECT_URI = "Invalid redirect uri"
COOKIE_NOT_FOUND = "Cookie not found. Please make sure cookies are enabled in your browser."
LOGIN_TIMEOUT = "Your login attempt timed out.  Login will start from the beginning."
SESSION_NOT_ACTIVE = "Session not active."
FAILED_LOGOUT = "Logout failed"
SUCCESS_LOGOUT = "You are logged out"
HTTPS_REQUIRED = "HTTPS required"


def invalid_parameter(name: str) -> str:
    return f"Invalid parameter: {name}"


def missing_parameter(name: str) -> str:
    return f"Missing parameters: {name}"


#: The realm's default browser security headers, sent with every page (``BrowserSecurityHeaders``)
#: and Keycloak's no-cache header for the login flow (``CacheControlUtil.noBackButtonCacheControlHeader``).
PAGE_HEADERS = (
    ("Cache-Control", "no-store, must-revalidate, max-age=0"),
    ("Content-Security-Policy", "frame-src 'self'; frame-ancestors 'self'; object-src 'none';"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("X-Robots-Tag", "none"),
    ("Referrer-Policy", "no-referrer"),
)
HTML = "text/html;charset=utf-8"


def _layout(title: str, page_title: str, body: str) -> bytes:
    """``template.ftl``: the page around a section, with ``#kc-page-title``."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
        f"<title>{escape(title)}</title>\n</head>\n<body id=\"keycloak-bg\">\n"
        "<div class=\"pf-v5-c-login\"><main class=\"pf-v5-c-login__main\">\n"
        f"<header class=\"pf-v5-c-login__main-header\"><h1 class=\"pf-v5-c-title pf-m-3xl\" id=\"kc-page-title\">"
        f"{escape(page_title)}</h1></header>\n"
        f"<div class=\"pf-v5-c-login__main-body\">\n<div id=\"kc-content\"><div id=\"kc-content-wrapper\">\n{body}\n"
        "</div></div>\n</div>\n</main></div>\n</body>\n</html>\n"
    ).encode("utf-8")


def page(status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, body, HTML, PAGE_HEADERS + headers)


def login_page(realm: str, action: str, username: str = "", error: str | None = None,
               headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """``login.ftl``: the username/password form; a failed attempt shows its message under the
    username field (``#input-error-username``) and keeps the username."""
    invalid = "true" if error else ""
    error_html = (
        "<div class=\"pf-v5-c-form__helper-text\" aria-live=\"polite\"><div class=\"pf-v5-c-helper-text\">"
        "<div class=\"pf-v5-c-helper-text__item pf-m-error\" id=\"input-error-username\">"
        f"<span class=\"pf-v5-c-helper-text__item-text\">{escape(error)}</span></div></div></div>"
        if error else "")
    body = (
        "<div id=\"kc-form\"><div id=\"kc-form-wrapper\">\n"
        "<form id=\"kc-form-login\" class=\"pf-v5-c-form\" onsubmit=\"login.disabled = true; return true;\" "
        f"action=\"{escape(action)}\" method=\"post\" novalidate=\"novalidate\">\n"
        "<div class=\"pf-v5-c-form__group\"><div class=\"pf-v5-c-form__label\">"
        "<label for=\"username\" class=\"pf-v5-c-form__label\"><span class=\"pf-v5-c-form__label-text\">"
        "Username or email</span></label></div>\n"
        "<span class=\"pf-v5-c-form-control\">"
        f"<input id=\"username\" name=\"username\" value=\"{escape(username)}\" type=\"text\" "
        f"autocomplete=\"username\" autofocus aria-invalid=\"{invalid}\"/></span>\n"
        f"<div id=\"input-error-container-username\">{error_html}</div></div>\n"
        "<div class=\"pf-v5-c-form__group\"><div class=\"pf-v5-c-form__label\">"
        "<label for=\"password\" class=\"pf-v5-c-form__label\"><span class=\"pf-v5-c-form__label-text\">"
        "Password</span></label></div>\n"
        "<span class=\"pf-v5-c-form-control\">"
        f"<input id=\"password\" name=\"password\" value=\"\" type=\"password\" "
        f"autocomplete=\"current-password\" aria-invalid=\"{invalid}\"/></span>\n"
        "<div id=\"input-error-container-password\"></div></div>\n"
        "<input type=\"hidden\" id=\"id-hidden-input\" name=\"credentialId\"/>\n"
        "<div class=\"pf-v5-c-form__group\"><div class=\"pf-v5-c-form__actions\">"
        "<button class=\"pf-v5-c-button pf-m-primary pf-m-block \" name=\"login\" id=\"kc-login\" "
        "type=\"submit\">Sign In</button></div></div>\n"
        "</form>\n</div></div>"
    )
    return page(200, _layout(f"Sign in to {realm}", "Sign in to your account", body), headers)


def error_page(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """``error.ftl`` (``ErrorPage.error``): "We are sorry..." and the message."""
    body = f"<div id=\"kc-error-message\"><p class=\"instruction\">{escape(message)}</p></div>"
    return page(status, _layout("We are sorry...", "We are sorry...", body), headers)


def info_page(message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """``info.ftl``: a message and nothing to do (e.g. "You are logged out")."""
    body = f"<div id=\"kc-info-message\"><p class=\"instruction\">{escape(message)}</p></div>"
    return page(200, _layout(message, message, body), headers)


def logout_confirm_page(realm: str, action: str, session_code: str,
                        headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """``logout-confirm.ftl``: "Do you want to log out?" with the ``#kc-logout`` button, which
    posts ``session_code`` and ``confirmLogout`` to ``logout/logout-confirm``."""
    body = (
        "<div id=\"kc-logout-confirm\" class=\"content-area\">\n"
        "<p class=\"instruction\">Do you want to log out?</p>\n"
        f"<form class=\"form-actions\" action=\"{escape(action)}\" method=\"POST\">\n"
        f"<input type=\"hidden\" name=\"session_code\" value=\"{escape(session_code)}\">\n"
        "<button class=\"pf-v5-c-button pf-m-primary\" name=\"confirmLogout\" id=\"kc-logout\" "
        "type=\"submit\">Logout</button>\n</form>\n</div>"
    )
    return page(200, _layout(f"Logging out of {realm}", "Logging out", body), headers)


def update_profile_page(realm: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """``login-update-profile.ftl``: what Keycloak shows a user whose profile lacks names or
    email (required action VERIFY_PROFILE). The provider stops here: it cannot update users."""
    body = (
        "<form id=\"kc-update-profile-form\" class=\"pf-v5-c-form\" method=\"post\">\n"
        "<p class=\"instruction\">You need to update your user profile to activate your account.</p>\n"
        "</form>"
    )
    return page(200, _layout(f"Update Account Information - {realm}", "Update Account Information", body),
                headers)


def form_post_page(action: str, params: Mapping[str, str], headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """``response_mode=form_post``: a page that posts the parameters to the redirect URI."""
    fields = "".join(f"<INPUT TYPE=\"HIDDEN\" NAME=\"{escape(name)}\" VALUE=\"{escape(value)}\" />\n"
                     for name, value in params.items())
    body = (
        "<HTML>\n<HEAD>\n<TITLE>Submit This Form</TITLE>\n</HEAD>\n"
        "<BODY Onload=\"javascript:document.forms[0].submit()\">\n"
        f"<FORM METHOD=\"POST\" ACTION=\"{escape(action)}\">\n{fields}"
        "<NOSCRIPT><P>JavaScript is disabled. We strongly recommend to enable it. Click the button below "
        "to continue .</P><INPUT name=\"continue\" TYPE=\"SUBMIT\" VALUE=\"CONTINUE\" /></NOSCRIPT>\n"
        "</FORM>\n</BODY>\n</HTML>\n"
    ).encode("utf-8")
    return Response(200, body, HTML, (("Cache-Control", "no-store, must-revalidate, max-age=0"),) + headers)
