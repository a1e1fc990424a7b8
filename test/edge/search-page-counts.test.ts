import { jsx } from "hono/jsx";
import { describe, expect, it } from "vitest";
import type { SearchResponse } from "../../edge/services/catalogue/search";
import { Facets, Pager, Results, type SearchView } from "../../edge/web/pages/storefront-search";

/** The search page's results column and filters, rendered from a response the route could give. */
function view(response: Partial<SearchResponse>, page = 1): SearchView {
  return {
    params: { q: "sunset" },
    response: {
      total: 3,
      approximate: false,
      results: [],
      facets: { categories: { nature: 3 }, orientations: { landscape: 2, portrait: 1 }, colours: {}, licenseTypes: { standard: 3, enhanced: 3, editorial: 0 }, contributors: [] },
      mode: "keyword",
      degraded: [],
      suggestion: null,
      nextCursor: null,
      ...response,
    },
    page,
    perPage: 24,
    categoryNames: new Map([["nature", "Nature"]]),
  };
}
const render = async (component: (props: { view: SearchView }) => unknown, v: SearchView) => String(await jsx(component as never, { view: v }).toString());
const text = (html: string) => html.replace(/<[^>]+>/g, "").replace(/\s+/g, " ");

describe("search page counts", () => {
  it("shows an exact count as it is", async () => {
    expect(text(await render(Results, view({ total: 1234 })))).toContain("1,234 images for “sunset”");
    expect(text(await render(Facets, view({})))).toContain("Landscape (2)");
  });

  it("says an estimate is one, on the total and on every facet", async () => {
    const estimated = view({
      total: 270_000,
      approximate: true,
      facets: {
        categories: { nature: 41_000 },
        orientations: { landscape: 160_000 },
        colours: {},
        licenseTypes: { standard: 270_000, enhanced: 270_000, editorial: 0 },
        contributors: [],
      },
    });
    expect(text(await render(Results, estimated))).toContain("About 270,000 images for “sunset”");
    const facets = text(await render(Facets, estimated));
    expect(facets).toContain("Nature (about 41,000)");
    expect(facets).toContain("Landscape (about 160,000)");
  });

  it("counts pages only as far as results can be reached", async () => {
    const deep = view({ total: 270_000, approximate: true, nextCursor: "next" }, 3);
    // Pages stop at result 10,000: 24 a page, page 417 is the last that starts before it.
    expect(text(await render(Pager, deep))).toContain("Page 3 of 417");
  });
});
