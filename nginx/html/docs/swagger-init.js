// Starts Swagger UI for /docs. A separate file (not an inline script) so that the page works
// under nginx's Content-Security-Policy "default-src 'self'".
//
// A template: each deployment renders it (scripts/render_nginx.py --docs, or the nginx image's
// envsubst step) with the realm's public client for this page, next to /openapi.json, whose
// OAuth2AuthorizationCodeBearer scheme carries the realm's sign-in URLs.
"use strict";

// Keycloak's public client of this page (PKCE S256, no secret; `keycloak-fcgi-docs` in the
// Compose realm): "Authorize" offers Keycloak's login page with it, next to the bearer field.
const DOCS_CLIENT_ID = "${DOCS_CLIENT_ID}";

window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // Keep the token entered with Authorize across page reloads (browser local storage).
    persistAuthorization: true,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    // No badge from the public online validator: the page talks to this origin only.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    // Keycloak sends the sign-in window back here (swagger-ui-dist's page; its script is a file
    // of this origin too). The client's valid redirect URI in the realm.
    oauth2RedirectUrl: window.location.origin + "/docs/oauth2-redirect.html",
    // initOAuth is a method of the running UI, not an option: configured as soon as Swagger UI
    // has loaded the document (and so before anyone can open its Authorize dialog).
    onComplete: function () {
      window.ui.initOAuth({
        clientId: DOCS_CLIENT_ID,
        usePkceWithAuthorizationCodeGrant: true,
        scopes: "openid",
      });
    },
  });
});
