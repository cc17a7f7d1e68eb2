// wharf status page: fetches api/status every 5 s and renders it. Plain browser JavaScript, inlined
// into the page by admin-app.ts (no build step, nothing loaded from elsewhere). Data only ever goes
// through textContent: repository names and error texts come from clients and upstreams.

const REFRESH_MS = 5000;
const TOKEN_KEY = "wharf-admin-token";

// A ?token= in the address is moved to sessionStorage and removed from the address bar (and history).
const params = new URLSearchParams(location.search);
if (params.has("token")) {
  sessionStorage.setItem(TOKEN_KEY, params.get("token") || "");
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
}

const BREAKER_TEXT = { closed: "healthy", "half-open": "recovering", open: "paused after errors" };

function rateLimitText(limits) {
  const known = limits.filter((l) => l.remaining !== null);
  if (known.length === 0) return { text: "—", raw: null };
  const low = known.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  const text = known
    .map(
      (l) =>
        `${integer.format(l.remaining)}${l.limit !== null ? ` / ${integer.format(l.limit)}` : ""} (${l.account})`,
    )
    .join(", ");
  return { text, raw: low.remaining };
}

function registryCard(r) {
  const id = (what) => `${what}-${r.name}`;
  // a hosted registry has no upstream, so no breaker: its badge says what it is
  const breaker = r.upstream ? r.upstream.breaker : "hosted";
  // "healthy" only on evidence: an answer from upstream (a request or the periodic probe)
  const reach = r.upstream ? r.upstream.reachability || "unknown" : "hosted";
  const down = breaker === "closed" && reach === "unreachable";
  const state = r.offline ? "offline" : down ? "open" : breaker;
  const badgeText =
    breaker === "closed"
      ? { reachable: "healthy", unreachable: "upstream unreachable", unknown: "not contacted yet" }[reach]
      : null;
  const badge = el(
    "span",
    { class: `badge ${state}`, "data-testid": id("breaker"), "data-value": breaker },
    r.offline ? "offline" : badgeText || BREAKER_TEXT[breaker] || breaker,
  );
  const ratio = el("span", { class: "big", "data-testid": id("hit-ratio") });
  setValue(ratio, formatPercent(r.hitRatio), r.hitRatio);
  const bar = el(
    "div",
    { class: "bar", role: "progressbar", "aria-label": `${r.name} hit ratio` },
    el("span"),
  );
  bar.firstChild.style.width = `${Math.round((r.hitRatio || 0) * 100)}%`;
  const row = (label, testid, text, raw) => {
    const dd = el("dd", { "data-testid": id(testid) });
    setValue(dd, text, raw);
    return [el("dt", {}, label), dd];
  };
  const limit = rateLimitText(r.rateLimit);
  const kv = el(
    "dl",
    { class: "kv" },
    ...row("Requests", "requests", integer.format(r.requests), r.requests),
    ...row(
      "Hits / misses",
      "hits-misses",
      `${integer.format(r.hits)} / ${integer.format(r.misses + r.coalesced)}`,
      `${r.hits}/${r.misses + r.coalesced}`,
    ),
    ...row("Bytes saved", "bytes-saved", formatBytes(r.bytesSaved), r.bytesSaved),
    ...row("Fetched upstream", "bytes-upstream", formatBytes(r.bytesFetchedUpstream), r.bytesFetchedUpstream),
    ...row("Pulls left", "ratelimit", limit.text, limit.raw),
  );
  const card = el(
    "article",
    { class: "card registry", "data-registry": r.name },
    el("div", { class: "reg-head" }, el("span", { class: "reg-name" }, r.name), badge),
    el("div", { class: "upstream mono" }, r.upstream ? r.upstream.url : "hosted: images pushed to wharf"),
    el("div", { class: "ratio" }, ratio, el("span", { class: "sub" }, "hit ratio")),
    bar,
    kv,
  );
  if (!r.offline && r.upstream?.unreachableSince)
    card.append(
      el(
        "div",
        {
          class: "last-error",
          "data-testid": id("upstream-down"),
          "data-value": r.upstream.unreachableSince,
        },
        `${r.hits > 0 ? "Serving from cache; upstream" : "Upstream"} unreachable since ${formatTime(r.upstream.unreachableSince)}` +
          (r.upstream.lastSuccessAt ? ` (last answer ${formatTime(r.upstream.lastSuccessAt)})` : ""),
      ),
    );
  if (r.upstream?.lastError)
    card.append(
      el(
        "div",
        { class: "last-error", "data-testid": id("last-error") },
        `Last upstream error: ${r.upstream.lastError}`,
      ),
    );
  return card;
}

// One row per mirrored tag (and one per entry not synced yet): digest, pin, upstream drift, last sync.
function mirrorRows(entries) {
  const rows = [];
  for (const e of entries) {
    const when = e.lastSuccess ? new Date(e.lastSuccess).toLocaleTimeString() : "never";
    const sync = el(
      "td",
      { "data-testid": `mirror-last-sync-${e.entry}`, "data-value": e.lastSuccess || "" },
      e.running ? "syncing…" : when,
      e.lastError ? el("span", { class: "code-tag" }, "failed") : "",
    );
    const tags = e.tags.length > 0 ? e.tags : [null];
    for (const t of tags) {
      const state = !t ? "not synced" : t.pinned ? "pinned" : "following";
      const drift = t?.drift ? ` · upstream now ${t.upstream.slice(7, 19)}` : "";
      rows.push(
        el(
          "tr",
          { "data-testid": "mirror-tag", "data-entry": e.entry, "data-tag": t ? t.tag : "" },
          el("td", { class: "mono" }, e.target),
          el("td", { class: "mono" }, t ? t.tag : "—"),
          el(
            "td",
            { class: "mono", "data-testid": "mirror-digest", "data-value": t?.current || "" },
            t?.current ? t.current.slice(0, 19) : "—",
          ),
          el("td", { "data-testid": "mirror-state" }, state + drift),
          sync.cloneNode(true),
        ),
      );
    }
  }
  return rows;
}

// healthy, degraded (a shared store does not answer it), gone (no heartbeat): breaker badge colours
const REPLICA_BADGE = { healthy: "closed", degraded: "half-open", gone: "open" };

function storeText(name, p) {
  if (!p) return null;
  if (p.reachable === null) return `${name}: not probed yet`;
  return p.reachable ? `${name}: reachable` : `${name}: unreachable (${p.error || "no answer"})`;
}

function renderReplicas(s) {
  const shared = s.sharedStore;
  const replicas = s.replicas;
  $("#replicas").hidden = !shared && !replicas;
  const stores = shared ? [storeText("bucket", shared.bucket), storeText("database", shared.database)] : [];
  const line = stores.filter(Boolean).join(" · ");
  setValue(byTestId("shared-store"), line ? `Shared stores: ${line}` : "", line);
  $("#replica-rows").replaceChildren(
    ...(replicas ? replicas.replicas : []).map((r) => {
      const missing = Object.entries(r.health || {})
        .filter(([, ok]) => ok === false)
        .map(([k]) => k);
      const state =
        r.state === "degraded" && missing.length > 0 ? `degraded: ${missing.join(", ")}` : r.state;
      return el(
        "tr",
        { "data-testid": "replica", "data-id": r.id, "data-self": String(r.self) },
        el("td", {}, r.self ? `${r.name} (this replica)` : r.name),
        el("td", { class: "mono" }, r.id),
        el("td", { class: "mono" }, r.addresses.join(", ") || "—"),
        el(
          "td",
          {},
          el("span", { class: `badge ${REPLICA_BADGE[r.state]}`, "data-testid": "replica-state" }, state),
        ),
        el("td", { class: "num", "data-testid": "replica-seen" }, `${r.seenSecondsAgo.toFixed(1)} s ago`),
      );
    }),
  );
}

function render(s) {
  setValue(byTestId("version"), `v${s.version}`, s.version);
  setValue(byTestId("uptime"), formatUptime(s.uptimeSeconds), s.uptimeSeconds);
  setValue(byTestId("total-hit-ratio"), formatPercent(s.totals.hitRatio), s.totals.hitRatio);
  setValue(byTestId("total-hits"), integer.format(s.totals.hits), s.totals.hits);
  setValue(byTestId("total-misses"), integer.format(s.totals.misses), s.totals.misses);
  setValue(byTestId("total-bytes-saved"), formatBytes(s.totals.bytesSaved), s.totals.bytesSaved);
  setValue(
    byTestId("total-bytes-upstream"),
    formatBytes(s.totals.bytesFetchedUpstream),
    s.totals.bytesFetchedUpstream,
  );
  setValue(byTestId("total-requests"), integer.format(s.totals.requests), s.totals.requests);
  setValue(byTestId("fills-in-flight"), integer.format(s.fills.inFlight), s.fills.inFlight);

  setValue(byTestId("cache-bytes"), formatBytes(s.cache.bytes), s.cache.bytes);
  setValue(
    byTestId("cache-max"),
    s.cache.maxBytes === null ? "no cap" : formatBytes(s.cache.maxBytes),
    s.cache.maxBytes,
  );
  setValue(byTestId("cache-entries"), integer.format(s.cache.entries), s.cache.entries);
  const usage = byTestId("cache-usage");
  const pct = s.cache.usageRatio === null ? 0 : Math.min(100, s.cache.usageRatio * 100);
  usage.dataset.value = s.cache.usageRatio === null ? "" : String(s.cache.usageRatio);
  usage.setAttribute("aria-valuenow", pct.toFixed(1));
  usage.className = `bar${pct >= 95 ? " bad" : pct >= 80 ? " warn" : ""}`;
  usage.firstElementChild.style.width = `${pct}%`;

  $("#registries").replaceChildren(...s.registries.map(registryCard));
  const mirror = s.mirror || [];
  $("#mirror").hidden = mirror.length === 0;
  $("#mirror-tags").replaceChildren(...mirrorRows(mirror));
  renderReplicas(s);
  const denials = s.accessDenials || [];
  $("#denials").hidden = denials.length === 0;
  $("#denial-rows").replaceChildren(
    ...denials.map((d) =>
      el(
        "tr",
        { "data-testid": "denial" },
        el("td", {}, d.at),
        el("td", { class: "mono" }, d.address ? `${d.client} (${d.address})` : d.client),
        el("td", {}, d.action),
        el("td", { class: "mono" }, `${d.registry}/${d.repository}`),
        el("td", {}, d.by),
      ),
    ),
  );

  const workers = s.workers || [];
  $("#workers").hidden = workers.length === 0;
  $("#worker-rows").replaceChildren(
    ...workers.map((w) =>
      el(
        "tr",
        { "data-testid": "worker" },
        el("td", {}, w.up ? String(w.worker) : `${w.worker} (restarting)`),
        el("td", { class: "num mono" }, w.pid ?? "—"),
        el("td", { class: "num" }, integer.format(w.requests)),
        el("td", { class: "num" }, formatBytes(w.bytesServed)),
        el("td", { class: "num" }, integer.format(w.connectionsOpen)),
        el("td", { class: "num" }, formatBytes(w.residentBytes)),
        el("td", { class: "num" }, `${w.cpuSeconds.toFixed(1)} s`),
        el("td", { class: "num" }, integer.format(w.restarts)),
      ),
    ),
  );

  $("#top-repositories").replaceChildren(
    ...s.topRepositories.map((t) =>
      el(
        "tr",
        { "data-testid": "top-repository" },
        el("td", { class: "mono" }, `${t.registry}/${t.repository}`),
        el("td", { class: "num" }, integer.format(t.requests)),
        el("td", { class: "num" }, integer.format(t.hits)),
        el("td", { class: "num" }, formatBytes(t.bytes)),
      ),
    ),
  );
  $("#top-empty").hidden = s.topRepositories.length > 0;

  $("#recent-errors").replaceChildren(
    ...s.recentErrors.slice(0, 15).map((e) => {
      const what = e.repository
        ? `${e.registry}/${e.repository}${e.reference ? (e.reference.includes(":") ? `@${e.reference}` : `:${e.reference}`) : ""}`
        : `${e.method} (${e.kind})`;
      return el(
        "tr",
        { "data-testid": "recent-error" },
        el("td", { class: "num" }, new Date(e.at).toLocaleTimeString()),
        el("td", { class: "mono" }, what, el("span", { class: "code-tag" }, e.errorCode || "")),
        el("td", { class: "num status-err" }, e.status),
      );
    }),
  );
  $("#errors-empty").hidden = s.recentErrors.length > 0;

  $("#client-commands").replaceChildren(
    ...s.clientCommands.map((c) =>
      el("li", {}, el("code", { "data-testid": "client-command" }, c), copyButton(c)),
    ),
  );

  setValue(byTestId("ca-subject"), s.ca ? s.ca.subject : "not loaded", s.ca?.subject);
  setValue(byTestId("ca-fingerprint"), s.ca ? s.ca.fingerprint256 : "—", s.ca?.fingerprint256);
  setValue(byTestId("ca-not-after"), s.ca ? new Date(s.ca.notAfter).toUTCString() : "—", s.ca?.notAfter);
  $("#copy-fp").hidden = !s.ca;
  $("#listen").replaceChildren(
    ...Object.entries(s.listen).flatMap(([k, v]) => [
      el("dt", {}, k),
      el("dd", { class: "mono", "data-testid": `listen-${k}` }, v),
    ]),
  );
}

function showProblem(text) {
  const banner = $("#banner");
  banner.hidden = !text;
  banner.textContent = text || "";
  byTestId("updated").classList.toggle("stale", Boolean(text));
}

async function refresh() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  try {
    const res = await fetch("api/status", {
      cache: "no-store",
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    if (res.status === 401) {
      showProblem(
        token
          ? "The admin token was not accepted."
          : "This wharf has admin.token set: open this page as /?token=<token>.",
      );
      return;
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const status = await res.json();
    render(status);
    showProblem("");
    byTestId("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (e) {
    showProblem(`Cannot reach wharf's admin API (${e.message}); showing the last known state.`);
  }
}

$("#copy-fp").addEventListener("click", (ev) =>
  copyText(byTestId("ca-fingerprint").textContent, ev.currentTarget),
);

let timer;
async function loop() {
  clearTimeout(timer);
  if (!document.hidden) await refresh();
  timer = setTimeout(loop, REFRESH_MS);
}
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) loop();
});
loop();
