//! The management API's request bodies, as its handlers read them: JSON into the
//! request types, module names, base64 code, and signed records — any bytes give a
//! value or an error, never a panic.
#![no_main]

use base64::Engine as _;
use hearsay_core::ModuleName;
use hearsay_node::api_types::{DeployRecordRequest, DeployRequest, RollbackRequest, StopRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<DeployRequest>(data) {
        let _ = ModuleName::new(req.module);
        let _ = base64::engine::general_purpose::STANDARD.decode(req.wasm_base64.trim());
    }
    if let Ok(req) = serde_json::from_slice::<RollbackRequest>(data) {
        let _ = ModuleName::new(req.module);
    }
    if let Ok(req) = serde_json::from_slice::<StopRequest>(data) {
        let _ = ModuleName::new(req.module);
    }
    if let Ok(req) = serde_json::from_slice::<DeployRecordRequest>(data) {
        let _ = req.record.check_limits();
        let _ = hearsay_core::trust::TrustedKeys::default().check(&req.record);
    }
});
