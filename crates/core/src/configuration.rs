//! The configuration: one current deployment per module, the "highest deployment
//! number wins" rule, a digest that lets two nodes tell cheaply whether they agree,
//! and each deployment's wire tag (compact envelopes name deployments by it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::deployment::{Deployment, DeploymentNumber, DeploymentTag};
use crate::ids::ModuleName;

/// A short fingerprint of a whole configuration, carried in every envelope. Two nodes
/// with equal digests run the same deployments; different digests start an exchange.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct ConfigDigest(pub u64);

impl std::fmt::Debug for ConfigDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{:016x}", self.0)
    }
}

impl std::fmt::Display for ConfigDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What offering a deployment to a configuration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// It was newer and is now current; holds the deployment it replaced, if any.
    Adopted(Option<Deployment>),
    /// We already hold exactly this deployment.
    Known,
    /// We hold a higher number: the offer lost.
    Stale,
    /// Same number, different record. Numbers are never reused by honest nodes, so one
    /// of the two is forged or corrupt; we keep ours.
    Conflict,
}

/// A node's current deployment of every module.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "Vec<Deployment>", into = "Vec<Deployment>")]
pub struct Configuration {
    deployments: BTreeMap<ModuleName, Deployment>,
    digest: ConfigDigest,
    /// Each deployment's tag, derived (like the digest) whenever deployments change:
    /// a handful of modules, so a list.
    tags: Vec<(DeploymentTag, ModuleName)>,
}

impl Configuration {
    /// An empty configuration: no modules.
    pub fn new() -> Self {
        let mut c = Configuration {
            deployments: BTreeMap::new(),
            digest: ConfigDigest(0),
            tags: Vec::new(),
        };
        c.derive();
        c
    }

    /// The one rule: a deployment replaces the current one for its module only when its
    /// number is strictly higher. A node therefore never moves to a lower number,
    /// whatever order, duplication or loss the network inflicts.
    pub fn offer(&mut self, deployment: Deployment) -> Offer {
        let outcome = match self.deployments.get(&deployment.module) {
            Some(current) if current.number > deployment.number => return Offer::Stale,
            Some(current) if current.number == deployment.number => {
                return if *current == deployment {
                    Offer::Known
                } else {
                    Offer::Conflict
                };
            }
            _ => self.deployments.insert(deployment.module.clone(), deployment),
        };
        self.derive();
        Offer::Adopted(outcome)
    }

    /// The current deployment of a module.
    pub fn get(&self, module: &ModuleName) -> Option<&Deployment> {
        self.deployments.get(module)
    }

    /// The current deployment number of a module.
    pub fn number(&self, module: &ModuleName) -> Option<DeploymentNumber> {
        self.deployments.get(module).map(|d| d.number)
    }

    /// All current deployments, by module name.
    pub fn iter(&self) -> impl Iterator<Item = &Deployment> {
        self.deployments.values()
    }

    /// Number of modules configured (stopped ones included).
    pub fn len(&self) -> usize {
        self.deployments.len()
    }

    /// True when no module was ever deployed.
    pub fn is_empty(&self) -> bool {
        self.deployments.is_empty()
    }

    /// The digest of the whole configuration.
    pub fn digest(&self) -> ConfigDigest {
        self.digest
    }

    /// The current deployment whose tag is `tag`.
    pub fn by_tag(&self, tag: DeploymentTag) -> Option<&Deployment> {
        let (_, module) = self.tags.iter().find(|(t, _)| *t == tag)?;
        self.deployments.get(module)
    }

    /// The tag of `module`'s deployment `number`, if that is its current deployment.
    pub fn tag_of(&self, module: &ModuleName, number: DeploymentNumber) -> Option<DeploymentTag> {
        if self.number(module) != Some(number) {
            return None;
        }
        self.tags.iter().find(|(_, m)| m == module).map(|(t, _)| *t)
    }

    /// `(module, number)` for every module: what a backup-gossip exchange compares.
    pub fn summary(&self) -> Vec<(ModuleName, DeploymentNumber)> {
        self.deployments
            .values()
            .map(|d| (d.module.clone(), d.number))
            .collect()
    }

    /// Recomputes what is derived from the deployments: the digest and the tags.
    fn derive(&mut self) {
        self.digest = self.compute_digest();
        self.tags = self
            .deployments
            .values()
            .map(|d| (DeploymentTag::of(&d.module, d.number), d.module.clone()))
            .collect();
    }

    /// The digest covers everything that identifies a deployment (module, number,
    /// version, params), so two configurations with equal digests run the same code
    /// with the same parameters.
    fn compute_digest(&self) -> ConfigDigest {
        let mut h = Sha256::new();
        for d in self.deployments.values() {
            h.update((d.module.as_str().len() as u32).to_le_bytes());
            h.update(d.module.as_str());
            h.update(d.number.time_ms.to_le_bytes());
            h.update(d.number.origin.0.to_le_bytes());
            match &d.version {
                Some(v) => {
                    h.update([1]);
                    h.update(v.0);
                }
                None => h.update([0]),
            }
            h.update((d.params.len() as u32).to_le_bytes());
            h.update(d.params.as_bytes());
        }
        let out = h.finalize();
        ConfigDigest(u64::from_le_bytes(out[..8].try_into().expect("8 bytes")))
    }
}

impl From<Vec<Deployment>> for Configuration {
    /// Builds a configuration by offering every deployment, so a file or message holding
    /// two records for one module still obeys the rule.
    fn from(list: Vec<Deployment>) -> Self {
        let mut c = Configuration::new();
        for d in list {
            c.offer(d);
        }
        c
    }
}

impl From<Configuration> for Vec<Deployment> {
    fn from(c: Configuration) -> Self {
        c.deployments.into_values().collect()
    }
}

impl std::fmt::Debug for Configuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.deployments.values()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::CodeVersion;
    use crate::ids::NodeId;
    use proptest::prelude::*;

    fn dep(module: &str, t: u64, o: u64, code: &[u8]) -> Deployment {
        Deployment {
            module: ModuleName::new(module).unwrap(),
            version: Some(CodeVersion::of(code)),
            number: DeploymentNumber {
                time_ms: t,
                origin: NodeId(o),
            },
            params: String::new(),
            previous: None,
            budget: Default::default(),
            auto_rollback_ms: None,
            signature: None,
        }
    }

    #[test]
    fn highest_number_wins_and_lower_is_refused() {
        let mut c = Configuration::new();
        assert_eq!(c.offer(dep("m", 5, 1, b"v1")), Offer::Adopted(None));
        assert_eq!(c.offer(dep("m", 4, 9, b"v2")), Offer::Stale);
        assert_eq!(c.offer(dep("m", 5, 1, b"v1")), Offer::Known);
        assert_eq!(c.offer(dep("m", 5, 1, b"evil")), Offer::Conflict);
        assert!(matches!(c.offer(dep("m", 5, 2, b"v2")), Offer::Adopted(Some(_))));
        assert_eq!(
            c.get(&ModuleName::new("m").unwrap()).unwrap().version,
            Some(CodeVersion::of(b"v2"))
        );
    }

    #[test]
    fn rollback_is_a_new_deployment_that_wins() {
        let mut c = Configuration::new();
        c.offer(dep("m", 1, 1, b"v1"));
        c.offer(dep("m", 2, 1, b"v2"));
        let v2_digest = c.digest();
        assert!(matches!(c.offer(dep("m", 3, 2, b"v1")), Offer::Adopted(_)));
        assert_ne!(c.digest(), v2_digest, "a rollback must change the digest");
    }

    #[test]
    fn digest_tracks_content() {
        let mut a = Configuration::new();
        let mut b = Configuration::new();
        assert_eq!(a.digest(), b.digest());
        a.offer(dep("x", 1, 1, b"v1"));
        a.offer(dep("y", 1, 1, b"v1"));
        b.offer(dep("y", 1, 1, b"v1"));
        assert_ne!(a.digest(), b.digest());
        b.offer(dep("x", 1, 1, b"v1"));
        assert_eq!(a.digest(), b.digest());
    }

    proptest! {
        /// Any order of offers ends at the same configuration: the highest per module.
        #[test]
        fn merge_is_order_independent(mut offers in proptest::collection::vec((0usize..3, 0u64..20, 0u64..3), 1..30), seed in any::<u64>()) {
            let make = |(m, t, o): (usize, u64, u64)| dep(["a", "b", "c"][m], t, o, &[t as u8, o as u8]);
            let mut forward = Configuration::new();
            for o in &offers { forward.offer(make(*o)); }
            // A deterministic shuffle from the seed.
            let mut s = seed;
            for i in (1..offers.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                offers.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut shuffled = Configuration::new();
            let mut last: BTreeMap<ModuleName, DeploymentNumber> = BTreeMap::new();
            for o in &offers {
                shuffled.offer(make(*o));
                for d in shuffled.iter() {
                    let prev = last.insert(d.module.clone(), d.number);
                    prop_assert!(prev.is_none_or(|p| p <= d.number), "moved to a lower number");
                }
            }
            prop_assert_eq!(forward.digest(), shuffled.digest());
            prop_assert_eq!(forward, shuffled);
        }
    }
}
