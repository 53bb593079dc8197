// A workshop's lesson beside the terminals: a Run button types its block into the active terminal (session.js
// listens for "pwd:type"); a Check button runs the step's check in the active instance and shows ✓ or ✗.
(() => {
  "use strict";
  const panel = document.getElementById("lesson");
  const root = document.getElementById("session");
  if (!panel || !root) return;
  const sid = root.dataset.session;
  const readonly = panel.hasAttribute("data-readonly");

  function activeInstance() {
    const pane = document.querySelector("#terminals .pane.active");
    return pane ? pane.dataset.name : "";
  }

  function show(step, state, text, output = "") {
    step.dataset.state = state;
    step.querySelector(".verdict").textContent = text;
    const pre = step.querySelector(".check-output");
    pre.textContent = output;
    pre.hidden = !output || state === "passed";
  }

  async function check(step, button) {
    button.disabled = true;
    show(step, "checking", "Checking…");
    try {
      const response = await fetch(`/w/lesson/${encodeURIComponent(sid)}/steps/${step.dataset.step}/check`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest" },
        body: JSON.stringify({ instance: activeInstance() }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) show(step, "error", body.message || `${response.status} ${response.statusText}`);
      else if (body.passed) show(step, "passed", "✓ Done");
      else show(step, "failed", "✗ Not yet", body.output);
    } catch (e) {
      show(step, "error", `The check could not be sent: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  }

  for (const button of panel.querySelectorAll("button.run")) button.disabled = readonly;

  panel.addEventListener("click", (event) => {
    const run = event.target.closest("button.run");
    if (run && !readonly) {
      // A block of several lines is typed as several commands, each ended as Enter would.
      const text = run.closest(".runnable").querySelector("code").textContent.replace(/\n+$/, "");
      document.dispatchEvent(new CustomEvent("pwd:type", { detail: { text: `${text.replace(/\n/g, "\r")}\r` } }));
      return;
    }
    const button = event.target.closest("button.check");
    if (button) check(button.closest(".step"), button);
  });
})();
