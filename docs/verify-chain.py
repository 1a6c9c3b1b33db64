#!/usr/bin/env python3
"""Checks one case's hash chain, as `docket export-chain CASE` prints it, without Docket.

    docket export-chain CASE --tenant T | python3 verify-chain.py

Needs PyPI's `rfc8785` (any RFC 8785 implementation will do). Exits 0 and says how many commits
hold, or 1 naming the first version that does not.
"""
import hashlib
import json
import sys

import rfc8785


def canonical(body):
    scheme = body.get("hash_scheme", 1)
    if scheme == 2:
        return rfc8785.dumps(body)
    if scheme == 1:
        # The first scheme: keys sorted, no whitespace, non-ASCII as is.
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    raise ValueError(f"hash scheme {scheme} is not known to this script")


prev = "0" * 64
version = 0
for line in sys.stdin:
    commit = json.loads(line)
    version += 1
    body = {k: v for k, v in commit.items() if k not in ("prev_hash", "hash")}
    problem = None
    if commit["version"] != version:
        problem = f"version {commit['version']} where {version} should be"
    elif commit["prev_hash"] != prev:
        problem = "does not link to the commit before it"
    elif hashlib.sha256(prev.encode() + canonical(body)).hexdigest() != commit["hash"]:
        problem = "its hash is not the hash of its content: it was altered"
    if problem:
        sys.exit(f"version {version}: {problem}")
    prev = commit["hash"]
print(f"the chain holds: {version} commits, the last hash {prev}")
