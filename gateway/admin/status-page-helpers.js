// wharf status page, helpers: formatting, DOM building, copy buttons. Concatenated before
// status-page.js into the page's one inline script by admin-app.ts.
// biome-ignore-all lint/correctness/noUnusedVariables: used by status-page.js, which follows in the same script
const $ = (sel) => document.querySelector(sel);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const integer = new Intl.NumberFormat("en-US");

// Same units and rounding as formatBytes in gateway/config/units.ts.
function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function formatPercent(ratio) {
  return ratio === null || ratio === undefined ? "—" : `${(ratio * 100).toFixed(1)} %`;
}

function formatUptime(seconds) {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `up ${d}d ${h}h`;
  if (h > 0) return `up ${h}h ${m}m`;
  return `up ${m}m ${seconds % 60}s`;
}

/** An ISO time as the viewer's local date and time. */
function formatTime(iso) {
  return new Date(iso).toLocaleString();
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** Sets text and the raw value (data-value) that tests compare with /api/status. */
function setValue(node, text, raw) {
  if (!node) return;
  node.textContent = text;
  node.dataset.value = raw === null || raw === undefined ? "" : String(raw);
}

async function copyText(text, button) {
  try {
    if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
    else {
      // Plain http on a non-loopback address has no Clipboard API: fall back to a selection.
      const area = el("textarea", {}, text);
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
  } catch {
    button.textContent = "Press Ctrl+C";
  }
  setTimeout(() => {
    button.textContent = "Copy";
  }, 1500);
}

function copyButton(text) {
  const b = el("button", { type: "button", class: "copy" }, "Copy");
  b.addEventListener("click", () => copyText(text, b));
  return b;
}
