// Port badges, "Open port" and "Connect from your laptop" for each instance on the session page.
// Contract: the page dispatches document CustomEvents "pwd:event" with detail {name, args} for every PWD event
// it receives over the session WebSocket; each instance has an element with data-name="<instance name>".
(() => {
  const root = document.getElementById("session");
  const configElement = document.getElementById("direct-config");
  if (!root || !configElement) return;
  const sid = root.dataset.session;
  const config = JSON.parse(configElement.textContent);
  const proxyHosts = new Map(Object.entries(config.instances));

  function portUrl(name, port) {
    const suffix = config.port === 80 ? "" : `:${config.port}`;
    return `http://${proxyHosts.get(name)}-${port}.direct.${config.domain}${suffix}/`;
  }

  function panel(name) {
    const item = document.querySelector(`[data-name="${CSS.escape(name)}"]`);
    if (!item || !proxyHosts.has(name)) return null;
    let box = item.querySelector(".direct");
    if (box) return box;
    box = element("div", { class: "direct" });
    const ports = element("span", { class: "ports", "aria-label": "Published ports" });
    const open = element("button", { type: "button", class: "link open-port" }, "Open port");
    open.addEventListener("click", () => {
      const answer = prompt("Open which port of this instance?", "80");
      if (answer === null) return;
      const port = Number(answer.trim());
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        alert(`${answer} is not a port number (1–65535).`);
        return;
      }
      window.open(portUrl(name, port), "_blank", "noopener");
    });
    box.append(ports, open, laptop(name));
    item.append(box);
    return box;
  }

  function laptop(name) {
    const details = element("details", { class: "laptop" });
    details.append(element("summary", {}, "Connect from your laptop"));
    details.addEventListener("toggle", async () => {
      if (!details.open || details.dataset.loaded) return;
      details.dataset.loaded = "1";
      const base = `/sessions/${sid}/instances/${encodeURIComponent(name)}/docker`;
      const response = await fetch(base, { headers: { "X-Requested-With": "XMLHttpRequest" } });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        details.append(element("p", { class: "error" }, body.message || `${response.status} ${response.statusText}`));
        return;
      }
      details.append(
        element("a", { href: `${base}.zip`, download: "" }, "Download the TLS bundle"),
        element("p", {}, "Unzip it where the lines below expect it, then paste the environment or the context lines:"),
        element("pre", {}, body.unzip),
        element("pre", {}, body.env),
        element("pre", {}, body.context),
      );
    });
    return details;
  }

  function showPorts({ instance, ports }) {
    const box = panel(instance);
    if (!box) return;
    const list = box.querySelector(".ports");
    list.replaceChildren(
      ...ports.map((port) => element("a", { class: "badge", href: portUrl(instance, port), target: "_blank", rel: "noopener" }, String(port))),
    );
  }

  document.addEventListener("pwd:event", (event) => {
    const { name, args } = event.detail;
    if (name === "instance new") {
      proxyHosts.set(args[0], args[3]);
      panel(args[0]);
    } else if (name === "instance delete") {
      proxyHosts.delete(args[0]);
    } else if (name === "instance docker ports") {
      args.forEach(showPorts);
    }
  });

  proxyHosts.forEach((_, name) => panel(name));
})();
