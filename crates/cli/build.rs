//! Records the commit the binary is built from, for `hearsay --version`:
//! $HEARSAY_COMMIT when set (a build without the repository, such as a source
//! tarball), else what `git` says (with `-modified` for uncommitted changes), else
//! "unknown commit".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=HEARSAY_COMMIT");
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for path in ["HEAD", "index", "refs/heads", "packed-refs"] {
            println!("cargo:rerun-if-changed={dir}/{path}");
        }
    }
    let commit = std::env::var("HEARSAY_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
            let clean = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| s.is_empty());
            Some(if clean { hash } else { format!("{hash}-modified") })
        })
        .unwrap_or_else(|| "unknown commit".to_string());
    println!("cargo:rustc-env=HEARSAY_COMMIT={commit}");
}
