import { describe, expect, it } from "vitest";
import { catalogueFactsFrom } from "../../edge/services/catalogue/search-sql";

describe("the catalogue probe's answer, as a search reads it", () => {
  it("keeps what the probe found", () => {
    expect(catalogueFactsFrom({ rumIndex: true, catalogueRows: 1_000_000, commonLexemes: ["outdoor", "copi"] })).toEqual({
      rumIndex: true,
      catalogueRows: 1_000_000,
      commonLexemes: ["outdoor", "copi"],
    });
  });

  it("counts anything missing or odd as unknown: exact counting, no RUM path, no common words", () => {
    const unknown = { rumIndex: false, catalogueRows: null, commonLexemes: [] };
    expect(catalogueFactsFrom(undefined)).toEqual(unknown);
    // Never analysed: reltuples -1 comes back as null; a text "true" is not the boolean.
    expect(catalogueFactsFrom({ rumIndex: "true", catalogueRows: null, commonLexemes: null })).toEqual(unknown);
    expect(catalogueFactsFrom({ rumIndex: false, catalogueRows: 0, commonLexemes: "outdoor" })).toEqual(unknown);
    expect(catalogueFactsFrom({ rumIndex: false, catalogueRows: "NaN", commonLexemes: [] })).toEqual(unknown);
    expect(catalogueFactsFrom({ rumIndex: true, catalogueRows: "2500.0", commonLexemes: ["sea", 3, null] })).toEqual({
      rumIndex: true,
      catalogueRows: 2500,
      commonLexemes: ["sea"],
    });
  });
});
