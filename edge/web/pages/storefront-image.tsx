import { LICENSE_TERMS } from "../../data/license-terms";
import type { ImagePage, SimilarImages } from "../../services/catalogue/image-page";
import { ImageGrid, money } from "../components";
import { CsrfField } from "../layout";

/**
 * The image page's pieces: what search engines and social sites read (Open Graph, Twitter card,
 * schema.org ImageObject with the "Licensable" fields) and the body (preview, facts, licence
 * options with add-to-cart forms, similar images).
 */

/** JSON for a <script> element: `<` escaped so no `</script>` or `<!--` can end it early. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Who the image is credited to: the third-party author for imported work, else the contributor. */
export const creditOf = (image: ImagePage) => image.credit?.author ?? image.contributor.displayName;

/** The page's description for search results and link previews. */
export function describe(image: ImagePage): string {
  const text = image.description?.trim() || `${image.title}: a stock photograph by ${image.contributor.displayName}, licensable on Edgestock.`;
  return text.length > 300 ? `${text.slice(0, 297)}…` : text;
}

/** The schema.org ImageObject Google Images reads to show an image as "Licensable". */
export function imageObject(image: ImagePage, app: string) {
  const pageUrl = `${app}/images/${image.id}`;
  const year = (image.publishedAt ?? new Date().toISOString()).slice(0, 4);
  return {
    "@context": "https://schema.org",
    "@type": "ImageObject",
    name: image.title,
    description: describe(image),
    contentUrl: image.derivatives.preview ?? image.derivatives.thumb1000 ?? null,
    thumbnailUrl: image.derivatives.thumb450 ?? image.derivatives.thumb150 ?? null,
    url: pageUrl,
    width: image.width ?? undefined,
    height: image.height ?? undefined,
    creator: { "@type": "Person", name: creditOf(image) },
    creditText: `${creditOf(image)} / Edgestock`,
    copyrightNotice: `© ${year} ${creditOf(image)}`,
    license: `${app}/licenses/terms`,
    acquireLicensePage: pageUrl,
    keywords: image.tags.map((t) => t.tag).join(", ") || undefined,
    datePublished: image.publishedAt ?? undefined,
  };
}

/** Head elements: Open Graph, Twitter card and the JSON-LD. */
export function ImageHead({ image, app }: { image: ImagePage; app: string }) {
  const url = `${app}/images/${image.id}`;
  const preview = image.derivatives.preview ?? image.derivatives.thumb1000;
  return (
    <>
      <meta property="og:type" content="article" />
      <meta property="og:site_name" content="Edgestock" />
      <meta property="og:title" content={image.title} />
      <meta property="og:description" content={describe(image)} />
      <meta property="og:url" content={url} />
      {preview && <meta property="og:image" content={preview} />}
      {preview && <meta property="og:image:alt" content={image.title} />}
      <meta name="twitter:card" content="summary_large_image" />
      <meta name="twitter:title" content={image.title} />
      <meta name="twitter:description" content={describe(image)} />
      {preview && <meta name="twitter:image" content={preview} />}
      <script type="application/ld+json" dangerouslySetInnerHTML={{ __html: jsonForScript(imageObject(image, app)) }} />
    </>
  );
}

const TECHNICAL_LABELS: [keyof ImagePage["technical"], string, (v: string | number) => string][] = [
  ["camera", "Camera", String],
  ["lens", "Lens", String],
  ["focalLength", "Focal length", (v) => `${v} mm`],
  ["focalLength35mm", "Focal length (35 mm equivalent)", (v) => `${v} mm`],
  ["aperture", "Aperture", (v) => `ƒ/${v}`],
  ["shutter", "Shutter speed", (v) => `${v} s`],
  ["iso", "ISO", String],
  ["capturedAt", "Taken", (v) => String(v).slice(0, 10)],
  ["format", "Format", String],
  ["colourSpace", "Colour space", String],
  ["bitDepth", "Bit depth", (v) => `${v} bits`],
];

/** One price per licence type (US dollars first), in the order the service gives them. */
function licenceOptions(image: ImagePage) {
  const byType = new Map<string, ImagePage["prices"][number]>();
  for (const price of image.prices) {
    const known = byType.get(price.licenseType);
    if (!known || (known.currency !== "usd" && price.currency === "usd")) byType.set(price.licenseType, price);
  }
  return [...byType.values()];
}

/** The image page's body. */
/** The visitor's boards for "Save to a board"; null for an anonymous visitor, who gets a sign-in link instead. */
export type BoardChoice = { id: string; name: string };

export function ImageBody({ image, similar, csrf, boards = null }: { image: ImagePage; similar: SimilarImages | null; csrf: string; boards?: BoardChoice[] | null }) {
  const preview = image.derivatives.preview ?? image.derivatives.thumb1000 ?? image.derivatives.thumb450;
  const long = Math.max(image.width ?? 1, image.height ?? 1);
  const scale = Math.min(1, 1200 / long);
  const technical = TECHNICAL_LABELS.filter(([key]) => image.technical[key] !== undefined);
  const options = licenceOptions(image);
  return (
    <article class="imagepage">
      <div class="split">
        <div>
          <figure class="preview" style={image.colours[0] ? `background:${image.colours[0].hex}` : undefined}>
            {preview ? (
              <img
                src={preview}
                alt={image.title}
                width={image.width ? Math.round(image.width * scale) : 1200}
                height={image.height ? Math.round(image.height * scale) : 800}
                fetchpriority="high"
                decoding="async"
              />
            ) : (
              <span class="noimg">{image.title}</span>
            )}
            <figcaption class="muted">Watermarked preview. Buy a licence for the full-resolution file without the watermark.</figcaption>
          </figure>
        </div>
        <div>
          <h1>{image.title}</h1>
          <p>
            By <a href={`/contributors/${image.contributor.id}`}>{image.contributor.displayName}</a>
            {image.credit && (
              <>
                {" "}
                · Credit: {image.credit.author}
                {image.credit.license && ` (${image.credit.license})`}
              </>
            )}
          </p>
          {image.description && <p>{image.description}</p>}
          {image.editorial && <p class="badge">Editorial use only</p>}
          <h2>Licences</h2>
          {options.length === 0 ? (
            <p class="muted">This image is not for sale right now.</p>
          ) : (
            <ul class="licences">
              {options.map((price) => {
                const terms = LICENSE_TERMS[price.licenseType];
                return (
                  <li class="card">
                    <h3>
                      {terms.name} <span class="price">{money(price.amountCents, price.currency)}</span>
                    </h3>
                    <p>{terms.summary}</p>
                    <p>
                      <a href={`/licenses/terms#${price.licenseType}`}>Full terms of the {terms.name}</a>
                    </p>
                    <form method="post" action="/cart/items">
                      <CsrfField token={csrf} />
                      <input type="hidden" name="imageId" value={image.id} />
                      <input type="hidden" name="licenseType" value={price.licenseType} />
                      <button type="submit">
                        Add to cart<span class="sr">: {terms.name}</span>
                      </button>
                    </form>
                  </li>
                );
              })}
            </ul>
          )}
          <h2>Save to a board</h2>
          {boards === null ? (
            <p>
              <a href={`/login?next=${encodeURIComponent(`/images/${image.id}`)}`}>Sign in</a> to keep this image on a board.
            </p>
          ) : (
            <form method="post" action="/boards/save" class="save-board">
              <CsrfField token={csrf} />
              <input type="hidden" name="imageId" value={image.id} />
              {boards.length > 0 && (
                <label>
                  Board
                  <select name="boardId">
                    {boards.map((board) => (
                      <option value={board.id}>{board.name}</option>
                    ))}
                    <option value="">A new board</option>
                  </select>
                </label>
              )}
              <label>
                {boards.length > 0 ? "New board's name (if new)" : "New board's name"}
                <input name="name" maxlength={100} placeholder="My board" />
              </label>
              <button type="submit">Save</button>
            </form>
          )}
          <h2>Details</h2>
          <dl class="facts">
            {image.width && image.height && (
              <>
                <dt>Dimensions</dt>
                <dd>
                  {image.width} × {image.height} pixels{image.orientation && `, ${image.orientation}`}
                </dd>
              </>
            )}
            {image.categories.length > 0 && (
              <>
                <dt>Categories</dt>
                <dd>
                  {image.categories.map((category, index) => (
                    <>
                      {index > 0 && ", "}
                      <a href={`/search?category=${encodeURIComponent(category.slug)}`}>{category.name}</a>
                    </>
                  ))}
                </dd>
              </>
            )}
            {image.publishedAt && (
              <>
                <dt>Published</dt>
                <dd>{image.publishedAt.slice(0, 10)}</dd>
              </>
            )}
            {technical.map(([key, label, format]) => (
              <>
                <dt>{label}</dt>
                <dd>{format(image.technical[key] as string | number)}</dd>
              </>
            ))}
          </dl>
          {image.colours.length > 0 && (
            <>
              <h2>Colours</h2>
              <ul class="chips colours">
                {image.colours.map((colour) => (
                  <li>
                    <a href={`/search?colour=${encodeURIComponent(colour.bucket)}`}>
                      <span class="swatch" style={`background:${colour.hex}`} aria-hidden="true" /> {colour.hex} <span class="sr">({colour.bucket})</span>
                    </a>
                  </li>
                ))}
              </ul>
            </>
          )}
          {image.tags.length > 0 && (
            <>
              <h2>Tags</h2>
              <ul class="chips">
                {image.tags.map((tag) => (
                  <li>
                    <a href={`/search?q=${encodeURIComponent(tag.tag)}`}>{tag.tag}</a>
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      </div>
      <section aria-labelledby="similar">
        <h2 id="similar">Similar images</h2>
        {similar && similar.results.length > 0 ? (
          <ImageGrid
            images={similar.results.map((r) => ({
              id: r.id,
              title: r.title,
              thumbnailUrl: r.derivatives.thumb450 ?? r.derivatives.thumb150 ?? null,
              width: r.width,
              height: r.height,
            }))}
          />
        ) : (
          <p class="muted">No similar images to show for this one yet.</p>
        )}
      </section>
    </article>
  );
}
