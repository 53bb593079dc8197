// A trainer's broadcast ("workshop message" on the session WebSocket, re-dispatched by session.js) as a banner.
(() => {
  "use strict";
  document.addEventListener("pwd:event", (event) => {
    if (event.detail.name !== "workshop message") return;
    document.getElementById("broadcast")?.remove();
    const banner = element("div", { id: "broadcast", class: "broadcast", role: "alert" }, String(event.detail.args[0] || ""));
    const close = element("button", { type: "button", "aria-label": "Dismiss" }, "×");
    close.addEventListener("click", () => banner.remove());
    banner.append(close);
    document.body.append(banner);
  });
})();
