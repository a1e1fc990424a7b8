import { basename, extname } from "node:path";
import type { DescriptiveMetadata } from "../gpu-worker/pipeline/metadata";
import type { ListingHints } from "./manifest-store";

/**
 * What a migrated file's listing says, field by field: the manifest row first, then the file's own
 * IPTC/XMP, then the AI tags (a title from the top ones), then the file name. Keywords from the
 * manifest or the file are the contributor's tags; AI tags are added beside them and never replace
 * one. The limits are those of uploads (title 200 characters, description 5000, 50 keywords of at
 * most 50 characters).
 */

export const MAX_TITLE = 200;
export const MAX_DESCRIPTION = 5000;
export const MAX_KEYWORDS = 50;
export const MAX_KEYWORD_LENGTH = 50;

type Scored<K extends string> = { [key in K]: string } & { confidence: number };
export type ListingTag = { tag: string; confidence: number | null; source: "contributor" | "ai" };
export type ListingCategory = { slug: string; confidence: number | null; source: "contributor" | "ai" };

export type Listing = {
  title: string;
  description: string | null;
  editorial: boolean;
  /** Contributor keywords first, then AI tags not among them. */
  tags: ListingTag[];
  categories: ListingCategory[];
  /** Attribution from the manifest (images.credit, credit_license, credit_source); null when none. */
  credit: string | null;
  creditLicense: string | null;
  creditSource: string | null;
};

export type ListingInput = {
  path: string;
  manifest?: ListingHints;
  /** The file's IPTC/XMP (gpu-worker/pipeline/metadata.ts). */
  descriptive: DescriptiveMetadata;
  /** From the tagger, highest confidence first; empty without ML. */
  aiTags: Scored<"tag">[];
  aiCategories: Scored<"slug">[];
  /** Category slugs the marketplace has. */
  knownCategories: ReadonlySet<string>;
};

/** Trimmed, lower-cased, without empties, over-long ones and repeats; at most 50. */
export function normaliseKeywords(keywords: readonly string[]): string[] {
  const unique = new Set<string>();
  for (const keyword of keywords) {
    const tag = keyword.trim().replace(/\s+/g, " ").toLowerCase();
    if (tag && tag.length <= MAX_KEYWORD_LENGTH) unique.add(tag);
    if (unique.size === MAX_KEYWORDS) break;
  }
  return [...unique];
}

/**
 * A title from the top AI tags.
 *
 * @example titleFromTags(["beach", "sea", "sunset", "sand"]) // "Beach, sea and sunset"
 */
export function titleFromTags(tags: readonly string[]): string | null {
  const top = tags.slice(0, 3);
  if (top.length === 0) return null;
  const text = top.length === 1 ? (top[0] as string) : `${top.slice(0, -1).join(", ")} and ${top.at(-1)}`;
  return capitalise(text);
}

/**
 * The file name as a title: no extension, separators as spaces.
 *
 * @example titleFromFileName("/photos/2019/sunset_over-the.sea.JPG") // "Sunset over the sea"
 */
export function titleFromFileName(path: string): string {
  const name = basename(path, extname(path))
    .replace(/[_\-.+]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return name ? capitalise(name) : "Untitled";
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
const clip = (text: string, max: number) => (text.length > max ? text.slice(0, max).trimEnd() : text);
const present = (text: string | undefined) => (text?.trim() ? text.trim() : undefined);

/** The listing of one file. */
export function listingFor(input: ListingInput): Listing {
  const { manifest, descriptive } = input;
  const aiNames = input.aiTags.map((t) => t.tag);
  const title = present(manifest?.title) ?? present(descriptive.title) ?? titleFromTags(aiNames) ?? titleFromFileName(input.path);
  const description = present(manifest?.description) ?? present(descriptive.description) ?? null;

  const keywords = normaliseKeywords(manifest?.keywords ?? descriptive.keywords ?? []);
  const own = new Set(keywords);
  const tags: ListingTag[] = [
    ...keywords.map((tag) => ({ tag, confidence: null, source: "contributor" as const })),
    ...input.aiTags.filter((t) => !own.has(t.tag)).map((t) => ({ tag: t.tag, confidence: t.confidence, source: "ai" as const })),
  ];

  const categories: ListingCategory[] =
    manifest?.category && input.knownCategories.has(manifest.category)
      ? [{ slug: manifest.category, confidence: null, source: "contributor" }]
      : input.aiCategories.filter((c) => input.knownCategories.has(c.slug)).map((c) => ({ slug: c.slug, confidence: c.confidence, source: "ai" }));

  return {
    title: clip(title, MAX_TITLE),
    description: description === null ? null : clip(description, MAX_DESCRIPTION),
    editorial: manifest?.editorial ?? false,
    tags,
    categories,
    credit: manifest?.credit ?? null,
    creditLicense: manifest?.creditLicense ?? null,
    creditSource: manifest?.creditSource ?? null,
  };
}
