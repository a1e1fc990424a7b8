import { describe, expect, it } from "vitest";
import { listingFor, normaliseKeywords, titleFromFileName, titleFromTags } from "../../migrate/listing";

const known = new Set(["nature", "travel", "business"]);
const ai = {
  aiTags: [
    { tag: "beach", confidence: 0.9 },
    { tag: "sea", confidence: 0.8 },
    { tag: "sunset", confidence: 0.7 },
    { tag: "sand", confidence: 0.6 },
  ],
  aiCategories: [
    { slug: "travel", confidence: 0.7 },
    { slug: "retired-category", confidence: 0.2 },
  ],
};

describe("what a migrated file's listing says", () => {
  it("takes the manifest first, field by field", () => {
    const listing = listingFor({
      path: "/photos/IMG_0001.jpg",
      manifest: { title: "From the manifest", keywords: ["Harbour", "Boats"], editorial: true, category: "nature" },
      descriptive: { title: "From IPTC", description: "Caption from IPTC", keywords: ["iptc"] },
      ...ai,
      knownCategories: known,
    });
    expect(listing.title).toBe("From the manifest");
    // No manifest description: the file's own.
    expect(listing.description).toBe("Caption from IPTC");
    expect(listing.editorial).toBe(true);
    expect(listing.tags.filter((t) => t.source === "contributor").map((t) => t.tag)).toEqual(["harbour", "boats"]);
    expect(listing.categories).toEqual([{ slug: "nature", confidence: null, source: "contributor" }]);
  });

  it("then the file's IPTC/XMP, with AI tags beside its keywords and never replacing one", () => {
    const listing = listingFor({
      path: "/photos/x.jpg",
      descriptive: { title: "Harbour at dusk", keywords: ["Sea", "harbour"] },
      ...ai,
      knownCategories: known,
    });
    expect(listing.title).toBe("Harbour at dusk");
    expect(listing.description).toBeNull();
    expect(listing.editorial).toBe(false);
    expect(listing.tags).toEqual([
      { tag: "sea", confidence: null, source: "contributor" },
      { tag: "harbour", confidence: null, source: "contributor" },
      { tag: "beach", confidence: 0.9, source: "ai" },
      { tag: "sunset", confidence: 0.7, source: "ai" },
      { tag: "sand", confidence: 0.6, source: "ai" },
    ]);
    // AI categories the marketplace does not have are left out.
    expect(listing.categories).toEqual([{ slug: "travel", confidence: 0.7, source: "ai" }]);
  });

  it("then a title from the top AI tags, then the file name", () => {
    expect(listingFor({ path: "/p/a.jpg", descriptive: {}, ...ai, knownCategories: known }).title).toBe("Beach, sea and sunset");
    expect(listingFor({ path: "/p/summer_holiday-2019.JPG", descriptive: {}, aiTags: [], aiCategories: [], knownCategories: known })).toEqual({
      title: "Summer holiday 2019",
      description: null,
      editorial: false,
      tags: [],
      categories: [],
      credit: null,
      creditLicense: null,
      creditSource: null,
    });
  });

  it("carries the manifest's credit, licence and source to the listing", () => {
    const listing = listingFor({
      path: "/photos/fig.jpg",
      manifest: { credit: "Trevor Freespace", creditLicense: "CC-BY-4.0", creditSource: "Debian package lomiri-wallpapers-16.04" },
      descriptive: {},
      ...ai,
      knownCategories: known,
    });
    expect(listing).toMatchObject({ credit: "Trevor Freespace", creditLicense: "CC-BY-4.0", creditSource: "Debian package lomiri-wallpapers-16.04" });
  });

  it("keeps to the upload limits", () => {
    const listing = listingFor({
      path: "/p/a.jpg",
      descriptive: { title: "t".repeat(300), description: "d".repeat(6000), keywords: ["k".repeat(51), ...Array.from({ length: 60 }, (_, i) => `k${i}`)] },
      aiTags: [],
      aiCategories: [],
      knownCategories: known,
    });
    expect(listing.title).toHaveLength(200);
    expect(listing.description).toHaveLength(5000);
    expect(listing.tags).toHaveLength(50);
    expect(listing.tags[0]?.tag).toBe("k0");
  });

  it("normalises keywords: trimmed, lower case, single spaces, no repeats or empties", () => {
    expect(normaliseKeywords([" Sea ", "SEA", "", "  ", "Blue  Sky"])).toEqual(["sea", "blue sky"]);
  });

  it("titles from tags and file names", () => {
    expect(titleFromTags([])).toBeNull();
    expect(titleFromTags(["beach"])).toBe("Beach");
    expect(titleFromTags(["beach", "sea"])).toBe("Beach and sea");
    expect(titleFromFileName("/a/b/IMG_0042.tiff")).toBe("IMG 0042");
    expect(titleFromFileName("/a/b/___.jpg")).toBe("Untitled");
  });
});
