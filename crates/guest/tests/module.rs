//! Drives a small module through `Module`, `DynModule` and `Factory` with a
//! recording `Host`, the way the simulator will.

use hearsay_guest::{export_module, factory, DynModule, Factory, Host, Level, Module};

/// A host that records everything the module does.
#[derive(Default)]
struct RecordingHost {
    now: u64,
    rng: u64,
    sent: Vec<(String, Vec<u8>)>,
    logs: Vec<(Level, String)>,
}

impl Host for RecordingHost {
    fn send(&mut self, to: &str, payload: &[u8]) {
        self.sent.push((to.to_string(), payload.to_vec()));
    }
    fn now_ms(&self) -> u64 {
        self.now
    }
    fn random_u64(&mut self) -> u64 {
        self.rng += 1;
        self.rng
    }
    fn log(&mut self, level: Level, msg: &str) {
        self.logs.push((level, msg.to_string()));
    }
    fn bootstrap_peers(&self) -> Vec<String> {
        vec!["10.0.0.1:7000".to_string(), "10.0.0.2:7000".to_string()]
    }
    fn self_addr(&self) -> String {
        "10.0.0.9:7000".to_string()
    }
}

/// Echoes every payload back with a prefix and counts what it saw.
struct Echo {
    prefix: String,
    received: u64,
    ticks: u64,
}

impl Module for Echo {
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String> {
        if params == "fail" {
            return Err("asked to fail".to_string());
        }
        host.log(Level::Info, &format!("echo at {}", host.self_addr()));
        Ok(Echo {
            prefix: params.to_string(),
            received: 0,
            ticks: 0,
        })
    }
    fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        self.ticks += 1;
        let peers = host.bootstrap_peers();
        let pick = (host.random_u64() as usize) % peers.len();
        host.send(&peers[pick], &now_ms.to_le_bytes());
    }
    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host) {
        self.received += 1;
        let mut answer = self.prefix.as_bytes().to_vec();
        answer.extend_from_slice(payload);
        host.send(from, &answer);
    }
    fn query(&mut self, _args: &str, _host: &mut dyn Host) -> String {
        format!("{{\"received\":{},\"ticks\":{}}}", self.received, self.ticks)
    }
    fn export_state(&self) -> Option<Vec<u8>> {
        Some(self.received.to_le_bytes().to_vec())
    }
    fn import_state(&mut self, state: &[u8], _host: &mut dyn Host) -> bool {
        if state.len() != 8 {
            return false;
        }
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(state);
        self.received = u64::from_le_bytes(bytes);
        true
    }
}

export_module!(Echo);

/// A module that keeps every default.
struct Quiet;

impl Module for Quiet {
    fn init(_params: &str, _host: &mut dyn Host) -> Result<Self, String> {
        Ok(Quiet)
    }
    fn tick(&mut self, _now_ms: u64, _host: &mut dyn Host) {}
    fn receive(&mut self, _from: &str, _payload: &[u8], _host: &mut dyn Host) {}
    fn query(&mut self, _args: &str, _host: &mut dyn Host) -> String {
        "{}".to_string()
    }
}

// A second export in the same binary: natively the macro expands to nothing.
export_module!(Quiet);

#[test]
fn factory_builds_a_dyn_module_that_acts_through_the_host() {
    let make: Factory = factory::<Echo>();
    let mut host = RecordingHost::default();
    let mut module: Box<dyn DynModule> = make("re:", &mut host).expect("init");
    assert_eq!(
        host.logs,
        vec![(Level::Info, "echo at 10.0.0.9:7000".to_string())]
    );

    host.now = 250;
    module.tick(250, &mut host);
    assert_eq!(
        host.sent,
        vec![("10.0.0.2:7000".to_string(), 250u64.to_le_bytes().to_vec())]
    );

    module.receive("10.0.0.1:7000", b"ping", &mut host);
    assert_eq!(host.sent[1], ("10.0.0.1:7000".to_string(), b"re:ping".to_vec()));
    assert_eq!(module.query("", &mut host), "{\"received\":1,\"ticks\":1}");
}

#[test]
fn init_errors_come_back_from_the_factory() {
    let mut host = RecordingHost::default();
    let result = factory::<Echo>()("fail", &mut host);
    assert_eq!(result.err(), Some("asked to fail".to_string()));
}

#[test]
fn state_hands_over_between_instances() {
    let mut host = RecordingHost::default();
    let mut old = factory::<Echo>()("", &mut host).unwrap();
    old.receive("a", b"x", &mut host);
    old.receive("b", b"y", &mut host);
    let state = old.export_state().expect("Echo exports state");

    let mut new = factory::<Echo>()("", &mut host).unwrap();
    assert!(!new.import_state(b"short", &mut host));
    assert!(new.import_state(&state, &mut host));
    assert_eq!(new.query("", &mut host), "{\"received\":2,\"ticks\":0}");
}

#[test]
fn defaults_export_nothing_and_refuse_state() {
    let mut host = RecordingHost::default();
    let factories: Vec<Factory> = vec![factory::<Quiet>(), factory::<Echo>()];
    let mut quiet = factories[0]("", &mut host).unwrap();
    assert_eq!(quiet.export_state(), None);
    assert!(!quiet.import_state(b"anything", &mut host));
}

#[test]
fn levels_match_the_abi_numbers() {
    for (level, n) in [
        (Level::Error, 0),
        (Level::Warn, 1),
        (Level::Info, 2),
        (Level::Debug, 3),
    ] {
        assert_eq!(level as i32, n);
        assert_eq!(Level::from_i32(n), level);
    }
    assert_eq!(Level::from_i32(-5), Level::Error);
    assert_eq!(Level::from_i32(99), Level::Debug);
}
