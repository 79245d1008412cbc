//! Native builds of the module library, by module name: the same source that builds
//! each module's wasm, linked into the simulator so a protocol runs at 100,000 nodes.
//! Modules whose bad behaviour is an endless loop (`bad-loop`, `bad-flood`) have none:
//! natively nothing would stop them; they run from their wasm, under fuel.

use hearsay_guest::{factory, Factory};

/// The native build of a library module, if it has one.
pub fn native(module: &str) -> Option<Factory> {
    use statecast::{Fixed, Poison, Silent, Statecast, Trap};
    Some(match module {
        "membership" => factory::<membership::Membership>(),
        "heartbeat" => factory::<heartbeat::Membership>(),
        "broadcast" => factory::<broadcast::Broadcast>(),
        "kv" => factory::<kv::Kv>(),
        "kelips" => factory::<kelips::Kelips>(),
        "aggregate" => factory::<aggregate::Aggregate>(),
        "statecast" => factory::<Statecast<Fixed>>(),
        "statecast-poison" => factory::<Statecast<Poison>>(),
        "bad-trap" => factory::<Statecast<Trap>>(),
        "bad-silent" => factory::<Statecast<Silent>>(),
        _ => return None,
    })
}
