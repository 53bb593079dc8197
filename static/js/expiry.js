// Session page: count down to expiry, warn five minutes before the end, and extend the session where allowed.
(() => {
  const root = document.getElementById("session");
  const countdown = document.getElementById("countdown");
  const expiry = document.getElementById("expiry");
  if (!root || !countdown || root.dataset.state !== "active") return;
  const sid = root.dataset.session;
  const WARNING_MS = 5 * 60 * 1000;
  // The latest deadline extending may reach; absent when the playground does not extend sessions.
  const limit = expiry?.dataset.until ? new Date(expiry.dataset.until).getTime() : 0;
  let expires = new Date(countdown.dataset.expires).getTime();

  const warning = document.createElement("span");
  const extend = document.createElement("button");
  extend.type = "button";
  extend.className = "link";
  extend.textContent = "Extend";
  expiry?.append(warning, extend);

  function clock(seconds) {
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  }

  function tick() {
    const ms = expires - Date.now();
    const left = Math.max(0, Math.floor(ms / 1000));
    const soon = left > 0 && ms <= WARNING_MS;
    countdown.textContent = left > 0 ? `${clock(left)} left` : "Session expired";
    countdown.classList.toggle("ending-soon", soon);
    if (soon && !warning.textContent) warning.textContent = "This session ends in less than 5 minutes.";
    if (!soon && warning.textContent.startsWith("This session")) warning.textContent = "";
    extend.hidden = !(left > 0 && limit > expires);
  }

  extend.addEventListener("click", async () => {
    extend.disabled = true;
    try {
      const response = await fetch(`/sessions/${sid}/extend`, {
        method: "POST",
        headers: { "X-Requested-With": "XMLHttpRequest" },
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.message || `${response.status} ${response.statusText}`);
      expires = new Date(body.expires_at).getTime();
      warning.textContent = "";
    } catch (e) {
      warning.textContent = e.message;
    } finally {
      extend.disabled = false;
      tick();
    }
  });

  tick();
  setInterval(tick, 1000);
})();
