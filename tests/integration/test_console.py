"""The web console in a real headless Chromium (Debian's ``chromium`` through ``chromium-driver`` and Selenium),
against the running API of the one-host farm.

A token made by the real CLI signs in; a busybox job on the machine's own worker is watched on its page
until it says "succeeded" (live, over the page's server-sent events); each page's numbers are checked
against the API's JSON; a bad token sees the sign-in page and no data. Screenshots are kept in
``artifacts/console/`` (ignored by git; ``BENCHFARM_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from benchfarm.api.console.views import fmt, fmt_bytes
from benchfarm.settings import Settings
from tests.integration.jobs_support import busybox_spec, cli

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
SPEC_NAME = f"h17-console-{RUN}"
T = TypeVar("T")


def _artifacts() -> Path:
    root = Path(os.environ.get("BENCHFARM_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))
    path = root / "console"
    path.mkdir(parents=True, exist_ok=True)
    return path


def eventually(check: Callable[[], T], timeout_s: float = 30, what: str = "the page to match the API") -> T:
    """``check()``'s result once it stops raising AssertionError (the farm is shared: numbers move)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def tokens() -> Iterator[dict[str, dict[str, Any]]]:
    """An operator's and a submitter's token of this run's team (revoked afterwards), and one revoked at once."""
    made: dict[str, dict[str, Any]] = {}
    for who, role in (("operator", "operate"), ("submitter", "submit"), ("revoked", "submit")):
        proc = cli("tokens", "create", "--user", f"h17-{who}-{RUN}", "--team", f"h17-team-{RUN}", "--role", role,
                   "--json")
        assert proc.returncode == 0, proc.stderr
        made[who] = json.loads(proc.stdout)
    assert cli("tokens", "revoke", made["revoked"]["id"]).returncode == 0
    yield made
    for who in ("operator", "submitter"):
        cli("tokens", "revoke", made[who]["id"])


@pytest.fixture(scope="module")
def api(farm, settings: Settings, tokens) -> Iterator[httpx.Client]:
    """The API as the operator."""
    with httpx.Client(base_url=settings.effective_api_url, timeout=30,
                      headers={"Authorization": f"Bearer {tokens['operator']['token']}"}) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("the console tests need Debian's chromium and chromium-driver: run scripts/install.sh")
    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    web = webdriver.Chrome(service=Service(driver), options=options)
    web.set_page_load_timeout(60)
    yield web
    web.quit()


@pytest.fixture(scope="module")
def base(settings: Settings) -> str:
    return settings.effective_api_url


def shot(web: WebDriver, name: str) -> None:
    """Keep a full-page screenshot as a test artifact."""
    height = web.execute_script("return document.documentElement.scrollHeight")
    web.set_window_size(1280, max(1000, min(int(height) + 200, 6000)))  # the window is taller than its viewport
    web.save_screenshot(str(_artifacts() / f"{name}.png"))
    web.set_window_size(1280, 1000)


def sign_in(web: WebDriver, base: str, token: str, path: str = "/ui") -> None:
    web.delete_all_cookies()
    web.get(base + path)
    assert "/ui/login" in web.current_url
    web.find_element(By.ID, "token").send_keys(token)
    web.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    WebDriverWait(web, 30).until(lambda w: "/ui/login" not in w.current_url)


def text(web: WebDriver, css: str) -> str:
    return str(web.find_element(By.CSS_SELECTOR, css).text).strip()


def cells(row: Any) -> dict[str, str]:
    return {c.get_attribute("data-field"): c.text.strip() for c in row.find_elements(By.CSS_SELECTOR, "[data-field]")}


def submit(api: httpx.Client, image: str, script: str, repetitions: int = 2) -> str:
    spec = busybox_spec(image, script, name=SPEC_NAME, repetitions=repetitions)
    resp = api.post("/jobs", json=spec, params={"queue_anyway": "true"})  # waits out a host quarantined for load
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def wait_final(api: httpx.Client, job_id: str, timeout_s: float = 300) -> dict[str, Any]:
    def final() -> dict[str, Any]:
        job = api.get(f"/jobs/{job_id}").json()
        assert job["status"] in ("succeeded", "failed", "cancelled"), job["status"]
        return dict(job)

    return eventually(final, timeout_s, f"job {job_id} to finish")


@pytest.fixture(scope="module")
def submitted(api: httpx.Client) -> Iterator[list[str]]:
    """Ids of the jobs this module submits; any still unfinished at the end is cancelled."""
    ids: list[str] = []
    yield ids
    for job_id in ids:
        if api.get(f"/jobs/{job_id}").json()["status"] not in ("succeeded", "failed", "cancelled"):
            api.delete(f"/jobs/{job_id}")


@pytest.fixture(scope="module")
def live_job(api: httpx.Client, busybox_image: str, submitted: list[str]) -> str:
    """A short job on the machine's own worker (no pool named), submitted when first asked for."""
    submitted.append(submit(api, busybox_image, "sleep 2; echo '{\"value\": 40}'"))
    return submitted[-1]


# ------------------------------------------------------------------ tests
def test_a_bad_token_sees_the_sign_in_page_and_no_data(browser, base, tokens):
    browser.delete_all_cookies()
    for path in ("/ui", "/ui/jobs", "/ui/history"):
        browser.get(base + path)
        assert "/ui/login" in browser.current_url and not browser.find_elements(By.CSS_SELECTOR, "table")
    for bad in (f"h17-not-a-token-{RUN}", tokens["revoked"]["token"]):
        browser.find_element(By.ID, "token").send_keys(bad)
        browser.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
        WebDriverWait(browser, 30).until(lambda w: w.find_elements(By.ID, "login-error"))
        assert "not accepted" in text(browser, "#login-error")
        assert not browser.find_elements(By.CSS_SELECTOR, "table") and "signed-in-as" not in browser.page_source
        assert "benchfarm_console" not in {c["name"] for c in browser.get_cookies()}
    shot(browser, "login-bad-token")
    browser.get(base + "/ui/jobs")  # still no way in
    assert "/ui/login" in browser.current_url


def test_the_farm_page_shows_what_the_api_answers(browser, base, api, tokens):
    sign_in(browser, base, tokens["operator"]["token"])
    assert text(browser, "#signed-in-as").startswith(f"h17-operator-{RUN}")
    cookie = next(c for c in browser.get_cookies() if c["name"] == "benchfarm_console")
    assert cookie["httpOnly"] and cookie["path"] == "/ui" and cookie["sameSite"] == "Strict"

    def page_matches_api() -> None:
        browser.get(base + "/ui")
        farm = api.get("/farm").json()
        pools = {r.get_attribute("data-pool"): cells(r) for r in browser.find_elements(By.CSS_SELECTOR,
                                                                                        "#pools tr[data-pool]")}
        assert pools == {p["name"]: {"slots": str(p["slots"]), "running": str(p["running"])} for p in farm["pools"]}
        hosts = {r.get_attribute("data-host"): cells(r) for r in browser.find_elements(By.CSS_SELECTOR,
                                                                                        "#hosts tr[data-host]")}
        assert {h: {k: v for k, v in c.items() if k != "alive"} for h, c in hosts.items()} == {
            h["host_id"]: {"status": h["status"], "cpu_count": str(h["cpu_count"]),
                           "memory": fmt_bytes(h["memory_bytes"]), "slots": str(h["slots"]),
                           "running_jobs": " ".join(h["running_jobs"]) or "-"} for h in farm["hosts"]}
        assert all(c["alive"].startswith("yes" if h["alive"] else "no") for h in farm["hosts"]
                   for c in [hosts[h["host_id"]]])
        queues = {r.get_attribute("data-queue"): cells(r)["waiting"]
                  for r in browser.find_elements(By.CSS_SELECTOR, "#queues tr[data-queue]")}
        assert queues == {q["queue"]: str(q["waiting"]) for q in farm["queues"]}
        assert (text(browser, "#running-total"), text(browser, "#queued-total")) == (str(farm["running"]),
                                                                                      str(farm["queued"]))
        assert "pool.default" in queues  # the machine's own pool is always there
        elastic = api.get("/pools")
        if elastic.status_code == 200 and elastic.json():  # the autoscaler's pools (issue 13), when any is defined
            rows = {r.get_attribute("data-elastic-pool"): cells(r)
                    for r in browser.find_elements(By.CSS_SELECTOR, "#elastic tr[data-elastic-pool]")}
            assert {k: (v["hosts"], v["creating"], v["pending"]) for k, v in rows.items()} == {
                p["definition"]["name"]: (str(p["hosts"]), str(p["creating"]), str(p["pending"]))
                for p in elastic.json()}
        else:
            assert browser.find_elements(By.ID, "autoscaler-none")

    eventually(page_matches_api)
    shot(browser, "farm")


def test_a_live_job_reaches_succeeded_on_its_page(browser, base, api, tokens, live_job):
    sign_in(browser, base, tokens["operator"]["token"], f"/ui/jobs/{live_job}")
    assert browser.current_url.endswith(f"/ui/jobs/{live_job}")
    seen = {text(browser, "#job-status")}
    deadline = time.monotonic() + 300
    while "succeeded" not in seen:  # the page follows the job by itself: the test never reloads it
        assert time.monotonic() < deadline, f"the page showed {seen}, never succeeded"
        try:
            status = text(browser, "#job-status")
        except (NoSuchElementException, StaleElementReferenceException):  # the page reloading itself at the end
            continue
        assert status not in ("failed", "cancelled"), api.get(f"/jobs/{live_job}").json().get("reason")
        seen.add(status)
        time.sleep(0.2)
    assert seen & {"queued", "running"}, seen  # it was watched live, not opened after the end
    WebDriverWait(browser, 30).until(lambda w: w.find_element(By.ID, "live").get_attribute("data-final") == "true")

    job = api.get(f"/jobs/{live_job}").json()
    assert job["status"] == "succeeded"
    measured = [r for r in job["repetitions"] if not r["warmup"]]
    assert (text(browser, "#reps-done"), text(browser, "#reps-total")) == (str(len(measured)),
                                                                            str(job["spec"]["repetitions"]))
    facts = cells(browser.find_element(By.ID, "facts"))
    assert (facts["host"], facts["queue"], facts["attempts"]) == (job["host_id"], job["queue"], str(job["attempts"]))
    values = [float(r["metrics"]["value"]) for r in measured]
    row = cells(browser.find_element(By.CSS_SELECTOR, "#metrics tr[data-metric=value]"))
    assert row == {"n": str(len(values)), "median": fmt(statistics.median(values)), "min": fmt(min(values)),
                   "max": fmt(max(values))}
    reps = {r.get_attribute("data-rep"): cells(r)["exit_code"]
            for r in browser.find_elements(By.CSS_SELECTOR, "#repetitions tr[data-rep]")}
    assert reps == {str(r["index"]): str(r["exit_code"]) for r in job["repetitions"]}
    assert text(browser, "#provenance [data-field=image_digest]") == job["image_digest"]
    logs = api.get(f"/jobs/{live_job}/logs").text
    shown_logs = [p.get_attribute("textContent") for p in browser.find_elements(By.CSS_SELECTOR, "pre.logs")]
    assert logs.count('{"value": 40}') == len(shown_logs) == len(job["repetitions"])
    assert all('{"value": 40}' in text for text in shown_logs)
    shot(browser, "job")


def test_the_jobs_list_pages_on_the_server_as_the_api_lists(browser, base, api, tokens, live_job):
    sign_in(browser, base, tokens["operator"]["token"])

    def pages_match_api() -> None:
        browser.get(base + "/ui/jobs?per_page=25")
        listed = api.get("/jobs", params={"limit": 50}).json()
        first = [r.get_attribute("data-job") for r in browser.find_elements(By.CSS_SELECTOR, "#jobs tr[data-job]")]
        assert first == [j["id"] for j in listed[:25]]
        statuses = [cells(r)["status"] for r in browser.find_elements(By.CSS_SELECTOR, "#jobs tr[data-job]")]
        assert statuses == [j["status"] for j in listed[:25]]
        if len(listed) > 25:
            browser.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
            assert text(browser, "#page-no") == "Page 2"
            second = [r.get_attribute("data-job")
                      for r in browser.find_elements(By.CSS_SELECTOR, "#jobs tr[data-job]")]
            assert second == [j["id"] for j in listed[25:50]]

    eventually(pages_match_api)
    browser.get(base + "/ui/jobs?per_page=25")
    shot(browser, "jobs")

    # a submitter of the same team finds the job with a status filter (the filtered, visibility-checked path)
    assert wait_final(api, live_job)["status"] == "succeeded"
    sign_in(browser, base, tokens["submitter"]["token"], "/ui/jobs?status=succeeded&per_page=100")
    rows = {r.get_attribute("data-job"): cells(r)["status"]
            for r in browser.find_elements(By.CSS_SELECTOR, "#jobs tr[data-job]")}
    assert rows[live_job] == "succeeded" and set(rows.values()) == {"succeeded"}


def test_compare_and_history_pages_show_what_the_api_answers(browser, base, api, tokens, live_job, busybox_image,
                                                            submitted):
    first = wait_final(api, live_job)
    assert first["status"] == "succeeded", first["reason"]
    second_id = submit(api, busybox_image, "sleep 1; echo '{\"value\": 44}'")
    submitted.append(second_id)
    second = wait_final(api, second_id)
    assert second["status"] == "succeeded", second["reason"]
    sign_in(browser, base, tokens["operator"]["token"], f"/ui/jobs/{second_id}/compare?baseline={live_job}")

    verdict = api.get(f"/jobs/{second_id}/compare", params={"baseline": live_job}).json()
    assert verdict["baseline_id"] == live_job
    rows = {r.get_attribute("data-metric"): cells(r)
            for r in browser.find_elements(By.CSS_SELECTOR, "#verdicts tr[data-metric]")}
    assert rows == {m["metric"]: {"verdict": m["verdict"], "baseline_median": fmt(m["baseline_median"]),
                                  "candidate_median": fmt(m["candidate_median"]), "change_pct": fmt(m["change_pct"]),
                                  "p_value": fmt(m["p_value"])} for m in verdict["metrics"]}
    assert rows["value"]["baseline_median"] == "40" and rows["value"]["candidate_median"] == "44"
    WebDriverWait(browser, 10).until(lambda w: w.find_elements(By.CSS_SELECTOR, "figure.chart[data-drawn=true]"))
    shot(browser, "compare")

    def history_has_both() -> dict[str, Any]:  # the summaries reach Elasticsearch shortly after the job ends
        body = api.get("/history", params={"name": SPEC_NAME, "metric": "value"}).json()
        assert [p["job_id"] for p in body["points"]] == [live_job, second_id], body
        return dict(body)

    hist = eventually(history_has_both, 60)
    browser.get(base + f"/ui/history?name={SPEC_NAME}&metric=value")
    assert text(browser, "#series") == hist["series"]
    assert (text(browser, "#point-count"), text(browser, "#change-count")) == (str(len(hist["points"])),
                                                                               str(len(hist["changes"])))
    shown = [(r.get_attribute("data-index"), cells(r)["value"])
             for r in browser.find_elements(By.CSS_SELECTOR, "#points tr[data-index]")]
    assert shown == [(str(p["index"]), fmt(p["value"])) for p in hist["points"]] == [("0", "40"), ("1", "44")]
    browser.find_element(By.LINK_TEXT, second_id).click()  # click through to the job
    WebDriverWait(browser, 30).until(lambda w: w.current_url.endswith(f"/ui/jobs/{second_id}"))
    browser.get(base + f"/ui/history?name={SPEC_NAME}&metric=value")
    shot(browser, "history")


def test_a_campaign_page_shows_what_the_api_answers(browser, base, api, tokens, busybox_image, submitted):
    spec = busybox_spec(busybox_image, 'sleep 1; echo "{\\"value\\": $((N * 10))}"', name=f"{SPEC_NAME}-campaign",
                        repetitions=2, env={"N": "1"})
    resp = api.post("/campaigns", json={"spec": spec, "across": ["pool:default"], "matrix": {"N": ["1", "2"]}},
                    params={"queue_anyway": "true"})
    assert resp.status_code == 202, resp.text
    campaign_id = resp.json()["id"]
    submitted.extend(j["job_id"] for j in resp.json()["jobs"] if j["job_id"])

    def finished() -> dict[str, Any]:
        view = api.get(f"/campaigns/{campaign_id}").json()
        assert view["status"] != "running", view["counts"]
        return dict(view)

    view = eventually(finished, 300, "the campaign to finish")
    assert view["status"] == "succeeded", view
    sign_in(browser, base, tokens["operator"]["token"], "/ui/campaigns")
    row = cells(browser.find_element(By.CSS_SELECTOR, f"#campaigns tr[data-campaign='{campaign_id}']"))
    assert (row["status"], row["jobs"]) == ("succeeded", "2")
    browser.get(base + f"/ui/campaigns/{campaign_id}")
    jobs = {r.get_attribute("data-job"): cells(r)["status"]
            for r in browser.find_elements(By.CSS_SELECTOR, "#campaign-jobs tr[data-job]")}
    assert jobs == {j["job_id"]: j["status"] for j in view["jobs"]}
    cmp = api.get(f"/campaigns/{campaign_id}/compare").json()
    shown = {(r.get_attribute("data-group"), r.get_attribute("data-point")): cells(r)
             for r in browser.find_elements(By.CSS_SELECTOR, ".campaign-metric[data-metric=value] tbody tr")}
    (metric,) = [m for m in cmp["metrics"] if m["name"] == "value"]
    assert shown == {(c["group"], c["point"]): {"n": str(c["n"]), "median": fmt(c["median"]), "ratio": fmt(c["ratio"]),
                                                "per_dollar": fmt(c["per_dollar"])} for c in metric["cells"]}
    assert sorted(v["median"] for v in shown.values()) == ["10", "20"]
    assert cmp["scaling"] and browser.find_elements(By.CSS_SELECTOR, "figure.chart[data-drawn=true]")
    shot(browser, "campaign")
