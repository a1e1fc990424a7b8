import type { RenditionName } from "../../common/images";
import type { DerivativeKeys } from "../../db/schema";
import type { Config } from "../config";

/** The public URLs the API hands out: renditions on the derivatives CDN, and the app buyers return to. */
export type PublicUrls = {
  /** The URL of one object of the derivatives bucket, by its key. */
  rendition(key: string): string;
  /** The URLs of an image's renditions, by rendition name; none without keys. */
  renditions(keys: DerivativeKeys | null): Partial<Record<RenditionName, string>>;
  /** PUBLIC_APP_URL without a trailing slash, ready for `${urls.app}/path`. */
  app: string;
};

const withoutTrailingSlash = (url: string) => url.replace(/\/+$/, "");

/**
 * The one builder of public URLs, from DERIVATIVES_PUBLIC_URL and PUBLIC_APP_URL (set once per
 * request as `c.var.urls`), so no service trims or joins those bases itself.
 *
 * @example publicUrls(config).rendition("images/1/thumb-450.webp") // "https://cdn.example/images/1/thumb-450.webp"
 */
export function publicUrls(config: Pick<Config, "DERIVATIVES_PUBLIC_URL" | "PUBLIC_APP_URL">): PublicUrls {
  const derivatives = withoutTrailingSlash(config.DERIVATIVES_PUBLIC_URL);
  const rendition = (key: string) => `${derivatives}/${key}`;
  return {
    rendition,
    renditions: (keys) => {
      const urls: Partial<Record<RenditionName, string>> = {};
      for (const [name, key] of Object.entries(keys ?? {}) as [RenditionName, string | undefined][]) {
        if (key) urls[name] = rendition(key);
      }
      return urls;
    },
    app: withoutTrailingSlash(config.PUBLIC_APP_URL),
  };
}
