// The ticker card: three viewers follow one live feed, each in another wire
// format, and a form publishes to it. Every piece of server data reaches the
// page through textContent.

import { createStream } from '/rivulet/stream.js';

const VIEWERS = [
  ['sse', 'SSE'],
  ['ndjson', 'NDJSON'],
  ['legacy', 'legacy $.stream'],
];
const LOG_LIMIT = 50;

export function buildTickerCard() {
  const card = element('section', { className: 'card ticker' });
  card.dataset.demo = 'ticker';
  card.dataset.state = 'idle';
  const header = element('header');
  header.append(element('h2', { textContent: 'Shared ticker' }), element('code', { className: 'route', textContent: '/stream/ticker' }));
  card.append(
    header,
    element('p', {
      className: 'about',
      textContent:
        'One feed, many viewers: each value published reaches every viewer, in its own wire format. ' +
        'Publish from here, or with curl -X POST -H "content-type: application/json" -d \'{"price": 42}\' on this route; ' +
        'with rivulet demo --redis URL, every demo server on that Redis shares the feed.',
    }),
  );

  const buttons = element('div', { className: 'buttons' });
  const follow = element('button', { type: 'button', textContent: 'Follow' });
  follow.dataset.action = 'start';
  const stop = element('button', { type: 'button', textContent: 'Stop', disabled: true });
  stop.dataset.action = 'abort';
  const state = element('span', { className: 'state', textContent: 'idle' });
  state.setAttribute('role', 'status');
  buttons.append(follow, stop, state);
  card.append(buttons);

  const form = element('form', { className: 'fields publish' });
  const value = element('input', { name: 'value', value: '{"price": 101.25}', size: 28 });
  const publish = element('button', { type: 'submit', textContent: 'Publish' });
  const answer = element('output', { className: 'answer' });
  const label = element('label');
  label.append('JSON value ', value);
  form.append(label, publish, answer);
  card.append(form);

  const viewers = VIEWERS.map(([format, title]) => {
    const box = element('div', { className: 'viewer' });
    box.dataset.format = format;
    const log = element('ol', { className: 'log' });
    log.setAttribute('aria-label', `Packets for the ${title} viewer`);
    box.append(element('h3', { textContent: title }), log);
    card.append(box);
    return { format, log, stream: null };
  });

  const setState = (name) => {
    card.dataset.state = name;
    state.textContent = name;
    follow.disabled = name === 'running';
    stop.disabled = name !== 'running';
  };

  let run = 0; // numbers the follows: endings of a stopped one are ignored

  follow.addEventListener('click', () => {
    const current = ++run;
    // The card runs while any viewer does; once every viewer ended it says
    // how: done, or error when one of them failed.
    let running = viewers.length;
    let failed = false;
    const ended = (error) => {
      failed ||= error;
      running -= 1;
      if (current === run && running === 0) setState(failed ? 'error' : 'done');
    };
    for (const viewer of viewers) {
      viewer.log.replaceChildren();
      viewer.stream = createStream(new URL('/stream/ticker', location.href), { format: viewer.format })
        .progress((data) => append(viewer.log, JSON.stringify(data)))
        .done((final) => {
          append(viewer.log, `done: ${JSON.stringify(final)}`);
          ended(false);
        })
        .error((xhr, errorType, message) => {
          append(viewer.log, message && message !== errorType ? `${errorType}: ${message}` : errorType);
          // Stop asked for it: not a failure, and the card is idle already.
          if (errorType !== 'abort') ended(true);
        })
        .start();
    }
    setState('running');
  });

  stop.addEventListener('click', () => {
    run += 1;
    for (const viewer of viewers) viewer.stream?.abort();
    setState('idle');
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    answer.textContent = '';
    try {
      const response = await fetch('/stream/ticker', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: value.value,
      });
      const body = await response.json();
      answer.textContent = response.ok
        ? `${response.status}: packet ${body.published}`
        : `${response.status}: ${body.error?.message ?? 'refused'}`;
    } catch (error) {
      answer.textContent = `failed: ${error.message}`;
    }
  });

  return card;
}

function element(name, properties = {}) {
  return Object.assign(document.createElement(name), properties);
}

function append(log, text) {
  const item = element('li', { textContent: text });
  log.append(item);
  while (log.childElementCount > LOG_LIMIT) log.firstElementChild.remove();
}
