import * as v from "valibot";
import * as s from "../../lib/schemas";

/**
 * Shapes several catalogue services share: what a contributor says about a listing (uploads and
 * listing edits) and the rendition URLs that image responses carry.
 */

/** Listing metadata a contributor gives with an upload (and may edit later with PATCH /v1/images/{id}). */
export const ListingFields = {
  title: s.text(200),
  description: v.optional(s.text(5000, 0)),
  keywords: v.optional(v.pipe(v.array(s.text(50)), v.minLength(1, "omit keywords rather than sending none"), v.maxLength(50, "at most 50 keywords"))),
  categories: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(/^[a-z0-9-]{1,40}$/, "must be a category slug"))), v.maxLength(2, "at most 2 categories"))),
  editorial: v.optional(v.boolean()),
};

/** URLs of an image's renditions, by name (thumb150, thumb450, thumb1000, preview). */
export const RenditionUrlsSchema = v.record(v.string(), v.string());
export type RenditionUrls = v.InferOutput<typeof RenditionUrlsSchema>;

/** The orientations an image's dimensions give it (the generated `orientation` column). */
export const OrientationSchema = v.picklist(["landscape", "portrait", "square"]);
export type Orientation = v.InferOutput<typeof OrientationSchema>;
