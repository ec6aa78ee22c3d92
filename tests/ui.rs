//! The web UI in a real browser: headless Chromium (Debian's `chromium`, driven by its
//! `chromedriver` through Python's selenium) loads the page from a real `serve`, runs a
//! search, clicks a facet, checks the results and that log text stays text, and takes a
//! screenshot.

mod support;

use std::process::Command;

use serde_json::Value;
use support::{Server, python_with, run_ok};

fn browser_ready() -> bool {
    let found = ["chromium", "chromedriver"]
        .iter()
        .all(|tool| Command::new("which").arg(tool).output().is_ok_and(|o| o.status.success()));
    if !found {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must not skip: chromium and chromedriver missing");
        eprintln!("SKIPPED: install chromium and chromium-driver (apt) to run the browser test");
    }
    found
}

const SCRIPT: &str = r#"
import json, sys
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

base, shot = sys.argv[1], sys.argv[2]
options = webdriver.ChromeOptions()
options.binary_location = '/usr/bin/chromium'
for flag in ['--headless=new', '--no-sandbox', '--disable-gpu', '--window-size=1400,900']:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=options)
wait = WebDriverWait(driver, 20)
out = {}
try:
    driver.get(base + '/#range=all')
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#hits li.hit')) > 0)
    out['all_hits'] = len(driver.find_elements(By.CSS_SELECTOR, '#hits li.hit'))
    out['summary'] = driver.find_element(By.ID, 'summary').text
    out['bars'] = len(driver.find_elements(By.CSS_SELECTOR, '#histogram rect'))
    # The next page continues after the last hit (search_after), across a run of events
    # that share one timestamp.
    driver.find_element(By.ID, 'more').click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#hits li.hit')) > out['all_hits'])
    messages = [m.text for m in driver.find_elements(By.CSS_SELECTOR, '#hits .msg')]
    out['paged_hits'], out['paged_distinct'] = len(messages), len(set(messages))
    out['more_hidden'] = not driver.find_element(By.ID, 'more').is_displayed()

    box = driver.find_element(By.ID, 'q')
    box.clear()
    box.send_keys('gateway')
    driver.find_element(By.CSS_SELECTOR, 'button[type=submit]').click()
    wait.until(lambda d: 'gateway' in d.current_url)
    wait.until(lambda d: d.find_element(By.ID, 'summary').text.startswith(str(len(d.find_elements(By.CSS_SELECTOR, '#hits li.hit'))) + ' '))
    out['gateway_hits'] = len(driver.find_elements(By.CSS_SELECTOR, '#hits li.hit'))
    out['marks'] = [m.text for m in driver.find_elements(By.CSS_SELECTOR, '#hits mark')][:3]

    facet = driver.find_element(By.CSS_SELECTOR, '#facets button[data-field=module][data-value=payment]')
    facet.click()
    wait.until(lambda d: 'module=payment' in d.current_url)
    wait.until(lambda d: all('payment' in m.text for m in d.find_elements(By.CSS_SELECTOR, '#hits .meta')))
    out['payment_hits'] = len(driver.find_elements(By.CSS_SELECTOR, '#hits li.hit'))
    out['filters'] = driver.find_element(By.ID, 'filters').text

    # Expand a hit: its fields and the events around it in its source.
    driver.find_element(By.CSS_SELECTOR, '#hits li.hit').click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#hits .detail .ctx li')) > 1)
    out['detail'] = driver.find_element(By.CSS_SELECTOR, '#hits .detail pre').text
    out['context'] = [li.text for li in driver.find_elements(By.CSS_SELECTOR, '#hits .detail .ctx li')]
    out['context_self'] = driver.find_element(By.CSS_SELECTOR, '#hits .detail .ctx li.self').text

    # A log line holding markup shows as text and never runs.
    driver.get(base + '/#q=injected&range=all')
    driver.refresh()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#hits li.hit')) == 1)
    out['injected_text'] = driver.find_element(By.CSS_SELECTOR, '#hits .msg').text
    out['injected_ran'] = driver.execute_script('return window.__pwned === true')
    out['script_tags'] = len(driver.find_elements(By.CSS_SELECTOR, '#hits script, #hits img'))

    # Live: an event ingested after "Live" is pressed appears on top without a search.
    driver.get(base + '/#range=all')
    driver.refresh()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#hits li.hit')) > 0)
    driver.find_element(By.ID, 'tail').click()
    wait.until(lambda d: d.find_element(By.ID, 'tail').text == 'Pause')
    import time, urllib.request
    line = json.dumps({"time": "2026-11-20T16:00:00Z", "level": "warn", "msg": "tailprobe arrived", "service": "order-api"})
    for _ in range(50):
        urllib.request.urlopen(urllib.request.Request(base + '/api/v1/ingest?source=svc&format=json', data=line.encode(), method='POST'))
        try:
            WebDriverWait(driver, 0.5).until(lambda d: 'tailprobe' in d.find_element(By.CSS_SELECTOR, '#hits li.hit').text)
            break
        except Exception:
            pass
    out['live_top'] = driver.find_element(By.CSS_SELECTOR, '#hits li.hit .msg').text
    driver.save_screenshot(shot)
finally:
    driver.quit()
print(json.dumps(out))
"#;

#[test]
fn search_page_in_headless_chromium() {
    if !browser_ready() {
        return;
    }
    let Some(python) = python_with("selenium") else { return };
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(work.path(), &[]);
    let mut lines = String::new();
    for i in 0..40 {
        let (service, level, msg) = match i % 4 {
            0 => ("payment-api", "error", format!("gateway timeout after 3000ms order {i}")),
            1 => ("order-api", "info", format!("order {i} created")),
            2 => ("order-api", "warn", format!("gateway slow for order {i}")),
            _ => ("logistics", "info", format!("waybill {i} printed")),
        };
        lines.push_str(
            &serde_json::json!({"time": format!("2026-11-20T14:{:02}:00Z", i), "level": level, "msg": msg, "service": service})
                .to_string(),
        );
        lines.push('\n');
    }
    // A run of 100 events sharing one timestamp, older than the rest: the first page ends
    // inside it.
    for i in 0..100 {
        lines.push_str(
            &serde_json::json!({"time": "2026-11-19T10:00:00Z", "level": "info", "msg": format!("filler {i}"), "service": "user-api"})
                .to_string(),
        );
        lines.push('\n');
    }
    let injected = r#"injected <script>window.__pwned = true</script><img src=x onerror="window.__pwned = true">"#;
    lines.push_str(
        &serde_json::json!({"time": "2026-11-20T15:00:00Z", "level": "error", "msg": injected, "service": "payment-api"})
            .to_string(),
    );
    lines.push('\n');
    let (status, body) = server.post("/api/v1/ingest?source=svc&format=json", lines.as_bytes());
    assert_eq!(status, 200, "{body}");
    let total = support::eventually(std::time::Duration::from_secs(30), || {
        let body = server.search("*", "&limit=0");
        (body["total"] == 141).then_some(141)
    });
    assert_eq!(total, Some(141));

    let shot = work.path().join("search.png");
    let out = run_ok(Command::new(python).args(["-c", SCRIPT]).arg(format!("http://{}", server.addr)).arg(&shot));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["all_hits"], 100, "one page: {got}");
    assert!(got["summary"].as_str().unwrap().starts_with("141 events"), "{got}");
    assert_eq!((got["paged_hits"].as_u64(), got["paged_distinct"].as_u64()), (Some(141), Some(141)), "{got}");
    assert_eq!(got["more_hidden"], true, "no page after the last: {got}");
    assert!(got["bars"].as_u64().unwrap() > 1, "{got}");
    assert_eq!(got["gateway_hits"], 20, "{got}");
    assert_eq!(got["marks"][0], "gateway", "{got}");
    assert_eq!(got["payment_hits"], 10, "gateway in payment: {got}");
    assert!(got["filters"].as_str().unwrap().contains("module: payment"), "{got}");
    assert!(got["detail"].as_str().unwrap().contains("service"), "{got}");
    // The newest payment hit (14:36) amid its source: 10 events before, itself, the 4 after.
    assert_eq!(got["context"].as_array().unwrap().len(), 15, "{got}");
    assert!(got["context_self"].as_str().unwrap().ends_with("gateway timeout after 3000ms order 36"), "{got}");
    assert_eq!(got["injected_text"], injected, "{got}");
    assert_eq!(got["injected_ran"], false, "{got}");
    assert_eq!(got["script_tags"], 0, "{got}");
    assert_eq!(got["live_top"], "tailprobe arrived", "{got}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a screenshot was taken");
}
