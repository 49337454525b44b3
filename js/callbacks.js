// A stream's callbacks, as jQuery's Deferred has them: several per event, run
// in the order added, each called with the stream as `this`; one added after
// its event has fired runs at once with the latest arguments. A throwing
// callback does not break the stream or the other callbacks: its error is
// rethrown from a microtask.

/** Callback lists for the events `names`; `self()` gives the callbacks' `this`. */
export function createCallbacks(names, self) {
  const lists = Object.fromEntries(names.map((name) => [name, []]));
  const latest = {};
  const call = (fn, args) => {
    try {
      fn.apply(self(), args);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  };
  return {
    /** Whether `name` has callbacks. */
    has: (name) => lists[name].length > 0,
    add(name, fns) {
      for (const fn of fns.flat()) {
        if (typeof fn !== 'function') continue;
        lists[name].push(fn);
        if (latest[name]) call(fn, latest[name]);
      }
    },
    fire(name, args) {
      latest[name] = args;
      // A copy: a callback added while firing has already run (see add()).
      for (const fn of lists[name].slice()) call(fn, args);
    },
  };
}
