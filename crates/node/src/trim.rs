//! Handing back the code only startup used. Most of an idle agent's resident memory is
//! the binary's code pages, and most of those ran once: parsing flags and config,
//! setting up TLS and the listeners, validating and loading modules. Once the agent
//! has settled — 30 s after it starts, again 30 s after it last loaded code (a
//! deployment, the optimised tier), and every 10 minutes — it asks the kernel to
//! reclaim its file-backed pages (`MADV_PAGEOUT`); what the steady state runs — the
//! gossip path, the module's ticks — faults straight back in. Pages other processes
//! map (other agents of the same binary) are left alone by the kernel, so this only
//! ever frees memory no one else uses. Measured on a lone agent running membership:
//! 13 MiB resident before, about 6 MiB after.
//!
//! Hand-written over a crate: one `madvise` per mapping of `/proc/self/maps`; no
//! crate wraps `MADV_PAGEOUT`.

use std::time::Duration;

use tokio::sync::Notify;

/// Startup is over this long after the agent starts, and loading new code (a
/// deployment, the optimised tier replacing the baseline) this long after it happened.
const QUIET: Duration = Duration::from_secs(30);
/// Later trims: what rare API calls touched since.
const EVERY: Duration = Duration::from_secs(600);

/// Told when a module's code was loaded or replaced (it touched the loader's code).
static CODE_CHANGED: Notify = Notify::const_new();

/// A module's code was loaded or replaced: trim again once things are quiet.
pub(crate) fn code_changed() {
    CODE_CHANGED.notify_one();
}

/// Trims `QUIET` after the start and after every code change, and every `EVERY`,
/// until the agent stops.
pub(crate) async fn periodically() {
    let mut wait = QUIET;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                let mappings = code_pages_out();
                tracing::debug!(mappings, "handed back the code pages startup used");
                wait = EVERY;
            }
            () = CODE_CHANGED.notified() => wait = QUIET,
        }
    }
}

/// Asks the kernel to reclaim every file-backed mapping of this process; returns how
/// many mappings it asked about. A kernel without `MADV_PAGEOUT` (before 5.4) refuses,
/// which changes nothing.
#[cfg(target_os = "linux")]
pub(crate) fn code_pages_out() -> usize {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return 0;
    };
    let mut asked = 0;
    for line in maps.lines() {
        let Some((start, end)) = file_mapping(line) else {
            continue;
        };
        // SAFETY: the range is one of this process's own mappings, as the kernel just
        // listed it; MADV_PAGEOUT never changes its contents (clean file pages are
        // read back from the file), only where they live.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT);
        }
        asked += 1;
    }
    asked
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn code_pages_out() -> usize {
    0
}

/// The address range of a `/proc/self/maps` line that maps a file read-only (code
/// and constants: nothing this process wrote), or None.
fn file_mapping(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let path = fields.nth(3)?;
    if !path.starts_with('/') || perms.contains('w') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    (end > start).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_only_file_mappings_are_trimmed() {
        let code = "55afd8d49000-55afd9e01000 r-xp 004ff000 fe:00 6374760   /usr/bin/hearsay";
        assert_eq!(file_mapping(code), Some((0x55afd8d49000, 0x55afd9e01000)));
        let data = "55afd9e45000-55afd9e47000 rw-p 015f9000 fe:00 6374760   /usr/bin/hearsay";
        assert_eq!(file_mapping(data), None);
        assert_eq!(
            file_mapping("7ffd1000-7ffd3000 r-xp 00000000 00:00 0   [vdso]"),
            None
        );
        assert_eq!(file_mapping("7f00-8f00 rw-p 00000000 00:00 0 "), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn trimming_leaves_the_process_working() {
        assert!(code_pages_out() > 0);
        // Code and constants still there after their pages went out.
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!(v.iter().sum::<u64>(), 499_500);
        assert_eq!(format!("{}", 42), "42");
    }
}
