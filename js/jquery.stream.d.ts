// Types for jquery.stream.js; $.stream's own types are in stream.d.ts.
import type { JQueryStreamStatic } from './stream.js';

/** Adds `stream` to the given jQuery and returns it. */
export declare function install<T extends object>($: T): T & { stream: JQueryStreamStatic };
