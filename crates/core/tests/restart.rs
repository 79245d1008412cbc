//! A node that restarts with a configuration whose code it lacks fetches the code even
//! when no module traffic reaches it: backup gossip's peer is asked.

use std::collections::BTreeSet;

use hearsay_core::{
    CodeVersion, Configuration, Core, CoreInit, Deployment, DeploymentNumber, Input, ModuleName, NodeId,
    Output, PeerAddr, Settings,
};

#[test]
fn code_missing_at_restart_is_fetched_from_the_backup_peer() {
    let rendezvous: PeerAddr = "127.0.0.1:7001".parse().unwrap();
    let version = CodeVersion::of(b"v1");
    let config = Configuration::from(vec![Deployment {
        module: ModuleName::new("membership").unwrap(),
        version: Some(version),
        number: DeploymentNumber {
            time_ms: 5,
            origin: NodeId(2),
        },
        params: String::new(),
        previous: None,
        budget: Default::default(),
        auto_rollback_ms: None,
        signature: None,
    }]);
    let mut core = Core::new(CoreInit {
        id: NodeId(1),
        addr: "127.0.0.1:7000".parse().unwrap(),
        settings: Settings {
            rendezvous: vec![rendezvous],
            ..Settings::default()
        },
        configuration: config,
        code: BTreeSet::new(),
        ran: Vec::new(),
        seed: 1,
    });
    let mut fetched_from = None;
    for now in (1000..5000).step_by(100) {
        for o in core.handle(now, Input::Tick) {
            if let Output::FetchCode { version: v, from } = o {
                assert_eq!(v, version);
                fetched_from = Some(from);
            }
        }
        if fetched_from.is_some() {
            break;
        }
    }
    assert_eq!(
        fetched_from,
        Some(rendezvous),
        "the only peer known must be asked for the code"
    );
}
