// Edgestock web app: what every page needs (budget: 20 KB of JS per page, see edge/web/layout.tsx).
// - es.api(): fetch() to the API with the session cookie and this page's CSRF token.
// - Search suggestions as you type (GET /v1/search/suggest into the search box's datalist).
// - es.dropZone(): drag-and-drop onto an element (search by image here, uploads in studio.js).
// - Search by image: drop a picture on any element with [data-drop-search] (or pick one with its file input).

(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
  const api = async (path, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("x-csrf-token", csrf);
    if (init.json !== undefined) {
      headers.set("content-type", "application/json");
      init = { ...init, body: JSON.stringify(init.json) };
    }
    const res = await fetch(path, { ...init, headers, credentials: "same-origin" });
    if (!res.ok) {
      let problem = { title: res.statusText, status: res.status };
      try {
        problem = await res.json();
      } catch {}
      const error = new Error(problem.detail ?? problem.title ?? `HTTP ${res.status}`);
      error.problem = problem;
      throw error;
    }
    return res.status === 204 ? null : res.json();
  };
  // A drop zone: highlighted while a file is dragged over it; `take` gets the dropped files.
  const dropZone = (zone, take) => {
    zone.addEventListener("dragover", (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      take(e.dataTransfer?.files);
    });
  };
  window.es = { api, csrf, dropZone };

  const box = document.querySelector("input[data-suggest]");
  const list = document.getElementById("q-suggestions");
  let timer;
  box?.addEventListener("input", () => {
    clearTimeout(timer);
    const q = box.value.trim();
    if (q.length < 2 || !list) return;
    timer = setTimeout(async () => {
      try {
        const { suggestions } = await api(`${box.dataset.suggest}?q=${encodeURIComponent(q)}&limit=8`);
        list.replaceChildren(
          ...suggestions.map((s) => {
            const option = document.createElement("option");
            option.value = typeof s === "string" ? s : (s.text ?? s.tag ?? "");
            return option;
          }),
        );
      } catch {}
    }, 150);
  });

  for (const zone of document.querySelectorAll("[data-drop-search]")) {
    const status = zone.querySelector("[data-drop-status]");
    const send = async (file) => {
      if (!file) return;
      if (status) status.textContent = "Searching for similar images…";
      try {
        const res = await fetch("/search/by-image", { method: "POST", headers: { "content-type": file.type || "application/octet-stream", "x-csrf-token": csrf }, body: file });
        if (res.redirected || res.ok) {
          document.open();
          document.write(await res.text());
          document.close();
          history.pushState(null, "", res.url);
        } else if (status) {
          status.textContent =
            res.status === 503
              ? "Search by image is unavailable right now (no image model is loaded)."
              : "That image could not be searched. Try a JPEG, PNG, WebP, AVIF or TIFF under 10 MB.";
        }
      } catch {
        if (status) status.textContent = "Search by image is unavailable right now.";
      }
    };
    dropZone(zone, (files) => send(files?.[0]));
    zone.querySelector('input[type="file"]')?.addEventListener("change", (e) => send(e.target.files?.[0]));
  }
})();
