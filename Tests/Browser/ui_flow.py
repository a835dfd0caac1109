#!/usr/bin/python3
"""wfd's web UI in a real browser: headless Chromium driven by Debian's python3-selenium.

    ui_flow.py BASE_URL TOKEN_FILE SHOTS_DIR DEMO_RUN GO_FILE

Signs in with the token, reads every page, filters the jobs, starts a run from a job's page and
follows its log live (the job writes its last lines once GO_FILE exists), approves a waiting step
(first with input its schema refuses), retries the failed DEMO_RUN skipping its failing step, and
checks that a form without its CSRF token and a request without the session change nothing.
Screenshots of each page go to SHOTS_DIR. Prints what it saw as JSON; exits 1 at the first check
that fails, saying which. BrowserTests (Swift) sets up wfd and wfd-web, runs this, and checks the
state directory afterwards.
"""
import json
import sys
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

base, token_file, shots, demo_run, go_file = sys.argv[1:6]
token = open(token_file).read().strip()
seen = {}


def check(condition, what):
    if not condition:
        print(json.dumps(seen, indent=1), file=sys.stderr)
        sys.exit(f"ui_flow: {what}")


options = webdriver.ChromeOptions()
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                 "--disable-gpu", "--no-first-run", "--disable-extensions"]:
    options.add_argument(argument)
service = Service(executable_path="/usr/bin/chromedriver")
browser = webdriver.Chrome(options=options, service=service)
wait = WebDriverWait(browser, 30)


def shot(name):
    # The whole page: the window as tall as the document.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(max(height + 40, 700), 2400))
    browser.save_screenshot(f"{shots}/{name}.png")
    browser.set_window_size(1280, 1000)


def text(element_id):
    return browser.find_element(By.ID, element_id).text


try:
    # Not signed in: every page leads to the sign-in form, which refuses a wrong token.
    browser.get(base + "/jobs/demo")
    check("/login" in browser.current_url, f"not sent to sign in: {browser.current_url}")
    shot("signin")
    browser.find_element(By.ID, "token").send_keys("wfd_not-a-token")
    browser.find_element(By.ID, "signin").click()
    wait.until(lambda b: "No such token" in b.page_source)
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "signin").click()
    wait.until(ready.url_contains("/jobs/demo"))
    cookie = browser.get_cookie("wfd_session")
    seen["cookie"] = {k: cookie.get(k) for k in ["httpOnly", "secure", "sameSite"]}
    check(cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict", f"cookie: {cookie}")
    check(browser.execute_script("return document.cookie").find("wfd_session") < 0, "a script can read the session")

    # The jobs, filtered as one types.
    browser.get(base + "/")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-job]")
    seen["jobs"] = [row.get_attribute("data-job") for row in rows]
    check({"demo", "gate", "talk"} <= set(seen["jobs"]), f"jobs: {seen['jobs']}")
    shot("jobs")
    browser.find_element(By.ID, "filter").send_keys("gat")
    hidden = {row.get_attribute("data-job"): row.get_attribute("hidden") is not None
              for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-job]")}
    check(hidden == {"demo": True, "gate": False, "talk": True}, f"filtered: {hidden}")

    # The failed run: its DAG, its timeline, why it failed.
    browser.get(base + "/runs/" + demo_run)
    nodes = {n.get_attribute("data-step"): n.get_attribute("class") for n in
             browser.find_elements(By.CSS_SELECTOR, "#dag g.node")}
    seen["dag"] = nodes
    check(nodes.get("lint") == "node st-failed" and nodes.get("fetch") == "node st-succeeded", f"dag: {nodes}")
    check(len(browser.find_elements(By.CSS_SELECTOR, "#dag path.edge")) == 4, "the DAG has not 4 edges")
    check(len(browser.find_elements(By.CSS_SELECTOR, "#gantt rect.bar")) == 3, "the timeline has not 3 attempts")
    check("lint" in text("why") and "status 3" in text("why"), f"why: {text('why')}")
    shot("run")

    # A job's page: its file, its chart, its history; and a run started from it, its log followed live.
    browser.get(base + "/jobs/demo")
    check("fetching" in text("file") and len(browser.find_elements(By.CSS_SELECTOR, "#chart rect")) >= 1, "job page")
    shot("job")
    browser.get(base + "/jobs/talk")
    browser.find_element(By.ID, "run-now").click()
    wait.until(ready.url_contains("/runs/"))
    check("started a run of talk" in text("notice"), "no notice of the start")
    talk_run = browser.find_element(By.ID, "run-id").text
    seen["talk_run"] = talk_run
    log_page = f"{base}/runs/{talk_run}/steps/talk/attempts/1"
    WebDriverWait(browser, 30, poll_frequency=0.2).until(
        lambda b: b.get(log_page) or "line 4" in b.find_element(By.ID, "log").text)
    first = text("log")
    seen["log_at_load"] = first
    check(first.split("\n") == [f"line {n}" for n in range(1, 5)], f"the page's log: {first!r}")
    open(go_file, "w").close()  # the job goes on: what follows comes over Server-Sent Events
    # Once the attempt ends, the page reads itself again (for its exit status and times): an
    # element found before that may go stale under the wait, or be read as its page goes (Chrome:
    # "Node with given id does not belong to the document", a plain WebDriverException).
    following = WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException, WebDriverException])
    following.until(lambda b: "line 8" in b.find_element(By.ID, "log").text)
    following.until(lambda b: "ended: succeeded" in b.find_element(By.ID, "log-state").text)
    following.until(lambda b: b.find_element(By.ID, "exit-status").text == "0")
    seen["log_followed"] = text("log")
    check(text("log").split("\n") == [f"line {n}" for n in range(1, 9)], f"followed: {text('log')!r}")
    shot("log")

    # The approvals inbox: input the schema refuses, then input it takes.
    browser.get(base + "/approvals")
    check("Ship the build to production?" in browser.page_source, "the waiting step is not in the inbox")
    shot("approvals")
    form = browser.find_element(By.CSS_SELECTOR, "article[data-step=confirm] form.approve")
    form.find_element(By.NAME, "input").send_keys('{"ticket": 12}')
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait.until(ready.presence_of_element_located((By.ID, "error")))
    seen["refused_input"] = text("error")
    check("ticket" in text("error"), f"bad input not explained: {text('error')}")
    form = browser.find_element(By.CSS_SELECTOR, "article[data-step=confirm] form.approve")
    form.find_element(By.NAME, "input").send_keys('{"ticket": "T-12"}')
    form.find_element(By.NAME, "comment").send_keys("checked the diff")
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait.until(ready.presence_of_element_located((By.ID, "notice")))
    check("approved confirm" in text("notice"), f"approve: {text('notice')}")

    # A form without its CSRF token, and a request without the session: refused, nothing done.
    session = browser.get_cookie("wfd_session")["value"]
    for headers, body, expected in [({"Cookie": f"wfd_session={session}"}, b"back=/", 403),
                                    ({}, b"csrf=x", 401)]:
        request = urllib.request.Request(f"{base}/runs/{demo_run}/retry", data=body, headers=headers, method="POST")
        try:
            status = urllib.request.urlopen(request).status
        except urllib.error.HTTPError as error:
            status = error.code
        check(status == expected, f"a forged retry answered {status}, not {expected}")

    # The failed run, retried skipping its failing step with an output.
    browser.get(base + "/runs/" + demo_run)
    Select(browser.find_element(By.NAME, "skip")).select_by_value("lint")
    browser.find_element(By.NAME, "output").send_keys("lint skipped by hand")
    browser.find_element(By.ID, "retry").click()
    wait.until(ready.presence_of_element_located((By.ID, "notice")))
    check("retried" in text("notice"), f"retry: {text('notice')}")
    WebDriverWait(browser, 30).until(
        lambda b: b.get(base + "/runs/" + demo_run) or "st-succeeded" in b.find_element(By.CSS_SELECTOR, "h1 .state")
        .get_attribute("class"))

    # Signing out ends the session.
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    wait.until(ready.url_contains("/login"))
    browser.get(base + "/approvals")
    check("/login" in browser.current_url, "still signed in after signing out")
finally:
    browser.quit()
print(json.dumps(seen))
