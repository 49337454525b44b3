// Types of rivulet-client/ai-sdk: RivuletChatTransport for the AI SDK's useChat.
import { DefaultChatTransport, type HttpChatTransportInitOptions, type UIMessage } from 'ai';

/** The options of {@link RivuletChatTransport}: those of `DefaultChatTransport`, and `cancelOnStop`. */
export type RivuletChatTransportOptions<UI_MESSAGE extends UIMessage = UIMessage> =
  HttpChatTransportInitOptions<UI_MESSAGE> & {
    /** As `DefaultChatTransport`'s: a resumed answer starts from its first part. Default true, which is what Rivulet answers `GET {api}/{chatId}/stream` with. */
    resumeStreamIsReplay?: boolean;
    /**
     * Send `DELETE {api}/{chatId}/stream` when useChat aborts a request (its
     * `stop()`, and the stop it makes when its component unmounts), which
     * cancels the answer's job on the server. Default true.
     */
    cancelOnStop?: boolean;
  };

/**
 * A `ChatTransport` for `useChat` that is `DefaultChatTransport`, plus: its
 * stop cancels the answer on the Rivulet server, while a reload or a dropped
 * network keeps the answer resumable (`useChat({ resume: true })`).
 */
export declare class RivuletChatTransport<UI_MESSAGE extends UIMessage = UIMessage> extends DefaultChatTransport<UI_MESSAGE> {
  constructor(options?: RivuletChatTransportOptions<UI_MESSAGE>);
  /** Whether an aborted request cancels its answer on the server. */
  cancelOnStop: boolean;
  /** Cancels the running answer of chat `chatId`: true when one ran (202), false when none did (204). */
  cancel(chatId: string): Promise<boolean>;
}
