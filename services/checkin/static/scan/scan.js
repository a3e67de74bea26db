/* The gate scanner page: sign in with the device's token, then each code (camera, keyboard-
   wedge reader, or typed) goes to POST /api/v1/scans and the answer fills the big panel.
   When the network fails (or takes over 2.5 s) the page judges the badge itself (verify.js),
   queues the scan (store.js) and syncs the queue with POST /api/v1/scans/batch once the
   server answers again. */
(function () {
  "use strict";

  var TIMEOUT_MS = 2500;
  var SAME_WEDGE_READ_MS = 1000; // a reader that fires twice on one badge makes one scan
  var PANEL_MS = 6000; // the answer stays until the next scan, or this long
  var LIST_REFRESH_MS = 5 * 60 * 1000;
  var PROBE_MS = 5000; // how often an offline page asks whether the server is back
  var RECENT = 8;

  var data = JSON.parse(document.getElementById("page-data").textContent);
  var store = window.RollcallStore, verifier = window.RollcallVerify;
  var $ = function (id) { return document.getElementById(id); };

  var prefs = store.prefs();
  var lang = data.text[prefs.lang] ? prefs.lang : pickLanguage();
  var device = null, list = null, keys = null;
  var offline = false, probeTimer = null, listTimer = null, panelTimer = null;
  var chain = Promise.resolve(), syncing = false;
  var lastWedge = { key: null, at: 0 };
  var recent = [], verdicts = [], shown = null;
  var camera = new window.RollcallCamera($("video"), function (code) { enqueueScan(code); });
  var audio = null;

  function pickLanguage() {
    var wanted = (navigator.languages || [navigator.language || "en"]).map(function (l) { return l.toLowerCase(); });
    for (var i = 0; i < wanted.length; i++) {
      if (wanted[i].indexOf("zh") === 0) return "zh";
      if (wanted[i].indexOf("en") === 0) return "en";
    }
    return data.lang;
  }

  function t(key, values) {
    var text = data.text[lang][key] || data.text.en[key] || key;
    return text.replace(/\{(\w+)\}/g, function (_, name) {
      return values && values[name] !== undefined && values[name] !== null ? values[name] : "";
    });
  }

  // ---- language ------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = lang === "zh" ? "zh-Hans" : "en";
    document.title = t("page_title");
    document.querySelectorAll("[data-text]").forEach(function (el) { el.textContent = t(el.dataset.text); });
    document.querySelectorAll("[data-label]").forEach(function (el) { el.setAttribute("aria-label", t(el.dataset.label)); });
    document.querySelectorAll("[data-lang]").forEach(function (el) {
      el.setAttribute("aria-pressed", String(el.dataset.lang === lang));
    });
    renderDevice();
    renderAreas();
    renderStatus();
    renderCameraButton();
    renderSound();
    renderRecent();
    renderVerdicts();
    if (shown) renderPanel(shown); else renderIdle();
  }

  document.querySelectorAll("[data-lang]").forEach(function (button) {
    button.addEventListener("click", function () {
      lang = button.dataset.lang;
      store.setPref("lang", lang);
      applyLanguage();
    });
  });

  // ---- the network -----------------------------------------------------------------------

  /** fetch with the device's token and a deadline; rejects on a network failure or timeout. */
  function api(method, url, body, timeout) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, timeout || TIMEOUT_MS);
    var headers = { Authorization: "Bearer " + store.token(), Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      cache: "no-store",
    }).finally(function () { clearTimeout(timer); });
  }

  function errorMessage(response) {
    return response.json().then(
      function (body) { return (body.error && body.error.message) || response.statusText; },
      function () { return response.statusText || String(response.status); }
    );
  }

  function setOffline(value) {
    if (offline === value) return;
    offline = value;
    clearInterval(probeTimer);
    if (offline) probeTimer = setInterval(probe, PROBE_MS);
    renderStatus();
  }

  /** While offline: is the server back? Then sync the queue. */
  function probe() {
    api("GET", data.api.device).then(
      function (response) {
        if (response.status >= 500) return;
        setOffline(false);
        if (response.status === 401) return signedOutByServer();
        sync();
        refreshList();
      },
      function () {}
    );
  }

  window.addEventListener("online", probe);
  window.addEventListener("offline", function () { setOffline(true); });

  // ---- signing in and out --------------------------------------------------------------

  $("sign-in-form").addEventListener("submit", function (event) {
    event.preventDefault();
    unlockAudio();
    var input = $("token"), error = $("token-error"), button = $("sign-in-button");
    var token = input.value.trim();
    error.hidden = true;
    input.removeAttribute("aria-invalid");
    if (!token) return showTokenError("token_required");
    button.disabled = true;
    button.textContent = t("signing_in");
    store.signIn(token, null);
    api("GET", data.api.device, undefined, 8000)
      .then(function (response) {
        if (!response.ok) {
          store.clear();
          return showTokenError(response.status === 401 || response.status === 403 ? "token_rejected" : "token_unreachable");
        }
        return response.json().then(function (found) {
          store.signIn(token, found);
          input.value = "";
          return start(found);
        });
      })
      .catch(function () { store.clear(); showTokenError("token_unreachable"); })
      .finally(function () { button.disabled = false; button.textContent = t("sign_in"); });
  });

  function showTokenError(key) {
    var error = $("token-error");
    error.textContent = t(key);
    error.dataset.text = key;
    error.hidden = false;
    $("token").setAttribute("aria-invalid", "true");
    $("token").focus();
  }

  $("sign-out").addEventListener("click", function () {
    var waiting = store.queue().length;
    if (waiting && !window.confirm(t("sign_out_confirm", { n: waiting }))) return;
    camera.stop();
    clearInterval(listTimer);
    clearInterval(probeTimer);
    offline = false;
    device = list = keys = shown = null;
    recent = [];
    verdicts = [];
    store.clear().then(function () { showSignIn(); });
  });

  function signedOutByServer() {
    camera.stop();
    store.clear();
    device = null;
    showSignIn();
    showTokenError("token_rejected");
  }

  function showSignIn() {
    $("scanner").hidden = true;
    $("sign-in").hidden = false;
    $("sign-out").hidden = true;
    renderDevice();
    $("token").focus();
  }

  /** The scanner, for a signed-in device: its list, its camera, its queue. */
  function start(found) {
    device = found;
    $("sign-in").hidden = true;
    $("scanner").hidden = false;
    $("sign-out").hidden = false;
    applyLanguage();
    focusCode();
    return store.list().then(function (cached) {
      useList(cached);
      refreshList(true);
      clearInterval(listTimer);
      listTimer = setInterval(refreshList, LIST_REFRESH_MS);
      if (prefs.camera !== false) startCamera();
      sync();
    });
  }

  // ---- the offline list ----------------------------------------------------------------

  function useList(fresh) {
    list = fresh;
    keys = null;
    if (list) {
      verifier.importKeys(list.keys).then(
        function (imported) { keys = imported; },
        function () { keys = null; } // no Ed25519 here: offline scans cannot be verified
      );
    }
    renderAreas();
    renderStatus();
  }

  function refreshList(full) {
    if (!device) return;
    var url = data.api.offline.replace("SLUG", encodeURIComponent(device.event));
    var previous = full ? null : list;
    if (previous) url += "?since=" + encodeURIComponent(previous.generated_at);
    api("GET", url, undefined, 30000).then(
      function (response) {
        if (response.status === 401) return signedOutByServer();
        if (!response.ok) return;
        return response.json()
          .then(function (fresh) { return store.saveList(fresh, previous); })
          .then(useList);
      },
      function () {}
    );
  }

  // ---- reading codes -----------------------------------------------------------------------

  function focusCode() {
    // On a touch screen a focused field opens the on-screen keyboard over the answer; a
    // reader's keys are caught on the page instead (below).
    if (window.matchMedia("(pointer: fine)").matches) $("code").focus();
  }

  $("code-form").addEventListener("submit", function (event) {
    event.preventDefault();
    wedgeRead($("code").value);
  });

  // A reader types into whatever has the focus: keys that land outside a text field are
  // collected into the code field, and Enter submits them.
  document.addEventListener("keydown", function (event) {
    if ($("scanner").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.matches && target.matches("input[type=text], input:not([type]), textarea, select")) return;
    var code = $("code");
    if (event.key === "Enter" && code.value.trim()) {
      event.preventDefault();
      wedgeRead(code.value);
    } else if (event.key.length === 1 && event.key !== " ") {
      event.preventDefault();
      code.value += event.key;
    }
  });

  function wedgeRead(value) {
    var code = value.trim();
    $("code").value = "";
    if (!code) return;
    // Switching direction or area between two reads makes them two scans.
    var key = [currentDirection(), currentArea(), code].join(" "), now = Date.now();
    var same = key === lastWedge.key && now - lastWedge.at < SAME_WEDGE_READ_MS;
    lastWedge = { key: key, at: now };
    if (!same) enqueueScan(code);
  }

  /** Scans one at a time, in the order read. */
  function enqueueScan(code) {
    if (!device) return;
    chain = chain.then(function () { return scan(code); }).catch(function (error) {
      showProblem(String(error && error.message ? error.message : error));
    });
  }

  // ---- scanning ------------------------------------------------------------------------------

  function currentArea() { return $("area").value || device.area; }
  function currentDirection() { return document.querySelector("input[name=direction]:checked").value; }

  function scan(code) {
    var direction = currentDirection(), area = currentArea();
    renderChecking();
    if (offline) return scanOffline(code, direction, area);
    var body = { token: code, direction: direction };
    if (area !== device.area) body.area = area;
    return api("POST", data.api.scan, body).then(
      function (response) {
        if (response.ok) {
          return response.json().then(function (answer) {
            rememberPresence(answer.badge, answer.area, answer.result, answer.inside_since || answer.scanned_at, answer.inside_gate || answer.gate);
            show(fromServer(answer, false));
          });
        }
        if (response.status >= 500) {
          setOffline(true);
          return scanOffline(code, direction, area);
        }
        if (response.status === 401) return signedOutByServer();
        return errorMessage(response).then(showProblem);
      },
      function () {
        setOffline(true);
        return scanOffline(code, direction, area);
      }
    );
  }

  function scanOffline(code, direction, area) {
    var check = keys && list ? verifier.verify(keys, code) : Promise.resolve(undefined);
    return check.then(function (claim) {
      var now = new Date().toISOString();
      var inside = store.inside();
      var verdict = claim === undefined
        ? { result: "unchecked", passes: false }
        : verifier.judge(list, claim, direction, area, inside, device.gate, now);
      store.setInside(inside);
      var scan = { id: crypto.randomUUID(), token: code.slice(0, 512), direction: direction, scanned_at: now };
      if (area !== device.area) scan.area = area;
      scan.local = verdict.result; // what the gate was shown, to compare with the server's verdict
      store.enqueue(scan);
      renderStatus();
      show({
        result: verdict.result,
        passes: verdict.passes,
        badge: verdict.badge ? { display_name: verdict.badge.display_name, category: verdict.badge.category } : null,
        message: offlineMessage(verdict, area),
        offline: true,
      });
    });
  }

  function offlineMessage(verdict, area) {
    var badge = verdict.badge;
    if (verdict.result === "unchecked") return t("list_missing");
    if (verdict.result === "already_inside") {
      return t("message_already_inside", { time: clock(verdict.since), gate: verdict.gate });
    }
    if (verdict.result === "revoked") {
      if (verdict.replaced) return t("message_replaced");
      return verdict.reason ? t("message_revoked") + " " + verdict.reason : t("message_revoked");
    }
    if (verdict.result === "not_allowed_here") {
      return t("message_not_allowed_here", { category: categoryLabel(badge.category), area: areaName(area) });
    }
    return t("message_" + verdict.result);
  }

  /** The device's own record of who is inside, kept from the server's answers too, so an
      offline scan right after an online admission says already inside. */
  function rememberPresence(badge, area, result, since, gate) {
    if (!badge || !area) return;
    var inside = store.inside(), key = badge.id + ":" + area;
    if (result === "admitted" || result === "already_inside") inside[key] = { since: since, gate: gate };
    if (result === "exited" || result === "not_inside") delete inside[key];
    store.setInside(inside);
  }

  function fromServer(answer, wasOffline) {
    return {
      result: answer.result,
      passes: answer.passes,
      badge: answer.badge,
      message: serverMessage(answer),
      offline: wasOffline,
    };
  }

  /** The server's line under the answer (English, with its reasons); in Chinese the same
      facts in Chinese, and a revocation's reason as the organisers wrote it. */
  function serverMessage(answer) {
    if (lang === "en") return answer.message;
    if (answer.result === "already_inside" && answer.inside_since) {
      var key = answer.inside_gate ? "message_already_inside" : "message_already_inside_hand";
      return t(key, { time: clock(answer.inside_since), gate: answer.inside_gate });
    }
    if (answer.result === "not_allowed_here" && answer.badge) {
      return t("message_not_allowed_here", { category: categoryLabel(answer.badge.category), area: areaName(answer.area) });
    }
    if (answer.result === "revoked") return t("message_revoked") + " " + answer.message;
    return t("message_" + answer.result);
  }

  // ---- the answer ------------------------------------------------------------------------------

  function show(answer) {
    shown = answer;
    renderPanel(answer);
    beep(answer.passes);
    var name = answer.badge ? answer.badge.display_name : "";
    var category = answer.badge ? categoryLabel(answer.badge.category) : "";
    $("announcer").textContent = t("announce", {
      result: t("result_" + answer.result) + (answer.offline ? " (" + t("offline_tag") + ")" : ""),
      name: name, category: category, message: answer.message,
    });
    recent.unshift({ at: new Date(), answer: answer });
    recent = recent.slice(0, RECENT);
    renderRecent();
    clearTimeout(panelTimer);
    panelTimer = setTimeout(function () { shown = null; renderIdle(); }, PANEL_MS);
    focusCode();
  }

  function showProblem(message) {
    show({ result: "error", passes: false, badge: null, message: t("error_generic", { message: message }) });
  }

  function renderChecking() {
    var panel = $("result");
    panel.className = "result result--checking";
    $("result-word").textContent = t("checking");
  }

  function renderIdle() {
    var panel = $("result");
    panel.className = "result result--idle";
    panel.dataset.result = "";
    $("result-word").textContent = t("ready");
    $("result-name").textContent = "";
    $("result-category").textContent = "";
    $("result-message").textContent = t("ready_hint");
    $("result-photo").textContent = "";
    $("result-photo").hidden = true;
    $("result-tag").hidden = true;
  }

  function renderPanel(answer) {
    var panel = $("result");
    panel.className = "result " + (answer.passes ? "result--pass" : "result--stop");
    panel.dataset.result = answer.result;
    panel.dataset.offline = String(Boolean(answer.offline));
    $("result-word").textContent = t("result_" + answer.result);
    $("result-name").textContent = answer.badge ? answer.badge.display_name : "";
    $("result-category").textContent = answer.badge ? categoryLabel(answer.badge.category) : "";
    $("result-message").textContent = answer.message || "";
    $("result-photo").textContent = answer.badge ? initials(answer.badge.display_name) : "";
    $("result-photo").hidden = !answer.badge;
    $("result-tag").hidden = !answer.offline;
  }

  function initials(name) {
    var words = String(name || "").trim().split(/\s+/).filter(Boolean);
    if (!words.length) return "?";
    var first = Array.from(words[0]);
    // A name in Han script is written without spaces, family name first: show that.
    if (words.length === 1 || /\p{Script=Han}/u.test(first[0])) return first[0];
    return (first[0] + Array.from(words[words.length - 1])[0]).toUpperCase();
  }

  function categoryLabel(code) {
    var found = list && (list.categories || []).find(function (c) { return c.code === code; });
    if (!found) return code || "";
    return (found.labels && found.labels[lang]) || found.label;
  }

  function areaName(code) {
    var found = list && (list.areas || []).find(function (a) { return a.code === code; });
    return found ? found.name : code || "";
  }

  /** A time of day in the event's time zone (as the server's messages say it). */
  function clock(iso, seconds) {
    if (!iso) return "";
    var options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (seconds) options.second = "2-digit";
    if (list && list.timezone) options.timeZone = list.timezone;
    try {
      return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", options).format(new Date(iso));
    } catch (error) {
      return new Date(iso).toISOString().slice(11, 16);
    }
  }

  // ---- sound -------------------------------------------------------------------------------------

  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) audio = new Context();
    if (audio && audio.state === "suspended") audio.resume();
  }
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });

  /** Green: two rising bright tones; red: two low buzzes. */
  function beep(passes) {
    document.body.dataset.lastSound = passes ? "green" : "red";
    if (prefs.sound === false || !audio) return;
    var tones = passes
      ? [["sine", 880, 0, 0.12], ["sine", 1320, 0.14, 0.2]]
      : [["square", 196, 0, 0.22], ["square", 147, 0.27, 0.32]];
    var now = audio.currentTime;
    tones.forEach(function (tone) {
      var oscillator = audio.createOscillator(), gain = audio.createGain();
      oscillator.type = tone[0];
      oscillator.frequency.value = tone[1];
      gain.gain.setValueAtTime(0.0001, now + tone[2]);
      gain.gain.exponentialRampToValueAtTime(passes ? 0.35 : 0.2, now + tone[2] + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + tone[2] + tone[3]);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(now + tone[2]);
      oscillator.stop(now + tone[2] + tone[3] + 0.02);
    });
  }

  $("sound").addEventListener("click", function () {
    prefs.sound = prefs.sound === false;
    store.setPref("sound", prefs.sound);
    renderSound();
  });

  function renderSound() {
    $("sound").textContent = t(prefs.sound === false ? "sound_off" : "sound_on");
    $("sound").setAttribute("aria-pressed", String(prefs.sound !== false));
  }

  // ---- camera ------------------------------------------------------------------------------------

  function startCamera() {
    $("camera-status").hidden = true;
    camera.start().then(renderCameraButton, function (error) {
      camera.stop();
      var status = $("camera-status");
      status.dataset.text = error && error.name === "NotAllowedError" ? "camera_denied" : "camera_unavailable";
      status.textContent = t(status.dataset.text);
      status.hidden = false;
      renderCameraButton();
    });
  }

  $("camera-toggle").addEventListener("click", function () {
    if (camera.running()) {
      camera.stop();
      prefs.camera = false;
      renderCameraButton();
    } else {
      prefs.camera = true;
      startCamera();
    }
    store.setPref("camera", prefs.camera);
  });

  function renderCameraButton() {
    var on = camera.running();
    $("camera-toggle").textContent = t(on ? "camera_stop" : "camera_start");
    $("camera-toggle").setAttribute("aria-pressed", String(on));
    $("camera").classList.toggle("camera--off", !on);
  }

  // ---- direction and area ------------------------------------------------------------------------

  document.querySelectorAll("input[name=direction]").forEach(function (radio) {
    radio.checked = radio.value === (prefs.direction || "in");
    radio.addEventListener("change", function () {
      prefs.direction = radio.value;
      store.setPref("direction", radio.value);
      document.body.dataset.direction = radio.value;
    });
  });
  document.body.dataset.direction = prefs.direction || "in";

  $("area").addEventListener("change", function () {
    store.setPref("area", $("area").value);
    prefs.area = $("area").value;
  });

  function renderAreas() {
    var select = $("area");
    if (!device) return;
    var areas = list && list.areas && list.areas.length ? list.areas : [{ code: device.area, name: device.area_name }];
    var wanted = prefs.area && areas.some(function (a) { return a.code === prefs.area; }) ? prefs.area : device.area;
    select.textContent = "";
    areas.forEach(function (area) {
      var option = document.createElement("option");
      option.value = area.code;
      option.textContent = area.code === device.area ? t("area_own", { name: area.name }) : area.name;
      option.selected = area.code === wanted;
      select.appendChild(option);
    });
  }

  function renderDevice() {
    $("device").textContent = device ? t("device", { gate: device.gate, area: device.area_name }) : "";
  }

  // ---- sync ---------------------------------------------------------------------------------------

  $("sync-now").addEventListener("click", function () { offline ? probe() : sync(); });

  /** Sends the queue, up to 500 scans a request; shows where the server judged otherwise. */
  function sync() {
    var queue = store.queue();
    if (syncing || !queue.length || !device) return Promise.resolve();
    syncing = true;
    renderStatus();
    var batch = queue.slice(0, 500);
    var body = {
      scans: batch.map(function (s) {
        var sent = { id: s.id, token: s.token, direction: s.direction, scanned_at: s.scanned_at };
        if (s.area) sent.area = s.area;
        return sent;
      }),
    };
    return api("POST", data.api.batch, body, 30000)
      .then(
        function (response) {
          if (response.status === 401) return signedOutByServer();
          if (!response.ok) {
            setSyncNote(t("sync_failed"));
            if (response.status >= 500) setOffline(true);
            return;
          }
          setOffline(false);
          return response.json().then(function (answer) {
            var local = new Map(batch.map(function (s) { return [s.id, s]; }));
            answer.results.forEach(function (result) {
              var sent = local.get(result.id);
              rememberPresence(result.badge, result.area, result.result, result.inside_since || result.occurred_at, result.inside_gate || result.gate);
              if (sent && (sent.local !== result.result || result.conflict)) {
                verdicts.unshift({ sent: sent, answer: result });
              }
            });
            var left = store.dequeue(answer.results.map(function (r) { return r.id; }));
            setSyncNote(t("synced", { n: answer.results.length }));
            renderVerdicts();
            if (left.length) setTimeout(sync, 0);
          });
        },
        function () { setOffline(true); }
      )
      .finally(function () {
        syncing = false;
        renderStatus();
      });
  }

  function setSyncNote(text) {
    $("sync-note").textContent = text;
  }

  function renderStatus() {
    if (!device) return;
    var waiting = store.queue().length;
    var connection = $("connection");
    connection.textContent = t(offline ? "offline" : "online");
    connection.dataset.state = offline ? "offline" : "online";
    var queue = $("queue");
    queue.dataset.count = String(waiting);
    queue.textContent = waiting === 0 ? t("waiting_none") : waiting === 1 ? t("waiting_one") : t("waiting", { n: waiting });
    $("sync-now").hidden = waiting === 0;
    $("sync-now").disabled = syncing;
    $("sync-now").textContent = t(syncing ? "syncing" : "sync_now");
    $("list-info").textContent = list
      ? t("list_age", { n: list.badges.length, time: clock(list.generated_at) })
      : t("list_missing");
  }

  function renderVerdicts() {
    var section = $("verdicts"), items = $("verdict-list");
    section.hidden = verdicts.length === 0;
    items.textContent = "";
    verdicts.slice(0, 20).forEach(function (v) {
      var li = document.createElement("li");
      var badge = v.answer.badge;
      li.textContent = t("verdict_line", {
        time: clock(v.sent.scanned_at),
        name: badge ? badge.display_name : t("unknown_name"),
        local: t("result_" + v.sent.local),
        server: t("result_" + v.answer.result),
        message: v.answer.message,
      }) + (v.answer.conflict ? " " + t("conflict", { id: v.answer.conflict }) : "");
      li.className = v.answer.passes ? "verdict verdict--pass" : "verdict verdict--stop";
      items.appendChild(li);
    });
  }

  function renderRecent() {
    var items = $("recent-list");
    items.textContent = "";
    recent.forEach(function (entry) {
      var li = document.createElement("li");
      li.className = "recent__item " + (entry.answer.passes ? "recent__item--pass" : "recent__item--stop");
      li.dataset.result = entry.answer.result;
      var time = document.createElement("time");
      time.textContent = clock(entry.at.toISOString(), true);
      var word = document.createElement("strong");
      word.textContent = t("result_" + entry.answer.result);
      var name = document.createElement("span");
      name.dir = "auto";
      name.textContent = entry.answer.badge ? entry.answer.badge.display_name : "";
      li.append(time, " ", word, " ", name);
      if (entry.answer.offline) {
        var tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = t("offline_tag");
        li.append(" ", tag);
      }
      items.appendChild(li);
    });
  }

  // ---- start ----------------------------------------------------------------------------------------

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(data.worker, { scope: data.scope }).catch(function () {});
  }

  applyLanguage();
  var saved = store.device();
  if (store.token() && saved) {
    start(saved);
    api("GET", data.api.device).then(
      function (response) {
        if (response.status === 401) return signedOutByServer();
        if (!response.ok) return;
        return response.json().then(function (found) {
          store.setDevice(found);
          device = found;
          renderDevice();
          renderAreas();
        });
      },
      function () { setOffline(true); }
    );
  } else {
    store.clear();
    showSignIn();
  }
})();
