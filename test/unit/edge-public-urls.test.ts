import { describe, expect, it } from "vitest";
import { derivativeKey } from "../../common/images";
import { publicUrls } from "../../edge/adapters/public-urls";

describe("publicUrls", () => {
  const config = { DERIVATIVES_PUBLIC_URL: "https://cdn.example.test/stock//", PUBLIC_APP_URL: "https://app.example.test/" };

  it("joins rendition keys to DERIVATIVES_PUBLIC_URL with one slash, whatever the configured base ends with", () => {
    const key = derivativeKey("1b4e28ba-2fa1-41d2-883f-0016d3cca427", "thumb450");
    expect(publicUrls(config).rendition(key)).toBe(`https://cdn.example.test/stock/${key}`);
  });

  it("maps an image's rendition keys to URLs by name, and no keys to none", () => {
    const urls = publicUrls(config);
    expect(urls.renditions({ thumb150: "images/a/thumb-150.webp", preview: "images/a/preview-1200.webp" })).toEqual({
      thumb150: "https://cdn.example.test/stock/images/a/thumb-150.webp",
      preview: "https://cdn.example.test/stock/images/a/preview-1200.webp",
    });
    expect(urls.renditions(null)).toEqual({});
  });

  it("gives the app's URL without a trailing slash, ready for paths", () => {
    expect(`${publicUrls(config).app}/checkout/done`).toBe("https://app.example.test/checkout/done");
  });
});
