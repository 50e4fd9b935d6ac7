// Starts Swagger UI for /docs. A separate file (not an inline script) so that the page works
// under nginx's Content-Security-Policy "default-src 'self'".
"use strict";

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
    oauth2RedirectUrl: window.location.origin + "/docs/oauth2-redirect.html",
  });
});
