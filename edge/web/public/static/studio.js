// Edgestock studio: uploads straight to storage and statuses that update themselves.
// Per file: POST /v1/uploads (the ticket), PUT the bytes to the presigned URL(s) (multipart when the
// ticket says so: parts in order, each part's ETag kept, a few retries with backoff, then a Retry
// button), POST /v1/uploads/:id/complete, then poll GET /v1/images/:id/status until it is final.
// The listing form PATCHes /v1/images/:id; AI tags arrive with the status, as checkboxes.
// [data-multipart-above="bytes"] on [data-upload] asks the API for multipart above that size
// (without it the API decides by its own threshold).

(() => {
  const { api, dropZone } = window.es;
  const LABELS = { processing: "Processing", approved: "Approved", pending_review: "In review", rejected: "Refused", processing_failed: "Failed" };
  const POLL_MS = 2500;
  const ATTEMPTS = 4;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const $ = (root, name) => root.querySelector(`[data-${name}]`);
  const field = (form, name) => form.elements.namedItem(name);

  // One upload's status, shown in `item` until it is final; returns the last status.
  const watch = async (item, id) => {
    for (;;) {
      let status;
      try {
        status = await api(`/v1/images/${id}/status`);
      } catch {
        await sleep(POLL_MS * 2);
        continue;
      }
      show(item, status);
      if (status.status !== "processing") return status;
      await sleep(POLL_MS);
    }
  };

  const show = (item, status) => {
    const label = status.status === "processing" && status.stage === "awaiting_upload" ? "Uploading" : LABELS[status.status] || status.status;
    const badge = $(item, "state");
    badge.textContent = label;
    badge.className = `badge ${status.status}`;
    $(item, "reason").textContent = status.reason ? status.reason : "";
    const thumb = $(item, "thumb");
    if (thumb && status.derivatives?.thumb150 && thumb.hidden) {
      thumb.src = status.derivatives.thumb150;
      thumb.alt = field($(item, "meta"), "title").value || "uploaded image";
      thumb.hidden = false;
    }
    const dup = status.duplicate;
    if (dup) {
      const box = $(item, "duplicate");
      $(box, "duplicate-link").href = `/images/${dup.imageId}`;
      $(box, "duplicate-title").textContent = dup.title;
      const img = $(box, "duplicate-img");
      if (dup.thumbnailUrl) img.src = dup.thumbnailUrl;
      else img.remove();
      box.hidden = false;
    }
    const ai = $(item, "ai");
    if (status.aiTags?.length && ai.hidden) {
      const n = item.dataset.n;
      $(ai, "ai-list").replaceChildren(
        ...status.aiTags.map((t, i) => {
          const label = document.createElement("label");
          const box = document.createElement("input");
          box.type = "checkbox";
          box.name = "accept";
          box.value = t.tag;
          box.id = `ai-${n}-${i}`;
          label.append(box, ` ${t.tag}`);
          return label;
        }),
      );
      ai.hidden = false;
    }
  };

  // PUT one body to a presigned URL with progress; resolves with the ETag.
  const put = (url, headers, body, onProgress) =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      for (const [k, v] of Object.entries(headers || {})) if (!/^(content-length|host)$/i.test(k)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve(xhr.getResponseHeader("ETag") || "") : reject(new Error(`storage answered ${xhr.status}`)));
      xhr.onerror = () => reject(new Error("network error"));
      xhr.send(body);
    });

  // PUT with a few attempts and growing pauses; `refresh` re-signs the URL before a retry.
  const putWithRetry = async (target, body, onProgress, refresh) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await put(target.url, target.headers, body, onProgress);
      } catch (error) {
        onProgress(0);
        if (attempt >= ATTEMPTS) throw error;
        await sleep(400 * 2 ** attempt);
        if (refresh) target = (await refresh()) || target;
      }
    }
  };

  let count = 0;
  const root = document.querySelector("[data-upload]");
  if (root) {
    const list = $(root, "list");
    const template = $(root, "item");
    const announce = $(root, "announce");
    const input = $(root, "files");
    const zone = $(root, "dropzone");

    const start = async (file) => {
      const n = ++count;
      const item = template.content.firstElementChild.cloneNode(true);
      item.dataset.n = n;
      for (const el of item.querySelectorAll("[id]")) el.id = `${el.id}-${n}`;
      for (const el of item.querySelectorAll("label[for]")) el.htmlFor = `${el.htmlFor}-${n}`;
      $(item, "name").textContent = file.name;
      const progress = $(item, "progress");
      progress.setAttribute("aria-label", `Upload of ${file.name}`);
      const form = $(item, "meta");
      field(form, "title").value =
        file.name
          .replace(/\.[^.]+$/, "")
          .replace(/[-_]+/g, " ")
          .slice(0, 200) || "Untitled";
      list.append(item);
      const state = $(item, "state");
      const retry = $(item, "retry");
      const fail = (message) => {
        state.textContent = "Upload failed";
        state.className = "badge rejected";
        $(item, "reason").textContent = message;
      };

      let ticket;
      try {
        state.textContent = "Uploading";
        const above = Number(root.dataset.multipartAbove);
        ticket = await api("/v1/uploads", {
          method: "POST",
          json: {
            title: field(form, "title").value,
            contentType: file.type,
            bytes: file.size,
            ...(above >= 0 && root.dataset.multipartAbove ? { multipart: file.size > above } : {}),
          },
        });
      } catch (error) {
        return fail(error.message);
      }
      const id = ticket.imageId;
      item.dataset.image = id;
      form.dataset.image = id;
      $(form, "save").disabled = false;
      const open = $(item, "open");
      open.href = `/studio/uploads/${id}`;
      open.hidden = false;

      // Bytes done so far, by part, for one progress bar.
      const done = [];
      const report = (index, loaded) => {
        done[index] = loaded;
        progress.value = Math.min(100, Math.round((done.reduce((a, b) => a + (b || 0), 0) / file.size) * 100));
      };
      const mp = ticket.multipart;
      const etags = [];
      item.dataset.mode = mp ? "multipart" : "single";
      const send = async () => {
        retry.hidden = true;
        state.textContent = "Uploading";
        state.className = "badge processing";
        $(item, "reason").textContent = "";
        try {
          if (mp) {
            for (const part of mp.parts) {
              const i = part.partNumber - 1;
              if (etags[i]) continue;
              const body = file.slice(i * mp.partSize, Math.min(file.size, (i + 1) * mp.partSize));
              const refresh = async () => (await api(`/v1/uploads/${id}/parts`, { method: "POST", json: { partNumbers: [part.partNumber] } })).parts[0];
              etags[i] = await putWithRetry(part, body, (loaded) => report(i, loaded), refresh);
              report(i, body.size);
            }
            await api(`/v1/uploads/${id}/complete`, { method: "POST", json: { parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) } });
          } else {
            await putWithRetry({ url: ticket.uploadUrl, headers: ticket.headers }, file, (loaded) => report(0, loaded));
            report(0, file.size);
            await api(`/v1/uploads/${id}/complete`, { method: "POST", json: {} });
          }
        } catch (error) {
          fail(`${error.message}. Press Retry to try again.`);
          retry.hidden = false;
          return;
        }
        const final = await watch(item, id);
        announce.textContent = `${file.name}: ${LABELS[final.status] || final.status}`;
      };
      retry.addEventListener("click", send);
      await send();
    };

    const take = (files) => {
      const picked = [...(files || [])];
      if (picked.length) announce.textContent = `Uploading ${picked.length} file${picked.length > 1 ? "s" : ""}`;
      for (const file of picked) start(file);
    };
    input.addEventListener("change", () => {
      take(input.files);
      input.value = "";
    });
    dropZone(zone, take);

    // The listing form: PATCH the API; keywords typed plus the AI tags ticked.
    list.addEventListener("submit", async (e) => {
      const form = e.target.closest("[data-meta]");
      if (!form) return;
      e.preventDefault();
      const saved = $(form, "saved");
      const typed = field(form, "keywords")
        .value.split(",")
        .map((k) => k.trim())
        .filter(Boolean);
      const accepted = [...form.querySelectorAll('input[name="accept"]:checked')].map((b) => b.value);
      const keywords = [...new Set([...typed, ...accepted])];
      const categories = [...form.querySelectorAll('input[name="categories"]:checked')].map((b) => b.value);
      saved.textContent = "Saving…";
      try {
        await api(`/v1/images/${form.dataset.image}`, {
          method: "PATCH",
          json: { title: field(form, "title").value, description: field(form, "description").value, keywords, categories, editorial: field(form, "editorial").checked },
        });
        field(form, "keywords").value = keywords.join(", ");
        for (const box of form.querySelectorAll('input[name="accept"]:checked')) box.closest("label").remove();
        saved.textContent = "Saved";
      } catch (error) {
        saved.textContent = `Not saved: ${error.message}`;
      }
    });
  }

  // A single upload's page while it is processing: reload once it is final.
  const waiting = document.querySelector("[data-status-page]");
  if (waiting) {
    (async () => {
      for (;;) {
        await sleep(POLL_MS);
        try {
          const status = await api(`/v1/images/${waiting.dataset.statusPage}/status`);
          if (status.status !== "processing") return location.reload();
        } catch {}
      }
    })();
  }
})();
