// The page the React hook tests run (bundled by react.test.js with esbuild,
// React in development mode so StrictMode mounts every component twice).
// window.mountHooks(list) renders one component per entry, under StrictMode:
// {kind: 'stream' | 'feed', id, url, options}; each shows its hook's state as
// JSON in <pre id=…> with data-status, and window.hooks[id] is the hook's
// latest return value (for start, abort, cancel).

import { StrictMode, createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { useStream, useFeed } from '../../js/react.js';

window.hooks = {};

const shown = (error) => error && { errorType: error.errorType, message: error.message, status: error.status };

function Job({ id, url, options }) {
  const job = useStream(url, options);
  window.hooks[id] = job;
  const { status, packets, result, error, upload } = job;
  return h('pre', { id, 'data-status': status }, JSON.stringify({ status, packets, result, error: shown(error), upload }));
}

function Feed({ id, url, options }) {
  const feed = useFeed(url, options);
  window.hooks[id] = feed;
  const { status, value, history, error } = feed;
  return h('pre', { id, 'data-status': status }, JSON.stringify({ status, value, history, error: shown(error) }));
}

const root = createRoot(document.getElementById('root'));

window.mountHooks = (list) =>
  root.render(h(StrictMode, null, list.map((props) => h(props.kind === 'feed' ? Feed : Job, { key: props.id, ...props }))));

window.unmountHooks = () => root.render(null);
