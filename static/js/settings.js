// The session's settings dialog (the gear beside "+ Add new instance"): which image new instances run.
// Contract: session.js posts the image named by #add-instance's data-image (none: the playground's default).
// The choice is kept per session in localStorage, and dropped when the playground no longer offers it.
(() => {
  "use strict";
  const root = document.getElementById("session");
  const add = document.getElementById("add-instance");
  const gear = document.getElementById("open-settings");
  if (!root || !add || !gear) return;
  const key = `playground.image.${root.dataset.session}`;
  let offered = null; // the images GET /instances/images lists; the first is the default

  function dialog() {
    let found = document.getElementById("settings-dialog");
    if (found) return found;
    found = element("dialog", { id: "settings-dialog", class: "settings", "aria-labelledby": "settings-title" });
    const form = element("form", { method: "dialog" });
    const label = element("label", { for: "settings-image" }, "Image of new instances");
    const buttons = element("div", { class: "buttons" });
    buttons.append(
      element("button", { type: "submit", value: "cancel" }, "Cancel"),
      element("button", { type: "submit", value: "save", class: "primary", id: "settings-save" }, "Save"),
    );
    form.append(
      element("h2", { id: "settings-title" }, "Settings"),
      label,
      element("select", { id: "settings-image" }),
      element("p", { class: "hint", id: "settings-note" }, 'Used by "+ Add new instance" in this session.'),
      buttons,
    );
    found.append(form);
    found.addEventListener("close", () => {
      if (found.returnValue === "save") choose(document.getElementById("settings-image").value);
    });
    document.body.append(found);
    return found;
  }

  async function images() {
    if (offered) return offered;
    const response = await fetch("/instances/images", { headers: { "X-Requested-With": "XMLHttpRequest" } });
    const body = await response.json().catch(() => null);
    if (!response.ok || !Array.isArray(body)) throw new Error(`the images could not be listed (${response.status})`);
    offered = body.filter((image) => typeof image === "string" && image);
    return offered;
  }

  function choose(image) {
    const isDefault = !offered || image === offered[0];
    if (!image || isDefault) {
      localStorage.removeItem(key);
      delete add.dataset.image;
    } else {
      localStorage.setItem(key, image);
      add.dataset.image = image;
    }
    add.title = `New instances run ${image || (offered && offered[0]) || "the default image"}`;
  }

  async function open() {
    const box = dialog();
    const select = document.getElementById("settings-image");
    const note = document.getElementById("settings-note");
    try {
      const list = await images();
      select.replaceChildren(
        ...list.map((image, i) => element("option", { value: image }, i === 0 ? `${image} (default)` : image)),
      );
      select.value = add.dataset.image || list[0] || "";
      select.disabled = false;
    } catch (e) {
      select.replaceChildren();
      select.disabled = true;
      note.textContent = e.message;
    }
    box.showModal();
  }

  gear.addEventListener("click", () => open());

  // A choice made earlier in this session, if the playground still offers it.
  const stored = localStorage.getItem(key);
  if (stored) {
    add.dataset.image = stored;
    images()
      .then((list) => choose(list.includes(stored) ? stored : ""))
      .catch(() => {});
  }
})();
