// CPU, memory and network of each instance, with a sparkline of the last minutes, in the instance list.
// Contract: the page dispatches document CustomEvents "pwd:event" with detail {name, args} for every PWD event
// it receives over the session WebSocket; each instance in #instance-list is an <li data-name="<instance name>">.
// The server sends "instance stats" every few seconds while the page views the session; nothing is polled.
(() => {
  "use strict";
  if (!document.getElementById("instance-list")) return;
  const SVG = "http://www.w3.org/2000/svg";
  const POINTS = 40; // samples kept per instance: two minutes at one every three seconds
  const WIDTH = 80;
  const HEIGHT = 18;
  const history = new Map(); // instance name -> [{cpu, mem}], percentages, oldest first

  function number(value) {
    return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : 0;
  }

  function bytes(count) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let unit = 0;
    while (count >= 1024 && unit < units.length - 1) {
      count /= 1024;
      unit += 1;
    }
    return `${count < 10 && unit > 0 ? count.toFixed(1) : Math.round(count)} ${units[unit]}`;
  }

  function item(name) {
    return document.querySelector(`#instance-list li[data-name="${CSS.escape(name)}"]`);
  }

  function box(li) {
    let found = li.querySelector(".stats");
    if (found) return found;
    found = document.createElement("div");
    found.className = "stats";
    const spark = document.createElementNS(SVG, "svg");
    spark.setAttribute("class", "spark");
    spark.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
    spark.setAttribute("preserveAspectRatio", "none");
    spark.setAttribute("aria-hidden", "true");
    for (const kind of ["mem", "cpu"]) {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("class", kind);
      spark.append(line);
    }
    const figures = document.createElement("span");
    figures.className = "figures";
    const use = document.createElement("span");
    use.className = "use";
    const net = document.createElement("span");
    net.className = "net";
    figures.append(use, net);
    found.append(spark, figures);
    // After the instance's button, before the port badges (ports.js).
    li.querySelector(".instance").after(found);
    return found;
  }

  function points(values) {
    const step = WIDTH / (POINTS - 1);
    const start = POINTS - values.length;
    return values
      .map((value, i) => `${((start + i) * step).toFixed(1)},${(HEIGHT - (Math.min(value, 100) / 100) * (HEIGHT - 1)).toFixed(1)}`)
      .join(" ");
  }

  function show(stats) {
    if (!stats || typeof stats.instance !== "string") return;
    const li = item(stats.instance);
    if (!li) return;
    const cpu = number(stats.cpu_percent);
    const used = number(stats.mem_bytes);
    const limit = number(stats.mem_limit_bytes);
    const mem = limit > 0 ? (100 * used) / limit : 0;
    const past = history.get(stats.instance) || [];
    past.push({ cpu, mem });
    if (past.length > POINTS) past.shift();
    history.set(stats.instance, past);

    const shown = box(li);
    const rx = number(stats.rx_bytes_per_second);
    const tx = number(stats.tx_bytes_per_second);
    shown.querySelector("polyline.cpu").setAttribute("points", points(past.map((p) => p.cpu)));
    shown.querySelector("polyline.mem").setAttribute("points", points(past.map((p) => p.mem)));
    shown.querySelector(".use").textContent = `CPU ${cpu.toFixed(1)}% · ${bytes(used)}`;
    shown.querySelector(".net").textContent = `↓ ${bytes(rx)}/s ↑ ${bytes(tx)}/s`;
    shown.title = `CPU ${stats.cpu} (100% is one core)\nMemory ${stats.mem}\nNetwork in ${bytes(rx)}/s, out ${bytes(tx)}/s`;
  }

  document.addEventListener("pwd:event", (event) => {
    const { name, args } = event.detail;
    if (name === "instance stats") {
      args.forEach(show);
    } else if (name === "instance delete") {
      history.delete(args[0]);
    }
  });
})();
