// "Verify this case", in the browser: each commit's hash is SHA-256 over the previous commit's
// hash (hex) and the commit's body in canonical JSON, exactly as the server seals it, so what the
// history shows is proven here from the case's commits, not taken on the server's word.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import canonicalize from 'canonicalize';

const GENESIS = '0'.repeat(64);

// The first hash scheme (commits without `hash_scheme`): keys sorted by their UTF-8 bytes,
// strings and numbers as serde_json writes them.
function firstSchemeJson(value) {
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

export function commitHash(prevHash, body) {
  const canonical = body.hash_scheme === undefined ? firstSchemeJson(body) : canonicalize(body);
  return bytesToHex(sha256(utf8ToBytes(prevHash + canonical)));
}

// Checks a case's commits (`GET /v1/cases/{id}/commits`) in order, and that the history shown
// carries the same hashes. Answers `{ok: true, n}` or `{ok: false, version, why}`.
export function verifyChain(commits, history = []) {
  let prev = GENESIS;
  let caseId = null;
  for (let i = 0; i < commits.length; i += 1) {
    const { commit } = commits[i];
    const { hash, prev_hash: prevHash, ...body } = commit;
    const version = body.version;
    caseId ??= body.case_id;
    if (body.case_id !== caseId) return { ok: false, version, why: 'commit of another case in the chain' };
    if (version !== i + 1) return { ok: false, version, why: 'version out of sequence' };
    if (prevHash !== prev) return { ok: false, version, why: 'does not link to the previous commit' };
    if (commitHash(prevHash, body) !== hash) return { ok: false, version, why: 'hash does not match the content' };
    const shown = history.find((h) => h.version === version);
    if (history.length && (!shown || shown.hash !== hash)) {
      return { ok: false, version, why: 'the history shows another hash' };
    }
    prev = hash;
  }
  if (history.length && history.length !== commits.length) {
    return { ok: false, version: commits.length, why: 'the history and the chain differ in length' };
  }
  return { ok: true, n: commits.length };
}
