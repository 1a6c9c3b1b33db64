// "Verify this case", in the browser: each commit's hash is SHA-256 over the previous commit's
// hash (hex) and the commit's body in canonical JSON, exactly as the server seals it, so what the
// history shows is proven here from the case's commits, not taken on the server's word.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import canonicalize from 'canonicalize';
import { isLosslessNumber, parse as parseLossless } from 'lossless-json';

const GENESIS = '0'.repeat(64);

// `GET /v1/cases/{id}/commits` as text → its commits, each with `commit` (numbers as
// JavaScript reads them, for RFC 8785) and `written` (numbers as the log wrote them, for the first
// scheme: serde_json's `116.0` is not JavaScript's `116`).
export function parseCommits(text) {
  const plain = JSON.parse(text).commits;
  const written = parseLossless(text).commits;
  return plain.map((c, i) => ({ ...c, written: written[i].commit }));
}

// The first hash scheme (commits without `hash_scheme`): keys sorted by their UTF-8 bytes,
// strings and numbers as serde_json writes them.
function firstSchemeJson(value) {
  if (isLosslessNumber(value)) return value.value;
  if (Array.isArray(value)) return `[${value.map(firstSchemeJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const encoder = new TextEncoder();
    const keys = Object.keys(value).sort((a, b) => {
      const x = encoder.encode(a);
      const y = encoder.encode(b);
      for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
        if (x[i] !== y[i]) return x[i] - y[i];
      }
      return x.length - y.length;
    });
    return `{${keys.map((k) => `${JSON.stringify(k)}:${firstSchemeJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function withoutHashes(commit) {
  const { hash, prev_hash: prevHash, ...body } = commit;
  return body;
}

// The hash of one commit as the log holds it (`written`: numbers as written, which the first
// scheme needs; the plain reading otherwise).
export function commitHash(commit, written = commit) {
  const canonical = commit.hash_scheme === undefined
    ? firstSchemeJson(withoutHashes(written))
    : canonicalize(withoutHashes(commit));
  return bytesToHex(sha256(utf8ToBytes(commit.prev_hash + canonical)));
}

// What the history shows of a commit against what the commit says.
function differs(shown, commit) {
  if (shown.hash !== commit.hash) return 'the history shows another hash';
  if (shown.command !== commit.command.name) return 'the history shows another action';
  if (shown.actor.id !== commit.actor.id || shown.actor.role !== commit.actor.role) return 'the history shows another actor';
  if (Date.parse(shown.recorded_at) !== Date.parse(commit.recorded_at)) return 'the history shows another time';
  const events = (e) => e.map((x) => x.type).join(',');
  if (events(shown.events) !== events(commit.events)) return 'the history shows other events';
  return null;
}

// Checks a case's commits (`parseCommits`) in order, and that the history shown says what they
// say. A commit recorded after the history was read has no row to compare. Answers
// `{ok: true, n}` or `{ok: false, version, why}`.
export function verifyChain(commits, history = []) {
  let prev = GENESIS;
  let caseId = null;
  for (let i = 0; i < commits.length; i += 1) {
    const { commit, written } = commits[i];
    const { version } = commit;
    caseId ??= commit.case_id;
    if (commit.case_id !== caseId) return { ok: false, version, why: 'commit of another case in the chain' };
    if (version !== i + 1) return { ok: false, version, why: 'version out of sequence' };
    if (commit.prev_hash !== prev) return { ok: false, version, why: 'does not link to the previous commit' };
    if (commitHash(commit, written) !== commit.hash) return { ok: false, version, why: 'hash does not match the content' };
    const shown = history.find((h) => h.version === version);
    if (shown) {
      const why = differs(shown, commit);
      if (why) return { ok: false, version, why };
    } else if (version <= history.length) {
      return { ok: false, version, why: 'the history leaves this commit out' };
    }
    prev = commit.hash;
  }
  if (history.length > commits.length) {
    return { ok: false, version: commits.length + 1, why: 'the history shows a commit the chain does not hold' };
  }
  return { ok: true, n: commits.length };
}
