// Where a resumable stream is and how it comes back after a dropped
// connection: its resume point `<stream id>.<packets received>` (the one
// parser of it, shared with share.js), the backoff with jitter between
// attempts, and the guard against a server that drops every connection after
// one new packet.

/**
 * Connections in a row that may drop after one new packet each before a
 * resumable stream gives up: such a server could be followed for ever.
 */
export const MAX_SHORT_CONNECTIONS = 10;

/** How a resumable stream reconnects unless options.reconnect says otherwise. */
export const DEFAULT_RECONNECT = Object.freeze({ retries: 8, delay: 500, maxDelay: 15_000 });

/**
 * A resume point `<id>.<count>` (an SSE event id, or `lastEventId()`) as
 * `{ id, count }`; `count` is NaN when the text has none.
 */
export function parseResumePoint(point) {
  const text = String(point);
  const dot = text.indexOf('.');
  const count = dot < 0 ? '' : text.slice(dot + 1);
  return { id: dot < 0 ? text : text.slice(0, dot), count: /^\d+$/.test(count) ? Number(count) : NaN };
}

/**
 * How many packets a progress packet holding `data` counts as: a feed's skip
 * marker, `{"rivulet":"skipped","missed":n}`, stands for the `n` packets it
 * replaces (its SSE id is the number of the last of them); any other value
 * is one packet.
 */
export function packetsIn(data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return 1;
  const keys = Object.keys(data);
  const marker =
    keys.length === 2 && data.rivulet === 'skipped' && Number.isSafeInteger(data.missed) && data.missed >= 0;
  return marker ? data.missed : 1;
}

// options.reconnect: true (the default), false, or {retries, delay, maxDelay}.
function reconnectOptions(option) {
  if (option === false) return null;
  const chosen = { ...DEFAULT_RECONNECT, ...(typeof option === 'object' && option) };
  for (const key of Object.keys(DEFAULT_RECONNECT)) {
    if (!(chosen[key] >= 0)) throw new TypeError(`createStream: reconnect.${key} must be a number >= 0`);
  }
  return chosen;
}

/**
 * The resume state of one stream: its id (from Rivulet-Stream-Id, or the
 * point it was asked to resume from) and the packets received over all its
 * connections. `fresh` counts the new packets of the current connection,
 * `short` the connections in a row that dropped after one new packet.
 */
export function createResume(reconnectOption, lastEventId) {
  const reconnect = reconnectOptions(reconnectOption);
  const resume = {
    id: undefined,
    received: 0,
    attempt: 0,
    fresh: 0,
    short: 0,
    timer: undefined,
    from(point) {
      const { id, count } = parseResumePoint(point);
      resume.id = id;
      resume.received = count || 0;
    },
    /**
     * Learns from a response where it starts: `Rivulet-Resume-Point` (the
     * point its first packet follows: a feed joined live starts after its
     * last packet), or else `Rivulet-Stream-Id`.
     */
    response(getHeader) {
      const start = parseResumePoint(getHeader('Rivulet-Resume-Point') || '');
      if (/^[0-9a-f]{32}$/i.test(start.id) && Number.isSafeInteger(start.count)) {
        resume.id = start.id;
        resume.received = start.count;
      } else {
        resume.id = getHeader('Rivulet-Stream-Id') || resume.id;
      }
    },
    /** `<id>.<received>`, or undefined for a stream that is not resumable. */
    point: () => (resume.id ? `${resume.id}.${resume.received}` : undefined),
    /**
     * Counts a packet that came with the SSE id `eventId` (or none), holding
     * `data` if a progress packet; false when the client has it already (a
     * server may send it again).
     */
    count(eventId, data) {
      const { count } = eventId === undefined ? {} : parseResumePoint(eventId);
      if (Number.isSafeInteger(count)) {
        if (count <= resume.received) return false;
        resume.received = count;
      } else {
        resume.received += data === undefined ? 1 : packetsIn(data);
      }
      resume.attempt = 0;
      resume.fresh += 1;
      return true;
    },
    /**
     * After a dropped connection: undefined when not to try again, `{ wait }`
     * (ms, with jitter) before the next attempt, or `{ fail }` with the
     * reason to give up.
     */
    next() {
      if (!resume.id || !reconnect || resume.attempt >= reconnect.retries) return undefined;
      // A connection that brought nothing is counted by the attempts.
      if (resume.fresh === 1) resume.short += 1;
      else if (resume.fresh > 1) resume.short = 0;
      resume.fresh = 0;
      if (resume.short >= MAX_SHORT_CONNECTIONS) {
        return { fail: `the server dropped ${resume.short} connections in a row after one packet each` };
      }
      resume.attempt += 1;
      const ceiling = Math.min(reconnect.maxDelay, reconnect.delay * 2 ** (resume.attempt - 1));
      return { wait: ceiling / 2 + (Math.random() * ceiling) / 2 };
    },
  };
  if (lastEventId) resume.from(lastEventId);
  return resume;
}
