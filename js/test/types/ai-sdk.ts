// rivulet-client/ai-sdk, type-checked on its own (tsconfig.ai-sdk.json): the
// `ai` package's own declarations need Node's types, which this package does
// not install, so library files are not checked here.

import { RivuletChatTransport } from 'rivulet-client/ai-sdk';
import type { ChatTransport, UIMessage } from 'ai';

function chatUses(): void {
  const transport = new RivuletChatTransport({ api: '/api/chat', headers: { 'x-user': 'me' } });
  const asTransport: ChatTransport<UIMessage> = transport;
  const keepOnUnmount = new RivuletChatTransport({ api: '/api/chat', cancelOnStop: false });
  const cancelled: Promise<boolean> = keepOnUnmount.cancel('chat-1');
  new RivuletChatTransport();
  // @ts-expect-error cancelOnStop is on or off
  new RivuletChatTransport({ cancelOnStop: 'yes' });
  void [asTransport, cancelled];
}
void chatUses;
