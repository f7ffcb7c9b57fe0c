"""The interactive API docs (Swagger UI) served from this process: the assets come from the
`fastapi-offline` package, which bundles them, so the page works offline and under a content
security policy that allows no inline script and no other origin."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from polyshop.api._headers import DOCS_PREFIX

ASSETS = f"{DOCS_PREFIX}/assets"
_INIT = f"{DOCS_PREFIX}/init.js"

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>polyshop API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{_INIT}"></script>
</body>
</html>
"""

# In a file of its own rather than inline, so the policy can stay `script-src 'self'`.
_SCRIPT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
});
"""


def install(app: FastAPI) -> None:
    static = resources.files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(static)), name="docs-assets")

    @app.get(DOCS_PREFIX, include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(_PAGE)

    @app.get(_INIT, include_in_schema=False)
    async def docs_script() -> Response:
        return Response(_SCRIPT, media_type="text/javascript")
