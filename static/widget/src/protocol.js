// The WebSocket protocol's constants, in one place. docs/protocol.md is the reference;
// static/widget/test/protocol-doc.test.mjs fails when this file and that page disagree.

/** `v` of `hello` / `welcome` (v2: the conversation starts with the first message). */
export const PROTOCOL_VERSION = 2;

/**
 * Close codes the server uses (docs/protocol.md, "Close codes"). REFUSED: origin/bot refused, stop
 * reconnecting, "chat not available"; POLICY: repeated abuse, wait at least POLICY_WAIT_MS;
 * TOO_LARGE: frame too large, reconnect normally. (Comments up here stay out of the bundle.)
 */
export const CLOSE = Object.freeze({ REFUSED: 4403, POLICY: 1008, TOO_LARGE: 1009 });

/** The code the widget closes its own sockets with (private range, not sent by the server). */
export const CLIENT_CLOSE = 4000;

export const PING_MS = 25000; // ping every 25 s
export const DEAD_MS = 65000; // a socket that delivered no frame for 65 s is dead
export const STALL_MS = 20000; // an awaited reply with no sign of it for 20 s is asked for with `resume`
export const BACKOFF_BASE_MS = 500; // min(CAP, 0.5 s * 2^attempt) * random(0.5..1)
export const BACKOFF_CAP_MS = 15000;
export const REFUSED_CAP_MS = 60000; // cap once it has failed REFUSED_AFTER times without ever connecting
export const REFUSED_AFTER = 7;
export const POLICY_WAIT_MS = 60000;
export const MAX_ATTEMPT = 10;
export const RETRY_DEFAULT_MS = 3000; // a refused hello without retry_after: say it again after 3 s...
export const RETRY_JITTER_MS = 1000; // ... plus up to 1 s

/** The reconnect delay before try number `attempt` (0-based); `rnd` is in [0, 1). */
export const backoff = (attempt, everOpened, rnd) => {
  const cap = !everOpened && attempt >= REFUSED_AFTER ? REFUSED_CAP_MS : BACKOFF_CAP_MS;
  return Math.min(cap, BACKOFF_BASE_MS * 2 ** attempt) * (0.5 + rnd * 0.5);
};

/**
 * The wait before saying `hello` again after `rate_limited` / `unavailable` (`retryAfter` seconds, may
 * be missing): at least retry_after, growing like the backoff over `attempt` consecutive refusals, plus
 * random(0..1) s so that widgets refused together (Redis down) do not come back together.
 */
export const retryDelay = (retryAfter, attempt, rnd) =>
  Math.max(retryAfter >= 1 ? retryAfter * 1000 : RETRY_DEFAULT_MS, backoff(attempt, true, 1)) + rnd * RETRY_JITTER_MS;
