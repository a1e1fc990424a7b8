/**
 * The text clean-up OpenAI CLIP applies before BPE (`simple_tokenizer.py`):
 * `whitespace_clean(basic_clean(text)).lower()`, where `basic_clean` is `ftfy.fix_text`, then
 * `html.unescape` twice, then `strip`.
 *
 * ftfy is reproduced step for step as ftfy 6 runs them (per line, repeated until nothing changes), except
 * `fix_encoding`: its mojibake repair ("cafÃ©" → "café") is a statistical model of its own and is left out,
 * so such text is tokenised as typed. The steps kept are the ones search queries actually hit: phones'
 * curly quotes ("it’s" must tokenise like "it's"), entities from pasted HTML, full-width letters from
 * CJK keyboards, Latin ligatures from PDFs, stray control characters and C1 bytes.
 *
 * Named HTML entities: the 252 HTML 4 names, `&apos;` and HTML5's upper-case aliases (`&AMP;`, `&TRADE;`,
 * ...), with HTML5's values and its legacy no-semicolon forms (`&amp`, `&copy2024`). The ~2,000 names only
 * HTML5 defines (`&bigstar;`, `&NewLine;`) stay as text; numeric references follow Python exactly.
 */

/** Characters Python's `str.isspace()` accepts: what `strip()` removes and `\s+` collapses in CLIP. */
export const PY_WHITESPACE = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

const WHITESPACE_RUN = new RegExp(`[${PY_WHITESPACE}]+`, "g");
const EDGE_WHITESPACE = new RegExp(`^[${PY_WHITESPACE}]+|[${PY_WHITESPACE}]+$`, "g");

/** name:hex-codepoint, values as in Python's `html.entities.html5` (so `lang` is U+27E8, not HTML 4's U+2329). */
const ENTITY_TABLE =
  "AElig:c6 Aacute:c1 Acirc:c2 Agrave:c0 Alpha:391 Aring:c5 Atilde:c3 Auml:c4 Beta:392 Ccedil:c7 Chi:3a7 " +
  "Dagger:2021 Delta:394 ETH:d0 Eacute:c9 Ecirc:ca Egrave:c8 Epsilon:395 Eta:397 Euml:cb Gamma:393 Iacute:cd " +
  "Icirc:ce Igrave:cc Iota:399 Iuml:cf Kappa:39a Lambda:39b Mu:39c Ntilde:d1 Nu:39d OElig:152 Oacute:d3 " +
  "Ocirc:d4 Ograve:d2 Omega:3a9 Omicron:39f Oslash:d8 Otilde:d5 Ouml:d6 Phi:3a6 Pi:3a0 Prime:2033 Psi:3a8 " +
  "Rho:3a1 Scaron:160 Sigma:3a3 THORN:de Tau:3a4 Theta:398 Uacute:da Ucirc:db Ugrave:d9 Upsilon:3a5 Uuml:dc " +
  "Xi:39e Yacute:dd Yuml:178 Zeta:396 aacute:e1 acirc:e2 acute:b4 aelig:e6 agrave:e0 alefsym:2135 alpha:3b1 " +
  "amp:26 and:2227 ang:2220 aring:e5 asymp:2248 atilde:e3 auml:e4 bdquo:201e beta:3b2 brvbar:a6 bull:2022 " +
  "cap:2229 ccedil:e7 cedil:b8 cent:a2 chi:3c7 circ:2c6 clubs:2663 cong:2245 copy:a9 crarr:21b5 cup:222a " +
  "curren:a4 dArr:21d3 dagger:2020 darr:2193 deg:b0 delta:3b4 diams:2666 divide:f7 eacute:e9 ecirc:ea egrave:e8 " +
  "empty:2205 emsp:2003 ensp:2002 epsilon:3b5 equiv:2261 eta:3b7 eth:f0 euml:eb euro:20ac exist:2203 fnof:192 " +
  "forall:2200 frac12:bd frac14:bc frac34:be frasl:2044 gamma:3b3 ge:2265 gt:3e hArr:21d4 harr:2194 hearts:2665 " +
  "hellip:2026 iacute:ed icirc:ee iexcl:a1 igrave:ec image:2111 infin:221e int:222b iota:3b9 iquest:bf " +
  "isin:2208 iuml:ef kappa:3ba lArr:21d0 lambda:3bb lang:27e8 laquo:ab larr:2190 lceil:2308 ldquo:201c le:2264 " +
  "lfloor:230a lowast:2217 loz:25ca lrm:200e lsaquo:2039 lsquo:2018 lt:3c macr:af mdash:2014 micro:b5 middot:b7 " +
  "minus:2212 mu:3bc nabla:2207 nbsp:a0 ndash:2013 ne:2260 ni:220b not:ac notin:2209 nsub:2284 ntilde:f1 nu:3bd " +
  "oacute:f3 ocirc:f4 oelig:153 ograve:f2 oline:203e omega:3c9 omicron:3bf oplus:2295 or:2228 ordf:aa ordm:ba " +
  "oslash:f8 otilde:f5 otimes:2297 ouml:f6 para:b6 part:2202 permil:2030 perp:22a5 phi:3c6 pi:3c0 piv:3d6 " +
  "plusmn:b1 pound:a3 prime:2032 prod:220f prop:221d psi:3c8 quot:22 rArr:21d2 radic:221a rang:27e9 raquo:bb " +
  "rarr:2192 rceil:2309 rdquo:201d real:211c reg:ae rfloor:230b rho:3c1 rlm:200f rsaquo:203a rsquo:2019 " +
  "sbquo:201a scaron:161 sdot:22c5 sect:a7 shy:ad sigma:3c3 sigmaf:3c2 sim:223c spades:2660 sub:2282 sube:2286 " +
  "sum:2211 sup:2283 sup1:b9 sup2:b2 sup3:b3 supe:2287 szlig:df tau:3c4 there4:2234 theta:3b8 thetasym:3d1 " +
  "thinsp:2009 thorn:fe tilde:2dc times:d7 trade:2122 uArr:21d1 uacute:fa uarr:2191 ucirc:fb ugrave:f9 uml:a8 " +
  "upsih:3d2 upsilon:3c5 uuml:fc weierp:2118 xi:3be yacute:fd yen:a5 yuml:ff zeta:3b6 zwj:200d zwnj:200c " +
  "apos:27 AMP:26 COPY:a9 GT:3e LT:3c QUOT:22 REG:ae TRADE:2122";

const ENTITIES = new Map<string, string>(
  ENTITY_TABLE.split(" ").map((pair) => {
    const [name = "", hex = ""] = pair.split(":");
    return [name, String.fromCodePoint(Number.parseInt(hex, 16))];
  }),
);

/** HTML5 also accepts these without the semicolon: the Latin-1 names plus a few upper-case aliases. */
function isLegacyEntity(name: string, value: string): boolean {
  const code = value.codePointAt(0) ?? 0;
  return (code >= 0xa0 && code <= 0xff) || /^(amp|lt|gt|quot|AMP|LT|GT|QUOT|COPY|REG)$/.test(name);
}

/** Python `html.entities.html5` lookup: keys with `;`, plus legacy names without it. */
function html5Entity(key: string): string | undefined {
  if (key.endsWith(";")) return ENTITIES.get(key.slice(0, -1));
  const value = ENTITIES.get(key);
  return value !== undefined && isLegacyEntity(key, value) ? value : undefined;
}

/** Windows-1252 for C1 bytes 0x80–0x9f; the five it leaves undefined map to themselves (ftfy's "sloppy" codec, Python's `_invalid_charrefs`). */
const CP1252_C1 = "€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ";

/** Python `html._invalid_codepoints`: numeric references to these decode to nothing. */
function isInvalidCodepoint(code: number): boolean {
  return (
    (code >= 0x1 && code <= 0x8) ||
    code === 0xb ||
    (code >= 0xe && code <= 0x1f) ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0xfdd0 && code <= 0xfdef) ||
    (code & 0xfffe) === 0xfffe
  );
}

function numericReference(code: number): string {
  if (code === 0) return "\ufffd";
  if (code === 0x0d) return "\r";
  if (code >= 0x80 && code <= 0x9f) return CP1252_C1[code - 0x80] ?? "";
  if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return "\ufffd";
  if (isInvalidCodepoint(code)) return "";
  return String.fromCodePoint(code);
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/**
 * Python's `html.unescape`: numeric references (with its replacements for invalid code points) and
 * named entities, choosing the longest legacy name when no full name matches.
 * @example unescapeHtml("rock &amp; roll &copy2024") // "rock & roll ©2024"
 */
export function unescapeHtml(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(CHARREF, (whole: string, ref: string) => {
    if (ref.startsWith("#")) {
      const hex = ref[1] === "x" || ref[1] === "X";
      const digits = ref.slice(hex ? 2 : 1).replace(/;$/, "");
      return numericReference(Number.parseInt(digits, hex ? 16 : 10));
    }
    const exact = html5Entity(ref);
    if (exact !== undefined) return exact;
    for (let end = ref.length - 1; end > 1; end--) {
      const prefix = html5Entity(ref.slice(0, end));
      if (prefix !== undefined) return prefix + ref.slice(end);
    }
    return whole;
  });
}

/** ftfy's own entity table: full names with `;`, plus upper-cased all-lower-case names (`&NTILDE;` → "Ñ"). */
const FTFY_ENTITIES = new Map<string, string>();
for (const [name, value] of ENTITIES) {
  FTFY_ENTITIES.set(`&${name};`, value);
  const upper = name.toUpperCase();
  if (name === name.toLowerCase() && !ENTITIES.has(upper)) FTFY_ENTITIES.set(`&${upper};`, value.toUpperCase());
}

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

function ftfyUnescapeHtml(text: string): string {
  return text.replace(FTFY_ENTITY, (entity) => {
    const named = FTFY_ENTITIES.get(entity);
    if (named !== undefined) return named;
    if (!entity.startsWith("&#")) return entity;
    const decoded = unescapeHtml(entity);
    return decoded.includes(";") ? entity : decoded;
  });
}

const LIGATURES: Record<string, string> = {
  Ĳ: "IJ",
  ĳ: "ij",
  ŉ: "ʼn",
  Ǳ: "DZ",
  ǲ: "Dz",
  ǳ: "dz",
  Ǆ: "DŽ",
  ǅ: "Dž",
  ǆ: "dž",
  Ǉ: "LJ",
  ǈ: "Lj",
  ǉ: "lj",
  Ǌ: "NJ",
  ǋ: "Nj",
  ǌ: "nj",
  ﬀ: "ff",
  ﬁ: "fi",
  ﬂ: "fl",
  ﬃ: "ffi",
  ﬄ: "ffl",
  ﬅ: "ſt",
  ﬆ: "st",
};
const LIGATURE = new RegExp(`[${Object.keys(LIGATURES).join("")}]`, "g");
const C1_CONTROL = /[\x80-\x9f]/g;
const WIDE_OR_NARROW = /[\u3000\uff01-\uffef]/g;
const SINGLE_QUOTE = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTE = /[\u201c-\u201f]/g;
const LINE_BREAK = /\r\n|[\r\u2028\u2029\x85]/g;
const TERMINAL_ESCAPE = /\x1b\[[\p{Nd};]*[a-zA-Z]/gu;
const CONTROL_CHARS = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

/** One line through ftfy 6's `fix_and_explain` (minus `fix_encoding`), repeated until it is stable. */
function fixSegment(segment: string, unescapeEntities: boolean): string {
  let text = segment;
  for (;;) {
    const before = text;
    if (unescapeEntities) text = ftfyUnescapeHtml(text);
    text = text
      .replace(C1_CONTROL, (c) => CP1252_C1[c.charCodeAt(0) - 0x80] ?? c)
      .replace(LIGATURE, (c) => LIGATURES[c] ?? c)
      .replace(WIDE_OR_NARROW, (c) => (c === "\u3000" ? " " : c.normalize("NFKC")))
      .replace(DOUBLE_QUOTE, '"')
      .replace(SINGLE_QUOTE, "'")
      .replace(LINE_BREAK, "\n")
      .toWellFormed()
      .replace(TERMINAL_ESCAPE, "")
      .replace(CONTROL_CHARS, "")
      .normalize("NFC");
    if (text === before) return text;
  }
}

/**
 * ftfy's `fix_text` as CLIP calls it (defaults): line by line; entities are decoded only until the first
 * line containing "<", since that text may be HTML whose entities are meant literally.
 */
export function fixText(text: string): string {
  let unescapeEntities = true;
  let out = "";
  for (const line of text.split(/(?<=\n)/)) {
    if (line.includes("<")) unescapeEntities = false;
    out += fixSegment(line, unescapeEntities);
  }
  return out;
}

/** Python's `string.punctuation`, which Immich's `canonicalize` clean-up removes. */
const ASCII_PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

/**
 * `whitespace_clean(basic_clean(text))`, what Immich's `clean_text` gives every text tower; with
 * `canonicalize` (SigLIP's `tokenizer_kwargs.clean`) also without ASCII punctuation and lower-cased.
 * @example cleanText("  It&rsquo;s a ＣＡＴ\n") // "It's a CAT"
 */
export function cleanText(text: string, { canonicalize = false }: { canonicalize?: boolean } = {}): string {
  const basic = unescapeHtml(unescapeHtml(fixText(text))).replace(EDGE_WHITESPACE, "");
  const cleaned = basic.replace(WHITESPACE_RUN, " ").replace(EDGE_WHITESPACE, "");
  return canonicalize ? cleaned.replace(ASCII_PUNCTUATION, "").toLowerCase() : cleaned;
}

/**
 * The exact string CLIP's BPE sees: `whitespace_clean(basic_clean(text)).lower()`.
 * @example cleanClipText("  It&rsquo;s a ＣＡＴ\n") // "it's a cat"
 */
export function cleanClipText(text: string): string {
  return cleanText(text).toLowerCase();
}
