// Files on the session page: drop files onto a terminal to upload them (with a progress bar), and an editor panel
// beside the terminal (a folder's tree, a text file opened, edited and saved).
// Contract: the active terminal is the ".pane.active" element inside #terminals, its data-name the instance's name;
// the page has an #open-editor button (the editor page, data-editor-only, has none). Everything else this module
// makes itself.
(() => {
  const root = document.getElementById("session");
  const terminals = document.getElementById("terminals");
  const openButton = document.getElementById("open-editor");
  // A read-only page (a trainer watching) neither uploads nor edits.
  if (!root || !terminals || root.dataset.readonly) return;
  const sid = root.dataset.session;

  function activeInstance() {
    const pane = terminals.querySelector(".pane.active");
    return pane ? pane.dataset.name : null;
  }

  function instanceUrl(name, what, path) {
    const query = path === undefined ? "" : `?path=${encodeURIComponent(path)}`;
    return `/sessions/${sid}/instances/${encodeURIComponent(name)}/${what}${query}`;
  }

  async function failure(response) {
    const body = await response.json().catch(() => ({}));
    return body.message || `${response.status} ${response.statusText}`;
  }

  // Messages: a line at the bottom right, its own (the page's toast belongs to session.js).
  const notice = element("div", { class: "files-notice", role: "status", "aria-live": "polite", hidden: "" });
  document.body.append(notice);
  let noticeTimer = 0;
  function tell(text, isError = false) {
    notice.textContent = text;
    notice.classList.toggle("error", isError);
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (notice.hidden = true), isError ? 8000 : 3000);
  }

  // Uploads: the files dropped go where the terminal's shell stands (no path: the server asks the instance).
  const dropZone = element("div", { class: "drop-zone", hidden: "" }, "Drop files to upload them here");
  const progress = element("div", { class: "upload-progress", hidden: "" });
  const progressText = element("span");
  const progressBar = element("progress", { max: "100", value: "0", "aria-label": "Upload progress" });
  progress.append(progressText, progressBar);
  terminals.append(dropZone, progress);
  let dragDepth = 0;
  let uploading = 0; // the bar shows the latest upload, and stays while any runs

  function carriesFiles(event) {
    return Array.from(event.dataTransfer ? event.dataTransfer.types : []).includes("Files");
  }

  terminals.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event) || !activeInstance()) return;
    dragDepth += 1;
    dropZone.hidden = false;
  });
  terminals.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) dropZone.hidden = true;
  });
  terminals.addEventListener("dragover", (event) => {
    if (carriesFiles(event)) event.preventDefault();
  });
  terminals.addEventListener("drop", (event) => {
    event.preventDefault();
    dragDepth = 0;
    dropZone.hidden = true;
    const files = Array.from(event.dataTransfer ? event.dataTransfer.files : []);
    const name = activeInstance();
    if (files.length && name) upload(name, files);
  });

  function upload(name, files) {
    const form = new FormData();
    files.forEach((file) => form.append("file", file, file.name));
    const what = files.length === 1 ? files[0].name : `${files.length} files`;
    const request = new XMLHttpRequest();
    request.open("POST", instanceUrl(name, "uploads"));
    request.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      progressBar.value = Math.floor((100 * event.loaded) / event.total);
      progressText.textContent = `Uploading ${what}… ${progressBar.value}%`;
    });
    const done = () => {
      uploading -= 1;
      if (!uploading) progress.hidden = true;
    };
    request.addEventListener("load", () => {
      done();
      let body = {};
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = {};
      }
      if (request.status === 200) {
        const paths = (body.files || []).map((file) => file.path).join(", ");
        tell(`Uploaded ${paths || what}`);
      } else {
        tell(`Upload failed: ${body.message || `${request.status} ${request.statusText}`}`, true);
      }
    });
    request.addEventListener("error", () => {
      done();
      tell(`Upload of ${what} failed: the connection was lost`, true);
    });
    progressBar.value = 0;
    progressText.textContent = `Uploading ${what}…`;
    progress.hidden = false;
    uploading += 1;
    request.send(form);
  }

  // The editor: a panel beside the terminal.
  const editor = element("aside", { class: "editor", "aria-label": "Editor", hidden: "" });
  const bar = element("div", { class: "editor-bar" });
  const folder = element("input", { class: "editor-folder", value: "/root", "aria-label": "Folder", spellcheck: "false" });
  const list = element("button", { type: "button", class: "small" }, "List");
  const close = element("button", { type: "button", class: "small link editor-close", title: "Close the editor" }, "×");
  bar.append(folder, list, close);
  const tree = element("ul", { class: "editor-tree", "aria-label": "Files" });
  const fileBar = element("div", { class: "editor-bar" });
  const opened = element("code", { class: "editor-path" });
  const save = element("button", { type: "button", class: "small primary", disabled: "" }, "Save");
  fileBar.append(opened, save);
  const text = element("textarea", { class: "editor-text", spellcheck: "false", "aria-label": "File contents", disabled: "" });
  const problem = element("p", { class: "editor-error error", role: "alert" });
  editor.append(bar, tree, fileBar, text, problem);
  terminals.append(editor);
  let openedFile = null; // {name, path}

  function fail(message) {
    problem.textContent = message;
  }

  function showEditor(show) {
    editor.hidden = !show;
    terminals.classList.toggle("with-editor", show);
    if (openButton) openButton.setAttribute("aria-pressed", String(show));
    if (show) listFolder();
  }

  async function listFolder() {
    const name = activeInstance();
    if (!name) return;
    fail("");
    tree.replaceChildren(element("li", { class: "muted" }, "Loading…"));
    const response = await fetch(instanceUrl(name, "fstree", folder.value.trim() || "/root"));
    if (!response.ok) {
      tree.replaceChildren();
      fail(`Could not list ${folder.value}: ${await failure(response)}`);
      return;
    }
    const [top, report] = await response.json();
    folder.value = top.name;
    tree.replaceChildren(...entries(name, top.name, top.contents));
    if (report && report.truncated) tree.append(element("li", { class: "muted" }, "(more entries not shown)"));
  }

  function entries(name, base, contents) {
    return contents.map((entry) => {
      const path = `${base.replace(/\/$/, "")}/${entry.name}`;
      const item = element("li");
      if (entry.type === "directory") {
        const details = element("details");
        details.append(element("summary", {}, `${entry.name}/`));
        const inner = element("ul");
        inner.append(...entries(name, path, entry.contents || []));
        details.append(inner);
        item.append(details);
      } else {
        const open = element("button", { type: "button", class: "link editor-file", "data-path": path }, entry.name);
        open.addEventListener("click", () => openFile(name, path));
        item.append(open);
      }
      return item;
    });
  }

  async function openFile(name, path) {
    fail("");
    const response = await fetch(instanceUrl(name, "file", path));
    if (!response.ok) {
      fail(`Could not open ${path}: ${await failure(response)}`);
      return;
    }
    const bytes = Uint8Array.from(atob(await response.text()), (c) => c.charCodeAt(0));
    try {
      text.value = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      fail(`${path} is not UTF-8 text; the editor opens only text`);
      return;
    }
    openedFile = { name, path };
    opened.textContent = path;
    text.disabled = false;
    save.disabled = false;
  }

  async function saveFile() {
    if (!openedFile) return;
    fail("");
    save.disabled = true;
    const response = await fetch(instanceUrl(openedFile.name, "file", openedFile.path), {
      method: "PUT",
      headers: { "Content-Type": "text/plain; charset=utf-8" },
      body: text.value,
    });
    save.disabled = false;
    if (!response.ok) {
      fail(`Could not save ${openedFile.path}: ${await failure(response)}`);
      return;
    }
    tell(`Saved ${openedFile.path}`);
  }

  function closeFile() {
    openedFile = null;
    opened.textContent = "";
    text.value = "";
    text.disabled = true;
    save.disabled = true;
  }

  if (openButton) openButton.addEventListener("click", () => showEditor(editor.hidden));
  close.addEventListener("click", () => showEditor(false));
  list.addEventListener("click", listFolder);
  folder.addEventListener("keydown", (event) => {
    if (event.key === "Enter") listFolder();
  });
  save.addEventListener("click", saveFile);
  text.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      event.preventDefault();
      saveFile();
    }
  });
  // Another instance selected (its pane made active): its own files.
  let shown = activeInstance();
  new MutationObserver(() => {
    if (activeInstance() === shown) return;
    shown = activeInstance();
    closeFile();
    if (!editor.hidden) listFolder();
  }).observe(terminals, { subtree: true, attributes: true, attributeFilter: ["class"] });
  document.addEventListener("pwd:event", (event) => {
    const { name, args } = event.detail;
    if (name === "instance delete" && openedFile && openedFile.name === args[0]) closeFile();
  });
  // PWD's editor page (GET …/editor): the panel alone, open from the start.
  if (root.dataset.editorOnly !== undefined) {
    close.hidden = true;
    showEditor(true);
  }
})();
