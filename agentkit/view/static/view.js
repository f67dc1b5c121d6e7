// agentkit view: filters, lazy text search and toggles. Plain JS, no dependencies; pages work without it.
"use strict";

function setupFilters() {
  const form = document.getElementById("filters");
  const table = document.getElementById("episodes");
  if (!form || !table) return;
  const rows = Array.from(table.tBodies[0].rows);
  const count = document.getElementById("count");
  const fields = ["env", "file", "outcome", "adapter", "error", "kind"];
  let searchIndex = null;

  function loadSearchIndex(then) {
    if (searchIndex !== null) return then();
    // A script tag (not fetch) so that an exported site opened from disk can search too.
    const script = document.createElement("script");
    script.src = document.body.dataset.search;
    script.onload = () => { searchIndex = window.AGENTKIT_SEARCH || {}; then(); };
    script.onerror = () => { searchIndex = {}; then(); };
    document.head.appendChild(script);
  }

  function apply() {
    const wanted = {};
    for (const name of fields) wanted[name] = form.elements[name].value;
    const words = form.elements.q.value.toLowerCase().split(/\s+/).filter(Boolean);
    const narrowed = fields.some((name) => name !== "file" && wanted[name]) || words.length > 0;
    let shown = 0;
    for (const row of rows) {
      let visible;
      if (row.dataset.invalid) {
        // Malformed lines stay visible unless another filter than the file narrows the list.
        visible = !narrowed && (!wanted.file || row.dataset.file === wanted.file);
      } else {
        visible = fields.every((name) => !wanted[name] || row.dataset[name] === wanted[name]);
        if (visible && words.length) {
          const text = (searchIndex && searchIndex[row.dataset.key]) || "";
          visible = words.every((word) => text.includes(word));
        }
      }
      row.hidden = !visible;
      if (visible) shown += 1;
    }
    count.textContent = `${shown} of ${rows.length} rows`;
    const params = new URLSearchParams();
    for (const name of [...fields, "q"]) if (form.elements[name].value) params.set(name, form.elements[name].value);
    history.replaceState(null, "", params.toString() ? `?${params}` : location.pathname);
  }

  function update() {
    if (form.elements.q.value.trim()) loadSearchIndex(apply); else apply();
  }

  const initial = new URLSearchParams(location.search);
  for (const name of [...fields, "q"]) {
    const value = initial.get(name);
    if (value !== null) form.elements[name].value = value;
  }
  form.addEventListener("change", update);
  form.addEventListener("input", update);
  form.addEventListener("submit", (event) => { event.preventDefault(); update(); });
  update();
}

function setupToggle(buttonId, onLabel, offLabel, apply) {
  const button = document.getElementById(buttonId);
  if (!button) return;
  let on = false;
  button.addEventListener("click", () => {
    on = !on;
    apply(on);
    button.textContent = on ? onLabel : offLabel;
  });
}

function setupPairs() {
  for (const button of document.querySelectorAll("button.show-pair")) {
    button.addEventListener("click", () => {
      for (const node of document.querySelectorAll(".node")) node.classList.remove("on-good", "on-bad", "splice-node");
      const good = button.dataset.good.split(" ");
      const bad = button.dataset.bad.split(" ");
      for (const id of good) document.getElementById(`node-${id}`)?.classList.add("on-good");
      for (const id of bad) document.getElementById(`node-${id}`)?.classList.add("on-bad");
      const splice = Number(button.dataset.splice);
      document.getElementById(`node-${bad[splice] ?? good[splice]}`)?.classList.add("splice-node");
      document.getElementById(`node-${good[0]}`)?.scrollIntoView({ block: "nearest" });
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupFilters();
  setupToggle("toggle-admissible", "hide admissible actions", "show admissible actions", (on) => {
    for (const details of document.querySelectorAll("details.admissible")) details.open = on;
  });
  setupToggle("toggle-observations", "hide observations", "show observations", (on) => {
    document.body.classList.toggle("show-observations", on);
  });
  setupPairs();
});
