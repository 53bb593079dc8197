// A workshop's dashboard: its seats, live over /workshops/<id>/ws/ (a snapshot on every change, and every few s).
(() => {
  "use strict";
  const root = document.getElementById("dashboard");
  if (!root) return;
  const id = root.dataset.workshop;
  const body = document.getElementById("seats");
  const status = document.getElementById("dashboard-status");
  const CLOSE_FORBIDDEN = 4403;

  function element(tag, attributes = {}, text = "") {
    const node = document.createElement(tag);
    Object.entries(attributes).forEach(([key, value]) => node.setAttribute(key, value));
    node.textContent = text;
    return node;
  }

  function clock(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  }

  function ago(iso, now) {
    const seconds = Math.max(0, Math.round((Date.parse(now) - Date.parse(iso)) / 1000));
    return seconds < 60 ? `${seconds} s ago` : `${Math.floor(seconds / 60)} min ago`;
  }

  function terminals(seat) {
    const cell = element("td");
    if (seat.state === "active") {
      cell.append(element("a", { href: `/p/${seat.session}?readonly=1`, target: "_blank", class: "watch" }, "watch"), " ");
      // Take over: the learner's own page, where the trainer types into the same shells the learner sees.
      cell.append(element("a", { href: `/p/${seat.session}`, target: "_blank", class: "take-over" }, "take over"), " ");
    }
    for (const instance of seat.instances) {
      const link = element("a", { href: `/p/${seat.session}/replay/${instance.name}`, target: "_blank", class: "replay-link" },
        `replay ${instance.hostname}`);
      cell.append(link, " ");
    }
    return cell;
  }

  // "2/5 ✓✓✗··": the steps passed, then each step's last check (✓ passed, ✗ failed, · not checked yet).
  function progress(seat, steps) {
    if (!steps) return element("td", { class: "progress" }, "—");
    const passed = seat.lesson.filter((mark) => mark === "passed").length;
    const marks = seat.lesson.map((mark) => ({ passed: "✓", failed: "✗" })[mark] || "·").join("");
    return element("td", { class: "progress", title: marks }, `${passed}/${steps} ${marks}`);
  }

  function actions(seat) {
    const cell = element("td");
    if (seat.state !== "active") return cell;
    const forms = document.getElementById("seat-actions").content.cloneNode(true);
    for (const form of forms.querySelectorAll("form")) {
      form.action = `/workshops/${id}/${form.dataset.action}`;
      form.querySelector("[name=seat]").value = seat.seat;
    }
    cell.append(forms);
    return cell;
  }

  function render(snapshot) {
    body.replaceChildren(...snapshot.seats.map((seat) => {
      const row = element("tr", { "data-seat": seat.seat, "data-state": seat.state });
      row.append(
        element("td", { class: "learner" }, seat.name),
        element("td", { class: "state" }, seat.state),
        element("td", { class: "left" }, seat.state === "active" ? clock(seat.seconds_left) : "—"),
        element("td", {}, ago(seat.last_activity, snapshot.now)),
        progress(seat, snapshot.steps),
        terminals(seat),
        actions(seat),
      );
      return row;
    }));
    status.textContent = `${snapshot.seats.length} joined, ${snapshot.free} seats free`;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/workshops/${id}/ws/`);
    socket.onmessage = (message) => render(JSON.parse(message.data));
    socket.onclose = (event) => {
      if (event.code === CLOSE_FORBIDDEN) {
        status.textContent = "Only this workshop's trainer sees its dashboard.";
        return;
      }
      status.textContent = "Connection lost. Reconnecting…";
      setTimeout(connect, 2000);
    };
  }
  connect();
})();
