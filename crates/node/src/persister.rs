//! Persisting the configuration (and what last ran) to the data directory, on a thread
//! of its own. Each persist is two atomic file writes, each with two fsyncs, and a
//! node persists when it adopts a deployment and again when the deployment starts: on
//! the actor, an update made every agent of a busy host wait on its disk eight times,
//! and the update's spread waited with it. The actor hands over the newest snapshot
//! and goes on; this thread writes it. Only the newest matters, so a snapshot replaced
//! before it was written is skipped. A refused write (a full disk) is logged once,
//! counted, and retried until it succeeds or a newer snapshot replaces it — what runs
//! keeps running meanwhile. Dropping the persister writes what is pending, then ends.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hearsay_core::{Configuration, Deployment};

use crate::counters::NodeCounters;
use crate::datadir::DataDir;

/// How long a refused write waits before it is tried again.
const RETRY: Duration = Duration::from_millis(200);

/// What waits to be written.
#[derive(Default)]
struct Slot {
    pending: Option<(Configuration, Vec<Deployment>)>,
    stop: bool,
}

type Shared = Arc<(Mutex<Slot>, Condvar)>;

/// The actor's handle on the writing thread.
pub(crate) struct Persister {
    shared: Shared,
    thread: Option<JoinHandle<()>>,
}

impl Persister {
    /// Starts the thread; it owns the data directory (and its lock) from now on.
    pub(crate) fn spawn(data: DataDir, counters: Arc<NodeCounters>) -> std::io::Result<Self> {
        let shared: Shared = Arc::default();
        let thread = std::thread::Builder::new().name("persist".into()).spawn({
            let shared = shared.clone();
            move || run(&data, &counters, &shared)
        })?;
        Ok(Persister {
            shared,
            thread: Some(thread),
        })
    }

    /// Writes this snapshot soon, instead of any not yet written.
    pub(crate) fn persist(&self, configuration: Configuration, ran: Vec<Deployment>) {
        let (slot, wake) = &*self.shared;
        if let Ok(mut slot) = slot.lock() {
            slot.pending = Some((configuration, ran));
            wake.notify_one();
        }
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        let (slot, wake) = &*self.shared;
        if let Ok(mut slot) = slot.lock() {
            slot.stop = true;
            wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(data: &DataDir, counters: &NodeCounters, shared: &Shared) {
    let (slot, wake) = &**shared;
    let mut failing = false;
    loop {
        let (configuration, ran) = {
            let Ok(mut guard) = slot.lock() else { return };
            while guard.pending.is_none() && !guard.stop {
                let Ok(next) = wake.wait(guard) else { return };
                guard = next;
            }
            match guard.pending.take() {
                Some(snapshot) => snapshot,
                None => return, // stopping, nothing left to write
            }
        };
        match data.persist(&configuration, &ran) {
            Ok(()) => {
                counters.persists.inc();
                if failing {
                    tracing::info!("the configuration is persisted again");
                }
                failing = false;
            }
            Err(e) => {
                counters.persist_failures.inc();
                if !failing {
                    tracing::error!("cannot persist the configuration (retrying): {e}");
                }
                failing = true;
                let Ok(mut guard) = slot.lock() else { return };
                if guard.stop {
                    return; // the disk refuses: nothing more to do on the way out
                }
                guard.pending.get_or_insert((configuration, ran));
                let _ = wake.wait_timeout(guard, RETRY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hearsay_core::{CodeVersion, DeploymentNumber, ModuleName, NodeId};

    use super::*;
    use crate::fsutil::random_u64;

    fn deployment(time_ms: u64) -> Deployment {
        let number = DeploymentNumber {
            time_ms,
            origin: NodeId(1),
        };
        Deployment::new(
            ModuleName::new("m").unwrap(),
            Some(CodeVersion::of(&time_ms.to_le_bytes())),
            number,
        )
    }

    #[test]
    fn the_newest_snapshot_is_on_disk_once_the_persister_is_dropped() {
        let root = std::env::temp_dir().join(format!("hearsay-persister-{}", random_u64()));
        let counters = Arc::new(NodeCounters::default());
        let persister = Persister::spawn(DataDir::open(&root).unwrap(), counters.clone()).unwrap();
        let mut newest = Configuration::new();
        for t in 1..=50 {
            let mut c = Configuration::new();
            c.offer(deployment(t));
            persister.persist(c.clone(), vec![deployment(t)]);
            newest = c;
        }
        drop(persister);
        let dir = DataDir::open(&root).expect("the thread let go of the directory's lock");
        assert_eq!(dir.configuration().unwrap(), newest);
        assert_eq!(dir.ran(), vec![deployment(50)]);
        let written = counters.persists.get();
        assert!((1..=50).contains(&written), "{written} writes");
        assert_eq!(counters.persist_failures.get(), 0);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
