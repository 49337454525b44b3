// Compiled (never run) by test/types.test.js: a page that imports only the
// ESM client keeps its own global jQuery type; `stream` is added by
// rivulet-client/jquery alone.
import { createStream } from 'rivulet-client';
import { useStream } from 'rivulet-client/react';

declare global {
  interface JQueryStatic {
    ajax(url: string): unknown;
  }
}

declare const jQuery: JQueryStatic;
jQuery.ajax('/x');
// @ts-expect-error stream.d.ts must not add $.stream to the global jQuery type
jQuery.stream('/stream');
void createStream;
void useStream;
