import { Hono } from "hono";
import { html, raw } from "hono/html";
import type { RouterRoute } from "hono/types";
import type { Config } from "../config";
import type { AppEnv } from "../env";
import { buildOpenApi, type OpenApiDocument, OpenApiDocumentSchema } from "../lib/openapi";
import { spec } from "../lib/route";

function referencePage(doc: OpenApiDocument) {
  const sections = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(
      ([method, op]) => html`<section>
        <h2><code>${method.toUpperCase()} ${path}</code></h2>
        <p>${op.summary}</p>
        <p class="access">${op.description}</p>
        ${op.parameters?.length ? html`<h3>Parameters</h3><ul>${op.parameters.map((p) => html`<li><code>${p.name}</code> (${p.in}${p.required ? ", required" : ""})</li>`)}</ul>` : ""}
        ${op.requestBody ? html`<h3>Body</h3><pre>${JSON.stringify(op.requestBody, null, 2)}</pre>` : ""}
        <h3>Responses</h3>
        <ul>${Object.entries(op.responses).map(([status, r]) => html`<li><code>${status}</code> ${"description" in r ? r.description : "problem+json"}</li>`)}</ul>
      </section>`,
    ),
  );
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Edgestock API reference</title>
<style>${raw("body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}section{border-top:1px solid #ddd;padding:.5rem 0}pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:12px}.access{color:#555}")}</style>
</head><body>
<h1>Edgestock API reference</h1>
<p>${doc.info.description}</p>
<p>Machine-readable: <a href="/v1/openapi.json">/v1/openapi.json</a> (OpenAPI ${doc.openapi}).</p>
${sections}
</body></html>`;
}

/** The configured public origin, never the request's Host header (a client could name any host there). */
const publicOrigin = (config: Config) => new URL(config.PUBLIC_APP_URL).origin;

/** `/v1/openapi.json` and a readable reference page, both built from the live route table. */
export function docsRoutesFor(routes: () => RouterRoute[]) {
  return new Hono<AppEnv>()
    .get(
      "/openapi.json",
      spec({
        summary: "This API's OpenAPI 3.1 document",
        tags: ["docs"],
        access: "public",
        responses: { 200: { description: "OpenAPI document", schema: OpenApiDocumentSchema } },
      }),
      (c) => c.json(buildOpenApi(routes(), publicOrigin(c.var.config))),
    )
    .get(
      "/docs",
      spec({ summary: "Readable API reference", tags: ["docs"], access: "public", responses: { 200: { description: "HTML page", content: { "text/html": { type: "string" } } } } }),
      (c) => c.html(referencePage(buildOpenApi(routes(), publicOrigin(c.var.config)))),
    );
}
