/* What the scanner keeps on its device: the token and device (localStorage, until sign-out),
   its preferences, the queue of scans made offline, who it let in offline, and the offline
   badge list (Cache Storage: a large event's list does not fit localStorage). Signing out
   clears all of it. */
(function () {
  "use strict";

  var PREFIX = "rollcall.scan.";
  var DATA_CACHE = "rollcall-scan-data";
  var LIST_KEY = "/scan/data/offline-list"; // a name in the cache, never fetched

  function read(name, fallback) {
    try {
      var text = localStorage.getItem(PREFIX + name);
      return text === null ? fallback : JSON.parse(text);
    } catch (error) {
      return fallback;
    }
  }

  function write(name, value) {
    localStorage.setItem(PREFIX + name, JSON.stringify(value));
  }

  var memoryList = null; // where Cache Storage is missing, the list lives for the page's life

  function withIndex(list) {
    if (!list) return null;
    list.byId = new Map(list.badges.map(function (badge) { return [badge.id, badge]; }));
    return list;
  }

  var store = {
    token: function () { return read("token", null); },
    device: function () { return read("device", null); },
    signIn: function (token, device) { write("token", token); write("device", device); },
    setDevice: function (device) { write("device", device); },

    prefs: function () { return read("prefs", {}); },
    setPref: function (name, value) {
      var prefs = read("prefs", {});
      prefs[name] = value;
      write("prefs", prefs);
    },

    queue: function () { return read("queue", []); },
    enqueue: function (scan) {
      var queue = read("queue", []);
      queue.push(scan);
      write("queue", queue);
      return queue.length;
    },
    /** Drops the scans the server has answered (by their ids); returns what is left. */
    dequeue: function (ids) {
      var done = new Set(ids);
      var left = read("queue", []).filter(function (scan) { return !done.has(scan.id); });
      write("queue", left);
      return left;
    },

    inside: function () { return read("inside", {}); },
    setInside: function (inside) { write("inside", inside); },

    /** The cached offline list (with `byId`), or null. */
    list: function () {
      if (memoryList || !window.caches) return Promise.resolve(memoryList);
      return caches
        .open(DATA_CACHE)
        .then(function (cache) { return cache.match(LIST_KEY); })
        .then(function (response) { return response ? response.json() : null; })
        .then(withIndex)
        .catch(function () { return null; });
    },
    /** Keeps a list; an incremental one (`since`) is merged into `previous` by badge id. */
    saveList: function (fresh, previous) {
      var list = fresh;
      if (previous) {
        var merged = new Map(previous.byId);
        fresh.badges.forEach(function (badge) { merged.set(badge.id, badge); });
        list = Object.assign({}, fresh, { badges: Array.from(merged.values()) });
      }
      var plain = Object.assign({}, list);
      delete plain.byId;
      memoryList = window.caches ? null : withIndex(plain);
      if (!window.caches) return Promise.resolve(memoryList);
      return caches
        .open(DATA_CACHE)
        .then(function (cache) {
          var body = new Response(JSON.stringify(plain), { headers: { "Content-Type": "application/json" } });
          return cache.put(LIST_KEY, body);
        })
        .then(function () { return withIndex(plain); });
    },

    /** Forgets everything this device kept: token, queue, presence, the badge list. */
    clear: function () {
      Object.keys(localStorage)
        .filter(function (key) { return key.indexOf(PREFIX) === 0 && key !== PREFIX + "prefs"; })
        .forEach(function (key) { localStorage.removeItem(key); });
      memoryList = null;
      return window.caches ? caches.delete(DATA_CACHE).catch(function () {}) : Promise.resolve();
    },
  };

  window.RollcallStore = store;
})();
