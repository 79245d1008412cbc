//! The live map in a real browser: 9 agents in 3 zones run membership and
//! aggregate; headless Chromium loads `/ui` of one of them and sees 9 nodes in 3
//! zones; a new membership version deployed elsewhere shows up on every node's tile
//! without a reload; a killed agent's tile turns from alive. Also: the page is
//! served without the API token but behind the Host guard, with a strict CSP.
//! With HEARSAY_UI_SCREENSHOT=FILE the page is saved there as a PNG (the README's).

mod common;

use common::browser::Browser;
use common::{deploy_module, dist_module, http, membership_wasm, runs_module, variant, wait_for, Cluster};
use serde_json::{json, Value};

const ZONES: [&str; 3] = ["/eu", "/us", "/asia"];

/// Polls a script in the page until it returns true.
fn wait_page(b: &Browser, what: &str, secs: u64, script: &str) {
    wait_for(what, secs, || b.eval(script) == Value::Bool(true));
}

#[test]
fn the_map_shows_zones_nodes_a_spreading_version_and_a_failure_live() {
    let Some(browser) = Browser::start() else { return };
    let mut c = Cluster::start_with("ui", 9, 1, |i| {
        vec!["--label".to_string(), format!("zone={}", ZONES[i % 3])]
    });
    let m = deploy_module(&c.agents[0], "membership", &membership_wasm(), json!({}));
    let a = deploy_module(&c.agents[0], "aggregate", &dist_module("aggregate"), json!({}));
    wait_for("both modules everywhere", 30, || {
        c.agents
            .iter()
            .all(|x| runs_module(x, "membership", &m.number) && runs_module(x, "aggregate", &a.number))
    });

    // The page itself: no token needed, the guard still applies, a strict CSP.
    let (code, page) = http(&c.agents[0].api(), "GET", "/ui", b"").unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("/ui/app.js"));
    let (code, _) = http(&c.agents[0].api(), "GET", "/ui/nothing", b"").unwrap();
    assert_eq!(code, 404);

    let url = format!("http://{}/ui", c.agents[0].api());
    browser.goto(&url);
    // Set in the page: a reload would lose it.
    browser.eval("window.sameLoad = true; return true;");
    wait_page(
        &browser,
        "9 alive nodes in 3 zones of 3 on the map",
        30,
        "const zones = [...document.querySelectorAll('.zone')];
         return zones.length === 3
           && zones.every(z => z.querySelectorAll('.node[data-state=alive]').length === 3)
           && ['/asia', '/eu', '/us'].every(p => zones.some(z => z.dataset.zone === p));",
    );
    let renders = browser.eval("return Number(document.body.dataset.renders);");

    // A new membership version, deployed at another node, reaches every tile.
    let v2 = variant(&membership_wasm(), "ui-test-v2");
    let d2 = deploy_module(&c.agents[4], "membership", &v2, json!({}));
    let short = &d2.version.as_deref().unwrap()[..12];
    wait_page(
        &browser,
        "the new version on every node's tile",
        60,
        &format!(
            "const nodes = [...document.querySelectorAll('.node')];
             return nodes.length === 9
               && nodes.every(n => n.dataset.modules.includes('membership:{short}'))
               && document.querySelector('[data-version=\"membership {short}\"]') !== null;"
        ),
    );
    assert_eq!(
        browser.eval("return window.sameLoad === true;"),
        Value::Bool(true),
        "the page reloaded"
    );
    let later = browser.eval("return Number(document.body.dataset.renders);");
    assert!(later.as_u64() > renders.as_u64(), "{renders} → {later}");
    let events = browser.eval("return document.querySelectorAll('#events li').length;");
    assert!(events.as_u64() > Some(0), "the event list is empty");

    // One agent is killed: its tile stops being alive.
    let victim = c.agents[7].gossip.to_string();
    c.agents[7].kill9();
    wait_page(
        &browser,
        "the killed agent's tile no longer alive",
        30,
        &format!("const n = document.querySelector('.node[data-addr=\"{victim}\"]'); return n !== null && n.dataset.state !== 'alive';"),
    );
    if let Ok(path) = std::env::var("HEARSAY_UI_SCREENSHOT") {
        std::fs::write(&path, browser.screenshot()).unwrap();
    }
    assert!(browser.screenshot().starts_with(b"\x89PNG"));
}
