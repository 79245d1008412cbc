//! Deployment records and configurations as they arrive: postcard inside envelopes,
//! JSON from disk and the API. Decoding, limit checks, trust checks and merging never
//! panic, and a merged configuration never holds two records for one module.
#![no_main]

use hearsay_core::trust::TrustedKeys;
use hearsay_core::{Configuration, Deployment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = postcard::from_bytes::<Deployment>(data) {
        let _ = d.check_limits();
        let _ = TrustedKeys::default().check(&d);
        let mut c = Configuration::new();
        c.offer(d.clone());
        c.offer(d);
        assert_eq!(c.len(), 1);
    }
    if let Ok(list) = postcard::from_bytes::<Vec<Deployment>>(data) {
        let c = Configuration::from(list);
        assert!(c.len() <= c.summary().len());
    }
    let _ = serde_json::from_slice::<Configuration>(data);
    let _ = serde_json::from_slice::<Deployment>(data);
});
