import type { Context } from "hono";
import * as v from "valibot";
import { COLOUR_BUCKETS } from "../../../common/colours";
import type { AppEnv } from "../../env";
import { MAX_OFFSET, type SearchResponse } from "../../services/catalogue/search";
import { ImageGrid, Notice } from "../components";
import { CsrfField } from "../layout";

/**
 * The search page's pieces: the query string as the page keeps it (only the parameters the search
 * accepts, empty ones dropped), links that change one filter and keep the others, the facets, sort,
 * "did you mean" and paging.
 */

/** The search parameters a page URL may carry (those of GET /v1/search). */
export const SEARCH_PARAMS = [
  "q",
  "mode",
  "category",
  "orientation",
  "colour",
  "license",
  "contributor",
  "minWidth",
  "minHeight",
  "from",
  "to",
  "safe",
  "sort",
  "perPage",
  "page",
  "cursor",
] as const;

/** The page's query string as given: every non-empty parameter, the last value of a repeated one. */
export function rawSearchParams(c: Context<AppEnv>): Record<string, string> {
  const url = new URL(c.req.url);
  const out: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (value.trim() !== "") out[key] = value;
    else delete out[key];
  }
  return out;
}

/** A /search URL from `params` with `changes` applied (undefined removes); a changed filter goes back to page 1. */
export function searchHref(params: Record<string, string>, changes: Record<string, string | undefined>): string {
  const next: Record<string, string> = { ...params };
  if (!("page" in changes)) delete next.page;
  delete next.cursor;
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  const ordered = SEARCH_PARAMS.filter((key) => next[key] !== undefined).map((key) => [key, next[key] as string]);
  const query = new URLSearchParams(ordered).toString();
  return query ? `/search?${query}` : "/search";
}

/** The validation messages of a failed parse, one per parameter, as people read them. */
export function problemsOf(issues: v.BaseIssue<unknown>[]): string[] {
  return issues.map((issue) => {
    const path = v.getDotPath(issue);
    if (issue.kind === "schema" && issue.type === "strict_object" && path) return `“${path}” is not a search parameter`;
    return path ? `${path}: ${issue.message}` : issue.message;
  });
}

/** What the colour swatches look like; the buckets themselves are common/colours.ts's. */
const SWATCH: Record<(typeof COLOUR_BUCKETS)[number], string> = {
  red: "#dc2626",
  orange: "#ea580c",
  yellow: "#facc15",
  green: "#16a34a",
  teal: "#0d9488",
  blue: "#2563eb",
  purple: "#7c3aed",
  pink: "#db2777",
  brown: "#92400e",
  black: "#111111",
  white: "#ffffff",
  gray: "#9ca3af",
};

const ORIENTATIONS = { landscape: "Landscape", portrait: "Portrait", square: "Square" } as const;
const LICENSES = { standard: "Standard", enhanced: "Enhanced", editorial: "Editorial" } as const;
const SORTS = { relevance: "Most relevant", newest: "Newest", popular: "Most popular" } as const;

type FacetOption = { value: string; label: string; count?: number; swatch?: string };

/** One facet: each value a link that sets it (or, when it is the current one, clears it). */
function Facet({ title, name, options, params, approximate }: { title: string; name: string; options: FacetOption[]; params: Record<string, string>; approximate: boolean }) {
  const current = params[name];
  if (options.length === 0 && !current) return null;
  return (
    <nav class="facet" aria-label={title}>
      <h3>{title}</h3>
      <ul>
        {options.map((option) => {
          const active = current === option.value;
          return (
            <li>
              <a href={searchHref(params, { [name]: active ? undefined : option.value })} aria-current={active ? "true" : undefined} class={active ? "on" : undefined}>
                {option.swatch && <span class="swatch" style={`background:${option.swatch}`} aria-hidden="true" />}
                {option.label}
                {option.count !== undefined && (
                  <span class="count">
                    {" "}
                    ({approximate ? "about " : ""}
                    {option.count.toLocaleString("en-US")})
                  </span>
                )}
                {active && <span class="sr"> (selected; select to remove)</span>}
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

export type SearchView = {
  params: Record<string, string>;
  response: SearchResponse;
  page: number;
  perPage: number;
  categoryNames: Map<string, string>;
  /** The contributor filtered by, with their name, when there is one. */
  contributorName?: string;
};

/** The filters beside the results: category, orientation, colour, licence type, contributor. */
export function Facets({ view }: { view: SearchView }) {
  const { params, response } = view;
  const { facets } = response;
  const byCount = (record: Record<string, number>) => Object.entries(record).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const categories = byCount(facets.categories).map(([slug, count]) => ({ value: slug, label: view.categoryNames.get(slug) ?? slug, count }));
  const orientations = Object.entries(ORIENTATIONS)
    .filter(([key]) => (facets.orientations[key] ?? 0) > 0 || params.orientation === key)
    .map(([value, label]) => ({ value, label, count: facets.orientations[value] ?? 0 }));
  const colours = COLOUR_BUCKETS.filter((bucket) => (facets.colours[bucket] ?? 0) > 0 || params.colour === bucket).map((bucket) => ({
    value: bucket,
    label: bucket[0]?.toUpperCase() + bucket.slice(1),
    count: facets.colours[bucket] ?? 0,
    swatch: SWATCH[bucket],
  }));
  const licenses = Object.entries(LICENSES)
    .filter(([key]) => (facets.licenseTypes[key] ?? 0) > 0 || params.license === key)
    .map(([value, label]) => ({ value, label, count: facets.licenseTypes[value] ?? 0 }));
  // A response cached before the contributor facet existed has none.
  const contributorOptions: FacetOption[] = (facets.contributors ?? []).map((c) => ({ value: c.id, label: c.displayName, count: c.images }));
  if (params.contributor && !contributorOptions.some((o) => o.value === params.contributor)) {
    contributorOptions.push({ value: params.contributor, label: view.contributorName ?? "This contributor" });
  }
  return (
    // On a phone-sized screen the stylesheet puts the filters after the results (reached by the
    // "Filters" link above them): no script, so nothing moves once the page is shown.
    <aside class="facets" id="filters" aria-label="Filters">
      <h2>Filters</h2>
      <Facet title="Category" name="category" options={categories} params={params} approximate={response.approximate} />
      <Facet title="Orientation" name="orientation" options={orientations} params={params} approximate={response.approximate} />
      <Facet title="Colour" name="colour" options={colours} params={params} approximate={response.approximate} />
      <Facet title="Licence type" name="license" options={licenses} params={params} approximate={response.approximate} />
      <Facet title="Contributor" name="contributor" options={contributorOptions} params={params} approximate={response.approximate} />
    </aside>
  );
}

/** Sort links: each keeps every filter. */
export function SortLinks({ params }: { params: Record<string, string> }) {
  const current = params.sort ?? "relevance";
  return (
    <nav class="sorts" aria-label="Sort">
      <span>Sort:</span>
      {Object.entries(SORTS).map(([value, label]) =>
        value === current ? (
          <a href={searchHref(params, { sort: value === "relevance" ? undefined : value })} aria-current="true" class="on">
            {label}
          </a>
        ) : (
          <a href={searchHref(params, { sort: value === "relevance" ? undefined : value })}>{label}</a>
        ),
      )}
    </nav>
  );
}

/** Previous and next page links (page=N, every filter kept). */
export function Pager({ view }: { view: SearchView }) {
  const { params, response, page, perPage } = view;
  // Pages reach result MAX_OFFSET at most, however many match.
  const pages = Math.max(1, Math.min(Math.ceil(response.total / perPage), Math.floor(MAX_OFFSET / perPage) + 1));
  const hasNext = response.nextCursor !== null;
  if (page === 1 && !hasNext) return null;
  return (
    <nav class="pager" aria-label="Pages">
      {page > 1 && (
        <a href={searchHref(params, { page: page === 2 ? undefined : String(page - 1) })} rel="prev">
          Previous page
        </a>
      )}
      <span>
        Page {page} of {pages}
      </span>
      {hasNext && (
        <a href={searchHref(params, { page: String(page + 1) })} rel="next">
          Next page
        </a>
      )}
    </nav>
  );
}

/** The results column: count, degraded notice, "did you mean", sort, the grid and the pager. */
export function Results({ view }: { view: SearchView }) {
  const { params, response } = view;
  const q = params.q?.trim() ?? "";
  return (
    <div class="results">
      <p class="count" role="status">
        {response.approximate ? `About ${response.total.toLocaleString("en-US")} images` : response.total === 1 ? "1 image" : `${response.total.toLocaleString("en-US")} images`}
        {q && ` for “${q}”`}
        <a class="to-filters" href="#filters">
          Filters
        </a>
      </p>
      {response.degraded.includes("semantic") && q && <Notice kind="ok">Search by meaning is unavailable right now: these results match your words only.</Notice>}
      {response.suggestion && (
        <p class="didyoumean">
          Did you mean <a href={searchHref(params, { q: response.suggestion })}>{response.suggestion}</a>?
        </p>
      )}
      <SortLinks params={params} />
      <ImageGrid images={response.results} empty="No images match this search. Try fewer words or remove a filter." />
      <Pager view={view} />
    </div>
  );
}

/** Search by image: a drop zone (app.js posts a dropped or chosen picture) that is also a plain upload form. */
export function DropSearch({ accept, csrf }: { accept: readonly string[]; csrf: string }) {
  return (
    <form class="dropzone" data-drop-search method="post" action="/search/by-image" enctype="multipart/form-data">
      <CsrfField token={csrf} />
      <label for="drop-image">Search by image: drop a picture here, or choose one</label>
      <input id="drop-image" name="image" type="file" accept={accept.join(",")} />
      <button type="submit" class="secondary">
        Find similar images
      </button>
      <p data-drop-status role="status" aria-live="polite" />
    </form>
  );
}
