// A small reproduction of the original Hazaar jQuery `$.stream` plugin's
// behaviour, written from docs/protocol.md's legacy section and the Hazaar
// documentation, for tests/browser/jquery-compare.test.js to hold ours against.
// Not shipped; not a client anyone should use (it keeps one callback of each
// kind, reads the body only as the legacy framing, and calls `done` even after
// an HTTP error, as the original does).
//
// What it does, as the original:
// * goes through jQuery.ajax with the page's options, replacing `beforeSend`
//   with one that sets `X-Request-Type: stream`, and supplying the
//   XMLHttpRequest itself;
// * on every progress event, delivers each complete `<hex length> NUL <type>
//   <payload>` packet to the progress callback as (packet, undefined, jqXHR);
// * when the response ends, reads the final `NUL <type> <payload>`: type `e`
//   sets jqXHR.responseJSON to the parsed payload and calls the error callback
//   with (jqXHR, 'error', 'Internal Error'); anything else calls the done
//   callback with the payload (parsed for type `a`);
// * jQuery's own failures (HTTP errors, abort) reach the error callback as
//   jQuery reports them.

window.installHazaarOriginal = function installHazaarOriginal(jQuery) {
  jQuery.stream = function (url, options) {
    if (typeof url === 'object') {
      options = url;
      url = options.url;
    }
    var handlers = {};
    var offset = 0;
    var request;
    // The next complete packet after `offset`, or null.
    function nextPacket() {
      var text = request.responseText;
      var nul = text.indexOf('\0', offset);
      if (nul <= offset) return null;
      var length = parseInt(text.substring(offset, nul), 16);
      var type = text.charAt(nul + 1);
      var payload = text.substr(nul + 2, length);
      if (payload.length < length) return null;
      offset = nul + 2 + length;
      return type === 'a' ? JSON.parse(payload) : payload;
    }
    function finalPacket() {
      var text = request.responseText;
      var type = text.charAt(offset + 1);
      var payload = text.substring(offset + 2);
      return { type: type, value: type === 'a' || type === 'e' ? JSON.parse(payload) : payload };
    }
    var ajax = jQuery.ajax(
      url,
      jQuery.extend(options, {
        beforeSend: function (x) {
          x.setRequestHeader('X-Request-Type', 'stream');
        },
        xhr: function () {
          request = new XMLHttpRequest();
          request.upload.onprogress = function (event) {
            if (handlers.uploadProgress) handlers.uploadProgress(event);
          };
          request.onprogress = function (event) {
            var packet;
            while ((packet = nextPacket()) !== null) {
              if (handlers.progress) handlers.progress(packet, event.statusText, ajax);
            }
          };
          request.onloadend = function (event) {
            var last = finalPacket();
            if (last.type === 'e') {
              ajax.responseJSON = last.value;
              if (handlers.error) handlers.error(ajax, 'error', 'Internal Error');
            } else if (handlers.done) {
              handlers.done(last.value, event.statusText, ajax);
            }
          };
          return request;
        },
      }),
    );
    ['uploadProgress', 'progress', 'done', 'error'].forEach(function (name) {
      ajax[name] = function (fn) {
        handlers[name] = fn;
        return this;
      };
    });
    ajax.fail(function (x, status, statusText) {
      if (handlers.error) handlers.error(x, status, statusText);
    });
    return ajax;
  };
};
