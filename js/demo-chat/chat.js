// The demo's chat page (served at /chat): React with the AI SDK's useChat,
// talking to the demo's /api/chat. Bundled by `npm run demo-chat` into
// src/demo/assets/chat.js, which the demo serves; test/demo-chat.test.js
// fails when that file is stale.
//
// Query parameters: `chat` (the chat id; one is made and put in the URL, so a
// reload resumes the same chat), `transport=default` for the AI SDK's stock
// DefaultChatTransport instead of RivuletChatTransport, `delta_ms` (the
// stand-in model's pace). window.chat exposes useChat's state for tests.
import { createElement as h, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport } from 'ai';
import { RivuletChatTransport } from '../ai-sdk.js';

const params = new URLSearchParams(location.search);
let chatId = params.get('chat');
if (!chatId) {
  chatId = `chat-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  params.set('chat', chatId);
  history.replaceState(null, '', `?${params}`);
}
const delta = params.get('delta_ms');
const api = delta === null ? '/api/chat' : `/api/chat?delta_ms=${encodeURIComponent(delta)}`;
const stock = params.get('transport') === 'default';
const transport = stock ? new DefaultChatTransport({ api }) : new RivuletChatTransport({ api });

const textOf = (message) =>
  message.parts
    .filter((part) => part.type === 'text')
    .map((part) => part.text)
    .join('');

function Chat() {
  const { messages, sendMessage, status, stop, error } = useChat({ id: chatId, transport, resume: true });
  const [input, setInput] = useState('');
  window.chat = { status, stop, sendMessage, messages, transport };
  const busy = status === 'submitted' || status === 'streaming';
  const send = (event) => {
    event.preventDefault();
    if (!input.trim() || busy) return;
    sendMessage({ text: input });
    setInput('');
  };
  return h(
    'main',
    { className: 'chat' },
    h(
      'p',
      null,
      stock ? 'Transport: the AI SDK’s DefaultChatTransport (stop only closes the connection). ' : 'Transport: RivuletChatTransport (stop cancels the answer on the server). ',
      h('a', { href: `?transport=${stock ? 'rivulet' : 'default'}` }, stock ? 'Use RivuletChatTransport' : 'Use DefaultChatTransport'),
      ' · reload the page mid-answer: the answer resumes.',
    ),
    h(
      'ol',
      { id: 'messages' },
      messages.map((message) =>
        h('li', { key: message.id, className: `message ${message.role}`, 'data-role': message.role }, textOf(message)),
      ),
    ),
    error && h('p', { id: 'error', role: 'alert' }, error.message),
    h(
      'form',
      { onSubmit: send },
      h('input', {
        id: 'input',
        value: input,
        placeholder: 'Ask the stand-in model',
        onChange: (event) => setInput(event.target.value),
      }),
      h('button', { id: 'send', type: 'submit', disabled: busy }, 'Send'),
      h('button', { id: 'stop', type: 'button', disabled: !busy, onClick: () => stop() }, 'Stop'),
    ),
    h('p', { id: 'status', 'data-status': status }, `status: ${status}`),
  );
}

createRoot(document.getElementById('root')).render(h(Chat));
