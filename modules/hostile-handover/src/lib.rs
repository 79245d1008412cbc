//! hostile-handover: the worst neighbours a hot swap can have. As the old version, its
//! `hearsay_export_state` hands over `export_mib` MiB (default 16, twice the default state budget); as the new
//! version, with `{"trap_on_import":true}`, its `hearsay_import_state` traps. Before
//! hearsay refused oversized exports and restarted a failed import fresh, the first
//! made every next version fail to load — the bad version kept running, fix or not.
//!
//! Params: `{"export_mib": 16, "trap_on_import": false}`.
//!
//! A test module (see `modules/hostile-storm`).

#![warn(missing_docs)]

use hearsay_guest::json::{self, Value};
use hearsay_guest::{Host, Module};

/// The module.
#[derive(Debug, Default)]
pub struct Handover {
    export_mib: u64,
    trap_on_import: bool,
    imported: bool,
}

impl Module for Handover {
    fn init(params: &str, _host: &mut dyn Host) -> Result<Self, String> {
        let mut m = Handover {
            // Twice the default state budget: enough to be refused.
            export_mib: 16,
            ..Handover::default()
        };
        if !params.trim().is_empty() {
            let doc = json::parse(params)?;
            if let Some(mib) = doc.get("export_mib").and_then(Value::as_u64) {
                m.export_mib = mib.min(32);
            }
            m.trap_on_import = doc
                .get("trap_on_import")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        }
        Ok(m)
    }

    fn tick(&mut self, _now_ms: u64, host: &mut dyn Host) {
        for peer in host.bootstrap_peers() {
            host.send(&peer, b"hello");
        }
    }

    fn receive(&mut self, _from: &str, _payload: &[u8], _host: &mut dyn Host) {}

    fn query(&mut self, _args: &str, _host: &mut dyn Host) -> String {
        format!("{{\"imported\":{}}}", self.imported)
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        Some(vec![0; (self.export_mib as usize) << 20])
    }

    fn import_state(&mut self, state: &[u8], _host: &mut dyn Host) -> bool {
        if self.trap_on_import {
            panic!("hostile-handover: trapping on an import of {} bytes", state.len());
        }
        self.imported = true;
        true
    }
}

hearsay_guest::export_module!(Handover);
