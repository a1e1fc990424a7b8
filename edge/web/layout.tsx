import type { Context } from "hono";
import type { Child } from "hono/jsx";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../env";
import type { Principal } from "../lib/principal";
import { CSRF_FIELD, csrfToken } from "../lib/session-cookies";

/**
 * The frame of every page: head (title, description, canonical, social and structured data the
 * page adds), the header with the search box and the visitor's menu, main, footer, and the shared
 * stylesheet and script. Budget per page (test/web/budget.test.ts holds it): at most 20 KB of
 * JavaScript and 16 KB of CSS, uncompressed, no framework.
 */
export type PageMeta = {
  title: string;
  description?: string;
  /** Absolute canonical URL (public pages). */
  canonical?: string;
  /** Extra head elements: Open Graph, Twitter card, JSON-LD. */
  head?: Child;
  /** Extra scripts under /static/ (besides app.js), e.g. "studio.js". */
  scripts?: string[];
  /** Extra stylesheets under /static/ (besides app.css), e.g. "studio.css". */
  styles?: string[];
  /** Keep the page out of search engines (account, studio, console, forms). */
  noindex?: boolean;
  /** The search box's initial text. */
  query?: string;
  status?: ContentfulStatusCode;
};

/** Renders a page inside the layout, with this visitor's CSRF token for its forms and scripts. */
export async function render(c: Context<AppEnv>, meta: PageMeta, body: Child): Promise<Response> {
  const csrf = await csrfToken(c);
  const html = await (
    <Layout meta={meta} principal={c.var.principal} csrf={csrf}>
      {body}
    </Layout>
  ).toString();
  c.header("cache-control", "private, no-store");
  return c.html(`<!DOCTYPE html>${html}`, meta.status ?? 200);
}

function Layout({ meta, principal, csrf, children }: { meta: PageMeta; principal: Principal | null; csrf: string; children: Child }) {
  const title = meta.title === "Edgestock" ? meta.title : `${meta.title} · Edgestock`;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
        {meta.description && <meta name="description" content={meta.description} />}
        {meta.canonical && <link rel="canonical" href={meta.canonical} />}
        {meta.noindex && <meta name="robots" content="noindex" />}
        <meta name="csrf-token" content={csrf} />
        <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/static/app.css" />
        {(meta.styles ?? []).map((name) => (
          <link rel="stylesheet" href={`/static/${name}`} />
        ))}
        {meta.head}
        <script src="/static/app.js" defer />
        {(meta.scripts ?? []).map((name) => (
          <script src={`/static/${name}`} defer />
        ))}
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/">
            Edgestock
          </a>
          <search class="find">
            <form class="searchbox" action="/search" method="get">
              <label class="sr" for="q">
                Search images
              </label>
              <input id="q" name="q" type="search" value={meta.query ?? ""} placeholder="Search images" autocomplete="off" data-suggest="/v1/search/suggest" list="q-suggestions" />
              <datalist id="q-suggestions" />
              <button type="submit">Search</button>
            </form>
          </search>
          <Menu principal={principal} csrf={csrf} />
        </header>
        <main id="main">{children}</main>
        <footer class="bottom">
          <p>
            Edgestock, an open stock-image marketplace. <a href="/search">Browse</a> · <a href="/v1/docs">API</a>
          </p>
        </footer>
      </body>
    </html>
  );
}

function Menu({ principal, csrf }: { principal: Principal | null; csrf: string }) {
  if (!principal) {
    return (
      <nav class="menu" aria-label="Account">
        <a href="/login">Sign in</a>
        <a class="button" href="/register">
          Join
        </a>
      </nav>
    );
  }
  return (
    <nav class="menu" aria-label="Account">
      {principal.role === "contributor" && <a href="/studio">Studio</a>}
      {principal.role === "admin" && <a href="/console">Console</a>}
      <a href="/cart">Cart</a>
      <a href="/account">Account</a>
      <form method="post" action="/logout" class="inline">
        <CsrfField token={csrf} />
        <button type="submit" class="link">
          Sign out
        </button>
      </form>
    </nav>
  );
}

/** The hidden CSRF field every form that changes something carries. */
export function CsrfField({ token }: { token: string }) {
  return <input type="hidden" name={CSRF_FIELD} value={token} />;
}
