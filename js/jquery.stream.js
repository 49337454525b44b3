// $.stream(url, options) for pages written for the original jQuery plugin,
// built on stream.js (same transport, same parser).
//
//   <script src="/js/jquery.min.js"></script>
//   <script type="module" src="/rivulet/jquery.stream.js"></script>
//   <script type="module">
//     $.stream('/stream/process')
//       .progress((data) => console.log(data))
//       .done((final) => console.log('done', final))
//       .fail((xhr, errorType, message) => console.error(errorType, message));
//   </script>
//
// Importing this module registers $.stream on window.jQuery when jQuery is
// loaded as a global; with a bundled jQuery call install($) instead.

import { createStream } from './stream.js';

/** Adds `stream` to the given jQuery and returns it. */
export function install($) {
  $.stream = function stream(url, options) {
    if (url !== null && typeof url === 'object' && !(url instanceof URL)) {
      options = url;
      url = options.url;
    }
    const settings = { ...options };
    const method = String(settings.method ?? settings.type ?? 'GET').toUpperCase();
    // jQuery's `data`: a query string for GET and HEAD, a form body otherwise
    // (FormData, Blob and the like are sent as they are).
    if (settings.data != null && settings.body == null) {
      const { data } = settings;
      const encoded = typeof data === 'string' ? data : $.isPlainObject(data) || Array.isArray(data) ? $.param(data) : null;
      if (method === 'GET' || method === 'HEAD') {
        if (encoded) url = String(url) + (String(url).includes('?') ? '&' : '?') + encoded;
      } else {
        settings.body = encoded === null ? data : new URLSearchParams(encoded);
        settings.method = method;
      }
    }
    if (settings.xhrFields?.withCredentials) settings.credentials ??= 'include';
    if (settings.type || settings.method) settings.method = method;

    const client = createStream(url, settings);
    const deferred = $.Deferred();
    const promise = deferred.promise({
      abort() {
        client.abort();
        return promise;
      },
      uploadProgress(...fns) {
        client.uploadProgress(...fns);
        return promise;
      },
    });
    promise.error = promise.fail;
    client
      .progress((data) => deferred.notifyWith(promise, [data]))
      .done((data) => deferred.resolveWith(promise, [data, 'success', client]))
      .error((xhr, errorType, message) => deferred.rejectWith(promise, [xhr, errorType, message]));
    // "Starts at once", but after the caller's chain: an uploadProgress()
    // chained to the call must be known before the request is sent, since it
    // decides the transport (XMLHttpRequest reports upload progress, fetch
    // cannot).
    queueMicrotask(() => client.start());
    return promise;
  };
  return $;
}

if (globalThis.jQuery) install(globalThis.jQuery);
