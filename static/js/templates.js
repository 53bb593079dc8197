// Session page: PWD's templates, set up through POST /sessions/{id}/setup, with a progress row per node.
// Offered only while the session has no instances. New nodes arrive as PWD's "instance new" events (session.js
// re-dispatches each as a document CustomEvent "pwd:event"), which turn their rows to "ready".
(() => {
  "use strict";
  const box = document.getElementById("templates");
  const list = document.getElementById("instance-list");
  if (!box || !list) return;
  const url = `/sessions/${box.dataset.session}/setup`;

  const node = (hostname, role) => ({
    hostname,
    is_swarm_manager: role === "manager",
    is_swarm_worker: role === "worker",
    type: "linux",
    run: [],
  });
  const nodes = (managers, workers) => [
    ...Array.from({ length: managers }, (_, i) => node(`manager${i + 1}`, "manager")),
    ...Array.from({ length: workers }, (_, i) => node(`worker${i + 1}`, "worker")),
  ];
  // PWD's three, under its names.
  const TEMPLATES = [
    { title: "3 Managers and 2 Workers", instances: nodes(3, 2) },
    { title: "5 Managers and no workers", instances: nodes(5, 0) },
    { title: "1 Manager and 1 Worker", instances: nodes(1, 1) },
  ];

  box.innerHTML = `
    <details>
      <summary>Templates</summary>
      <p class="hint">Set up a ready swarm in this empty session.</p>
      <div class="choices"></div>
    </details>
    <ol class="progress" aria-label="Setting up"></ol>
    <p class="status" role="status" aria-live="polite"></p>`;
  const details = box.querySelector("details");
  const choices = box.querySelector(".choices");
  const progress = box.querySelector(".progress");
  const status = box.querySelector(".status");
  const rows = new Map(); // hostname -> <li>
  let running = false;

  function say(text, isError = false) {
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  function mark(hostname, state) {
    const row = rows.get(hostname);
    if (!row || row.dataset.state === "failed") return;
    row.dataset.state = state;
    row.querySelector(".state").textContent = state;
  }

  function showWhenEmpty() {
    details.hidden = running || list.querySelector("li[data-name]") !== null;
  }

  async function setUp(template) {
    running = true;
    details.open = false;
    showWhenEmpty();
    const started = Date.now();
    const tick = () => say(`Setting up ${template.title}… ${Math.round((Date.now() - started) / 1000)} s`);
    tick();
    const ticker = setInterval(tick, 1000);
    rows.clear();
    progress.replaceChildren(
      ...template.instances.map((instance) => {
        const row = element("li", { "data-hostname": instance.hostname, "data-state": "pending" });
        const role = instance.is_swarm_manager ? "manager" : instance.is_swarm_worker ? "worker" : "";
        row.append(element("strong", {}, instance.hostname), element("span", { class: "role" }, role));
        row.append(element("span", { class: "state" }, "pending"));
        rows.set(instance.hostname, row);
        return row;
      }),
    );
    let response;
    let body = {};
    try {
      const request = fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest" },
        body: JSON.stringify({ instances: template.instances }),
      });
      template.instances.forEach((instance) => mark(instance.hostname, "starting"));
      response = await request;
      body = await response.json().catch(() => ({}));
    } catch (error) {
      body = { message: `The server did not answer: ${error.message}` };
    }
    running = false;
    clearInterval(ticker);
    if (response && response.ok) {
      (body.instances || []).forEach((instance) => mark(instance.hostname, "ready"));
      say(`${template.title}: ready.`);
    } else {
      // 422: the instances stay, and the report says which got how far; otherwise none was kept.
      const reported = new Set((body.instances || []).map((instance) => instance.hostname));
      const named = (body.message || "").split(/[: ]/, 1)[0];
      rows.forEach((row, hostname) => {
        if (hostname === named || !reported.has(hostname) || row.dataset.state !== "ready") mark(hostname, "failed");
      });
      say(body.message || `${response.status} ${response.statusText}`, true);
    }
    showWhenEmpty();
  }

  TEMPLATES.forEach((template) => {
    const button = element("button", { type: "button", class: "wide template" }, template.title);
    button.addEventListener("click", () => setUp(template));
    choices.append(button);
  });

  document.addEventListener("pwd:event", (event) => {
    const { name, args } = event.detail;
    if (name === "instance new") mark(args[2], "ready");
    if (name === "instance new" || name === "instance delete") setTimeout(showWhenEmpty);
  });
  showWhenEmpty();
})();
