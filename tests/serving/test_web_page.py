"""The trial team's page end to end: a real ``alsstrat serve`` over real HTTP, driven in headless Chromium.

The browser is Debian's ``chromium`` (``make browser`` installs it in CI) driven by Playwright; no browser is ever
downloaded, and the tests skip, saying why, when ``/usr/bin/chromium`` is missing. Every request the page makes is
recorded: none may leave the server's host. The live OpenAPI document is checked against live answers here too.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.servers import GOOD, TOKEN, Live, ServedModel

pytestmark = [pytest.mark.slow, pytest.mark.mlflow, pytest.mark.http]

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 30_000
# Five candidates, in this order: complete; required fields only (empty cells = missing); out of range
# (alsfrs_r_total 60 > 48); a boolean written False; no candidate_id.
POOL_CSV = (
    "candidate_id,age_at_onset_years,sex,onset_site,months_since_onset,diagnostic_delay_months,alsfrs_r_total,"
    "fvc_pct_pred,nfl_serum_pg_ml,riluzole\n"
    "site1-001,58,female,bulbar,14,11,39,82,65,true\n"
    "site1-002,63,male,limb,20,,41,,,\n"
    "site1-003,55,male,limb,12,8,60,90,40,false\n"
    "\"site2,004\",47,female,limb,30,12,36,75,120,False\n"
    ",70,male,bulbar,9,6,44,95,,true\n"
)
BAD_ROW = 3  # 1-based: alsfrs_r_total 60


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: `make browser` installs Debian's chromium (as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Page:
    page: Any
    requests: list[str]
    problems: list[str]


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Page]:
    """A fresh browser context on the page, recording every request and every script error."""
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    recorded = Page(tab, [], [])
    tab.on("request", lambda request: recorded.requests.append(request.url))
    tab.on("pageerror", lambda error: recorded.problems.append(f"script error: {error}"))
    tab.on("console", lambda msg: recorded.problems.append(f"console: {msg.text}")
           if "Content Security Policy" in msg.text else None)
    tab.goto(live.url + "/")
    try:
        yield recorded
    finally:
        context.close()
    for url in recorded.requests:  # nothing leaves the server's host
        parts = urlsplit(url)
        assert parts.scheme in {"http", "data", "blob"}, url
        if parts.scheme == "http":
            assert parts.netloc == urlsplit(live.url).netloc, url
    assert recorded.problems == []


def _connect(page: Page, token: str = TOKEN) -> None:
    page.page.fill("#token", token)
    page.page.click("#connect")


def _connected(page: Page) -> None:
    _connect(page)
    page.page.wait_for_selector("#one:not([hidden])")


def _score_batch(live: Live, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = httpx.post(f"{live.url}/score_batch", json={"candidates": rows}, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def _json_rows(text: str) -> list[dict[str, Any]]:
    """The CSV's rows as JSON candidates, read independently of the page: empty = absent, numbers, booleans."""
    text_fields = {"candidate_id", "sex", "onset_site"}
    return [{k: v if k in text_fields else v.lower() == "true" if k == "riluzole" else json.loads(v)
             for k, v in row.items() if v != ""} for row in csv.DictReader(io.StringIO(text))]


# ------------------------------------------------------------------------------------------------ plain HTTP
def test_root_is_the_trial_teams_page_with_a_strict_csp(live: Live) -> None:
    response = httpx.get(live.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp
    assert "unsafe" not in csp
    assert "<title>ALS stratification" in response.text
    lowered = response.text.lower()
    for phrase in ("bentoml", "googletagmanager", "slack", "twitter", "contact"):
        assert phrase not in lowered, phrase
    for asset, media in (("/web/app.js", "text/javascript"), ("/web/app.css", "text/css")):
        served = httpx.get(live.url + asset, timeout=10)
        assert served.status_code == 200, asset
        assert served.headers["content-type"].startswith(media), asset


def test_the_page_is_public_but_the_data_still_need_the_token(live: Live) -> None:
    assert httpx.get(live.url + "/model", timeout=10).status_code == 401
    refused = httpx.post(live.url + "/score", json={"candidate": GOOD}, timeout=10)
    assert refused.status_code == 401
    assert refused.json() == {"error": {"field": "Authorization", "message": "missing or invalid bearer token"}}
    assert httpx.get(live.url + "/model", headers=AUTH, timeout=10).status_code == 200


def test_live_openapi_document_matches_live_answers(live: Live, served_model: ServedModel) -> None:
    """Every answer validates against the schema /docs.json gives for it (OpenAPI 3.0 nullable -> JSON Schema)."""
    import jsonschema_rs

    doc = httpx.get(live.url + "/docs.json", timeout=30).json()
    assert (doc["info"]["title"], doc["info"]["version"]) == ("alsstrat", _project_version())
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {**doc["components"]["securitySchemes"][
        "bearerAuth"], "type": "http", "scheme": "bearer"}
    components = _json_schema(doc["components"])

    def check(schema_name: str, answer: Any) -> None:
        validator = jsonschema_rs.Draft7Validator({"$ref": f"#/components/schemas/{schema_name}",
                                                   "components": components})
        errors = [str(e) for e in validator.iter_errors(answer)]
        assert errors == [], (schema_name, errors[:3])

    meta = httpx.get(live.url + "/model", headers=AUTH, timeout=10).json()
    check("ModelMetadata", meta)
    scored = httpx.post(live.url + "/score", json={"candidate": {**GOOD, "candidate_id": "x1"}}, headers=AUTH,
                        timeout=30)
    check("ScoreResult", scored.json())
    batch = httpx.post(live.url + "/score_batch", json={"candidates": [GOOD, {**GOOD, "alsfrs_r_total": 60}]},
                       headers=AUTH, timeout=30).json()
    check("ScoreBatchResponse", batch)
    assert "error" in batch["results"][1]
    refused = httpx.post(live.url + "/score", json={"candidate": {**GOOD, "sex": "x"}}, headers=AUTH, timeout=30)
    assert refused.status_code == 400
    check("Error", refused.json())


def _project_version() -> str:
    from importlib import metadata

    return metadata.version("alsstrat")


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema (a null is allowed besides the declared type)."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "$ref" in out:
            out = {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
    return out


# ------------------------------------------------------------------------------------------------ the browser
def test_wrong_token_is_said_plainly_and_nothing_is_stored(page: Page) -> None:
    _connect(page, "not-the-token")
    page.page.wait_for_selector("#access-status.error")
    assert "the token was refused (HTTP 401)" in page.page.inner_text("#access-status")
    assert page.page.is_hidden("#one")
    _connected(page)
    assert page.page.input_value("#token") == "", "the field is emptied; the token lives in script memory"
    assert page.page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.page.evaluate("document.cookie") == ""
    assert TOKEN not in page.page.url
    assert all(TOKEN not in url for url in page.requests)


def test_one_candidate_form_from_the_feature_spec_gives_results_in_words(page: Page, live: Live) -> None:
    _connected(page)
    meta = httpx.get(live.url + "/model", headers=AUTH, timeout=10).json()
    for field in meta["feature_spec"]:  # one input per field of the spec, labelled with its unit
        label = page.page.inner_text(f'label[for="f-{field["name"]}"]')
        assert label.startswith(field["name"]), label
        if field["unit"]:
            assert f"({field['unit']})" in label, label
        assert label.split(" (")[0].endswith(" *") == field["required"], label
    inputs = page.page.eval_on_selector_all("#one-fields [name]", "nodes => nodes.map(n => n.name)")
    assert inputs == ["candidate_id", *(f["name"] for f in meta["feature_spec"])]

    kinds = {f["name"]: f["type"] for f in meta["feature_spec"]}
    for name, value in GOOD.items():
        if kinds[name] in {"categorical", "boolean"}:
            page.page.select_option(f"#f-{name}", str(value).lower() if isinstance(value, bool) else value)
        else:
            page.page.fill(f"#f-{name}", str(value))
    page.page.click("#one-form button[type=submit]")
    words = page.page.wait_for_selector("#one-words").inner_text()
    expected = _score_batch(live, [GOOD])[0]
    subtype, slope, survival = expected["subtype"], expected["slope"], expected["survival"]
    assert f"Subtype {subtype['label']}, \u201c{subtype['name']}\u201d" in words
    assert f"Predicted ALSFRS-R slope {slope['point']:.2f} {slope['unit']}" in words
    assert f"80 % interval {slope['p10']:.2f} to {slope['p90']:.2f}" in words
    assert f"Time origin: {survival['time_origin']}." in words
    assert f"Risk group {survival['risk_group']} of {survival['risk_groups']}" in words
    assert meta["time_origin"] == survival["time_origin"]


def test_a_refused_candidate_names_the_field(page: Page) -> None:
    _connected(page)
    for name in ("age_at_onset_years", "months_since_onset"):
        page.page.fill(f"#f-{name}", str(GOOD[name]))
    page.page.select_option("#f-sex", "female")
    page.page.select_option("#f-onset_site", "bulbar")
    page.page.fill("#f-alsfrs_r_total", "60")
    page.page.click("#one-form button[type=submit]")
    text = page.page.wait_for_selector("#one-result .status.error").inner_text()
    assert text == "Not scored: candidate.alsfrs_r_total: must be within [0, 48] (points), got 60 (HTTP 400)"
    assert page.page.eval_on_selector_all(".field.invalid", "nodes => nodes.map(n => n.dataset.field)") == [
        "alsfrs_r_total"]


def test_csv_upload_gives_one_row_per_csv_row_and_downloads_them(page: Page, live: Live,
                                                                 tmp_path: Path) -> None:
    _connected(page)
    path = tmp_path / "pool.csv"
    path.write_text(POOL_CSV)
    page.page.set_input_files("#csv-file", str(path))
    page.page.wait_for_selector("#pool-table:not([hidden])")
    rows = page.page.query_selector_all("#pool-table tbody tr")
    assert len(rows) == 5
    assert page.page.inner_text("#pool-status") == "5 rows scored: 4 with a result, 1 with an error."
    cells = [[c.inner_text() for c in row.query_selector_all("td")] for row in rows]
    assert [c[1] for c in cells] == ["site1-001", "site1-002", "site1-003", "site2,004", ""]
    assert cells[BAD_ROW - 1][-1] == "alsfrs_r_total: must be within [0, 48] (points), got 60", cells[BAD_ROW - 1]
    assert all(c[-1] == "" for i, c in enumerate(cells) if i != BAD_ROW - 1)
    head = page.page.eval_on_selector_all("#pool-table thead th", "ths => ths.map(th => th.innerText)")
    origin = httpx.get(live.url + "/model", headers=AUTH, timeout=10).json()["time_origin"]
    assert head[4] == f"Survival (time origin: {origin})"
    assert "Stratum" not in head, "no stratum before a plan answered"

    with page.page.expect_download() as download:
        page.page.click("#download-csv")
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["row"] for r in table] == ["1", "2", "3", "4", "5"]
    assert [r["status"] for r in table] == ["scored", "scored", "error", "scored", "scored"]
    # the same rows sent straight to the service give the same numbers (the CSV holds them unrounded)
    expected = _score_batch(live, _json_rows(POOL_CSV))
    for row, answer in zip(table, expected, strict=True):
        if "error" in answer:
            assert (row["error_field"], row["error_message"]) == (answer["error"]["field"],
                                                                  answer["error"]["message"])
            continue
        assert float(row["slope_point_points_per_month"]) == answer["slope"]["point"]
        assert float(row["slope_p10_points_per_month"]) == answer["slope"]["p10"]
        assert int(row["subtype_label"]) == answer["subtype"]["label"]
        assert float(row["survival_probability_12_months"]) == answer["survival"]["probability_at_months"]["12"]
        assert row["survival_time_origin"] == answer["survival"]["time_origin"]


def test_csv_unknown_column_and_short_row_are_refused_in_their_rows(page: Page, tmp_path: Path) -> None:
    _connected(page)
    path = tmp_path / "unknown.csv"
    path.write_text("age_at_onset_years,sex,onset_site,months_since_onset,alsfrs_r_total,shoe_size\n"
                    "58,female,bulbar,14,39,42\n58,female,bulbar,14,39,\n58,female\n")
    page.page.set_input_files("#csv-file", str(path))
    page.page.wait_for_selector("#pool-table:not([hidden])")
    assert page.page.inner_text("#pool-status") == (
        "3 rows scored: 1 with a result, 2 with an error. Columns that are not fields of the model (rows filling "
        "them are refused): shoe_size.")
    cells = page.page.eval_on_selector_all("#pool-table tbody tr td:last-child", "tds => tds.map(t => t.innerText)")
    assert cells[:2] == ["shoe_size: unknown field", ""], "the service's own message, in the row that filled it"
    assert cells[2] == "row: row 3 has 2 cells, the header has 6", "a short row is refused in its place, not sent"


def _pool_csv(n: int, bad_row: int) -> str:
    """``n`` plausible candidates varied deterministically (no randomness), the 1-based ``bad_row`` out of range."""
    lines = ["candidate_id,age_at_onset_years,sex,onset_site,months_since_onset,diagnostic_delay_months,"
             "alsfrs_r_total,fvc_pct_pred,nfl_serum_pg_ml,lcn2_plasma_ng_ml,riluzole"]
    for i in range(1, n + 1):
        total = 60 if i == bad_row else 28 + (7 * i) % 20
        lines.append(f"pool-{i:03d},{45 + (11 * i) % 30},{'female' if i % 2 else 'male'},"
                     f"{'bulbar' if i % 3 == 0 else 'limb'},{12 + (5 * i) % 30},{1 + i % 10},{total},"
                     f"{60 + (13 * i) % 40},{20 + (37 * i) % 180},{50 + (17 * i) % 120},{'true' if i % 4 else ''}")
    return "\n".join(lines) + "\n"


def test_plan_a_trial_from_the_pool(page: Page, live: Live, tmp_path: Path) -> None:
    """Plan with the service's default design: the designs table, two charts, strata in the results, the report."""
    n, bad = 30, 7
    path = tmp_path / "pool.csv"
    path.write_text(_pool_csv(n, bad))
    scored = [r for i, r in enumerate(_json_rows(path.read_text()), start=1) if i != bad]
    direct = httpx.post(live.url + "/trial/plan", json={"candidates": scored}, headers=AUTH, timeout=120)
    if direct.status_code == 404:
        pytest.skip("this server has no POST /trial/plan (test_plan_refusals_are_said_plainly covers the page)")
    assert direct.status_code == 200, direct.text
    answer = direct.json()
    _connected(page)
    page.page.set_input_files("#csv-file", str(path))
    page.page.wait_for_selector("#plan:not([hidden])")
    assert len(page.page.query_selector_all("#pool-table tbody tr")) == n
    page.page.click("#plan-button")
    page.page.wait_for_selector("#plan-status.ok", timeout=120_000)
    designs = answer["plan"]["designs"]
    shown = page.page.eval_on_selector_all("#plan-table tbody tr", "trs => trs.map(tr => [...tr.cells].map(c => "
                                           "c.innerText))")
    head = page.page.eval_on_selector_all("#plan-table thead th", "ths => ths.map(th => th.innerText)")
    assert len(shown) == len(designs)
    per_arm = head.index("Patients per arm")
    assert [int(r[per_arm]) for r in shown] == [d["n_per_arm"] for d in designs]
    assert [r[head.index("Analysis")] for r in shown] == [d["analysis"] for d in designs]
    charts = page.page.query_selector_all("#plan-charts svg")
    assert len(charts) == 2
    assert all(len(c.query_selector_all("rect.bar")) == len(designs) for c in charts)
    # the stratum column appears once the plan answered: one per scored row, none for the refused one
    head = page.page.eval_on_selector_all("#pool-table thead th", "ths => ths.map(th => th.innerText)")
    column = head.index("Stratum")
    strata = page.page.eval_on_selector_all("#pool-table tbody tr", f"trs => trs.map(tr => tr.cells[{column}]"
                                            ".innerText)")
    expected = [str(c["stratum"]) for c in answer["candidates"]]
    assert strata == expected[:bad - 1] + [""] + expected[bad - 1:]
    with page.page.expect_download() as download:
        page.page.click("#download-report")
    report = Path(download.value.path()).read_text()
    assert report.lower().startswith("<!doctype html")
    assert report == answer["report_html"]
    with page.page.expect_download() as download:
        page.page.click("#download-csv")
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["stratum"] for r in table] == strata


def test_plan_refusals_are_said_plainly(page: Page, live: Live, tmp_path: Path) -> None:
    """A refused design names its field; a service without the endpoint (404) is said to have none."""
    planning = httpx.post(live.url + "/trial/plan", json={}, headers=AUTH, timeout=10).status_code != 404
    _connected(page)
    path = tmp_path / "pool.csv"
    path.write_text(POOL_CSV)
    page.page.set_input_files("#csv-file", str(path))
    page.page.wait_for_selector("#plan:not([hidden])")
    page.page.fill("#plan-effect", "5")
    page.page.click("#plan-button")
    page.page.wait_for_selector("#plan-status.error")
    assert page.page.inner_text("#plan-status") == (
        "No plan: design.effect: must be > 0 and < 1, got 5.0 (HTTP 400)" if planning else
        "No plan: this service has no /trial/plan endpoint (HTTP 404)")
    assert page.page.is_disabled("#download-report")
    assert page.page.is_hidden("#plan-table")


def test_swagger_ui_is_local_and_try_it_out_sends_the_token(page: Page, live: Live) -> None:
    """Authorize with the token, then "Try it out" on GET /model: Swagger UI sends it (bearerAuth) and gets 200."""
    page.page.goto(live.url + "/docs")
    page.page.click("button.authorize")
    page.page.fill(".auth-container input", TOKEN)
    page.page.click(".auth-btn-wrapper button.authorize")
    page.page.click(".btn-done")
    page.page.click("#operations-Service_APIs-als_stratifier__model")
    page.page.click("button.try-out__btn")
    page.page.click("button.execute")
    status = page.page.wait_for_selector(".live-responses-table tbody .response-col_status")
    assert status.inner_text().strip() == "200"
    paths = {urlsplit(u).path for u in page.requests}
    assert {"/docs.json", "/model"} <= paths
    assert any(p.startswith("/static_content/swagger-ui") for p in paths)
