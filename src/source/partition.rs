//! `--partition K/N`: this shard's share of the histories, decided by a hash of each file's
//! path *relative to the argument it was found under* (`histories/` → `cli/order.json`).
//!
//! Why a hash and not "every Nth file": a stable hash puts a file in the same shard no
//! matter which other files exist, so adding a history does not reshuffle every shard.
//! Why relative: CI jobs of one matrix check out the repository in different directories
//! (and Windows runners use `\`); the key must not contain any of that. The hash is
//! FNV-1a 64 — fixed by its definition, unlike std's `DefaultHasher`, which may change
//! between Rust releases and would move files between shards on a toolchain upgrade.

/// Shard `k` of `n`, 1-based (validated by the CLI parser: 1 ≤ k ≤ n).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub k: u32,
    pub n: u32,
}

impl Partition {
    /// Whether the file with this key belongs to this shard.
    pub fn contains(&self, key: &str) -> bool {
        shard_of(key, self.n) == self.k
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// The 1-based shard of a key among `n`.
pub fn shard_of(key: &str, n: u32) -> u32 {
    (fnv1a64(normalize(key).as_bytes()) % u64::from(n.max(1))) as u32 + 1
}

/// `/` separators and no leading `./`, so the same file gets the same key everywhere.
fn normalize(key: &str) -> String {
    let k = key.replace('\\', "/");
    let mut k = k.as_str();
    while let Some(rest) = k.strip_prefix("./") {
        k = rest;
    }
    k.to_string()
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_the_published_function() {
        // Test vectors from the FNV reference.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn every_key_in_exactly_one_shard() {
        for n in 1..=7 {
            for i in 0..200 {
                let key = format!("dir/history-{i}.json");
                let owners: Vec<u32> = (1..=n).filter(|&k| Partition { k, n }.contains(&key)).collect();
                assert_eq!(owners.len(), 1, "{key} in {owners:?} of {n}");
            }
        }
    }

    #[test]
    fn separators_and_dot_prefix_do_not_matter() {
        assert_eq!(shard_of("cli\\a.json", 5), shard_of("cli/a.json", 5));
        assert_eq!(shard_of("./cli/a.json", 5), shard_of("cli/a.json", 5));
    }

    #[test]
    fn shards_are_roughly_even() {
        let n = 4;
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[(shard_of(&format!("corpus-{i:05}.json"), n) - 1) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    }
}
