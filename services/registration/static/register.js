// The registration page: switches language in place (keeping what was typed), sends the form
// as JSON to the registration API, and shows the server's answer. The server is the truth: no
// validation here beyond the HTML hints. Data from the server or the delegate is only ever
// written with textContent, never as HTML.
(function () {
  "use strict";

  const HTML_LANG = { en: "en", zh: "zh-Hans" };
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const form = document.getElementById("registration-form");
  const submit = document.getElementById("submit");
  const summary = document.getElementById("error-summary");
  const summaryTitle = document.getElementById("error-summary-title");
  const summaryList = document.getElementById("error-summary-list");
  const summaryMessage = document.getElementById("error-summary-message");
  const alertBox = document.getElementById("form-alert");
  const registration = document.getElementById("registration");
  const confirmation = document.getElementById("confirmation");
  // What takes input in a .field: text boxes and selects, and the consent checkbox.
  const CONTROL = ".field__input, .field__check";

  let lang = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
  let mailLanguageChosen = false; // once the delegate picks one, switching page language keeps it
  let shown = null; // what the page shows now ({kind, ...}), redrawn when the language changes
  let sending = false;

  const t = (key) => data.text[lang][key];

  // The server's messages (marshmallow's, in English) in the delegate's language; a message
  // not known here is shown as the server wrote it.
  const SERVER_MESSAGES = [
    [/^Missing data for required field\.$/, () => t("msg_required")],
    [/^Not a valid email address\.$/, () => t("msg_email")],
    [/^Length must be between \d+ and (\d+)\.$/, (m) => t("msg_too_long").replace("{max}", m[1])],
    [/^Longer than maximum length (\d+)\.$/, (m) => t("msg_too_long").replace("{max}", m[1])],
    [/^Not an ISO 3166-1 alpha-2 country code/, () => t("msg_country")],
    [/^Must be one of: /, () => t("msg_choose")],
    [/^Must not contain control characters\.$/, () => t("msg_control")],
    [/^Already registered for this event\.$/, () => t("msg_already_registered")],
    [/^Consent is required/, () => t("msg_consent")],
    [/^The privacy notice has changed/, () => t("msg_notice_changed")],
  ];

  function translated(message) {
    for (const [pattern, text] of SERVER_MESSAGES) {
      const match = pattern.exec(message);
      if (match) return text(match);
    }
    return message;
  }

  // Appends `template` to `element`, with each {placeholder} as a <bdi> holding the value as
  // text, so a name in any script (right-to-left included) reads correctly in the sentence.
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

  // ---- language ----------------------------------------------------------------------

  function applyLanguage(next) {
    lang = next;
    document.documentElement.lang = HTML_LANG[lang];
    document.title = `${t("page_title")} · ${data.event[lang].name}`;
    document.getElementById("event-name").textContent = data.event[lang].name;
    document.getElementById("event-venue").textContent = data.event[lang].venue;
    for (const option of form.elements.category.options) {
      if (option.value) option.textContent = data.categories[lang][option.value];
    }
    for (const el of document.querySelectorAll("[data-text]")) el.textContent = t(el.dataset.text);
    for (const el of document.querySelectorAll("[data-label]")) {
      el.setAttribute("aria-label", t(el.dataset.label));
    }
    for (const el of document.querySelectorAll("[data-dates]")) el.textContent = data.dates[lang];
    for (const link of document.querySelectorAll(".language-switch__option")) {
      if (link.dataset.lang === lang) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    }
    document.getElementById("register-another").href = `?lang=${lang}`;
    nameOrder();
    countryNames();
    if (!mailLanguageChosen) form.elements.language.value = lang;
    redraw();
    const url = new URL(window.location.href);
    url.searchParams.set("lang", lang);
    window.history.replaceState(null, "", url);
  }

  // Chinese forms ask for the family name first.
  function nameOrder() {
    const row = document.getElementById("name-row");
    const given = row.querySelector('[data-field="given_name"]');
    const family = row.querySelector('[data-field="family_name"]');
    const [first, second] = lang === "zh" ? [family, given] : [given, family];
    if (row.firstElementChild !== first) row.insertBefore(first, second);
  }

  function countryNames() {
    const select = form.elements.country;
    const names = data.countries[lang];
    const options = Array.from(select.options).filter((o) => o.value);
    for (const option of options) option.textContent = names[option.value] || option.value;
    const collator = new Intl.Collator(HTML_LANG[lang]);
    options.sort((a, b) => collator.compare(a.textContent, b.textContent));
    const chosen = select.value;
    select.append(...options);
    select.value = chosen;
  }

  for (const link of document.querySelectorAll(".language-switch__option")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      if (link.dataset.lang !== lang) applyLanguage(link.dataset.lang);
    });
  }
  form.elements.language.addEventListener("change", () => {
    mailLanguageChosen = true;
  });

  // ---- errors ------------------------------------------------------------------------

  function clearErrors() {
    summary.hidden = true;
    summaryList.textContent = "";
    summaryMessage.hidden = true;
    alertBox.hidden = true;
    alertBox.textContent = "";
    for (const field of form.querySelectorAll(".field--error")) {
      field.classList.remove("field--error");
      const control = field.querySelector(CONTROL);
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

  // Each field's problems next to it, and a summary above the form that links to the fields
  // in the order the page shows them (a 409 explains itself instead of listing).
  function showFieldErrors(fields, conflict) {
    const messagesOf = (problems) =>
      (Array.isArray(problems) ? problems : [String(problems)]).map((p) => translated(String(p)));
    const elsewhere = [];
    for (const [name, problems] of Object.entries(fields)) {
      const control = form.elements[name];
      if (!control || !control.closest || !control.closest(".field")) {
        elsewhere.push(...messagesOf(problems));
      }
    }
    for (const field of form.querySelectorAll(".field")) {
      const control = field.querySelector(CONTROL);
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
      if (conflict) continue;

      const labelled = field.querySelector("label[data-text], label [data-text]");
      const label = t(field.dataset.summary || labelled.dataset.text);
      const link = document.createElement("a");
      link.href = `#${control.id}`;
      link.textContent = t("summary_item").replace("{field}", label).replace("{message}", message);
      link.addEventListener("click", (event) => {
        event.preventDefault();
        control.focus();
      });
      const item = document.createElement("li");
      item.append(link);
      summaryList.append(item);
    }
    for (const message of elsewhere) {
      const item = document.createElement("li");
      item.textContent = message;
      summaryList.append(item);
    }
    summaryTitle.dataset.text = conflict ? "already_registered_title" : "error_summary";
    summaryTitle.textContent = t(summaryTitle.dataset.text);
    if (conflict) {
      summaryMessage.textContent = t("error_already_registered");
      summaryMessage.hidden = false;
    }
    summaryList.hidden = !summaryList.childElementCount;
    summary.hidden = false;
  }

  function showAlert(message) {
    alertBox.textContent = message;
    alertBox.hidden = false;
  }

  // Shows `shown` in the current language; `focus` moves the keyboard to it (after a submit).
  function redraw(focus) {
    if (!shown) return;
    if (shown.kind === "confirmation") return showConfirmation(shown.body, focus);
    clearErrors();
    if (shown.kind === "fields") {
      showFieldErrors(shown.fields, shown.code === "already_registered");
      if (focus) summary.focus();
    } else if (shown.kind === "alert") {
      showAlert(shown.message ? `${t("error_generic")} (${shown.message})` : t(shown.key));
    }
  }

  // ---- submitting --------------------------------------------------------------------

  function body() {
    const values = {};
    for (const [name, value] of new FormData(form)) {
      // An empty field is left out, so the server answers "required" for it, not "too short".
      if (typeof value === "string" && value.trim() !== "") values[name] = value;
    }
    // Consent is a yes or no, and names the version of the notice this page showed.
    values.consent = form.elements.consent.checked;
    values.consent_version = form.dataset.consentVersion;
    return values;
  }

  function busy(on) {
    sending = on;
    submit.disabled = on;
    submit.setAttribute("aria-busy", String(on));
    submit.dataset.text = on ? "submitting" : "submit";
    submit.textContent = t(submit.dataset.text);
  }

  async function send(event) {
    event.preventDefault();
    if (sending) return;
    busy(true);
    let response;
    let answer = null;
    try {
      response = await fetch(form.dataset.endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body()),
        credentials: "same-origin",
      });
      answer = await response.json().catch(() => null);
    } catch (_networkError) {
      shown = { kind: "alert", key: "error_network" };
      busy(false);
      redraw(true);
      return;
    }
    busy(false);
    const error = answer && answer.error;
    if (response.status === 201 && answer) {
      shown = { kind: "confirmation", body: answer };
    } else if (error && error.fields) {
      shown = { kind: "fields", code: error.code, fields: error.fields };
    } else {
      shown = { kind: "alert", message: error ? error.message : `HTTP ${response.status}` };
    }
    redraw(true);
    if (shown.kind === "alert") alertBox.scrollIntoView({ block: "center" });
  }

  form.addEventListener("submit", send);

  // ---- confirmation ------------------------------------------------------------------

  function showConfirmation(answer, focus) {
    const statuses = {
      confirmed: "confirm_confirmed",
      pending: "confirm_pending",
      waitlisted: "confirm_waitlisted",
    };
    fill(document.getElementById("confirmation-thanks"), t("confirm_thanks"), {
      name: answer.display_name,
    });
    const status = t(statuses[answer.status] || "confirm_received");
    fill(document.getElementById("confirmation-status"), status, { email: answer.email });
    document.getElementById("registration-number").textContent = String(answer.id);
    document.getElementById("manage-token").textContent = answer.manage_token;
    registration.hidden = true;
    confirmation.hidden = false;
    if (focus) {
      const title = document.getElementById("confirmation-title");
      title.focus();
      title.scrollIntoView({ block: "start" });
    }
  }

  document.getElementById("copy-token").addEventListener("click", async () => {
    const status = document.getElementById("copy-status");
    const code = document.getElementById("manage-token");
    try {
      await navigator.clipboard.writeText(code.textContent);
      status.textContent = t("copied");
    } catch (_refused) {
      window.getSelection().selectAllChildren(code);
      status.textContent = t("copy_failed");
    }
  });
  document.getElementById("print-page").addEventListener("click", () => window.print());

  // The server rendered the page in its language; Chinese country names still need sorting
  // by pinyin, which the browser's collator knows.
  countryNames();
})();
