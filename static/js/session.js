// Session page: add and delete instances through the JSON API (the countdown lives in expiry.js).
(() => {
  const root = document.getElementById("session");
  if (!root) return;
  const sid = root.dataset.session;
  const status = document.getElementById("status");

  function say(text, isError = false) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  async function call(method, url) {
    const response = await fetch(url, { method, headers: { "X-Requested-With": "XMLHttpRequest" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || `${response.status} ${response.statusText}`);
    return body;
  }

  const add = document.getElementById("add-instance");
  add?.addEventListener("click", async () => {
    add.disabled = true;
    say("Starting a new Docker host…");
    try {
      const instance = await call("POST", `/sessions/${sid}/instances`);
      say(`${instance.hostname} is ready.`);
      location.reload();
    } catch (e) {
      say(e.message, true);
    } finally {
      add.disabled = false;
    }
  });

  document.getElementById("instance-list")?.addEventListener("click", async (event) => {
    const button = event.target.closest("button.delete");
    if (!button) return;
    const item = button.closest("li");
    button.disabled = true;
    say("Deleting…");
    try {
      await call("DELETE", `/sessions/${sid}/instances/${item.dataset.name}`);
      item.remove();
      say("");
    } catch (e) {
      say(e.message, true);
      button.disabled = false;
    }
  });

  document.getElementById("close-session")?.addEventListener("click", async () => {
    if (!confirm("Close this session and delete all its instances?")) return;
    await call("POST", `/sessions/${sid}/close`).catch(() => {});
    location.href = "/";
  });
})();
