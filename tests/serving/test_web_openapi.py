"""The OpenAPI document the service serves (``serving.web.openapi``) and the page's static files, without a server.

BentoML's own document for the service (``Service.openapi_spec``) is completed here exactly as ``/docs.json`` does;
the live document and live answers are checked against each other in ``test_web_page.py``.
"""

from __future__ import annotations

import json
import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from serving.web import openapi as O
from serving.web.page import PAGE_CSP, STATIC_FILES, static_file

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
DATA_OPERATIONS = {("/score", "post"), ("/score_batch", "post"), ("/model", "get")}
MARKETING = ("bentoml team", "slack", "twitter", "img.shields.io", "googletagmanager", "contact@bentoml.com")


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"repeated key in {keys}"
    return dict(pairs)


@pytest.fixture(scope="module")
def bentoml_document() -> dict[str, Any]:
    from serving.service import ALSStratifier

    service: Any = ALSStratifier  # a bentoml Service at run time; the stubs type it as the class
    return dict(service.openapi_spec.asdict())


def _document(base: dict[str, Any], metrics_need_token: bool = False) -> dict[str, Any]:
    served = {"name": "als-stratifier", "version": "7", "run_id": "abc"}
    text = json.dumps(O.openapi_document(base, metrics_need_token=metrics_need_token, served=served))
    return dict(json.loads(text, object_pairs_hook=_no_repeated_keys))  # JSON as served: every key once


def test_title_and_version_are_the_projects_not_bentomls(bentoml_document: dict[str, Any]) -> None:
    assert bentoml_document["info"]["title"] == "als_stratifier"  # what BentoML alone would say
    doc = _document(bentoml_document)
    assert doc["info"]["title"] == PYPROJECT["name"] == "alsstrat"
    assert doc["info"]["version"] == PYPROJECT["version"] == metadata.version("alsstrat")
    assert "als-stratifier version 7" in doc["info"]["description"]
    text = json.dumps(doc).lower()
    for phrase in MARKETING:
        assert phrase not in text, phrase


def test_the_version_comes_from_pyproject_where_the_package_is_not_installed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A Bento carries the source and pyproject.toml, not an installed distribution."""
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(O.metadata, "version", not_installed)
    assert O.project_name_and_version() == (PYPROJECT["name"], PYPROJECT["version"])


def test_bearer_scheme_guards_every_data_endpoint_and_nothing_else(bentoml_document: dict[str, Any]) -> None:
    doc = _document(bentoml_document)
    assert doc["components"]["securitySchemes"] == {"bearerAuth": {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearerAuth"][
            "description"]}}
    secured = {(path, method) for path, item in doc["paths"].items() for method, op in item.items()
               if op.get("security") == [{"bearerAuth": []}]}
    planning = {("/trial/plan", "post")} & {(p, m) for p, item in bentoml_document["paths"].items() for m in item}
    assert secured == DATA_OPERATIONS | planning
    for path, method in DATA_OPERATIONS | planning:
        assert doc["paths"][path][method]["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}
    for path, method in {("/score", "post"), ("/score_batch", "post")}:
        responses = doc["paths"][path][method]["responses"]
        assert {"200", "400", "401", "413", "415"} <= set(responses), responses.keys()
        assert "404" not in responses
    assert "security" not in doc["paths"]["/healthz"]["get"]
    with_token = _document(bentoml_document, metrics_need_token=True)
    assert with_token["paths"]["/metrics"]["get"]["security"] == [{"bearerAuth": []}]


def test_model_is_listed_with_its_response_schema(bentoml_document: dict[str, Any]) -> None:
    assert "/model" not in bentoml_document["paths"]  # BentoML does not list a mounted Starlette app's routes
    doc = _document(bentoml_document)
    ok = doc["paths"]["/model"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ModelMetadata"}
    assert doc["paths"]["/score"]["post"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScoreResult"}
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs <= set(doc["components"]["schemas"]), refs - set(doc["components"]["schemas"])
    assert doc["openapi"].startswith("3.0")


def test_the_base_document_is_not_modified(bentoml_document: dict[str, Any]) -> None:
    before = json.dumps(bentoml_document, sort_keys=True, default=str)
    _document(bentoml_document)
    assert json.dumps(bentoml_document, sort_keys=True, default=str) == before


# ------------------------------------------------------------------------------------------------ static files
@pytest.mark.parametrize("name", sorted(STATIC_FILES))
def test_static_files_load_nothing_from_another_host(name: str) -> None:
    text = static_file(name).decode()
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace is a name, never fetched
    if name.endswith(".html"):
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline script (the CSP forbids it)"
        assert " style=" not in text, "inline style (the CSP forbids it)"
        assert "<style" not in text, "inline style (the CSP forbids it)"
        assert all(src.startswith("/") for src in re.findall(r'(?:src|href)="([^"]+)"', text)
                   if not src.startswith(("#", "data:"))), "every asset from this origin"


def test_page_csp_allows_this_origin_only() -> None:
    directives = dict(d.strip().split(" ", 1) for d in PAGE_CSP.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in PAGE_CSP


def test_the_token_is_never_stored_or_put_in_a_url() -> None:
    script = static_file("app.js").decode()
    for api in ("localStorage", "sessionStorage", "document.cookie", "indexedDB", "history.pushState"):
        assert api not in script, api
