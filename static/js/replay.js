// Replay page: plays an instance's asciicast v2 recording in xterm.js, in time, with its resizes and markers.
// Idle gaps longer than IDLE_CAP_S play as IDLE_CAP_S; play/pause, and speeds of 1×, 2× and 4×.
// The #replay element's data-state says where the player is: loading, ready, playing, paused, ended or failed.
(() => {
  "use strict";
  const root = document.getElementById("replay");
  const screen = document.getElementById("replay-screen");
  if (!root || !screen) return;
  const $ = (id) => document.getElementById(id);
  const IDLE_CAP_S = 2;

  let term = null;
  let header = null; // the recording's first line: its size at the start
  let events = []; // [at (seconds, gaps capped), kind, data]
  let index = 0; // the next event to play
  let elapsed = 0; // seconds played, on the same capped clock
  let speed = 1;
  let timer = 0;
  let tickedAt = 0;

  function state(name, status = "") {
    root.dataset.state = name;
    $("replay-status").textContent = status;
    const playing = name === "playing";
    $("replay-play").textContent = playing ? "Pause" : name === "ended" ? "Replay" : "Play";
    $("replay-play").setAttribute("aria-pressed", String(playing));
  }

  function clock(seconds) {
    const s = Math.floor(seconds);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function show() {
    const total = events.length ? events[events.length - 1][0] : 0;
    $("replay-progress").value = total ? Math.min(1, elapsed / total) : 1;
    $("replay-time").textContent = `${clock(elapsed)} / ${clock(total)}`;
  }

  // Parse the recording: a header line, then one event a line; a line cut short (a copy taken mid-write) is skipped.
  function parse(text) {
    const lines = text.split("\n").filter((line) => line.trim());
    const header = JSON.parse(lines.shift());
    if (header.version !== 2) throw new Error(`not asciicast v2 (version ${header.version})`);
    let last = 0;
    let at = 0;
    for (const line of lines) {
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        continue;
      }
      at += Math.min(Math.max(0, event[0] - last), IDLE_CAP_S);
      last = event[0];
      events.push([at, event[1], event[2]]);
    }
    return header;
  }

  // Count the time played since the last tick, at the current speed.
  function advance() {
    const now = performance.now();
    elapsed += ((now - tickedAt) / 1000) * speed;
    tickedAt = now;
  }

  // Play every event due by now, together, then sleep until the next one is.
  function step() {
    advance();
    let out = "";
    while (index < events.length && events[index][0] <= elapsed) {
      const [, kind, data] = events[index++];
      if (kind === "o") {
        out += data;
      } else if (kind === "r") {
        const [cols, rows] = String(data).split("x").map(Number);
        // Resized once what came before is drawn: xterm.js parses writes later, resizes at once.
        if (cols > 0 && rows > 0) term.write(out, () => term.resize(cols, rows));
        out = "";
      } else if (kind === "m") {
        out += `\r\n\x1b[2m[${data}]\x1b[0m\r\n`;
      }
    }
    if (out) term.write(out);
    show();
    if (index >= events.length) {
      timer = 0;
      elapsed = events.length ? events[events.length - 1][0] : 0;
      show();
      return state("ended", "End of the recording.");
    }
    timer = setTimeout(step, Math.max(0, ((events[index][0] - elapsed) / speed) * 1000));
  }

  function play() {
    if (root.dataset.state === "ended") {
      // In order with what is still being drawn: a full reset (RIS), then the starting size.
      term.write("\x1bc", () => term.resize(header.width, header.height));
      index = 0;
      elapsed = 0;
    }
    state("playing");
    tickedAt = performance.now();
    step();
  }

  function pause() {
    clearTimeout(timer);
    timer = 0;
    advance();
    state("paused", "Paused.");
    show();
  }

  function setSpeed(next) {
    const playing = root.dataset.state === "playing";
    if (playing) {
      clearTimeout(timer);
      advance(); // the time played so far counts at the old speed
    }
    speed = next;
    for (const button of root.querySelectorAll("[data-speed]")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.speed) === next));
    }
    if (playing) step();
  }

  async function load() {
    state("loading", "Loading the recording…");
    const response = await fetch(root.dataset.src);
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.message || `${response.status} ${response.statusText}`);
    }
    header = parse(await response.text());
    term = new Terminal({
      cols: header.width,
      rows: header.height,
      disableStdin: true,
      cursorBlink: false,
      scrollback: 5000,
      fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, monospace',
      theme: { background: "#0b1118" },
    });
    term.open(screen);
    show();
    state("ready", `${events.length} events. Idle gaps play as ${IDLE_CAP_S} s at most.`);
  }

  $("replay-play").addEventListener("click", () => {
    if (!term) return;
    if (root.dataset.state === "playing") pause();
    else play();
  });
  for (const button of root.querySelectorAll("[data-speed]")) {
    button.addEventListener("click", () => setSpeed(Number(button.dataset.speed)));
  }
  load().catch((e) => state("failed", `Cannot replay: ${e.message}`));
})();
