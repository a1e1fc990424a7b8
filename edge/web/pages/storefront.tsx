import { type Context, Hono } from "hono";
import * as v from "valibot";
import { MAX_QUERY_IMAGE_BYTES } from "../../../common/embed-service";
import { categories } from "../../../db/schema";
import { LICENSE_TERMS } from "../../data/license-terms";
import type { AppEnv } from "../../env";
import { ApiError } from "../../lib/problem";
import { background } from "../../lib/route";
import * as s from "../../lib/schemas";
import { csrfToken } from "../../lib/session-cookies";
import { queryImageBodyLimit } from "../../middleware/body-limit";
import { checkRateLimit, clientIp, SEARCH_LIMITS } from "../../middleware/rate-limit";
import { collectionNames } from "../../services/catalogue/collections";
import { findSimilarImages, type SimilarImages, showImagePage } from "../../services/catalogue/image-page";
import { ByImageQuerySchema, QUERY_IMAGE_TYPES, SearchQuerySchema, type SearchResponse, searchByImage, searchCatalogue, searcherOf } from "../../services/catalogue/search";
import { categoriesWithCounts, contributorProfile, homeImages } from "../../services/catalogue/storefront";
import { ImageGrid, Notice } from "../components";
import { render } from "../layout";
import { page } from "../page";
import { describe, ImageBody, ImageHead } from "./storefront-image";
import { DropSearch, Facets, problemsOf, Results, rawSearchParams, type SearchView } from "./storefront-search";

const STYLES = ["storefront.css"];
const PUBLIC = { access: "public" } as const;

/** Canonical URL of a path on the public app (PUBLIC_APP_URL). */
const canonical = (c: Context<AppEnv>, path: string) => `${c.var.urls.app}${path}`;

const ProfileQuery = v.object({
  page: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, "must be a page number"), v.transform(Number), v.minValue(1, "must be a page number")), "1"),
});

/**
 * The API's per-IP search limit (429 when over), shared with GET /v1/search. A failing store does
 * not take the page with it: the limit is skipped and this returns false (the cache is down too).
 */
async function searchLimit(c: Context<AppEnv>): Promise<boolean> {
  try {
    await checkRateLimit(c, SEARCH_LIMITS.perIp);
    return true;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    return false;
  }
}

/** Category slugs to names, for the category facet. */
async function categoryNames(c: Context<AppEnv>): Promise<Map<string, string>> {
  const rows = await c.var.db.select({ slug: categories.slug, name: categories.name }).from(categories);
  return new Map(rows.map((r) => [r.slug, r.name]));
}

/** A search page that could not run: the search box and what was wrong with the parameters (400). */
function badSearch(c: Context<AppEnv>, params: Record<string, string>, problems: string[]) {
  return render(
    c,
    { title: "Search", noindex: true, query: params.q, status: 400, styles: STYLES },
    <section class="narrow">
      <h1>This search could not run</h1>
      <Notice>Some of the search parameters are not valid:</Notice>
      <ul>
        {problems.map((p) => (
          <li>{p}</li>
        ))}
      </ul>
      <p>
        <a href={params.q ? `/search?q=${encodeURIComponent(params.q)}` : "/search"}>Search again without the filters</a>
      </p>
    </section>,
  );
}

/** The storefront: home, search, image pages, contributor profiles, licence terms. */
export const storefrontPages = new Hono<AppEnv>()
  .get("/", page(PUBLIC), async (c) => {
    const [all, lists] = await Promise.all([categoriesWithCounts(c.var.db), homeImages(c.var.db, c.var.urls)]);
    // Categories with something to show (all of them while the catalogue is empty).
    const filled = all.filter((category) => category.images > 0);
    const cats = filled.length > 0 ? filled : all;
    return render(
      c,
      {
        title: "Edgestock",
        description: "Licensable stock photographs, searchable by words and by meaning.",
        canonical: canonical(c, "/"),
        styles: STYLES,
      },
      <>
        <section class="hero">
          <h1>Stock photographs, licensed in a minute</h1>
          <p>Search by words, by meaning or by dropping a picture. Every image comes with clear licence terms.</p>
        </section>
        <section aria-labelledby="categories">
          <h2 id="categories">Categories</h2>
          <ul class="chips categories">
            {cats.map((category) => (
              <li>
                <a href={`/search?category=${encodeURIComponent(category.slug)}`}>
                  {category.name} <span class="count">({category.images})</span>
                </a>
              </li>
            ))}
          </ul>
        </section>
        <section aria-labelledby="popular">
          <h2 id="popular">Popular images</h2>
          <ImageGrid images={lists.popular} />
          <p>
            <a href="/search?sort=popular">More popular images</a>
          </p>
        </section>
        <section aria-labelledby="newest">
          <h2 id="newest">New images</h2>
          <ImageGrid images={lists.newest} />
          <p>
            <a href="/search?sort=newest">More new images</a>
          </p>
        </section>
      </>,
    );
  })
  .get("/search", page(PUBLIC), async (c) => {
    const params = rawSearchParams(c);
    const parsed = v.safeParse(SearchQuerySchema, params);
    if (!parsed.success) return badSearch(c, params, problemsOf(parsed.issues));
    const query = parsed.output;
    const storeOk = await searchLimit(c);
    const [{ response }, names] = await Promise.all([
      searchCatalogue({ db: c.var.dbRead, primary: c.var.dbHttp, config: c.var.config, store: c.var.store, urls: c.var.urls, log: c.var.log, background: background(c) }, query, {
        searcher: searcherOf(c.var.principal, clientIp(c)),
        storeDegraded: !storeOk,
        fresh: false,
      }),
      categoryNames(c),
    ]);
    const contributorName = query.contributor ? response.results.find((r) => r.contributor.id === query.contributor)?.contributor.displayName : undefined;
    const view: SearchView = { params, response, page: query.page ?? 1, perPage: query.perPage, categoryNames: names, contributorName };
    const q = query.q.trim();
    const filtered = Object.keys(params).some((key) => key !== "q");
    const csrf = await csrfToken(c);
    return render(
      c,
      {
        title: q ? `${q}: stock photographs` : "Search stock photographs",
        description: q ? `${response.total} licensable stock photographs of ${q} on Edgestock.` : "Browse licensable stock photographs on Edgestock.",
        canonical: canonical(c, q && !filtered ? `/search?q=${encodeURIComponent(q)}` : "/search"),
        // Filtered and paged variants stay out of the index; the plain query is the canonical page.
        noindex: filtered,
        query: query.q,
        styles: STYLES,
      },
      <>
        <h1>{q ? `Images of “${q}”` : "Browse images"}</h1>
        <div class="sidebar">
          <Facets view={view} />
          <Results view={view} />
        </div>
        <DropSearch accept={QUERY_IMAGE_TYPES} csrf={csrf} />
      </>,
    );
  })
  .post("/search/by-image", queryImageBodyLimit, page(PUBLIC), async (c) => {
    const params = rawSearchParams(c);
    const parsed = v.safeParse(ByImageQuerySchema, params);
    if (!parsed.success) throw new ApiError("validation-failed", problemsOf(parsed.issues).join("; "));
    await searchLimit(c);
    const length = Number(c.req.header("content-length") ?? "0");
    if (length > MAX_QUERY_IMAGE_BYTES + 64 * 1024) throw new ApiError("payload-too-large", `images are limited to ${MAX_QUERY_IMAGE_BYTES} bytes`);
    const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    let image: { bytes: ArrayBuffer; contentType: string };
    if (type === "multipart/form-data") {
      // The form without JavaScript: the picture is its `image` field.
      const file = (await c.req.parseBody()).image;
      if (!(file instanceof File) || file.size === 0) throw new ApiError("validation-failed", "choose a picture to search with");
      image = { bytes: await file.arrayBuffer(), contentType: file.type.toLowerCase() };
    } else {
      image = { bytes: await c.req.arrayBuffer(), contentType: type };
    }
    if (image.bytes.byteLength > MAX_QUERY_IMAGE_BYTES) throw new ApiError("payload-too-large", `images are limited to ${MAX_QUERY_IMAGE_BYTES} bytes`);
    const response: SearchResponse = await searchByImage({ db: c.var.dbRead, config: c.var.config, urls: c.var.urls, log: c.var.log }, image, parsed.output);
    return render(
      c,
      { title: "Images like yours", noindex: true, styles: STYLES },
      <>
        <h1>Images like yours</h1>
        <p class="count" role="status">
          {response.total === 1 ? "1 similar image" : `${response.total} similar images`}
        </p>
        <ImageGrid images={response.results} empty="No similar images found." />
        <p>
          <a href="/search">Back to search</a>
        </p>
      </>,
    );
  })
  .get("/images/:id", page(PUBLIC), async (c) => {
    const id = c.req.param("id");
    if (!v.is(s.uuid, id)) throw new ApiError("not-found", "no such image");
    const image = await showImagePage({ db: c.var.db, urls: c.var.urls, log: c.var.log, background: background(c) }, id);
    let similar: SimilarImages | null = null;
    try {
      similar = await findSimilarImages(c.var.db, id, { perPage: 8, safe: true }, c.var.urls);
    } catch (error) {
      c.var.log.warn("image page: similar images unavailable", { imageId: id, error: String(error) });
    }
    const csrf = await csrfToken(c);
    const boards = c.var.principal ? await collectionNames(c.var.db, c.var.principal.userId) : null;
    return render(
      c,
      {
        title: image.title,
        description: describe(image),
        canonical: canonical(c, `/images/${image.id}`),
        head: <ImageHead image={image} app={c.var.urls.app} />,
        styles: STYLES,
      },
      <ImageBody image={image} similar={similar} csrf={csrf} boards={boards} />,
    );
  })
  .get("/contributors/:id", page(PUBLIC), async (c) => {
    const id = c.req.param("id");
    if (!v.is(s.uuid, id)) throw new ApiError("not-found", "no such contributor");
    const query = v.safeParse(ProfileQuery, c.req.query());
    if (!query.success) throw new ApiError("bad-request", problemsOf(query.issues).join("; "));
    const pageNumber = query.output.page;
    const profile = await contributorProfile(c.var.db, c.var.urls, id, pageNumber);
    const pages = Math.max(1, Math.ceil(profile.total / profile.perPage));
    const path = `/contributors/${profile.id}`;
    return render(
      c,
      {
        title: `${profile.displayName}: stock photographs`,
        description: `${profile.total} licensable stock photographs by ${profile.displayName} on Edgestock.`,
        canonical: canonical(c, pageNumber > 1 ? `${path}?page=${pageNumber}` : path),
        styles: STYLES,
      },
      <>
        <h1>{profile.displayName}</h1>
        <p class="count">
          {profile.total === 1 ? "1 image" : `${profile.total} images`} · <a href={`/search?contributor=${profile.id}`}>Search within this contributor’s images</a>
        </p>
        <ImageGrid images={profile.images} empty="No images listed yet." />
        {pages > 1 && (
          <nav class="pager" aria-label="Pages">
            {pageNumber > 1 && (
              <a href={pageNumber === 2 ? path : `${path}?page=${pageNumber - 1}`} rel="prev">
                Previous page
              </a>
            )}
            <span>
              Page {pageNumber} of {pages}
            </span>
            {pageNumber < pages && (
              <a href={`${path}?page=${pageNumber + 1}`} rel="next">
                Next page
              </a>
            )}
          </nav>
        )}
      </>,
    );
  })
  .get("/licenses/terms", page(PUBLIC), (c) =>
    render(
      c,
      { title: "Licence terms", description: "What each Edgestock licence lets you do with an image.", canonical: canonical(c, "/licenses/terms"), styles: STYLES },
      <section class="narrow terms">
        <h1>Licence terms</h1>
        <p>Every image on Edgestock is sold under one of these licences. Editorial images are licensed under the Editorial License only.</p>
        {Object.entries(LICENSE_TERMS).map(([type, terms]) => (
          <section id={type} aria-labelledby={`${type}-name`}>
            <h2 id={`${type}-name`}>{terms.name}</h2>
            <p>{terms.summary}</p>
            <h3>Permitted</h3>
            <ul>
              {terms.permittedUses.map((use) => (
                <li>{use}</li>
              ))}
            </ul>
            <h3>Not permitted</h3>
            <ul>
              {terms.prohibitedUses.map((use) => (
                <li>{use}</li>
              ))}
            </ul>
            <p class="muted">
              Printed copies: {terms.printRunLimit === null ? "unlimited" : terms.printRunLimit.toLocaleString("en-US")}. Merchandise for resale:{" "}
              {terms.merchandiseForResale ? "permitted" : "not permitted"}. Commercial use: {terms.commercialUse ? "permitted" : "not permitted"}.
            </p>
          </section>
        ))}
      </section>,
    ),
  );
