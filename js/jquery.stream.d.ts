// Types for jquery.stream.js; $.stream's own types are in stream.d.ts.
import type { JQueryStreamStatic } from './stream.js';

/** Adds `stream` to the given jQuery and returns it. */
export declare function install<T extends object>($: T): T & { stream: JQueryStreamStatic };

/** The most response text a `$.stream` request keeps before it fails (64 Mi characters). */
export declare const DEFAULT_MAX_RESPONSE_SIZE: number;
