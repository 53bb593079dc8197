// Session page: register the public keys that open PWD's short ssh user names (<a-b-c-d>-<first 8 of the id>).
(() => {
  const box = document.getElementById("ssh-keys");
  if (!box) return;
  const url = `/sessions/${box.dataset.session}/ssh-keys`;

  box.innerHTML = `
    <details>
      <summary>SSH keys</summary>
      <p class="hint">The ssh command shown for each instance needs no key. PWD's short user names
        (<code>10-0-0-2-1a2b3c4d@…</code>) work only with a key registered here.</p>
      <ul class="keys"></ul>
      <form>
        <label>Public key (the contents of <code>~/.ssh/id_ed25519.pub</code>)
          <textarea name="key" rows="3" required spellcheck="false"></textarea></label>
        <button type="submit">Add key</button>
      </form>
      <p class="status" role="status" aria-live="polite"></p>
    </details>`;
  const list = box.querySelector("ul.keys");
  const form = box.querySelector("form");
  const status = box.querySelector(".status");

  function say(text, isError = false) {
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  async function call(method, target, body) {
    const response = await fetch(target, {
      method,
      headers: { "Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest" },
      body: body && JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.message || `${response.status} ${response.statusText}`);
    return data;
  }

  function show(key) {
    const item = document.createElement("li");
    const label = document.createElement("code");
    label.textContent = `${key.fingerprint} ${key.comment}`.trim();
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.textContent = "Remove";
    remove.addEventListener("click", async () => {
      try {
        await call("DELETE", `${url}/${key.id}`);
        item.remove();
      } catch (e) {
        say(e.message, true);
      }
    });
    item.append(label, " ", remove);
    list.append(item);
  }

  async function load() {
    list.replaceChildren();
    (await call("GET", url)).keys.forEach(show);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await call("POST", url, { key: form.elements.key.value });
      form.reset();
      say("Key added.");
      await load();
    } catch (e) {
      say(e.message, true);
    }
  });

  load().catch((e) => say(e.message, true));
})();
