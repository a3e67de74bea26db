// The delegate's own page: reads the manage token from the link's fragment (#token=…), keeps it
// for this tab only (sessionStorage) and takes it out of the address bar, then reads, corrects,
// cancels or erases the registration through the JSON API with `Authorization: Bearer`. The
// server is the truth: no validation here. Data from the server is only ever written with
// textContent, never as HTML. The badge's QR code and the downloads need the token too, so
// they are fetched and handed to the browser as blob: URLs (the page's CSP allows them).
(function () {
  "use strict";

  const HTML_LANG = { en: "en", zh: "zh-Hans" };
  const LOCALE = { en: "en-GB", zh: "zh-Hans-CN" };
  const FIELDS = [
    "given_name",
    "family_name",
    "latin_name",
    "title",
    "organisation",
    "city",
    "country",
    "language",
    "dietary",
    "accessibility",
  ];
  const OPEN = new Set(["pending", "confirmed", "waitlisted"]); // may still be cancelled
  const $ = (id) => document.getElementById(id);

  const data = JSON.parse($("page-data").textContent);
  const api = data.api;
  const form = $("correct-form");
  const STORE = `rollcall.manage:${api.registration}`;

  let lang = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
  // A language asked for in the address (or picked on the page) wins over the registration's.
  let langChosen = new URL(window.location.href).searchParams.get("lang") in data.text;
  let token = null;
  let registration = null;
  let event = null;
  let busy = false;
  let badgeShown = null; // "id:version" of the QR code on the page
  let badgeUrl = null;
  // What the page says now, redrawn when the language changes.
  let problem = null; // "no_token", "bad_token" or "failed"
  let result = null; // a text key: the outcome of the last action
  let alertShown = null; // {key, message}
  let fieldErrors = null;

  const t = (key) => data.text[lang][key];

  // ---- small helpers -----------------------------------------------------------------

  // Writes `template` into `element`, each {placeholder} a <bdi> holding its value as text.
  function fill(element, template, values) {
    element.textContent = "";
    for (const part of template.split(/(\{\w+\})/)) {
      const key = part.slice(1, -1);
      if (part.startsWith("{") && key in values) {
        const value = document.createElement("bdi");
        value.className = "value";
        value.textContent = values[key];
        element.append(value);
      } else if (part) {
        element.append(part);
      }
    }
  }

  function formatDate(iso, options) {
    if (!iso) return "";
    const date = new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso);
    const zone = iso.length === 10 ? "UTC" : (event && event.timezone) || undefined;
    try {
      return new Intl.DateTimeFormat(LOCALE[lang], { ...options, timeZone: zone }).format(date);
    } catch (_unknownZone) {
      return new Intl.DateTimeFormat(LOCALE[lang], options).format(date);
    }
  }

  // 7–9 Dec 2023; in Chinese 2023年12月7日至9日, as the registration page writes it (ICU's
  // Chinese ranges are 2023/12/7 – 2023/12/9).
  function eventDates() {
    const start = new Date(`${event.starts_on}T00:00:00Z`);
    const end = new Date(`${event.ends_on}T00:00:00Z`);
    const format = (date, parts) =>
      new Intl.DateTimeFormat(LOCALE[lang], { ...parts, timeZone: "UTC" }).format(date);
    const full = { year: "numeric", month: lang === "zh" ? "long" : "short", day: "numeric" };
    if (lang !== "zh") {
      const range = new Intl.DateTimeFormat(LOCALE[lang], { ...full, timeZone: "UTC" });
      return range.formatRange ? range.formatRange(start, end) : format(start, full);
    }
    if (event.starts_on === event.ends_on) return format(start, full);
    const sameYear = start.getUTCFullYear() === end.getUTCFullYear();
    const sameMonth = sameYear && start.getUTCMonth() === end.getUTCMonth();
    const tail = sameMonth ? { day: "numeric" } : sameYear ? { month: "long", day: "numeric" } : full;
    return `${format(start, full)}至${format(end, tail)}`;
  }

  // The server's messages (marshmallow's, in English) in the delegate's language.
  const SERVER_MESSAGES = [
    [/^Missing data for required field\.$/, () => t("msg_required")],
    [/^Must not be blank\.$/, () => t("msg_required")],
    [/^Length must be between \d+ and (\d+)\.$/, (m) => t("msg_too_long").replace("{max}", m[1])],
    [/^Longer than maximum length (\d+)\.$/, (m) => t("msg_too_long").replace("{max}", m[1])],
    [/^Not an ISO 3166-1 alpha-2 country code/, () => t("msg_country")],
    [/^Must be one of: /, () => t("msg_choose")],
    [/^Must not contain control characters\.$/, () => t("msg_control")],
  ];

  function translated(message) {
    for (const [pattern, text] of SERVER_MESSAGES) {
      const match = pattern.exec(message);
      if (match) return text(match);
    }
    return message;
  }

  // ---- the token and the API ---------------------------------------------------------

  function takeToken() {
    const fragment = new URLSearchParams(window.location.hash.slice(1));
    if (fragment.has("token")) {
      // Out of the address bar at once: not in the history, a bookmark or a shared screen.
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
      const fromLink = fragment.get("token").trim();
      if (fromLink) {
        try {
          window.sessionStorage.setItem(STORE, fromLink);
        } catch (_storageOff) {
          // kept in this page only
        }
        return fromLink;
      }
    }
    try {
      return window.sessionStorage.getItem(STORE);
    } catch (_storageOff) {
      return null;
    }
  }

  function forgetToken() {
    token = null;
    try {
      window.sessionStorage.removeItem(STORE);
    } catch (_storageOff) {
      // nothing kept
    }
  }

  function call(url, options = {}) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "omit",
      cache: "no-store",
    });
  }

  const refused = (response) => response.status === 401 || response.status === 403;

  // ---- what is shown -----------------------------------------------------------------

  function showOnly(part) {
    $("loading").hidden = part !== "loading";
    $("problem").hidden = part !== "problem";
    $("manage").hidden = part !== "manage";
  }

  function showProblem(kind, focus) {
    problem = kind;
    if (kind === "bad_token") forgetToken();
    showOnly("problem");
    drawProblem();
    if (focus) $("problem-title").focus();
  }

  function drawProblem() {
    if (!problem) return;
    const [title, body] = {
      no_token: ["no_token_title", "no_token_body"],
      bad_token: ["bad_token_title", "bad_token_body"],
      failed: ["load_failed_title", "error_network"],
    }[problem];
    $("problem-title").textContent = t(title);
    $("problem-body").textContent = t(body);
    $("retry").hidden = problem !== "failed";
  }

  function announce(key, focus) {
    result = key;
    alertShown = null;
    drawMessages();
    if (focus) {
      const box = $("result");
      box.focus();
      box.scrollIntoView({ block: "center" });
    }
  }

  function showAlert(key, message) {
    result = null;
    alertShown = { key, message };
    drawMessages();
    $("manage-alert").focus();
    $("manage-alert").scrollIntoView({ block: "center" });
  }

  function drawMessages() {
    $("result").textContent = result ? t(result) : "";
    const box = $("manage-alert");
    box.hidden = !alertShown;
    if (alertShown) {
      const { key, message } = alertShown;
      box.textContent = message ? `${t(key)} (${message})` : t(key);
    }
  }

  // An answer that is not the registration: the token no longer works, the registration is
  // closed (cancelled, erased meanwhile: the page is re-read), or something else went wrong.
  async function failed(response, answer) {
    if (refused(response)) return showProblem("bad_token", true);
    const error = answer && answer.error;
    if (response.status === 409 && error && ["closed", "erased"].includes(error.code)) {
      await reload();
      return showAlert("error_closed");
    }
    return showAlert("error_action", error ? error.message : `HTTP ${response.status}`);
  }

  // ---- loading -----------------------------------------------------------------------

  async function load() {
    problem = null;
    if (!token) return showProblem("no_token");
    showOnly("loading");
    let response;
    let answer;
    try {
      response = await call(api.registration);
      answer = await response.json().catch(() => null);
    } catch (_networkError) {
      return showProblem("failed");
    }
    if (refused(response)) return showProblem("bad_token");
    if (!response.ok || !answer) return showProblem("failed");
    registration = answer;
    await loadEvent();
    if (!langChosen && answer.language in data.text && answer.language !== lang) {
      applyLanguage(answer.language, false);
    }
    showOnly("manage");
    render();
  }

  async function reload() {
    try {
      const response = await call(api.registration);
      if (response.ok) {
        registration = await response.json();
        render();
      }
    } catch (_networkError) {
      // the page keeps what it showed
    }
  }

  async function loadEvent() {
    if (event && event.slug === registration.event) return;
    try {
      const url = api.event.replace("SLUG", encodeURIComponent(registration.event));
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) event = await response.json();
    } catch (_networkError) {
      event = null; // the page works without the event's name
    }
    drawEvent();
  }

  // The event's name or venue in the page language where the organisers gave one.
  function eventText(key) {
    const translated = (event.translations || {})[lang] || {};
    return translated[key] || event[key];
  }

  function categoryLabel(code) {
    const category = event && event.categories.find((c) => c.code === code);
    if (!category) return code;
    return (category.labels || {})[lang] || category.label;
  }

  function drawEvent() {
    const title = $("event-name");
    if (!event) return;
    title.removeAttribute("data-text");
    title.textContent = eventText("name");
    $("event-dates").textContent = eventDates();
    $("event-venue").textContent = eventText("venue");
    $("event-meta").hidden = false;
    document.title = `${t("manage_title")} · ${eventText("name")}`;
  }

  // ---- the registration --------------------------------------------------------------

  function render() {
    const r = registration;
    if (!r) return;
    const erased = Boolean(r.erased_at);
    const kind = erased ? "erased" : r.status;
    $("registration-number").textContent = String(r.id);
    $("delegate-name").textContent = erased ? t("manage_title") : r.display_name;
    const pill = $("status-pill");
    pill.className = `status-pill status-pill--${kind}`;
    pill.textContent = t(`status_${kind}`) || r.status;
    const about = $("status-about");
    if (erased) fill(about, t("about_erased"), { date: formatDate(r.erased_at, { dateStyle: "long" }) });
    else about.textContent = t(`about_${r.status}`) || "";
    const reason = $("status-reason");
    reason.hidden = erased || !r.status_reason || !["rejected", "cancelled"].includes(r.status);
    if (!reason.hidden) fill(reason, t("reason"), { reason: r.status_reason });

    renderBadge(erased);
    renderFacts(erased);

    const correctable = !erased && OPEN.has(r.status);
    if (!correctable) closeForm(false);
    $("correct-actions").hidden = !correctable || !form.hidden;
    $("email-fixed").hidden = !correctable || !form.hidden;
    $("cancel-card").hidden = erased || !OPEN.has(r.status);
    $("erase-start").hidden = erased;
    const intro = $("data-intro");
    intro.dataset.text = erased ? "data_intro_erased" : "data_intro";
    intro.textContent = t(intro.dataset.text);
    if (erased) $("erase-confirm").hidden = true;
  }

  function renderBadge(erased) {
    const r = registration;
    const badge = r.badge;
    const valid = !erased && r.status === "confirmed" && badge && badge.status === "active";
    $("badge").hidden = !valid;
    $("badge-revoked").hidden = !(!erased && r.status === "confirmed" && badge && badge.status === "revoked");
    if (!valid) {
      badgeShown = null;
      return;
    }
    const version = `${badge.id}:${badge.version}`;
    if (badgeShown !== version) {
      badgeShown = version;
      showQr();
    }
  }

  async function showQr() {
    const image = $("badge-qr");
    $("badge-failed").hidden = true;
    try {
      const response = await call(api.badge_png);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const blob = await response.blob();
      if (badgeUrl) URL.revokeObjectURL(badgeUrl);
      badgeUrl = URL.createObjectURL(blob);
      image.src = badgeUrl;
      image.hidden = false;
    } catch (_failed) {
      image.hidden = true;
      $("badge-failed").hidden = false;
    }
  }

  function renderFacts(erased) {
    const r = registration;
    const facts = {
      name: r.display_name,
      latin_name: r.printed_latin_name,
      title: r.title,
      email: r.email,
      organisation: r.organisation,
      city: r.city,
      country: data.countries[lang][r.country] || r.country,
      category: categoryLabel(r.category),
      language: data.languages[r.language] || r.language,
      dietary: r.dietary,
      accessibility: r.accessibility,
      created: formatDate(r.created_at, { dateStyle: "long" }),
    };
    const kept = new Set(["country", "category", "created"]); // all an erasure leaves
    for (const [name, value] of Object.entries(facts)) {
      const item = $(`fact-${name}`);
      const shown = $(`fact-${name}-value`);
      const onlyWhenGiven = name === "latin_name" || name === "title";
      item.hidden = (erased && !kept.has(name)) || (onlyWhenGiven && !value);
      const empty = !value;
      shown.textContent = empty ? t("none_given") : value;
      shown.classList.toggle("facts__none", empty);
      if (name === "language") shown.lang = HTML_LANG[r.language] || "";
    }
  }

  // ---- language ----------------------------------------------------------------------

  function applyLanguage(next, byPerson) {
    lang = next;
    document.documentElement.lang = HTML_LANG[lang];
    document.title = t("manage_title");
    for (const el of document.querySelectorAll("[data-text]")) el.textContent = t(el.dataset.text);
    for (const el of document.querySelectorAll("[data-label]")) {
      el.setAttribute("aria-label", t(el.dataset.label));
    }
    for (const el of document.querySelectorAll("[data-alt]")) el.alt = t(el.dataset.alt);
    for (const link of document.querySelectorAll(".language-switch__option")) {
      if (link.dataset.lang === lang) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    }
    nameOrder();
    countryNames();
    drawEvent();
    render();
    drawProblem();
    drawMessages();
    if (fieldErrors) showFieldErrors(fieldErrors);
    if (byPerson) {
      langChosen = true;
      const url = new URL(window.location.href);
      url.searchParams.set("lang", lang);
      window.history.replaceState(null, "", url);
    }
  }

  // Chinese forms ask for the family name first.
  function nameOrder() {
    const row = $("name-row");
    const given = row.querySelector('[data-field="given_name"]');
    const family = row.querySelector('[data-field="family_name"]');
    const [first, second] = lang === "zh" ? [family, given] : [given, family];
    if (row.firstElementChild !== first) row.insertBefore(first, second);
  }

  function countryNames() {
    const select = form.elements.country;
    const names = data.countries[lang];
    const options = Array.from(select.options);
    for (const option of options) option.textContent = names[option.value] || option.value;
    const collator = new Intl.Collator(HTML_LANG[lang]);
    options.sort((a, b) => collator.compare(a.textContent, b.textContent));
    const chosen = select.value;
    select.append(...options);
    select.value = chosen;
  }

  for (const link of document.querySelectorAll(".language-switch__option")) {
    link.addEventListener("click", (click) => {
      click.preventDefault();
      if (link.dataset.lang !== lang) applyLanguage(link.dataset.lang, true);
    });
  }

  // ---- correcting --------------------------------------------------------------------

  function openForm() {
    clearErrors();
    for (const name of FIELDS) form.elements[name].value = registration[name] || "";
    form.hidden = false;
    $("facts").hidden = true;
    $("email-fixed").hidden = true;
    $("correct-actions").hidden = true;
    $("correct-start").setAttribute("aria-expanded", "true");
    $("correct-title").focus();
  }

  function closeForm(focus) {
    if (form.hidden) return;
    clearErrors();
    form.hidden = true;
    $("facts").hidden = false;
    $("email-fixed").hidden = false;
    $("correct-actions").hidden = false;
    $("correct-start").setAttribute("aria-expanded", "false");
    if (focus) $("correct-start").focus();
  }

  function clearErrors() {
    fieldErrors = null;
    $("error-summary").hidden = true;
    $("error-summary-list").textContent = "";
    for (const field of form.querySelectorAll(".field--error")) {
      field.classList.remove("field--error");
      const control = field.querySelector(".field__input");
      const error = field.querySelector(".field__error");
      control.removeAttribute("aria-invalid");
      const described = (control.getAttribute("aria-describedby") || "")
        .split(" ")
        .filter((id) => id && id !== error.id);
      if (described.length) control.setAttribute("aria-describedby", described.join(" "));
      else control.removeAttribute("aria-describedby");
      error.hidden = true;
      error.textContent = "";
    }
  }

  // Each field's problems next to it, and a summary above the form linking to the fields in
  // the order the page shows them: as on the registration page.
  function showFieldErrors(fields) {
    clearErrors();
    fieldErrors = fields;
    const messagesOf = (problems) =>
      (Array.isArray(problems) ? problems : [String(problems)]).map((p) => translated(String(p)));
    const list = $("error-summary-list");
    for (const field of form.querySelectorAll(".field")) {
      const control = field.querySelector(".field__input");
      if (!Object.prototype.hasOwnProperty.call(fields, control.name)) continue;
      const message = messagesOf(fields[control.name]).join(" ");
      const error = field.querySelector(".field__error");
      const prefix = document.createElement("span");
      prefix.className = "visually-hidden";
      prefix.textContent = `${t("error_prefix")} `;
      error.append(prefix, message);
      error.hidden = false;
      field.classList.add("field--error");
      control.setAttribute("aria-invalid", "true");
      const described = (control.getAttribute("aria-describedby") || "").split(" ");
      control.setAttribute("aria-describedby", [...described, error.id].join(" ").trim());

      const label = t(field.querySelector("label[data-text], label [data-text]").dataset.text);
      const link = document.createElement("a");
      link.href = `#${control.id}`;
      link.textContent = t("summary_item").replace("{field}", label).replace("{message}", message);
      link.addEventListener("click", (click) => {
        click.preventDefault();
        control.focus();
      });
      const item = document.createElement("li");
      item.append(link);
      list.append(item);
    }
    for (const [name, problems] of Object.entries(fields)) {
      if (FIELDS.includes(name)) continue;
      for (const message of messagesOf(problems)) {
        const item = document.createElement("li");
        item.textContent = message;
        list.append(item);
      }
    }
    $("error-summary").hidden = false;
  }

  // Only what the delegate changed is sent: a change to a printed field reissues the badge.
  function changes() {
    const changed = {};
    for (const name of FIELDS) {
      const value = form.elements[name].value;
      if (value.trim() !== String(registration[name] || "").trim()) {
        // An emptied Latin name goes back to the automatic spelling.
        changed[name] = name === "latin_name" && !value.trim() ? null : value;
      }
    }
    return changed;
  }

  function working(button, on, key) {
    busy = on;
    button.disabled = on;
    button.setAttribute("aria-busy", String(on));
    if (key) {
      button.dataset.text = key;
      button.textContent = t(key);
    }
  }

  async function submitCorrections(submit) {
    submit.preventDefault();
    if (busy) return;
    const body = changes();
    if (!Object.keys(body).length) {
      clearErrors();
      return announce("nothing_changed", true);
    }
    const button = $("save");
    working(button, true, "saving");
    let response;
    let answer;
    try {
      response = await call(api.registration, { method: "PATCH", body });
      answer = await response.json().catch(() => null);
    } catch (_networkError) {
      working(button, false, "save");
      return showAlert("error_network");
    }
    working(button, false, "save");
    const error = answer && answer.error;
    if (response.ok && answer) {
      const before = registration.badge;
      registration = answer;
      const after = answer.badge;
      const reissued = Boolean(before && after && after.id === before.id && after.version > before.version);
      closeForm(false);
      render();
      return announce(reissued ? "reissued" : "saved", true);
    }
    if (response.status === 422 && error && error.fields) {
      alertShown = null;
      result = null;
      drawMessages();
      showFieldErrors(error.fields);
      return $("error-summary").focus();
    }
    return failed(response, answer);
  }

  form.addEventListener("submit", submitCorrections);
  $("correct-start").addEventListener("click", openForm);
  $("correct-close").addEventListener("click", () => closeForm(true));

  // ---- cancelling and erasing: each after a confirmation -----------------------------

  function confirmation(start, box, yes, no) {
    $(start).addEventListener("click", () => {
      $(box).hidden = false;
      $(start).setAttribute("aria-expanded", "true");
      $(`${box}-title`).focus();
    });
    $(no).addEventListener("click", () => {
      $(box).hidden = true;
      $(start).setAttribute("aria-expanded", "false");
      $(start).focus();
    });
    $(yes).addEventListener("click", async () => {
      if (busy) return;
      const [url, body, during, after, done] = yes === "cancel-yes"
        ? [api.cancel, {}, "cancelling", "cancel_yes", "cancelled_done"]
        : [api.erase, undefined, "erasing", "erase_yes", "erased_done"];
      working($(yes), true, during);
      let response;
      let answer;
      try {
        response = await call(url, { method: "POST", body });
        answer = await response.json().catch(() => null);
      } catch (_networkError) {
        working($(yes), false, after);
        return showAlert("error_network");
      }
      working($(yes), false, after);
      if (!response.ok || !answer) return failed(response, answer);
      registration = answer;
      $(box).hidden = true;
      $(start).setAttribute("aria-expanded", "false");
      render();
      return announce(done, true);
    });
  }

  confirmation("cancel-start", "cancel-confirm", "cancel-yes", "cancel-no");
  confirmation("erase-start", "erase-confirm", "erase-yes", "erase-no");

  // ---- downloads ---------------------------------------------------------------------

  function filenameOf(response, fallback) {
    const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    return match ? match[1] : fallback;
  }

  function saveFile(blob, filename) {
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  function download(buttonId, statusId, url, fallback) {
    const button = $(buttonId);
    const status = $(statusId);
    button.addEventListener("click", async () => {
      if (button.disabled) return;
      button.disabled = true;
      status.textContent = t("downloading");
      try {
        const response = await call(url);
        if (refused(response)) return showProblem("bad_token", true);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        saveFile(await response.blob(), filenameOf(response, fallback));
        status.textContent = "";
      } catch (_failed) {
        status.textContent = t("download_failed");
      } finally {
        button.disabled = false;
      }
    });
  }

  download("badge-pdf", "badge-pdf-status", api.badge_pdf, "badge.pdf");
  download("data-download", "data-status", api.data, "my-data.json");

  // ---- start -------------------------------------------------------------------------

  $("retry").addEventListener("click", load);
  // Another link pasted into this tab changes only the fragment: take its token.
  window.addEventListener("hashchange", () => {
    const fromLink = new URLSearchParams(window.location.hash.slice(1)).get("token");
    if (fromLink === null) return;
    token = takeToken();
    load();
  });

  countryNames();
  token = takeToken();
  load();
})();
