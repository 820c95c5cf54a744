// Swagger UI for this service's OpenAPI document. validatorUrl: null keeps Swagger UI from fetching its badge from
// a third-party validator; "Authorize" takes the bearer token for "Try it out".
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/docs.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
  });
});
