// Commits as they happen (`GET /v1/events`, server-sent events within the caller's reach): the
// dashboard and the lists refresh themselves. EventSource cannot send a bearer token, so the
// stream is read with fetch; a dropped stream is picked up again after the last id seen.

import { fetchEventSource } from '@microsoft/fetch-event-source';
import { bearer, signOut } from './api.js';

// A stream the server will not open again for this token: its token has expired or was refused.
class Refused extends Error {}

const subscribers = new Set();
const statusListeners = new Set();
let controller = null;
let connected = false;

function setConnected(value) {
  connected = value;
  statusListeners.forEach((f) => f(value));
}

export function isConnected() {
  return connected;
}

export function onStatus(f) {
  statusListeners.add(f);
  return () => statusListeners.delete(f);
}

// Calls `f(commit)` for each commit from now on; answers the function that stops it.
export function onCommit(f) {
  subscribers.add(f);
  return () => subscribers.delete(f);
}

export function startLive() {
  stopLive();
  const token = bearer();
  if (!token) return;
  controller = new AbortController();
  fetchEventSource('/v1/events', {
    headers: { Authorization: `Bearer ${token}` },
    signal: controller.signal,
    openWhenHidden: true,
    async onopen(response) {
      if (response.status === 401 || response.status === 403) throw new Refused(`events: HTTP ${response.status}`);
      if (!response.ok) throw new Error(`events: HTTP ${response.status}`);
      setConnected(true);
    },
    onmessage(message) {
      if (message.event !== 'commit') return;
      let commit = null;
      try {
        commit = JSON.parse(message.data);
      } catch {
        return;
      }
      subscribers.forEach((f) => f(commit));
    },
    onclose() {
      // The server ends a stream when its token expires or it restarts: pick it up again.
      setConnected(false);
      throw new Error('the event stream ended');
    },
    onerror(error) {
      setConnected(false);
      // An expired token is not retried: the official signs in again.
      if (error instanceof Refused) {
        signOut();
        throw error;
      }
      return 2000;
    },
  }).catch(() => setConnected(false));
}

export function stopLive() {
  if (controller) controller.abort();
  controller = null;
  setConnected(false);
}

// Calls `f()` at most once each `ms` while commits arrive, the last time after the last of them,
// for views that reload: a busy office's stream of commits does not become a stream of reloads.
export function onChange(f, ms = 500) {
  let timer = null;
  const stop = onCommit(() => {
    if (timer === null) {
      timer = setTimeout(() => {
        timer = null;
        f();
      }, ms);
    }
  });
  return () => {
    clearTimeout(timer);
    stop();
  };
}
