//! The commit envelope and its per-case hash chain.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One event inside a commit: its type name, schema version and data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(rename = "v")]
    pub schema_version: u32,
    pub data: Value,
}

/// Who caused a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// The command that produced a commit, and a fingerprint of its request, so a retry with the same
/// idempotency key can be told from a different request that reuses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandInfo {
    pub name: String,
    pub request_hash: String,
}

/// The way commits are hashed now: SHA-256 over the previous hash's hex digits and the body in
/// the JSON Canonicalization Scheme (RFC 8785), which any JCS implementation reproduces.
pub const HASH_SCHEME: u32 = 2;
/// The first scheme: keys sorted by their UTF-8 bytes, numbers and strings as serde_json writes
/// them. Commits sealed under it say no scheme, and verify under it still.
const FIRST_HASH_SCHEME: u32 = 1;

fn first_hash_scheme() -> u32 {
    FIRST_HASH_SCHEME
}

fn is_first_hash_scheme(scheme: &u32) -> bool {
    *scheme == FIRST_HASH_SCHEME
}

/// Everything a commit says, before it is sealed into its case's chain. Its fields are written
/// three times: here, in `WireCommit`, and in `write_body` (the hashed form); the tests hold the
/// three together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitBody {
    /// How the commit's hash is computed (`HASH_SCHEME` for a new commit); part of what is
    /// hashed. Absent in commits of the first scheme, whose bodies hash as they always did.
    #[serde(
        default = "first_hash_scheme",
        skip_serializing_if = "is_first_hash_scheme"
    )]
    pub hash_scheme: u32,
    pub commit_id: Uuid,
    pub tenant: String,
    pub case_id: Uuid,
    pub case_kind: String,
    /// The case's version after this commit: 1, 2, 3, … with no gaps.
    pub version: u64,
    pub events: Vec<EventRecord>,
    pub actor: Actor,
    pub command: CommandInfo,
    pub correlation_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    pub recorded_at: Timestamp,
}

/// A SHA-256 link of a case's chain, as 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainHash(String);

impl ChainHash {
    /// What the first commit of every case links to.
    pub fn genesis() -> Self {
        Self("0".repeat(64))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(hex.to_owned()))
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sealed commit: its body, the hash of the case's previous commit, and its own hash
/// (SHA-256 over the previous hash and the canonical bytes of the body). On the wire the body's
/// fields and the two hashes sit side by side in one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub body: CommitBody,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

/// The wire form of a commit, spelled out rather than `#[serde(flatten)]`ed: flattening buffers
/// every field through an intermediate map, which made reading the log markedly slower.
/// Generic so that writing borrows (`&str`, `&[EventRecord]`, …) and reading owns.
#[derive(Serialize, Deserialize)]
struct WireCommit<B, H, E, A, C> {
    #[serde(
        default = "first_hash_scheme",
        skip_serializing_if = "is_first_hash_scheme"
    )]
    hash_scheme: u32,
    commit_id: Uuid,
    tenant: B,
    case_id: Uuid,
    case_kind: B,
    version: u64,
    events: E,
    actor: A,
    command: C,
    correlation_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    causation_id: Option<Uuid>,
    recorded_at: Timestamp,
    prev_hash: H,
    hash: H,
}

impl Serialize for Commit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = &self.body;
        WireCommit {
            hash_scheme: b.hash_scheme,
            commit_id: b.commit_id,
            tenant: b.tenant.as_str(),
            case_id: b.case_id,
            case_kind: b.case_kind.as_str(),
            version: b.version,
            events: b.events.as_slice(),
            actor: &b.actor,
            command: &b.command,
            correlation_id: b.correlation_id,
            causation_id: b.causation_id,
            recorded_at: b.recorded_at,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Commit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w =
            WireCommit::<String, ChainHash, Vec<EventRecord>, Actor, CommandInfo>::deserialize(d)?;
        Ok(Commit {
            body: CommitBody {
                hash_scheme: w.hash_scheme,
                commit_id: w.commit_id,
                tenant: w.tenant,
                case_id: w.case_id,
                case_kind: w.case_kind,
                version: w.version,
                events: w.events,
                actor: w.actor,
                command: w.command,
                correlation_id: w.correlation_id,
                causation_id: w.causation_id,
                recorded_at: w.recorded_at,
            },
            prev_hash: w.prev_hash,
            hash: w.hash,
        })
    }
}

impl CommitBody {
    /// Seals the body onto the chain after `prev`.
    pub fn seal(self, prev: ChainHash) -> Commit {
        let hash = chain_hash(&prev, &self).expect("a commit is sealed under a known scheme");
        Commit {
            body: self,
            prev_hash: prev,
            hash,
        }
    }
}

/// The commit's hash under its own scheme; none for a scheme this release does not know.
fn chain_hash(prev: &ChainHash, body: &CommitBody) -> Option<ChainHash> {
    let canon = match body.hash_scheme {
        FIRST_HASH_SCHEME => Canon::FirstScheme,
        HASH_SCHEME => Canon::Jcs,
        _ => return None,
    };
    let mut canonical = Vec::with_capacity(1024);
    write_body(body, canon, &mut canonical);
    let mut hasher = Sha256::new();
    hasher.update(prev.as_str().as_bytes());
    hasher.update(canonical);
    Some(ChainHash(hex::encode(hasher.finalize())))
}

/// The first hash scheme's canonical form: JSON with object keys sorted by their UTF-8 bytes and
/// no whitespace. (RFC 8785, the scheme of new commits, sorts by UTF-16 code units and writes
/// numbers as ECMAScript does.)
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, Canon::FirstScheme, &mut out);
    out
}

/// How a hash scheme writes a body canonically.
#[derive(Clone, Copy)]
enum Canon {
    /// Keys sorted by their UTF-8 bytes, numbers and strings as serde_json writes them.
    FirstScheme,
    /// The JSON Canonicalization Scheme (RFC 8785): keys sorted by their UTF-16 code units,
    /// numbers as ECMAScript writes a double, strings with only the escapes JSON requires
    /// (serde_json's). The same bytes as `serde_json_canonicalizer` (the tests hold the two
    /// together), written here because that crate parses every key back from JSON and boxes a
    /// writer for every token (docs/performance.md).
    Jcs,
}

/// A commit body in its canonical form, written field by field: the same bytes as the body
/// turned into a `serde_json::Value` and written canonically (the tests hold the two together),
/// without first copying every string of the body into that `Value`, which took a third of the
/// hash's time, twice an append (sealing, then the log's check). The keys are all ASCII, so both
/// schemes sort them alike; optional fields are left out where serde leaves them out.
fn write_body(body: &CommitBody, canon: Canon, out: &mut Vec<u8>) {
    fn number(out: &mut Vec<u8>, n: u64, canon: Canon) {
        write_canonical(&Value::from(n), canon, out);
    }
    out.extend_from_slice(b"{\"actor\":{\"id\":");
    write_json(out, &body.actor.id);
    out.extend_from_slice(b",\"role\":");
    write_json(out, &body.actor.role);
    if let Some(unit) = &body.actor.unit {
        out.extend_from_slice(b",\"unit\":");
        write_json(out, unit);
    }
    out.extend_from_slice(b"},\"case_id\":");
    write_json(out, &body.case_id);
    out.extend_from_slice(b",\"case_kind\":");
    write_json(out, &body.case_kind);
    if let Some(causation_id) = &body.causation_id {
        out.extend_from_slice(b",\"causation_id\":");
        write_json(out, causation_id);
    }
    out.extend_from_slice(b",\"command\":{\"name\":");
    write_json(out, &body.command.name);
    out.extend_from_slice(b",\"request_hash\":");
    write_json(out, &body.command.request_hash);
    out.extend_from_slice(b"},\"commit_id\":");
    write_json(out, &body.commit_id);
    out.extend_from_slice(b",\"correlation_id\":");
    write_json(out, &body.correlation_id);
    out.extend_from_slice(b",\"events\":[");
    for (i, event) in body.events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"data\":");
        write_canonical(&event.data, canon, out);
        out.extend_from_slice(b",\"type\":");
        write_json(out, &event.event_type);
        out.extend_from_slice(b",\"v\":");
        number(out, event.schema_version.into(), canon);
        out.push(b'}');
    }
    out.push(b']');
    if !is_first_hash_scheme(&body.hash_scheme) {
        out.extend_from_slice(b",\"hash_scheme\":");
        number(out, body.hash_scheme.into(), canon);
    }
    out.extend_from_slice(b",\"recorded_at\":");
    write_json(out, &body.recorded_at);
    out.extend_from_slice(b",\"tenant\":");
    write_json(out, &body.tenant);
    out.extend_from_slice(b",\"version\":");
    number(out, body.version, canon);
    out.push(b'}');
}

/// A string, id, time or scalar as serde_json writes it: what both schemes write for them.
fn write_json(out: &mut Vec<u8>, value: &impl Serialize) {
    serde_json::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
}

fn write_canonical(value: &Value, canon: Canon, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            match canon {
                Canon::FirstScheme => entries.sort_unstable_by(|a, b| a.0.cmp(b.0)),
                Canon::Jcs => {
                    entries.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()))
                }
            }
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, key);
                out.push(b':');
                write_canonical(item, canon, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, canon, out);
            }
            out.push(b']');
        }
        Value::Number(number) if matches!(canon, Canon::Jcs) => {
            // Every JSON number is a double to ECMAScript, integers too; a Value holds no NaN
            // and no infinity.
            let double = number.as_f64().expect("a JSON number reads as a double");
            out.extend_from_slice(ryu_js::Buffer::new().format_finite(double).as_bytes());
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            write_json(out, value);
        }
    }
}

impl Commit {
    /// Whether the stored hash is the hash of what the commit says.
    pub fn hash_holds(&self) -> bool {
        chain_hash(&self.prev_hash, &self.body).as_ref() == Some(&self.hash)
    }
}

/// Where a case's chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("case {case_id}, version {version}: {reason}")]
pub struct ChainError {
    pub case_id: Uuid,
    pub version: u64,
    pub reason: &'static str,
}

/// Checks one case's commits, in order: versions 1, 2, 3, … each linked to the one before and each
/// hash matching its content. Proves that no commit was altered, dropped or reordered.
pub fn verify_chain<'a>(commits: impl IntoIterator<Item = &'a Commit>) -> Result<(), ChainError> {
    let mut prev = ChainHash::genesis();
    let mut case = None;
    for (expected, commit) in (1u64..).zip(commits) {
        let b = &commit.body;
        let err = |reason| ChainError {
            case_id: b.case_id,
            version: b.version,
            reason,
        };
        if *case.get_or_insert(b.case_id) != b.case_id {
            return Err(err("commit of another case in the chain"));
        }
        if b.version != expected {
            return Err(err("version out of sequence"));
        }
        if commit.prev_hash != prev {
            return Err(err("does not link to the previous commit"));
        }
        if !commit.hash_holds() {
            return Err(err("hash does not match the content"));
        }
        prev = commit.hash.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::commit;

    fn chain(n: u64) -> Vec<Commit> {
        let case = Uuid::now_v7();
        let mut prev = ChainHash::genesis();
        (1..=n)
            .map(|v| {
                let c = commit("t1", case, v, prev.clone());
                prev = c.hash.clone();
                c
            })
            .collect()
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":1,"y":2}],"c":"网格"}}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"a":{"c":"网格","d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn a_chain_verifies_and_any_alteration_breaks_it() {
        let commits = chain(4);
        verify_chain(&commits).unwrap();

        let mut altered = commits.clone();
        altered[1].body.events[0].data = serde_json::json!({"note": "rewritten"});
        assert_eq!(
            verify_chain(&altered).unwrap_err().reason,
            "hash does not match the content"
        );

        let mut dropped = commits.clone();
        dropped.remove(2);
        assert_eq!(verify_chain(&dropped).unwrap_err().version, 4);

        let mut swapped = commits;
        swapped.swap(0, 1);
        assert!(verify_chain(&swapped).is_err());
    }

    #[test]
    fn commits_of_the_first_scheme_verify_under_it_and_name_no_scheme() {
        let mut prev = ChainHash::genesis();
        let case = Uuid::now_v7();
        let commits: Vec<Commit> = (1..=3)
            .map(|v| {
                let mut body = commit("t1", case, v, prev.clone()).body;
                body.hash_scheme = FIRST_HASH_SCHEME;
                let c = body.seal(prev.clone());
                prev = c.hash.clone();
                c
            })
            .collect();
        verify_chain(&commits).unwrap();
        let wire = serde_json::to_value(&commits[0]).unwrap();
        assert!(wire.get("hash_scheme").is_none(), "{wire}");
        let back: Commit = serde_json::from_value(wire).unwrap();
        assert_eq!(back.body.hash_scheme, FIRST_HASH_SCHEME);
        assert!(back.hash_holds());
        // Relabelled as the new scheme, the same content no longer matches its hash.
        let mut relabelled = back;
        relabelled.body.hash_scheme = HASH_SCHEME;
        assert!(!relabelled.hash_holds());
    }

    #[test]
    fn the_hash_is_sha256_of_the_previous_hash_and_the_body_in_jcs() {
        let mut body = commit("t1", Uuid::nil(), 1, ChainHash::genesis()).body;
        // What RFC 8785 orders or writes differently from the first scheme: a key outside the
        // Basic Multilingual Plane sorts by its UTF-16 units, before keys from U+E000 up (by UTF-8
        // bytes it sorts after them); numbers are written as ECMAScript writes them.
        body.events[0].data = serde_json::json!({
            "\u{1F600}": 1, "\u{FB33}": 2, "lat": 39.904_211_000_000_01, "n": 1.0, "big": 1e21,
        });
        let c = body.seal(ChainHash::genesis());
        let wire = serde_json::to_value(&c).unwrap();
        assert_eq!(wire["hash_scheme"], 2);
        let mut hashed = wire.clone();
        let map = hashed.as_object_mut().unwrap();
        map.remove("hash");
        map.remove("prev_hash");
        let jcs = serde_json_canonicalizer::to_string(&hashed).unwrap();
        assert!(
            jcs.contains(
                "\"data\":{\"big\":1e+21,\"lat\":39.90421100000001,\"n\":1,\"\u{1F600}\":1,\"\u{FB33}\":2}"
            ),
            "{jcs}"
        );
        let expected = hex::encode(Sha256::digest(
            [ChainHash::genesis().as_str().as_bytes(), jcs.as_bytes()].concat(),
        ));
        assert_eq!(c.hash.as_str(), expected);
        // Read back from its text, floats and all, it still verifies.
        let back: Commit = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert!(back.hash_holds());
    }

    /// JSON values with what JCS is particular about: keys inside and outside the Basic
    /// Multilingual Plane and from U+E000 up, escapes, integers beyond 2^53, doubles of every
    /// magnitude.
    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let text = text();
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            text.clone().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(text.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Short strings of what JSON escapes or JCS sorts with care: controls, quotes, backslashes,
    /// characters outside the Basic Multilingual Plane and from U+E000 up, and any other.
    fn text() -> impl proptest::strategy::Strategy<Value = String> + Clone {
        use proptest::prelude::*;
        prop::collection::vec(
            prop_oneof![
                Just('a'),
                Just('Z'),
                Just('/'),
                Just('"'),
                Just('\\'),
                Just('\u{7f}'),
                Just('\u{2028}'),
                Just('网'),
                Just('\u{E000}'),
                Just('\u{FB33}'),
                Just('\u{FFFF}'),
                Just('\u{10000}'),
                Just('\u{1F600}'),
                (0u8..0x20).prop_map(char::from),
                any::<char>(),
            ],
            0..6,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>())
    }

    proptest::proptest! {
        #[test]
        fn jcs_is_written_as_the_reference_implementation_writes_it(value in json()) {
            let mut ours = Vec::new();
            write_canonical(&value, Canon::Jcs, &mut ours);
            let reference = serde_json_canonicalizer::to_vec(&value).unwrap();
            proptest::prop_assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(reference).unwrap()
            );
        }
    }

    /// Commit bodies with `text()` in their strings, optional fields present or not, either
    /// scheme, any numbers, and event data as `json()` makes it. A field added to `CommitBody`
    /// must be generated here, optional ones present as well as absent.
    fn bodies() -> impl proptest::strategy::Strategy<Value = CommitBody> {
        use proptest::prelude::*;
        let event = (text(), any::<u32>(), json()).prop_map(|(event_type, v, data)| EventRecord {
            event_type,
            schema_version: v,
            data,
        });
        let ids = (
            any::<u128>(),
            any::<u128>(),
            any::<u128>(),
            any::<Option<u128>>(),
        );
        (
            (
                prop_oneof![Just(FIRST_HASH_SCHEME), Just(HASH_SCHEME), any::<u32>()],
                ids,
            ),
            (text(), text(), any::<u64>()),
            prop::collection::vec(event, 0..4),
            (text(), text(), proptest::option::of(text()), text(), text()),
            (0i64..4_000_000_000, 0i32..1_000_000_000),
        )
            .prop_map(
                |(
                    (hash_scheme, (commit, case, correlation, causation)),
                    (tenant, case_kind, version),
                    events,
                    (id, role, unit, name, request_hash),
                    (seconds, nanos),
                )| CommitBody {
                    hash_scheme,
                    commit_id: Uuid::from_u128(commit),
                    tenant,
                    case_id: Uuid::from_u128(case),
                    case_kind,
                    version,
                    events,
                    actor: Actor { id, role, unit },
                    command: CommandInfo { name, request_hash },
                    correlation_id: Uuid::from_u128(correlation),
                    causation_id: causation.map(Uuid::from_u128),
                    recorded_at: Timestamp::new(seconds, nanos).unwrap(),
                },
            )
    }

    proptest::proptest! {
        #[test]
        fn a_body_is_written_as_its_json_value_is_written(body in bodies()) {
            let value = serde_json::to_value(&body).unwrap();
            for canon in [Canon::FirstScheme, Canon::Jcs] {
                let mut direct = Vec::new();
                write_body(&body, canon, &mut direct);
                let mut through_value = Vec::new();
                write_canonical(&value, canon, &mut through_value);
                proptest::prop_assert_eq!(
                    String::from_utf8(direct).unwrap(),
                    String::from_utf8(through_value).unwrap()
                );
            }
        }
    }

    /// A commit body with every field set, as the log holds one.
    fn fixed_body() -> CommitBody {
        CommitBody {
            hash_scheme: HASH_SCHEME,
            commit_id: "01a24d3c-7b2e-7c11-9a6f-3f0c2d4e5a61".parse().unwrap(),
            tenant: "jiedao-1".to_owned(),
            case_id: "01a24d3c-7b2e-7c11-9a6f-3f0c2d4e5a62".parse().unwrap(),
            case_kind: "hazard".to_owned(),
            version: 2,
            events: vec![EventRecord {
                event_type: "hazard.reported".to_owned(),
                schema_version: 1,
                data: serde_json::json!({
                    "地点": {"lat": 39.9042, "lon": 116.4074}, "\u{1F600}": [1, -2, 3.5e-7, 1e21],
                    "note": "第一行\n\"引号\" / \u{2028}", "count": 9_007_199_254_740_993u64,
                    "\u{FB33}": null, "empty": {}, "none": [], "ok": true,
                }),
            }],
            actor: Actor {
                id: "grid-worker-7".to_owned(),
                role: "grid_worker".to_owned(),
                unit: Some("street-office".to_owned()),
            },
            command: CommandInfo {
                name: "report".to_owned(),
                request_hash: "ab".repeat(32),
            },
            correlation_id: "01a24d3c-7b2e-7c11-9a6f-3f0c2d4e5a63".parse().unwrap(),
            causation_id: Some("01a24d3c-7b2e-7c11-9a6f-3f0c2d4e5a64".parse().unwrap()),
            recorded_at: "2026-12-06T06:40:00.123456Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_commit_body_hashes_over_the_reference_jcs() {
        let body = fixed_body();
        let c = body.clone().seal(ChainHash::genesis());
        let expected = hex::encode(Sha256::digest(
            [
                ChainHash::genesis().as_str().as_bytes(),
                &serde_json_canonicalizer::to_vec(&body).unwrap(),
            ]
            .concat(),
        ));
        assert_eq!(c.hash.as_str(), expected);
    }

    /// The hash of the body above as releases before this writer sealed it (through
    /// `serde_json_canonicalizer`): logs already written must verify for ever.
    #[test]
    fn a_commit_hashes_as_earlier_releases_hashed_it() {
        let c = fixed_body().seal(ChainHash::genesis());
        assert_eq!(
            c.hash.as_str(),
            "b2e13a08e78c6ca80de162cac3f16cd7849f51a214a18b62c70824bdaccc99a0"
        );
    }

    /// A body of the first scheme, every field set, hashes as `canonical_json` (the first
    /// scheme's writer of any JSON value) writes the body's `Value`.
    #[test]
    fn a_first_scheme_body_hashes_over_its_canonical_json() {
        let mut body = fixed_body();
        body.hash_scheme = FIRST_HASH_SCHEME;
        let c = body.clone().seal(ChainHash::genesis());
        let expected = hex::encode(Sha256::digest(
            [
                ChainHash::genesis().as_str().as_bytes(),
                &canonical_json(&serde_json::to_value(&body).unwrap()),
            ]
            .concat(),
        ));
        assert_eq!(c.hash.as_str(), expected);
    }

    #[test]
    fn a_commit_hashes_the_same_after_a_round_trip_through_json() {
        let c = chain(1).remove(0);
        let back: Commit = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert!(back.hash_holds());
        assert_eq!(back, c);
    }
}
