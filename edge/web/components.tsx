import type { Child } from "hono/jsx";

/**
 * Pieces more than one page uses. A page's own pieces stay in its file (edge/web/pages/*.tsx).
 */

/** An image as a grid tile shows it. `colour` is its dominant colour, the placeholder while the thumbnail loads. */
export type Tile = { id: string; title: string; thumbnailUrl: string | null; colour?: string | null; width?: number | null; height?: number | null };

/** A responsive grid of thumbnails, lazy-loaded, each a link to its image page, alt text its title. */
export function ImageGrid({ images, empty }: { images: Tile[]; empty?: Child }) {
  if (images.length === 0) return <p class="empty">{empty ?? "No images here yet."}</p>;
  return (
    <ul class="grid">
      {images.map((image, index) => (
        <li style={image.colour ? `background:${image.colour}` : undefined}>
          <a href={`/images/${image.id}`}>
            {image.thumbnailUrl ? (
              <img
                src={image.thumbnailUrl}
                alt={image.title}
                width={image.width && image.height ? Math.round((450 * image.width) / Math.max(image.width, image.height)) : 450}
                height={image.width && image.height ? Math.round((450 * image.height) / Math.max(image.width, image.height)) : 450}
                loading={index < 4 ? "eager" : "lazy"}
                decoding="async"
              />
            ) : (
              <span class="noimg">{image.title}</span>
            )}
          </a>
        </li>
      ))}
    </ul>
  );
}

/** An amount of money as people read it: `$12.00`. */
export function money(cents: number, currency = "usd"): string {
  return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() }).format(cents / 100);
}

/** A date as people read it: `7 Dec 2026`. */
export function day(iso: string | Date): string {
  return new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }).format(new Date(iso));
}

/** A message above a form: what went wrong, announced to screen readers. */
export function Notice({ kind = "error", children }: { kind?: "error" | "ok"; children: Child }) {
  return (
    <p class={`notice ${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </p>
  );
}
