// The browser's chain check against commits hashed by an independent implementation (Python's
// json for the first scheme, PyPI's rfc8785 for the current one): numbers as serde_json writes
// them (116.0, 1e-7), keys outside ASCII, a character outside the BMP. Run by make console-check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseCommits, verifyChain } from '../src/verify.js';

const text = readFileSync(new URL('./chain.json', import.meta.url), 'utf8');

test('a chain of both schemes holds', () => {
  assert.deepEqual(verifyChain(parseCommits(text)), { ok: true, n: 3 });
});

test('a history that says what the commits say agrees, one that does not is named', () => {
  const commits = parseCommits(text);
  const history = commits.map(({ commit }) => ({
    version: commit.version, hash: commit.hash, command: commit.command.name,
    actor: commit.actor, recorded_at: commit.recorded_at, events: commit.events,
  }));
  assert.equal(verifyChain(commits, history).ok, true);
  // Read before the last commit landed: still agrees.
  assert.equal(verifyChain(commits, history.slice(0, 2)).ok, true);
  const altered = history.map((h) => (h.version === 2 ? { ...h, command: 'close' } : h));
  assert.deepEqual(verifyChain(commits, altered), { ok: false, version: 2, why: 'the history shows another action' });
});

test('one changed number, written differently, breaks the first scheme', () => {
  const changed = text.replace('"longitude": 116.0', '"longitude": 116');
  assert.notEqual(changed, text);
  assert.deepEqual(verifyChain(parseCommits(changed)), { ok: false, version: 1, why: 'hash does not match the content' });
});

test('a changed character breaks the current scheme', () => {
  const changed = text.replace('已修复', '已修好');
  assert.deepEqual(verifyChain(parseCommits(changed)), { ok: false, version: 3, why: 'hash does not match the content' });
});
