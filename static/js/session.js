// Session page: instances and their terminals, over PWD's session WebSocket and JSON API.
//
// Every event received on the WebSocket is re-dispatched on `document` as
//   new CustomEvent("pwd:event", {detail: {name, args}})
// so other scripts (expiry countdown, port badges) can follow the session without a socket of their own.
(() => {
  "use strict";
  const root = document.getElementById("session");
  if (!root) return;
  const sid = root.dataset.session;
  // A trainer watching a learner (?readonly=1): nothing typed, nothing resized; the server ignores it anyway.
  const readonly = new URLSearchParams(location.search).get("readonly") === "1";
  const $ = (id) => document.getElementById(id);

  // Close codes the server uses to refuse or end a socket; anything else means "try again".
  const CLOSE_FORBIDDEN_ORIGIN = 4403;
  const CLOSE_UNKNOWN_SESSION = 4404;
  const CLOSE_SESSION_ENDED = 4410;
  const FONT_KEY = "playground.fontSize";
  const ACK_FRAMES = 4;
  const ACK_DELAY_MS = 20;

  const instances = new Map(); // name -> {name, hostname, ip, proxyHost, item, pane, term, fit, acks}
  let selected = null;
  let socket = null;
  let retries = 0;
  let ended = false;
  let size = null; // [cols, rows] last sent to the server

  // ---- messages to the learner ----
  function say(text, isError = false) {
    const status = $("status");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  let toastTimer = 0;
  function toast(text) {
    const el = $("toast");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (el.hidden = true), 1500);
  }

  function showEnded(text) {
    ended = true;
    $("reconnecting").hidden = true;
    if (text) $("expired-text").textContent = text;
    $("expired").hidden = false;
    for (const instance of instances.values()) instance.term.options.disableStdin = true;
  }

  // ---- JSON API ----
  async function call(method, url, payload = undefined) {
    const init = { method, headers: { "X-Requested-With": "XMLHttpRequest" } };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    const response = await fetch(url, init);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const reason = body.message || `${response.status} ${response.statusText}`;
      throw new Error(response.status === 503 ? `The server is full right now: ${reason}` : reason);
    }
    return body;
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Plain http on a non-local host has no async clipboard; the old command still works there.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  }

  // ---- the WebSocket ----
  function send(name, ...args) {
    if (readonly && name !== "instance terminal ack") return;
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ name, args }));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // flow=ack: we acknowledge output once xterm.js has parsed it, so the server never floods the page.
    socket = new WebSocket(`${scheme}://${location.host}/sessions/${sid}/ws/?flow=ack${readonly ? "&readonly=1" : ""}`);
    socket.onopen = () => {
      retries = 0;
      $("reconnecting").hidden = true;
      if (size) send("instance viewport resize", ...size);
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      handle(event.name, event.args || []);
      document.dispatchEvent(new CustomEvent("pwd:event", { detail: { name: event.name, args: event.args || [] } }));
    };
    socket.onclose = (event) => {
      socket = null;
      if (ended) return;
      if (event.code === CLOSE_SESSION_ENDED) return showEnded();
      if (event.code === CLOSE_UNKNOWN_SESSION) return showEnded("This session does not exist (any more).");
      if (event.code === CLOSE_FORBIDDEN_ORIGIN) return say("This page may not open terminals from this address.", true);
      $("reconnecting").hidden = instances.size === 0;
      setTimeout(connect, Math.min(10000, 500 * 2 ** retries++));
    };
  }

  function handle(name, args) {
    if (name === "instance terminal out") {
      write(args[0], args[1]);
    } else if (name === "instance new") {
      const [iname, ip, hostname, proxyHost] = args;
      adopt({ name: iname, ip, hostname, proxyHost });
    } else if (name === "instance delete") {
      forget(args[0]);
    } else if (name === "session end") {
      // With a reason when it ended unasked: "the machine running this session stopped answering".
      showEnded(args[0]);
    }
  }

  function write(name, data) {
    const instance = instances.get(name);
    if (!instance) return;
    instance.term.write(data, () => {
      // Acknowledge parsed frames in batches, a little later: no message competes with the next keystroke, and
      // the server's window (256 KiB) is far larger than ACK_FRAMES frames of a flood.
      instance.acks += 1;
      if (instance.acks >= ACK_FRAMES) acknowledge(instance);
      else if (instance.acks === 1) setTimeout(() => acknowledge(instance), ACK_DELAY_MS);
    });
  }

  function acknowledge(instance) {
    if (instance.acks === 0) return;
    send("instance terminal ack", instance.name, instance.acks);
    instance.acks = 0;
  }

  // ---- terminals ----
  function fontSize() {
    return Number(localStorage.getItem(FONT_KEY)) || 14;
  }

  function makeTerminal(instance) {
    const term = new Terminal({
      fontSize: fontSize(),
      fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, monospace',
      cursorBlink: true,
      disableStdin: readonly,
      scrollback: 5000,
      theme: { background: "#0b1118" },
    });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.loadAddon(new WebLinksAddon.WebLinksAddon());
    term.attachCustomKeyEventHandler((event) => {
      if (event.type !== "keydown") return true;
      const mod = event.ctrlKey || event.metaKey;
      // Let the browser paste (its paste event reaches xterm.js) instead of sending ^V to the shell.
      if ((mod && event.shiftKey && event.code === "KeyV") || (event.shiftKey && event.key === "Insert")) return false;
      if (event.altKey && event.key === "Enter") {
        toggleFullscreen();
        return false;
      }
      return true;
    });
    term.onData((data) => send("instance terminal in", instance.name, data));
    term.onSelectionChange(() => {
      const text = term.getSelection();
      if (text) copyText(text).then(() => toast("Copied"));
    });
    const pane = document.createElement("div");
    pane.className = "pane";
    pane.dataset.name = instance.name;
    $("terminals").append(pane);
    term.open(pane);
    return { term, fit, pane };
  }

  function layout() {
    for (const instance of instances.values()) instance.fit.fit();
    const visible = selected && instances.get(selected);
    if (!visible) return;
    const next = [visible.term.cols, visible.term.rows];
    if (!size || size[0] !== next[0] || size[1] !== next[1]) {
      size = next;
      send("instance viewport resize", ...size);
    }
  }

  function toggleFullscreen() {
    const workspace = $("workspace");
    if (document.fullscreenElement) document.exitFullscreen();
    else workspace.requestFullscreen?.().catch(() => workspace.classList.toggle("fullscreen"));
  }

  // ---- the instance list ----
  function sshCommand(instance) {
    return `ssh ${instance.proxyHost}@${root.dataset.sshHost} -p ${root.dataset.sshPort}`;
  }

  function listItem(instance) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "instance";
    const strong = document.createElement("strong");
    strong.textContent = instance.hostname;
    const code = document.createElement("code");
    code.textContent = instance.ip;
    button.append(strong, code);
    item.append(button);
    $("instance-list").append(item);
    return item;
  }

  function adopt(info, item = null) {
    if (instances.has(info.name)) return;
    const instance = { ...info, acks: 0 };
    instance.item = item || listItem(instance);
    instance.item.dataset.name = instance.name;
    Object.assign(instance, makeTerminal(instance));
    instances.set(instance.name, instance);
    $("no-instances").hidden = true;
    $("placeholder").hidden = true;
    if (!selected) select(instance.name);
    layout();
  }

  function forget(name) {
    const instance = instances.get(name);
    if (!instance) return;
    instance.term.dispose();
    instance.pane.remove();
    instance.item.remove();
    instances.delete(name);
    if (selected === name) {
      selected = null;
      const next = instances.keys().next();
      if (!next.done) select(next.value);
    }
    const none = instances.size === 0;
    $("no-instances").hidden = !none;
    $("placeholder").hidden = !none;
    $("details").hidden = none;
  }

  function select(name) {
    const instance = instances.get(name);
    if (!instance) return;
    selected = name;
    for (const other of instances.values()) {
      other.pane.classList.toggle("active", other === instance);
      other.item.classList.toggle("active", other === instance);
    }
    $("details").hidden = false;
    $("detail-hostname").textContent = instance.hostname;
    $("detail-ip").textContent = instance.ip;
    $("detail-ssh").textContent = $("detail-ssh").title = sshCommand(instance);
    if ($("replay-instance")) {
      $("replay-instance").href = `/p/${sid}/replay/${encodeURIComponent(name)}`;
      $("download-recording").href = `/sessions/${sid}/instances/${encodeURIComponent(name)}/recording`;
    }
    history.replaceState(null, "", `#${name}`);
    layout();
    instance.term.focus();
  }

  // ---- wiring ----
  const list = $("instance-list");
  if (!list) return; // an ended session: nothing to connect to

  for (const item of list.querySelectorAll("li[data-name]")) {
    const { name, hostname, ip, proxyHost } = item.dataset;
    adopt({ name, hostname, ip, proxyHost }, item);
  }
  const wanted = decodeURIComponent(location.hash.slice(1));
  const linked = [...instances.values()].find((i) => i.name === wanted || i.hostname === wanted);
  if (linked) select(linked.name);

  list.addEventListener("click", (event) => {
    const item = event.target.closest("li[data-name]");
    if (item) select(item.dataset.name);
  });

  window.addEventListener("hashchange", () => select(decodeURIComponent(location.hash.slice(1))));
  new ResizeObserver(() => layout()).observe($("terminals"));

  const fontSelect = $("font-size");
  fontSelect.value = String(fontSize());
  fontSelect.addEventListener("change", () => {
    localStorage.setItem(FONT_KEY, fontSelect.value);
    for (const instance of instances.values()) instance.term.options.fontSize = Number(fontSelect.value);
    layout();
  });

  $("copy-ssh").addEventListener("click", () => copyText($("detail-ssh").textContent).then(() => toast("Copied")));

  // A read-only page has neither button (templates/session.html).
  const add = $("add-instance");
  if (add) add.addEventListener("click", async () => {
    add.disabled = true;
    $("add-progress").hidden = false;
    const started = Date.now();
    const tick = () => say(`Starting a new Docker host… ${Math.round((Date.now() - started) / 1000)} s`);
    tick();
    const timer = setInterval(tick, 1000);
    try {
      // The image picked in the settings dialog (settings.js), if any; the playground's default otherwise.
      const image = add.dataset.image;
      const created = await call("POST", `/sessions/${sid}/instances`, image ? { ImageName: image } : undefined);
      adopt({ name: created.name, hostname: created.hostname, ip: created.ip, proxyHost: created.proxy_host });
      select(created.name);
      say(`${created.hostname} is ready.`);
    } catch (e) {
      say(e.message, true);
    } finally {
      clearInterval(timer);
      $("add-progress").hidden = true;
      add.disabled = false;
    }
  });

  if ($("delete-instance")) $("delete-instance").addEventListener("click", async (event) => {
    const name = selected;
    if (!name) return;
    event.target.disabled = true;
    say(`Deleting ${instances.get(name).hostname}…`);
    try {
      await call("DELETE", `/sessions/${sid}/instances/${name}`);
      forget(name);
      say("");
    } catch (e) {
      say(e.message, true);
    } finally {
      event.target.disabled = false;
    }
  });

  $("close-session")?.addEventListener("click", async () => {
    if (!confirm("Close this session and delete all its instances?")) return;
    await call("POST", `/sessions/${sid}/close`).catch(() => {});
    location.href = "/";
  });

  document.addEventListener("fullscreenchange", () => layout());

  // Other scripts (a lesson's Run buttons) type into the active terminal with
  //   document.dispatchEvent(new CustomEvent("pwd:type", {detail: {text}}))
  document.addEventListener("pwd:type", (event) => {
    const instance = selected && instances.get(selected);
    if (!instance) return;
    send("instance terminal in", instance.name, String(event.detail.text));
    instance.term.focus();
  });

  connect();
})();
