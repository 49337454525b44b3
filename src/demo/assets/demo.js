// The demo page: one card per stream route, built from the table below. Every
// piece of server data reaches the page through textContent.

import { createStream } from '/rivulet/stream.js';
import { buildTickerCard } from '/assets/ticker.js';

const LOG_LIMIT = 200; // the feed never ends; keep the page small

const DEMOS = [
  {
    name: 'test',
    title: 'Counting',
    path: '/stream',
    about: 'The first seed example: "Starting stream test", then i=1 to i=10, one a second.',
    bars: { packets: () => 11 },
  },
  {
    name: 'status',
    title: 'An object packet',
    path: '/stream/status',
    about: 'One object with a status, a count and a list.',
  },
  {
    name: 'process',
    title: 'Batch process',
    path: '/stream/process',
    about: 'A progress packet every 10 items, then a final summary. Try -1 items for an HTTP 422 before the stream begins.',
    fields: [{ name: 'items', label: 'Items', type: 'number', value: '100' }],
    bars: { packets: (query) => Math.floor(Number(query.items) / 10) + 1 },
  },
  {
    name: 'job',
    title: 'Job with a count',
    path: '/stream/job',
    about: 'Progress as {"current": k, "total": n}, the shape `rivulet watch` draws a bar for.',
    fields: [{ name: 'items', label: 'Items', type: 'number', value: '30' }],
    bars: { packets: (query) => Number(query.items) },
  },
  {
    name: 'durable',
    title: 'Resumable job',
    path: '/stream/durable',
    about:
      'The batch process as a resumable stream: the job outlives its connection. Drop the connection, or reload the page mid-job: the card resumes from its last packet (kept in sessionStorage) and the job goes on with nothing lost or repeated.',
    fields: [{ name: 'items', label: 'Items', type: 'number', value: '100' }],
    bars: { packets: (query) => Math.floor(Number(query.items) / 10) + 1 },
    resumable: true,
  },
  {
    name: 'risky',
    title: 'Risky process',
    path: '/stream/riskyProcess',
    about: 'Fails half of the time with an error packet, or as chosen.',
    fields: [{ name: 'fail', label: 'Fail', options: [['', 'at random'], ['1', 'yes'], ['0', 'no']] }],
  },
  {
    name: 'types',
    title: 'Every JSON type',
    path: '/stream/types',
    about: 'A string, integer, float, array, object, boolean, null and non-ASCII text; the final packet holds them all.',
    bars: { packets: () => 8 },
    describe: (data) => `${data === null ? 'null' : Array.isArray(data) ? 'array' : typeof data} ${JSON.stringify(data)}`,
  },
  {
    name: 'feed',
    title: 'Live feed',
    path: '/stream/feed',
    about: 'A packet per interval until you abort: the server sees the handler cancelled.',
  },
  {
    name: 'render',
    title: 'Progressive rendering',
    path: '/stream/render',
    about: 'A table filled row by row as the packets arrive.',
    fields: [{ name: 'rows', label: 'Rows', type: 'number', value: '20' }],
    bars: { packets: (query) => Number(query.rows) },
    table: ['Row', 'Item', 'Square', 'Square root'],
  },
  {
    name: 'upload',
    title: 'Upload and hash',
    path: '/stream/upload',
    about: 'The file is uploaded (upload progress), then hashed on the server (bytes hashed so far), ending with its SHA-256.',
    upload: true,
  },
  {
    name: 'panic',
    title: 'Panicking handler',
    path: '/stream/panic',
    about: 'One packet, then the handler panics: the client gets an error packet with a generic message.',
  },
  {
    name: 'silent',
    title: 'Idle timeout',
    path: '/stream/silent',
    about: 'The server stays silent for a while; the client gives up after its idle timeout.',
    fields: [
      { name: 'after_ms', label: 'Silent for (ms)', type: 'number', value: '3000' },
      { name: 'timeout', label: 'Client timeout (ms)', type: 'number', value: '1000', client: true },
    ],
  },
  {
    name: 'truncated',
    title: 'Truncated stream',
    path: '/stream/truncated',
    about: 'The response ends without a final packet: an error, never a success.',
  },
];

const settingsForm = document.getElementById('settings');
const cards = document.getElementById('cards');

for (const demo of DEMOS) cards.append(buildCard(demo));
cards.append(buildTickerCard());

function buildCard(demo) {
  const card = document.getElementById('card-template').content.firstElementChild.cloneNode(true);
  card.dataset.demo = demo.name;
  card.querySelector('h2').textContent = demo.title;
  card.querySelector('.route').textContent = demo.path;
  card.querySelector('.about').textContent = demo.about;
  const fields = card.querySelector('.fields');
  for (const field of demo.fields ?? []) fields.append(buildField(field));
  if (demo.upload) {
    const input = Object.assign(document.createElement('input'), { type: 'file', name: 'file' });
    fields.append(labelled('File', input));
  }
  if (!fields.childElementCount) fields.remove();

  const bars = card.querySelector('.bars');
  const bar = (label, name) => {
    const element = document.getElementById('bar-template').content.firstElementChild.cloneNode(true);
    element.querySelector('span').textContent = label;
    element.dataset.bar = name;
    bars.append(element);
    return element.querySelector('progress');
  };
  const uploadBar = demo.upload ? bar('Uploaded', 'upload') : null;
  const progressBar = demo.upload ? bar('Hashed', 'progress') : demo.bars ? bar('Packets', 'progress') : null;
  if (!bars.childElementCount) bars.remove();

  let table;
  if (demo.table) {
    table = document.createElement('table');
    const head = table.createTHead().insertRow();
    for (const title of demo.table) head.append(Object.assign(document.createElement('th'), { textContent: title }));
    table.createTBody();
    card.querySelector('.log').before(table);
  }

  const log = card.querySelector('.log');
  const result = card.querySelector('.result');
  const state = card.querySelector('.state');
  const startButton = card.querySelector('[data-action=start]');
  const abortButton = card.querySelector('[data-action=abort]');
  let dropButton = null;
  let cancelButton = null;
  if (demo.resumable) {
    dropButton = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Drop connection', disabled: true });
    dropButton.dataset.action = 'drop';
    abortButton.after(dropButton);
    // Abort only disconnects (the job stays resumable); Cancel stops the job
    // on whichever server runs it.
    cancelButton = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Cancel job', disabled: true });
    cancelButton.dataset.action = 'cancel';
    dropButton.after(cancelButton);
  }
  let stream;

  const setState = (name, text = name) => {
    card.dataset.state = name;
    state.textContent = text;
    startButton.disabled = name === 'running';
    abortButton.disabled = name !== 'running';
    if (dropButton && name !== 'running') dropButton.disabled = true;
    if (cancelButton && name !== 'running') cancelButton.disabled = true;
  };

  // Where a resumable card keeps its job across a page reload.
  const storageKey = `rivulet-demo:${demo.name}`;
  const saved = demo.resumable ? readSaved(storageKey) : null;
  let run = 0; // numbers the streams: callbacks of a dropped one are ignored

  // Runs `url` with `options`; `resumed` continues a job a stream of this
  // card started ({log, received, expected} so far).
  const start = (url, options, { expected = 0, fileSize = 0, resumed = null } = {}) => {
    const current = ++run;
    const live = () => current === run;
    const lines = resumed ? [...resumed.log] : [];
    let received = resumed?.received ?? 0;
    if (!resumed) {
      log.replaceChildren();
      table?.tBodies[0].replaceChildren();
      for (const element of [uploadBar, progressBar]) if (element) element.value = 0;
    }
    result.textContent = '';
    result.className = 'result';
    const save = () => {
      if (!demo.resumable) return;
      const point = stream.lastEventId();
      const entry = { url: String(url), format: options.format, point, log: lines, received, expected };
      try {
        if (point) sessionStorage.setItem(storageKey, JSON.stringify(entry));
      } catch {
        // Storage full or off: the job still runs, it just cannot survive a reload.
      }
    };

    stream = createStream(url, options);
    if (demo.upload) {
      stream.uploadProgress((event) => {
        if (live() && event.lengthComputable) uploadBar.value = event.loaded / event.total;
      });
    }
    stream
      .progress((data) => {
        if (!live()) return;
        received += 1;
        const text = demo.describe ? demo.describe(data) : JSON.stringify(data);
        // The table is the render card's log.
        if (!table) appendLog(log, text);
        lines.push(text);
        if (lines.length > LOG_LIMIT) lines.shift();
        if (demo.upload) progressBar.value = fileSize ? data.bytes / fileSize : 0;
        else if (progressBar && expected > 0) progressBar.value = Math.min(1, received / expected);
        if (table) appendRow(table, data);
        save();
      })
      .done((final) => {
        if (!live()) return;
        sessionStorage.removeItem(storageKey);
        if (progressBar) progressBar.value = 1;
        if (uploadBar) uploadBar.value = 1;
        result.classList.add('ok');
        // A handler that returns nothing ends with a `null` final packet.
        result.textContent = final === null || final === undefined ? 'Done (no final value).' : JSON.stringify(final, null, 2);
        setState('done');
      })
      .error((xhr, errorType, message) => {
        if (!live()) return;
        sessionStorage.removeItem(storageKey);
        if (errorType === 'abort') {
          // Asked for: not a failure.
          result.textContent = 'Aborted.';
          setState('aborted');
          return;
        }
        if (message === 'the stream was cancelled') {
          // The final packet of a job this card (or another client) cancelled.
          result.textContent = 'Cancelled: the job was stopped on the server.';
          setState('cancelled');
          return;
        }
        result.classList.add('failed');
        // The HTTP status only when the server refused before the stream
        // began: an error packet arrives in a 200 response and carries its
        // own status in the detail below.
        const refused = xhr.status && (xhr.status < 200 || xhr.status >= 300);
        const status = refused ? ` (HTTP ${xhr.status})` : '';
        const detail = xhr.responseJSON?.error;
        // "timeout" says it all; no "timeout: timeout".
        const said = message && message !== errorType ? `${errorType}: ${message}` : errorType;
        result.textContent = `${said}${status}` + (detail ? `\n${JSON.stringify(detail, null, 2)}` : '');
        setState('error', errorType);
      })
      .start();
    setState('running', resumed ? `resumed after packet ${resumed.received}` : 'running');
    // Enabled once there is a point to resume from.
    if (dropButton) dropButton.disabled = true;
    if (cancelButton) cancelButton.disabled = true;
    stream.progress(() => {
      if (!live()) return;
      if (dropButton) dropButton.disabled = !stream.lastEventId();
      if (cancelButton) cancelButton.disabled = !stream.lastEventId();
    });
  };

  startButton.addEventListener('click', () => {
    const { query, client } = readFields(fields);
    const url = new URL(demo.path, location.href);
    for (const [name, value] of Object.entries(query)) if (value !== '') url.searchParams.set(name, value);
    const pace = settingsForm.elements.interval_ms.value;
    if (pace !== '') url.searchParams.set('interval_ms', pace);

    const options = { format: settingsForm.elements.format.value };
    if (client.timeout) options.timeout = Number(client.timeout);
    let fileSize = 0;
    if (demo.upload) {
      const file = fields.elements.file.files[0];
      if (!file) {
        result.textContent = 'Choose a file first.';
        return;
      }
      fileSize = file.size;
      options.body = new FormData();
      options.body.append('file', file);
    }
    start(url, options, { expected: demo.bars?.packets(query) ?? 0, fileSize });
  });

  // Closes this connection as a network failure or a reload would, and goes
  // on from the last packet with a new one.
  dropButton?.addEventListener('click', () => {
    const point = stream?.lastEventId();
    const entry = readSaved(storageKey);
    if (!point || !entry) return;
    run += 1; // the old stream's abort is not this card's business
    stream.abort();
    appendLog(log, `— connection dropped after packet ${entry.received}; resuming —`);
    start(entry.url, { format: entry.format, lastEventId: point }, { expected: entry.expected, resumed: entry });
  });

  // DELETE on the stream's own URL with its resume point (docs/protocol.md,
  // "Cancelling"). The connection stays open, so the card shows the final
  // packet every reader of the job gets: "the stream was cancelled".
  cancelButton?.addEventListener('click', async () => {
    const point = stream?.lastEventId();
    const entry = readSaved(storageKey);
    if (!point || !entry) return;
    cancelButton.disabled = true;
    try {
      const answer = await fetch(entry.url, { method: 'DELETE', headers: { 'Last-Event-ID': point } });
      if (answer.status === 202) appendLog(log, '— cancel sent: the job is stopping —');
      else if (answer.status === 204) appendLog(log, '— nothing was running to cancel —');
      else appendLog(log, `— the cancel was refused (HTTP ${answer.status}) —`);
    } catch (error) {
      appendLog(log, `— the cancel could not be sent: ${error.message} —`);
    }
  });

  if (saved) {
    for (const line of saved.log) appendLog(log, line);
    if (progressBar && saved.expected > 0) progressBar.value = Math.min(1, saved.received / saved.expected);
    appendLog(log, `— page reloaded after packet ${saved.received}; resuming —`);
    queueMicrotask(() =>
      start(saved.url, { format: saved.format, lastEventId: saved.point }, { expected: saved.expected, resumed: saved }),
    );
  }

  abortButton.addEventListener('click', () => stream?.abort());
  return card;
}

function readSaved(key) {
  try {
    const entry = JSON.parse(sessionStorage.getItem(key) ?? 'null');
    return entry && typeof entry.point === 'string' && Array.isArray(entry.log) ? entry : null;
  } catch {
    return null; // storage off, or not ours
  }
}

function buildField(field) {
  let input;
  if (field.options) {
    input = document.createElement('select');
    for (const [value, text] of field.options) input.append(new Option(text, value));
  } else {
    input = Object.assign(document.createElement('input'), { type: field.type ?? 'text', value: field.value ?? '' });
  }
  input.name = field.name;
  if (field.client) input.dataset.client = '';
  return labelled(field.label, input);
}

function labelled(text, input) {
  const label = document.createElement('label');
  label.append(`${text} `, input);
  return label;
}

// Query parameters for the server, and the client's own options.
function readFields(form) {
  const query = {};
  const client = {};
  if (!form.isConnected) return { query, client };
  for (const element of form.elements) {
    if (!element.name || element.type === 'file') continue;
    (element.dataset.client === undefined ? query : client)[element.name] = element.value;
  }
  return { query, client };
}

function appendLog(log, text) {
  const item = document.createElement('li');
  item.textContent = text;
  log.append(item);
  while (log.childElementCount > LOG_LIMIT) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

function appendRow(table, data) {
  const row = table.tBodies[0].insertRow();
  row.dataset.row = String(data.row);
  for (const value of [data.row, ...data.cells]) row.insertCell().textContent = String(value);
}
