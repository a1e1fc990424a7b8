import { type Context, Hono } from "hono";
import type { AppEnv } from "../../env";
import { ApiError } from "../../lib/problem";
import { SITEMAP_MAX_URLS, sitemapImageCount, sitemapImages } from "../../services/catalogue/storefront";
import { page } from "../page";

/** Paths crawlers are asked to leave alone: signed-in and form pages, and the API. */
export const DISALLOWED = ["/account", "/cart", "/checkout", "/studio", "/console", "/login", "/register", "/v1/"] as const;

/** The storefront pages every sitemap lists besides the images. */
const STATIC_PAGES = ["/", "/search", "/licenses/terms"] as const;

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

function xml(c: Context<AppEnv>, body: string): Response {
  return c.body(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`, 200, { "content-type": "application/xml; charset=utf-8", "cache-control": "public, max-age=3600" });
}

/** One sitemap of URLs, each with its last change when known. */
function urlset(entries: { loc: string; lastmod?: Date | null }[]): string {
  const urls = entries.map(({ loc, lastmod }) => `<url><loc>${escapeXml(loc)}</loc>${lastmod ? `<lastmod>${lastmod.toISOString()}</lastmod>` : ""}</url>`);
  return `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n${urls.join("\n")}\n</urlset>\n`;
}

/** How many image sitemaps `count` listed images need when the first one holds the static pages too. */
export const imageSitemaps = (count: number) => Math.max(1, Math.ceil((count + STATIC_PAGES.length) / SITEMAP_MAX_URLS));

/** The URLs of image sitemap `n` (1-based): the static pages first in the first one, then the images by id. */
async function sitemapEntries(c: Context<AppEnv>, n: number) {
  const app = c.var.urls.app;
  const first = n === 1 ? STATIC_PAGES.map((path) => ({ loc: `${app}${path}` })) : [];
  const offset = n === 1 ? 0 : (n - 1) * SITEMAP_MAX_URLS - STATIC_PAGES.length;
  const limit = SITEMAP_MAX_URLS - first.length;
  const rows = await sitemapImages(c.var.db, offset, limit);
  return [...first, ...rows.map((row) => ({ loc: `${app}/images/${row.id}`, lastmod: row.lastModified }))];
}

/**
 * What crawlers read: robots.txt (storefront open, account and form pages and the API closed) and
 * sitemap.xml with every listed image's page. Up to 50,000 URLs it is one sitemap; beyond, a sitemap
 * index of /sitemaps/images-N.xml files of 50,000 each.
 */
export const seoRoutes = new Hono<AppEnv>()
  .get("/robots.txt", page({ access: "public" }), (c) =>
    c.text(["User-agent: *", "Allow: /", ...DISALLOWED.map((path) => `Disallow: ${path}`), "", `Sitemap: ${c.var.urls.app}/sitemap.xml`, ""].join("\n"), 200, {
      "cache-control": "public, max-age=3600",
    }),
  )
  .get("/sitemap.xml", page({ access: "public" }), async (c) => {
    const files = imageSitemaps(await sitemapImageCount(c.var.db));
    if (files === 1) return xml(c, urlset(await sitemapEntries(c, 1)));
    const app = c.var.urls.app;
    const items = Array.from({ length: files }, (_, i) => `<sitemap><loc>${escapeXml(`${app}/sitemaps/images-${i + 1}.xml`)}</loc></sitemap>`);
    return xml(c, `<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n${items.join("\n")}\n</sitemapindex>\n`);
  })
  .get("/sitemaps/:file", page({ access: "public" }), async (c) => {
    const match = /^images-([1-9]\d{0,5})\.xml$/.exec(c.req.param("file"));
    const n = Number(match?.[1] ?? 0);
    if (!match || n > imageSitemaps(await sitemapImageCount(c.var.db))) throw new ApiError("not-found", "no such sitemap");
    return xml(c, urlset(await sitemapEntries(c, n)));
  });
