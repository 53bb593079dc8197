// Stacks: "Deploy a stack" (a compose file, uploaded or pasted) and the dialog that follows a deploy: its output
// streaming from "session builder out" events, a spinner until "session ready", errors shown, closable.
// Contract: the page dispatches document CustomEvents "pwd:event" with detail {name, args} for every PWD event;
// GET /sessions/{id} tells where a deploy is (stack_state, stack_output) for a page opened or reloaded late.
(() => {
  "use strict";
  const root = document.getElementById("session");
  const button = document.getElementById("deploy-stack");
  if (!root || root.dataset.state !== "active") return;
  const sid = root.dataset.session;
  const DISMISSED_KEY = `playground.stackDismissed.${sid}`;
  const SHOWN_CHARS = 200_000; // the output's tail that the page keeps

  // ---- the dialog ----
  const dialog = element("div", { class: "modal stack-dialog", id: "stack-dialog", role: "dialog",
    "aria-modal": "true", "aria-labelledby": "stack-title" });
  dialog.hidden = true;
  const box = element("div", { class: "modal-box stack-box" });
  const head = element("header");
  const title = element("h2", { id: "stack-title" }, "Deploy a stack");
  const close = element("button", { type: "button", class: "link stack-close", "aria-label": "Close" }, "×");
  head.append(title, close);

  const form = element("form", { class: "stack-form", id: "stack-form" });
  const nameInput = element("input", { name: "stack_name", id: "stack-name", placeholder: "stack name",
    maxlength: "100", autocomplete: "off" });
  const fileInput = element("input", { type: "file", name: "file", id: "stack-file",
    accept: ".yml,.yaml,.json,text/yaml,application/yaml" });
  const text = element("textarea", { name: "compose", id: "stack-compose", rows: "10", spellcheck: "false",
    placeholder: "services:\n  web:\n    image: nginx\n    ports: [\"8080:80\"]" });
  const submit = element("button", { type: "submit", class: "primary" }, "Deploy");
  const formError = element("p", { class: "error", id: "stack-form-error", role: "alert" });
  const labelFile = element("label", {}, "Compose file ");
  labelFile.append(fileInput);
  const labelName = element("label", {}, "Name ");
  labelName.append(nameInput);
  form.append(labelName, labelFile, element("p", { class: "hint" }, "…or paste it:"), text, formError, submit);

  const progress = element("div", { class: "stack-progress", id: "stack-progress" });
  const status = element("p", { class: "status", id: "stack-status", role: "status", "aria-live": "polite" });
  const spinner = element("span", { class: "spinner", id: "stack-spinner", "aria-hidden": "true" });
  const output = element("pre", { class: "stack-output", id: "stack-output" });
  const statusLine = element("div", { class: "stack-status-line" });
  statusLine.append(spinner, status);
  progress.append(statusLine, output);

  box.append(head, form, progress);
  dialog.append(box);
  document.body.append(dialog);

  let running = false;

  function open(mode) {
    form.hidden = mode !== "form";
    progress.hidden = mode === "form";
    title.textContent = mode === "form" ? "Deploy a stack" : "Stack";
    dialog.hidden = false;
    formError.textContent = "";
    (mode === "form" ? nameInput : close).focus();
  }

  function hide() {
    dialog.hidden = true;
    if (!running) sessionStorage.setItem(DISMISSED_KEY, "1");
  }

  function show(state, message) {
    running = state === "queued" || state === "deploying";
    spinner.hidden = !running;
    status.classList.toggle("error", state === "failed");
    status.textContent = {
      queued: "Waiting for a worker…",
      deploying: "Deploying…",
      ready: "The stack is up.",
      failed: `The deploy failed: ${message || "see the output"}`,
    }[state] || "";
  }

  function append(chunk) {
    const atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    output.append(chunk);
    if (output.textContent.length > SHOWN_CHARS) output.textContent = output.textContent.slice(-SHOWN_CHARS);
    if (atBottom) output.scrollTop = output.scrollHeight;
  }

  close.addEventListener("click", hide);
  dialog.addEventListener("click", (event) => event.target === dialog && hide());
  // Capturing: a terminal that took the focus (node1 appearing) would keep Escape from bubbling up here.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || dialog.hidden) return;
    event.stopPropagation();
    hide();
  }, true);
  if (button) button.addEventListener("click", () => open("form"));

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    if (file && !nameInput.value) nameInput.value = file.name.replace(/\.(ya?ml|json)$/i, "");
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new FormData();
    body.append("stack_name", nameInput.value.trim());
    if (fileInput.files[0]) body.append("file", fileInput.files[0]);
    else body.append("compose", text.value);
    submit.disabled = true;
    formError.textContent = "";
    try {
      const response = await fetch(`/sessions/${sid}/stack`, {
        method: "POST", body, headers: { "X-Requested-With": "XMLHttpRequest" },
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        // Refused (too large, empty, busy): the form stays, to be fixed.
        formError.textContent = answer.message || `${response.status} ${response.statusText}`;
        return;
      }
      output.textContent = "";
      sessionStorage.removeItem(DISMISSED_KEY);
      show(answer.stack_state || "queued");
      open("progress");
    } catch (e) {
      formError.textContent = `Could not send the file: ${e.message}`;
    } finally {
      submit.disabled = false;
    }
  });

  // The stored state is the whole truth; events only bring what came since. On load, a deploy under way (or one
  // that failed, until the dialog is closed) is shown to a page that opens or reloads late.
  async function refresh(onLoad) {
    const response = await fetch(`/sessions/${sid}`, { headers: { "X-Requested-With": "XMLHttpRequest" } });
    if (!response.ok) return;
    const session = await response.json();
    const state = session.stack_state;
    if (!state) return;
    const unfinished = state === "queued" || state === "deploying";
    if (onLoad && !unfinished && !(state === "failed" && !sessionStorage.getItem(DISMISSED_KEY))) return;
    output.textContent = session.stack_output || "";
    output.scrollTop = output.scrollHeight;
    show(state, (session.stack_output || "").trim().split("\n").pop().replace(/^Error: /, ""));
    if (onLoad) open("progress");
  }

  document.addEventListener("pwd:event", (event) => {
    const { name, args } = event.detail;
    if (name === "session builder out") {
      if (!running) {
        // A deploy this page did not start (another viewer's, or the link's): follow it.
        running = true;
        output.textContent = "";
        show("deploying");
        sessionStorage.removeItem(DISMISSED_KEY);
        open("progress");
      } else if (status.textContent !== "Deploying…") {
        show("deploying");
      }
      append(String(args[0] ?? ""));
    } else if (name === "session ready") {
      show(args[0] === true ? "ready" : "failed", String(args[1] ?? ""));
      refresh(false);
    }
  });

  refresh(true);
})();
