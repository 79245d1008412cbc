//! Compiling module code in a process of its own (`hearsay compile-module`): the wasm
//! goes in on stdin, the compiled code (wasmtime's serialized module) comes out on
//! stdout. An agent that compiles in process keeps Cranelift's code and working memory
//! resident for as long as it runs — a lone agent with membership holds about 19 MiB
//! instead of 11 — and a compile that blows up (a hostile module built to make the
//! compiler take gigabytes or minutes) takes down the agent. In a child it is bounded
//! by resource limits and only fails that deployment.
//!
//! The child builds its engine from the same settings ([`crate::runtime::engine`]) and is
//! the same binary (`/proc/self/exe`), so what it writes deserializes in the agent.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::runtime::Tier;
use crate::LoadError;

/// Address space the compiler process may use: wasmtime validates a module's sizes
/// first, so a real module needs far less; a compile bomb stops here.
const MAX_ADDRESS_SPACE: u64 = 4 << 30;
/// CPU seconds a compile may take (membership.wasm takes about 0.2 s).
const MAX_CPU_SECONDS: u64 = 60;
/// The largest wasm the compiler process reads: the code store's own limit is lower.
const MAX_WASM_BYTES: u64 = 64 << 20;

/// What came of asking the compiler process.
pub(crate) enum Outcome {
    /// Compiled code, to deserialize.
    Compiled(Vec<u8>),
    /// The module cannot be compiled (invalid, or it made the compiler exceed its
    /// limits): the deployment fails with this reason.
    Refused(LoadError),
    /// The compiler process itself could not do its job (not started, no output):
    /// compile in this process instead.
    Unavailable(String),
}

/// Compiles `wasm` with `exe compile-module --baseline|--optimized [--background]`.
pub(crate) fn compile(exe: &Path, tier: Tier, background: bool, wasm: &[u8]) -> Outcome {
    let mut command = Command::new(exe);
    command.arg("compile-module").arg(tier.arg());
    if background {
        command.arg("--background");
    }
    let child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return Outcome::Unavailable(format!("cannot start {}: {e}", exe.display())),
    };
    // Written from a thread: the child may write output before it has read everything.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = wasm.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = match child.wait_with_output() {
        Ok(output) => output,
        Err(e) => return Outcome::Unavailable(format!("compiler process: {e}")),
    };
    let _ = writer.join();
    if output.status.success() && !output.stdout.is_empty() {
        return Outcome::Compiled(output.stdout);
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let said = said.trim();
    use std::os::unix::process::ExitStatusExt;
    match (output.status.code(), output.status.signal()) {
        (Some(1), _) if !said.is_empty() => Outcome::Refused(LoadError::InvalidWasm(said.to_string())),
        (_, Some(signal)) => Outcome::Refused(LoadError::InvalidWasm(format!(
            "the compiler process was killed by signal {signal} (over its limits of {} GiB and {MAX_CPU_SECONDS} s of CPU?)",
            MAX_ADDRESS_SPACE >> 30
        ))),
        (code, _) => Outcome::Unavailable(format!("compiler process exited with {code:?}: {said}")),
    }
}

/// The child's side: reads wasm on stdin, writes code compiled for `tier` on stdout;
/// exit status 1 with the reason on stderr when the module does not compile. A
/// `background` compile — the optimised code of a module whose baseline code already
/// runs — gives way to the agents: it gets the CPU only when nothing else wants it.
pub fn serve(tier: Tier, background: bool) -> i32 {
    limit(libc::RLIMIT_AS, MAX_ADDRESS_SPACE);
    limit(libc::RLIMIT_CPU, MAX_CPU_SECONDS);
    if background {
        // SCHED_IDLE, not a nice value: a hundred agents of one host optimising at
        // once weigh 100 × nice 10's share against the few agents that have work,
        // and took most of the CPU from the gossip spreading the version.
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: only this process's scheduling policy changes; failing leaves it.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    }
    let mut wasm = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_WASM_BYTES).read_to_end(&mut wasm) {
        eprintln!("cannot read the module: {e}");
        return 2;
    }
    let engine = match crate::runtime::engine(tier) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    match engine.precompile_module(&wasm) {
        Ok(code) => match std::io::stdout().lock().write_all(&code) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("cannot write the compiled code: {e}");
                2
            }
        },
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

fn limit(resource: libc::__rlimit_resource_t, value: u64) {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit with a valid struct; failing only leaves the limit unset.
    unsafe { libc::setrlimit(resource, &limit) };
}
