//! Views that differ in a few members meet by a diff: the asker sends its digests of
//! arcs of the ring, the answer carries the members of the arcs that differ and no
//! others, and afterwards both views have one digest. Two nodes driven by hand (a
//! `TestHost` each), holding a view of a few thousand members.

use hearsay_guest::testing::TestHost;
use hearsay_guest::Module;
use heartbeat::table::Heartbeat;
use membership::view::{Note, State};
use membership::wire::{self, Message};
use membership::Membership;

const MEMBERS: usize = 3_000;

fn addr(i: usize) -> String {
    format!("10.{}.{}.{}:7000", i >> 16 & 255, i >> 8 & 255, i & 255)
}

fn note(i: usize, counter: u64) -> Note {
    Note {
        addr: addr(i),
        incarnation: Heartbeat {
            generation: 1_000,
            counter,
        },
        state: State::Alive,
        by: None,
        labels: Some(Default::default()),
    }
}

fn node(i: usize) -> (Membership, TestHost) {
    let mut host = TestHost::new(addr(i), Vec::new(), i as u64);
    host.now = 5_000;
    let module = Membership::init("", &mut host).unwrap();
    (module, host)
}

/// Gives a node the members `0..MEMBERS` (itself excepted) in pages, as a sync would.
fn fill(m: &mut Membership, host: &mut TestHost) {
    let notes: Vec<Note> = (0..MEMBERS).map(|i| note(i, 0)).collect();
    for page in notes.chunks(200) {
        let page = Message::Page {
            next: String::new(),
            notes: page.to_vec(),
        };
        m.receive(&addr(MEMBERS + 7), &wire::encode(&page), host);
    }
    host.outbox.clear();
}

/// What a node's next tick beats: (digest, message).
fn beat(m: &mut Membership, host: &mut TestHost) -> (u64, Vec<u8>) {
    host.now += 200;
    m.tick(host.now, host);
    let beats: Vec<Vec<u8>> = host
        .outbox
        .drain(..)
        .filter_map(|(_, bytes)| match wire::decode(&bytes) {
            Some(Message::Beat { digest, .. }) => Some(wire::encode(&Message::Beat {
                incarnation: Heartbeat {
                    generation: 5_000,
                    counter: 0,
                },
                digest,
                members: MEMBERS as u64,
                rumors: Vec::new(),
            })),
            _ => None,
        })
        .collect();
    let bytes = beats.into_iter().next().expect("a beat to a watcher");
    match wire::decode(&bytes) {
        Some(Message::Beat { digest, .. }) => (digest, bytes),
        _ => unreachable!(),
    }
}

#[test]
fn a_diff_carries_only_the_arcs_that_differ_and_the_views_meet() {
    let (mut a, mut a_host) = node(1);
    let (mut b, mut b_host) = node(2);
    fill(&mut a, &mut a_host);
    fill(&mut b, &mut b_host);
    // b has heard of three refutations a missed.
    let news = [100, 1_500, 2_900];
    let rumors = Message::Rumors(news.iter().map(|&i| note(i, 1)).collect());
    b.receive(&addr(9), &wire::encode(&rumors), &mut b_host);
    b_host.outbox.clear();

    // Two beats from b whose digest differs from a's view start a diff.
    let (b_digest, b_beat) = beat(&mut b, &mut b_host);
    let (a_digest, _) = beat(&mut a, &mut a_host);
    assert_ne!(a_digest, b_digest);
    a.receive(&addr(2), &b_beat, &mut a_host);
    a.receive(&addr(2), &b_beat, &mut a_host);
    let asks: Vec<Vec<u8>> = a_host
        .outbox
        .drain(..)
        .filter(|(to, bytes)| *to == addr(2) && matches!(wire::decode(bytes), Some(Message::Diff { .. })))
        .map(|(_, bytes)| bytes)
        .collect();
    assert_eq!(asks.len(), 1, "one diff asked of the beat's sender");
    let arcs = match wire::decode(&asks[0]) {
        Some(Message::Diff { arcs, cursor, .. }) => {
            assert_eq!(cursor, "");
            arcs.len()
        }
        other => panic!("not a diff: {:?}", other),
    };
    assert!(arcs >= 64, "{} arcs for {} members", arcs, MEMBERS);

    // b's answer: the members of at most three arcs, the news among them.
    b.receive(&addr(1), &asks[0], &mut b_host);
    let (to, page) = b_host
        .outbox
        .drain(..)
        .find(|(_, bytes)| matches!(wire::decode(bytes), Some(Message::Page { .. })))
        .expect("an answer");
    assert_eq!(to, addr(1));
    let notes = match wire::decode(&page) {
        Some(Message::Page { next, notes }) => {
            assert_eq!(next, "", "a few arcs fit one page");
            notes
        }
        other => panic!("not a page: {:?}", other),
    };
    for i in news {
        assert!(
            notes
                .iter()
                .any(|n| n.addr == addr(i) && n.incarnation.counter == 1),
            "member {} is in the answer",
            i
        );
    }
    let most = 3 * 2 * MEMBERS / arcs;
    assert!(
        notes.len() <= most,
        "{} members answered, at most {} expected (three arcs of {})",
        notes.len(),
        most,
        arcs
    );

    // a merges the page: the two views have one digest.
    a.receive(&addr(2), &page, &mut a_host);
    let (a_digest, _) = beat(&mut a, &mut a_host);
    let (b_digest, _) = beat(&mut b, &mut b_host);
    assert_eq!(a_digest, b_digest);
}
