// The live map (/ui): zones, their nodes, what each runs and its state, the
// aggregates, and a deployment spreading — from this agent's API only:
//   GET /v1/modules/aggregate/query?args=tree   zones, rosters, node rows, root row
//   GET /v1/modules/membership/query?args=members   every member and its state
//   GET /v1/status   this node's own modules
//   GET /v1/events   the event stream, read with fetch (so a token can go along)
// No framework: the page is small, and the agent serves it from its binary.
"use strict";

const params = new URLSearchParams(location.hash.slice(1));
if (params.get("token")) localStorage.setItem("hearsay-token", params.get("token"));
const token = localStorage.getItem("hearsay-token");
const headers = token ? { Authorization: "Bearer " + token } : {};

const map = {
  self: null,
  nodes: new Map(), // addr -> {addr, zone, state, modules: {name: version}, attrs, heard}
  zones: new Map(), // zone path -> aggregate attributes
  root: {},
  events: [],
  renders: 0,
};
window.hearsayMap = map;

async function api(path) {
  const res = await fetch("/v1" + path, { headers });
  if (!res.ok) throw new Error(path + ": " + res.status);
  return res.json();
}

function node(addr) {
  let n = map.nodes.get(addr);
  if (!n) {
    n = { addr, zone: null, state: "alive", modules: {}, attrs: {}, heard: 0 };
    map.nodes.set(addr, n);
  }
  return n;
}

// "aggregate:1a2b3c membership:4d5e6f" -> {aggregate: "1a2b3c", membership: "4d5e6f"}
function parseModules(text) {
  const out = {};
  for (const word of String(text || "").split(/\s+/)) {
    const at = word.lastIndexOf(":");
    if (at > 0) out[word.slice(0, at)] = word.slice(at + 1);
  }
  return out;
}

function childPath(zone, name) {
  return (zone === "/" ? "" : zone) + "/" + name;
}

// "/eu/rack1/127.0.0.1:7001" -> ["/eu/rack1", "127.0.0.1:7001"]
function splitNodePath(path) {
  const at = path.lastIndexOf("/");
  return [at <= 0 ? "/" : path.slice(0, at), path.slice(at + 1)];
}

function takeTree(tree, now) {
  map.self = tree.node;
  map.root = tree.root || {};
  for (const table of tree.tables || []) {
    for (const row of table.rows) {
      if (row.kind === "zone") {
        map.zones.set(childPath(table.zone, row.name), row.attrs);
        for (const entry of Array.isArray(row.attrs.roster) ? row.attrs.roster : []) {
          const [zone, addr] = splitNodePath(entry.node);
          const n = node(addr);
          n.zone = zone;
          n.modules = parseModules(entry.value);
          n.heard = now;
        }
      } else {
        const n = node(row.name);
        n.zone = table.zone;
        n.attrs = row.attrs;
        n.modules = parseModules(row.attrs.modules);
        n.heard = now;
      }
    }
  }
}

function takeMembers(members, now) {
  for (const m of members.members || []) {
    const n = node(m.addr);
    if (!n.zone && m.labels && m.labels.zone) n.zone = m.labels.zone;
    n.state = m.state === "live" ? "alive" : m.state;
    if (n.state === "alive" || n.state === "suspected") n.heard = now;
  }
}

function takeStatus(status) {
  const n = node(status.gossip_addr);
  map.self = status.gossip_addr;
  n.zone = n.zone || (status.labels && status.labels.zone) || "/";
  const modules = {};
  for (const m of status.modules) {
    if (m.state === "running" && m.deployment.version) modules[m.deployment.module] = m.deployment.version.slice(0, 12);
  }
  n.modules = modules;
  n.heard = Date.now();
}

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  const now = Date.now();
  const before = new Map([...map.nodes].map(([a, n]) => [a, JSON.stringify([n.state, n.modules])]));
  const [tree, members, status] = await Promise.allSettled([
    api("/modules/aggregate/query?args=tree"),
    api("/modules/membership/query?args=members"),
    api("/status"),
  ]);
  if (tree.status === "fulfilled" && !tree.value.error) takeTree(tree.value, now);
  if (members.status === "fulfilled" && !members.value.error) takeMembers(members.value, now);
  if (status.status === "fulfilled") takeStatus(status.value);
  // A node neither the aggregate tables nor membership still name has gone.
  for (const n of map.nodes.values()) {
    if (n.heard < now && n.state === "alive") n.state = "failed";
  }
  render(before);
  refreshing = false;
}

let soon = null;
function refreshSoon() {
  if (!soon) soon = setTimeout(() => { soon = null; refresh(); }, 100);
}

function onEvent(e) {
  map.events.unshift(e);
  map.events.length = Math.min(map.events.length, 60);
  const addr = e.data && e.data.addr;
  if (addr && e.kind.startsWith("member.")) {
    const n = node(addr);
    if (e.data.labels && e.data.labels.zone) n.zone = n.zone || e.data.labels.zone;
    n.state = { "member.suspected": "suspected", "member.failed": "failed", "member.left": "left" }[e.kind] || "alive";
  }
  refreshSoon();
}

async function stream() {
  let after = 0;
  const status = document.getElementById("connection");
  for (;;) {
    try {
      // From the start of what the node keeps (its last 1,024 events), then live.
      const res = await fetch("/v1/events?after=" + (after || 0), { headers });
      if (!res.ok) throw new Error("events: " + res.status);
      status.textContent = "live";
      status.className = "connection live";
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const chunk = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          for (const line of chunk.split("\n")) {
            if (!line.startsWith("data:")) continue;
            try {
              const e = JSON.parse(line.slice(5));
              if (e.id) after = e.id;
              onEvent(e);
            } catch (_) { /* not an event: skip */ }
          }
        }
      }
    } catch (_) { /* reconnect below */ }
    status.textContent = "reconnecting…";
    status.className = "connection";
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function colour(version) {
  let h = 0;
  for (const c of String(version)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return "hsl(" + (h % 360) + ", 65%, 62%)";
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function show(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3);
  if (Array.isArray(value)) return value.map((x) => (x.node ? splitNodePath(x.node)[1] + "=" + x.value : show(x))).join(", ");
  if (typeof value === "object") return Object.entries(value).map(([k, n]) => k + "×" + n).join(", ");
  return String(value);
}

function aggregates(attrs) {
  const box = el("div", { class: "aggregates" });
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "roster") continue;
    box.append(el("span", { class: "agg" }, el("b", {}, k + " "), show(v)));
  }
  return box;
}

// What an event is about, in a few words: a module's event names its node or row,
// the core's says it all in its message.
function about(e) {
  const d = e.data || {};
  if (e.source === "core") return e.message || "";
  return [d.addr, d.zone, d.name].filter((x) => x).join(" ") || e.source || "";
}

function render(before) {
  map.renders += 1;
  document.body.dataset.renders = map.renders;
  document.getElementById("self").textContent = map.self ? "at " + map.self : "";
  document.getElementById("root").replaceChildren(aggregates(map.root));

  const byZone = new Map();
  for (const zone of map.zones.keys()) byZone.set(zone, []);
  for (const n of map.nodes.values()) {
    const zone = n.zone || "?";
    if (!byZone.has(zone)) byZone.set(zone, []);
    byZone.get(zone).push(n);
  }
  // A zone whose nodes are shown in its sub-zones needs no panel of its own.
  const panels = [...byZone.keys()].filter((z) => byZone.get(z).length > 0 ||
    ![...byZone.keys()].some((o) => o !== z && o.startsWith(z === "/" ? "/" : z + "/") && byZone.get(o).length > 0));
  panels.sort();
  const zones = panels.map((zone) => {
    const nodes = byZone.get(zone).sort((a, b) => a.addr.localeCompare(b.addr));
    return el("div", { class: "zone", "data-zone": zone },
      el("h3", {}, zone),
      aggregates(map.zones.get(zone)),
      el("div", { class: "nodes" }, ...nodes.map((n) => {
        const modules = Object.entries(n.modules).sort();
        const text = modules.map(([m, v]) => m + ":" + v).join(" ");
        const changed = before && before.has(n.addr) && before.get(n.addr) !== JSON.stringify([n.state, n.modules]);
        return el("div", {
          class: "node " + n.state + (changed ? " changed" : ""),
          "data-addr": n.addr, "data-zone": zone, "data-state": n.state, "data-modules": text,
          title: JSON.stringify(n.attrs),
        },
        el("div", { class: "addr" }, n.addr, n.addr === map.self ? el("span", { class: "self" }, " (this node)") : null),
        el("div", { class: "mods" }, ...modules.map(([m, v]) =>
          el("span", { class: "mod", style: "background:" + colour(v), title: m + " " + v }, m + " " + v.slice(0, 6)))),
        n.attrs.load !== undefined ? el("div", {}, "load " + show(n.attrs.load)) : null);
      })));
  });
  document.getElementById("zones").replaceChildren(...zones);

  const versions = new Map();
  for (const n of map.nodes.values()) {
    if (n.state === "failed" || n.state === "left") continue;
    for (const [m, v] of Object.entries(n.modules)) {
      const key = m + " " + v;
      versions.set(key, (versions.get(key) || 0) + 1);
    }
  }
  document.getElementById("versions").replaceChildren(...[...versions].sort().map(([key, count]) =>
    el("div", { class: "version", "data-version": key },
      el("span", { class: "mod", style: "background:" + colour(key.split(" ")[1]) }, key),
      el("span", {}, count + " node" + (count === 1 ? "" : "s")))));
  document.getElementById("events").replaceChildren(...map.events.slice(0, 40).map((e) =>
    el("li", {}, new Date(e.time_ms).toLocaleTimeString() + " ", el("span", {}, e.kind), " " + about(e))));
}

refresh();
setInterval(refresh, 1000);
stream();
