"""The trial team's web page at the service root and the service's own OpenAPI document.

``page`` serves the page (``/``), its local script and style sheet (``/web/...``) and a local Swagger UI (``/docs``);
``openapi`` completes BentoML's document (``/docs.json``) with the bearer scheme, the metadata route and the
project's name and version. Nothing here loads from another host.
"""
