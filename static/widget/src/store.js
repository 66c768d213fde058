// Persistence: one JSON record per bot in localStorage (memory only where storage is blocked) and
// the per-tab open/closed flag in sessionStorage. No DOM; the storages are injected.
//
// The record, localStorage["chatplatform:<key>"]: token (visitor token), conv (conversation id),
// uid (identified user id), seq (highest seq), read (read marker), bot (last welcome.bot),
// outbox ([{client_id, text}] not yet acked), fb ({message_id: rating}), csat (conversation rated),
// ticket (the offline form was sent while the handoff status is `offline`: a reload shows the thanks).

export const storageKey = (key) => 'chatplatform:' + key;

export const createStore = (key, { local = null, session = null } = {}) => {
  const LSK = storageKey(key), SSK = LSK + ':open';
  let mem = {};
  const load = () => { try { const v = local.getItem(LSK); if (v) return JSON.parse(v) || {}; } catch (e) { /* private mode */ } return Object.assign({}, mem); };
  const save = (patch) => { mem = Object.assign(load(), patch); try { local.setItem(LSK, JSON.stringify(mem)); } catch (e) { /* memory only */ } };
  const sGet = () => { try { return session.getItem(SSK); } catch (e) { return null; } };
  const sSet = (v) => { try { session.setItem(SSK, v); } catch (e) { /* ignore */ } };
  return { key: LSK, load, save, sGet, sSet };
};

/** localStorage / sessionStorage, or null where reading the property itself throws (sandboxed frames). */
export const webStorage = (name) => { try { return globalThis[name]; } catch (e) { return null; } };

export const uuid = (c = globalThis.crypto) => (c.randomUUID ? c.randomUUID()
  : Array.from(c.getRandomValues(new Uint8Array(16)), (b, i) => (i === 6 ? (b & 15) | 64 : i === 8 ? (b & 63) | 128 : b).toString(16).padStart(2, '0')).join('').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'));
