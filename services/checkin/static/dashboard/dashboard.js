// The live headcount page. Signs in with the organiser token (kept in sessionStorage, for this
// tab only), trades it for a single-use stream ticket (POST, token in a header: never in a URL),
// and shows what the Server-Sent Events stream pushes. On any drop it closes the stream and
// comes back with a fresh ticket, backing off up to 15 s.
// The VIP arrivals show names unless "hide names" is pressed (remembered for this tab), for a
// projector in a room where names should not be on the wall.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const slug = data.event.slug;
  const storageKey = "rollcall.dashboard.token." + slug;
  const hideKey = "rollcall.dashboard.hide-names." + slug;
  const TOP_COUNTRIES = 8;
  let lang = data.lang;
  let source = null;
  let retryTimer = null;
  let staleTimer = null;
  let backoff = 0;
  let lastHeadcount = null;
  let lastConflicts = [];
  let lastArrivals = null;
  let lastVips = null;
  let state = "connecting";

  const $ = (id) => document.getElementById(id);

  function t(key, vars) {
    let text = (data.text[lang] || data.text.en)[key] || "";
    for (const [name, value] of Object.entries(vars || {})) {
      text = text.split("{" + name + "}").join(value);
    }
    return text;
  }

  const number = (n) => new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-GB").format(n);
  const percent = (share) =>
    new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-GB", {
      style: "percent",
      maximumFractionDigits: 0,
    }).format(share);

  function timeOf(value, withSeconds) {
    const options = { hour: "2-digit", minute: "2-digit", hour12: false };
    if (withSeconds) options.second = "2-digit";
    try {
      options.timeZone = data.event.timezone;
      return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", options).format(value);
    } catch (error) {
      delete options.timeZone;
      return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", options).format(value);
    }
  }

  function countryName(code) {
    try {
      return new Intl.DisplayNames([lang === "zh" ? "zh-Hans" : "en-GB"], { type: "region" }).of(
        code
      );
    } catch (error) {
      return code;
    }
  }

  // --- language -------------------------------------------------------------------------------

  function applyTexts() {
    document.documentElement.lang = lang === "zh" ? "zh-Hans" : "en";
    document.querySelectorAll("[data-t]").forEach((el) => {
      el.textContent = t(el.dataset.t);
    });
    document.querySelectorAll("[data-t-label]").forEach((el) => {
      el.setAttribute("aria-label", t(el.dataset.tLabel));
    });
    document.querySelectorAll(".languages a[data-lang]").forEach((a) => {
      if (a.dataset.lang === lang) a.setAttribute("aria-current", "true");
      else a.removeAttribute("aria-current");
    });
    document.title = t("title") + " · " + data.event.name + " · Rollcall";
    setStatus(state);
    if (lastHeadcount) renderHeadcount(lastHeadcount);
    if (lastArrivals) renderArrivals(lastArrivals);
    renderVips(lastVips);
    renderConflicts(lastConflicts, true);
  }

  function categoryLabel(code, labels) {
    const known = data.categories[code] || {};
    return (labels && labels[lang]) || known[lang] || (labels && labels.en) || known.en || code;
  }

  document.querySelectorAll(".languages a[data-lang]").forEach((a) => {
    a.addEventListener("click", (event) => {
      event.preventDefault();
      lang = a.dataset.lang;
      const url = new URL(window.location.href);
      url.searchParams.set("lang", lang);
      history.replaceState(null, "", url);
      applyTexts();
    });
  });

  // --- clock and status -----------------------------------------------------------------------

  function tick() {
    $("clock").textContent = timeOf(new Date(), true);
  }

  function setStatus(next) {
    state = next;
    $("status").dataset.state = next;
    const key = next === "live" ? "live" : next === "reconnecting" ? "reconnecting" : "connecting";
    $("status-text").textContent = t(key);
  }

  // --- signing in and the stream --------------------------------------------------------------

  function showSignIn(message) {
    stop();
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    $("token").focus();
  }

  function stop() {
    if (source) source.close();
    source = null;
    clearTimeout(retryTimer);
    clearTimeout(staleTimer);
  }

  function retryLater() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, backoff + Math.random() * 250);
    backoff = Math.min(Math.max(backoff * 2, 1000), 15000);
  }

  async function connect() {
    stop();
    const token = sessionStorage.getItem(storageKey);
    if (!token) return showSignIn();
    // A stream that ends on schedule comes straight back; say "reconnecting" only if it lasts.
    staleTimer = setTimeout(() => setStatus("reconnecting"), 1500);
    let response;
    try {
      response = await fetch(data.api.ticket, {
        method: "POST",
        headers: { Authorization: "Bearer " + token },
      });
    } catch (error) {
      return retryLater();
    }
    if (response.status === 401 || response.status === 403) {
      sessionStorage.removeItem(storageKey);
      return showSignIn(t(response.status === 401 ? "error_token" : "error_role"));
    }
    if (!response.ok) return retryLater();
    const ticket = await response.json();
    $("sign-in").hidden = true;
    $("board").hidden = false;
    $("sign-out").hidden = false;
    source = new EventSource(ticket.stream);
    source.addEventListener("open", () => {
      clearTimeout(staleTimer);
      backoff = 0;
      setStatus("live");
    });
    source.addEventListener("headcount", (event) => renderHeadcount(JSON.parse(event.data)));
    source.addEventListener("arrivals", (event) => renderArrivals(JSON.parse(event.data)));
    source.addEventListener("vips", (event) => renderVips(JSON.parse(event.data)));
    source.addEventListener("conflicts", (event) =>
      renderConflicts(JSON.parse(event.data).conflicts)
    );
    source.addEventListener("error", () => {
      // A ticket is single-use: never let EventSource retry with the spent one.
      source.close();
      source = null;
      clearTimeout(staleTimer);
      staleTimer = setTimeout(() => setStatus("reconnecting"), 1500);
      retryLater();
    });
  }

  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) {
      $("sign-in-error").textContent = t("error_token");
      return;
    }
    sessionStorage.setItem(storageKey, token);
    $("token").value = "";
    backoff = 0;
    connect();
  });

  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(storageKey);
    lastHeadcount = null;
    lastConflicts = [];
    lastArrivals = null;
    lastVips = null;
    renderVips(null);
    showSignIn();
  });

  // --- rendering ------------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function renderHeadcount(headcount) {
    lastHeadcount = headcount;
    setText($("total-inside"), number(headcount.inside));
    setText($("total-arrived"), number(headcount.arrived));
    setText($("total-registered"), number(headcount.registered));
    setText(
      $("total-share"),
      headcount.registered
        ? t("of_registered", { share: percent(headcount.arrived / headcount.registered) })
        : ""
    );
    renderAreas(headcount.by_area);
    renderRows(
      $("gates"),
      Object.entries(headcount.by_gate).map(([name, c]) => [name, c.inside, c.arrived])
    );
    renderRows(
      $("categories"),
      Object.entries(headcount.by_category)
        .sort((a, b) => b[1].arrived - a[1].arrived || b[1].registered - a[1].registered)
        .map(([code, c]) => [categoryLabel(code), c.arrived, c.registered])
    );
    const countries = Object.entries(headcount.by_country).sort(
      (a, b) => b[1].arrived - a[1].arrived || b[1].registered - a[1].registered
    );
    setText(
      $("countries-top"),
      countries.length > TOP_COUNTRIES ? t("top", { n: TOP_COUNTRIES }) : ""
    );
    renderRows(
      $("countries"),
      countries.slice(0, TOP_COUNTRIES).map(([code, c]) => [countryName(code), c.arrived, c.registered])
    );
    setText($("updated"), t("updated", { time: timeOf(new Date(headcount.as_of), true) }));
  }

  function renderRows(body, rows) {
    body.replaceChildren(
      ...rows.map(([name, first, second]) => {
        const row = el("tr");
        row.append(el("td", "", name), el("td", "strong", number(first)), el("td", "", number(second)));
        return row;
      })
    );
  }

  function renderAreas(byArea) {
    const list = $("areas");
    const seen = new Set();
    const banners = [];
    for (const [code, area] of Object.entries(byArea)) {
      seen.add(code);
      let item = list.querySelector(`[data-code="${CSS.escape(code)}"]`);
      if (!item) {
        item = el("li", "area");
        item.dataset.code = code;
        const head = el("div", "area-head");
        head.append(el("span", "area-name"), el("span", "area-count"));
        const meter = el("div", "meter");
        meter.append(el("div", "fill"));
        const foot = el("div", "area-foot");
        foot.append(el("span", "level"), el("span", "detail"));
        item.append(head, meter, foot);
        list.append(item);
      }
      item.className = "area level-" + area.level;
      setText(item.querySelector(".area-name"), area.name);
      const count = item.querySelector(".area-count");
      count.replaceChildren(number(area.inside));
      if (area.capacity) count.append(el("span", "muted", " / " + number(area.capacity)));
      const meter = item.querySelector(".meter");
      meter.hidden = !area.capacity;
      meter.querySelector(".fill").style.width =
        Math.min(100, (100 * area.inside) / (area.capacity || 1)) + "%";
      const level = area.capacity
        ? [t(area.level), percent(area.occupancy || 0)].filter(Boolean).join(" · ")
        : t("no_capacity");
      setText(item.querySelector(".level"), level);
      setText(item.querySelector(".detail"), area.left ? t("left", { n: number(area.left) }) : "");
      if (area.level !== "ok" && area.capacity) {
        const vars = { area: area.name, inside: number(area.inside), capacity: number(area.capacity) };
        banners.push([area.level, t(area.level + "_banner", vars)]);
      }
    }
    list.querySelectorAll("[data-code]").forEach((item) => {
      if (!seen.has(item.dataset.code)) item.remove();
    });
    banners.sort((a, b) => (a[0] === b[0] ? 0 : a[0] === "alarm" ? -1 : 1));
    const alarms = $("alarms");
    const wanted = banners.map(([, text]) => text).join("\n");
    const shown = Array.from(alarms.children, (p) => p.textContent).join("\n");
    if (wanted !== shown) {
      alarms.replaceChildren(
        ...banners.map(([kind, text]) => el("p", kind, (kind === "alarm" ? "⚠ " : "") + text))
      );
    }
  }

  function renderArrivals(arrivals) {
    lastArrivals = arrivals;
    const buckets = arrivals.buckets;
    const peak = Math.max(1, ...buckets.map((b) => b.count));
    const chart = $("chart");
    chart.replaceChildren(
      ...buckets.map((bucket, i) => {
        const bar = el("div", i === buckets.length - 1 ? "col now" : "col");
        bar.style.height = (100 * bucket.count) / peak + "%";
        if (bucket.count) bar.append(el("span", "", number(bucket.count)));
        return bar;
      })
    );
    // A time under the first bar of each hour.
    $("chart-axis").replaceChildren(
      ...buckets.map((bucket) => {
        const start = new Date(bucket.start);
        const hourly = start.getUTCMinutes() === 0;
        return el("span", "", hourly ? timeOf(start) : "");
      })
    );
    const last = buckets[buckets.length - 1];
    chart.setAttribute(
      "aria-label",
      t("chart_summary", {
        now: number(last.count),
        time: timeOf(new Date(last.start)),
        peak: number(Math.max(...buckets.map((b) => b.count))),
      })
    );
  }

  // --- VIP arrivals ---------------------------------------------------------------------------

  const namesHidden = () => sessionStorage.getItem(hideKey) === "1";

  function renderVips(body) {
    lastVips = body;
    const vips = (body && body.vips) || [];
    const hidden = namesHidden();
    $("hide-names").setAttribute("aria-pressed", String(hidden));
    $("vips").classList.toggle("names-hidden", hidden);
    $("no-vips").hidden = !body || vips.length > 0; // said once the stream has told
    $("vips").replaceChildren(
      ...vips.map((vip) => {
        const item = el("li", "vip");
        item.dataset.badge = String(vip.badge_id);
        const label = categoryLabel(vip.category, vip.category_label);
        const who = el("p", "who");
        if (hidden) who.append(el("span", "muted", t("name_hidden")));
        else who.append(el("span", "name", vip.name));
        who.title = hidden ? "" : vip.name; // in full, where the projector's line cuts it
        const time = el("time", "when", timeOf(new Date(vip.at)));
        time.dateTime = vip.at;
        const where = el("p", "where");
        where.append(
          el("span", "tag", label),
          " " + t("vip_place", { gate: vip.gate || t("desk"), area: vip.area })
        );
        item.append(time, who, where);
        return item;
      })
    );
  }

  $("hide-names").addEventListener("click", () => {
    if (namesHidden()) sessionStorage.removeItem(hideKey);
    else sessionStorage.setItem(hideKey, "1");
    renderVips(lastVips);
  });

  function renderConflicts(conflicts, relabel) {
    lastConflicts = conflicts;
    const list = $("conflicts");
    const open = new Set(conflicts.map((c) => String(c.id)));
    list.querySelectorAll("[data-id]").forEach((item) => {
      if (!open.has(item.dataset.id) || relabel) item.remove();
    });
    for (const conflict of conflicts) {
      if (list.querySelector(`[data-id="${conflict.id}"]`)) continue;
      list.append(conflictItem(conflict));
    }
    $("no-conflicts").hidden = conflicts.length > 0;
    setText($("conflicts-count"), conflicts.length ? number(conflicts.length) : "");
  }

  function scanPlace(scan) {
    const gate = scan.gate || "—";
    return scan.source === "offline" ? gate + " (" + t("offline") + ")" : gate;
  }

  function conflictItem(conflict) {
    const item = el("li", "conflict");
    item.dataset.id = String(conflict.id);
    const badge = conflict.badge || {};
    item.append(
      el("p", "who", t("conflict_line", {
        name: badge.display_name || "—",
        badge: "#" + (badge.id || "?"),
        area: (lastHeadcount && lastHeadcount.by_area[conflict.area]?.name) || conflict.area,
      })),
      el("p", "what", t("conflict_detail", {
        winner_gate: scanPlace(conflict.winner),
        winner_time: timeOf(new Date(conflict.winner.occurred_at)),
        loser_gate: scanPlace(conflict.loser),
        loser_time: timeOf(new Date(conflict.loser.occurred_at)),
      }))
    );
    const button = el("button", "quiet", t("resolve"));
    button.type = "button";
    button.addEventListener("click", () => {
      button.hidden = true;
      item.append(resolveForm(conflict, item, button));
      item.querySelector("textarea").focus();
    });
    item.append(button);
    return item;
  }

  function resolveForm(conflict, item, button) {
    const form = el("form");
    const id = "note-" + conflict.id;
    const label = el("label", "", t("note"));
    label.htmlFor = id;
    const note = el("textarea");
    note.id = id;
    note.required = true;
    note.maxLength = 1000;
    note.placeholder = t("note_hint");
    const error = el("p", "error");
    error.setAttribute("role", "alert");
    const actions = el("div", "actions");
    const submit = el("button", "", t("confirm_resolve"));
    submit.type = "submit";
    const cancel = el("button", "quiet", t("cancel"));
    cancel.type = "button";
    cancel.addEventListener("click", () => {
      form.remove();
      button.hidden = false;
    });
    actions.append(submit, cancel);
    form.append(label, note, error, actions);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!note.value.trim()) {
        error.textContent = t("note_hint");
        return;
      }
      submit.disabled = true;
      try {
        const response = await fetch(`${data.api.conflicts}/${conflict.id}/resolve`, {
          method: "POST",
          headers: {
            Authorization: "Bearer " + sessionStorage.getItem(storageKey),
            "Content-Type": "application/json",
          },
          body: JSON.stringify({ note: note.value.trim() }),
        });
        if (response.ok || response.status === 409) {
          renderConflicts(lastConflicts.filter((c) => c.id !== conflict.id));
          return;
        }
        error.textContent = t("error_action");
      } catch (failure) {
        error.textContent = t("error_action");
      }
      submit.disabled = false;
    });
    return form;
  }

  // --- start ----------------------------------------------------------------------------------

  tick();
  setInterval(tick, 1000);
  applyTexts();
  if (sessionStorage.getItem(storageKey)) connect();
  else showSignIn();
})();
