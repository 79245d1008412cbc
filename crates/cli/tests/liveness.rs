//! A node that restarts with a current configuration but without the code for it
//! (killed after adopting a deployment and before storing its code, or its stored
//! code failed the hash check at startup) must find a peer to download the code from
//! even when the others' modules have forgotten it: backup gossip names its peer as a
//! source for code nobody else is known to hold.

mod common;

use std::time::Duration;

use common::{cli_ok, membership_wasm, wait_for, Cluster};
use hearsay_core::CodeVersion;

#[test]
fn a_node_restarted_without_its_code_fetches_it() {
    let mut c = Cluster::start("liveness", 3, 1);
    let v1 = membership_wasm();
    let path = c.dir.join("v1.wasm");
    std::fs::write(&path, &v1).unwrap();
    cli_ok(&[
        "deploy",
        "--api",
        &c.agents[0].api(),
        "membership",
        path.to_str().unwrap(),
    ]);
    let runs = |a: &common::Agent| {
        a.status()
            .is_some_and(|s| s.module("membership").is_some_and(|m| m.state == "running"))
    };
    wait_for("every node runs v1", 30, || c.agents.iter().all(runs));
    c.agents[2].kill9();
    let file = c.agents[2]
        .data_dir
        .join(format!("code/{}.wasm", CodeVersion::of(&v1).to_hex()));
    std::fs::write(file, b"bit rot").unwrap();
    // Longer than membership's remove_after_ms (2 s): the others forget the node.
    std::thread::sleep(Duration::from_secs(4));
    c.agents[2].start();
    wait_for("the restarted node runs v1 again", 30, || runs(&c.agents[2]));
}
