/**
 * Web app figures: Lighthouse 12 (performance, accessibility, best practices, SEO, and the largest
 * contentful paint) on the home, search and image pages of a freshly seeded stack (`npm start` +
 * `npm run seed`, as a new user runs it), in Debian's Chromium, with Lighthouse's default mobile
 * emulation and simulated throttling; plus the bytes of JavaScript and CSS each page loads (the
 * budget: 20 KB and 16 KB). Lighthouse's scores move a few points between runs: each page is
 * measured RUNS times and the median is printed.
 * Run: `npm run bench:web [RUNS=3]` (CHROMIUM_PATH overrides /usr/bin/chromium). Nothing is asserted.
 */
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";
import { startSeededStack } from "../lib/stack";
import { recordFigures } from "./lib/figures";

recordFigures("web");

const RUNS = Number(process.argv[2] ?? 3);
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

type Result = { performance: number; accessibility: number; bestPractices: number; seo: number; lcpMs: number; cls: number; tbtMs: number; jsBytes: number; cssBytes: number };

async function measure(url: string, port: number): Promise<Result> {
  const run = await lighthouse(url, { port, output: "json", logLevel: "error", onlyCategories: ["performance", "accessibility", "best-practices", "seo"] });
  if (!run) throw new Error(`lighthouse returned nothing for ${url}`);
  const { categories, audits } = run.lhr;
  const score = (id: string) => Math.round((categories[id]?.score ?? 0) * 100);
  const items = (audits["network-requests"]?.details as { items?: { resourceType?: string; resourceSize?: number }[] } | undefined)?.items ?? [];
  const bytes = (type: string) => items.filter((i) => i.resourceType === type).reduce((n, i) => n + (i.resourceSize ?? 0), 0);
  return {
    performance: score("performance"),
    accessibility: score("accessibility"),
    bestPractices: score("best-practices"),
    seo: score("seo"),
    lcpMs: audits["largest-contentful-paint"]?.numericValue ?? Number.NaN,
    cls: audits["cumulative-layout-shift"]?.numericValue ?? Number.NaN,
    tbtMs: audits["total-blocking-time"]?.numericValue ?? Number.NaN,
    jsBytes: bytes("Script"),
    cssBytes: bytes("Stylesheet"),
  };
}

const stack = await startSeededStack();
const chrome = await chromeLauncher.launch({ chromePath: CHROMIUM, chromeFlags: FLAGS });
try {
  const found = (await (await fetch(`${stack.url}/v1/search?perPage=1`)).json()) as { results: { id: string; title: string }[] };
  const image = found.results[0];
  if (!image) throw new Error("the seeded catalogue lists no image");
  // A query with a page of results: the demo catalogue's largest subject.
  const word = "animal";
  const pages = [
    { name: "home", path: "/" },
    { name: "search", path: `/search?q=${encodeURIComponent(word)}` },
    { name: "image", path: `/images/${image.id}` },
  ];
  console.log(
    `Lighthouse ${(await import("lighthouse/package.json", { with: { type: "json" } })).default.version}, mobile emulation, simulated throttling; median of ${RUNS} runs per page.`,
  );
  console.log("");
  console.log(
    `${"page".padEnd(8)} ${"perf".padStart(5)} ${"a11y".padStart(5)} ${"best".padStart(5)} ${"seo".padStart(5)} ${"LCP ms".padStart(8)} ${"TBT ms".padStart(7)} ${"CLS".padStart(6)} ${"JS B".padStart(7)} ${"CSS B".padStart(7)}`,
  );
  for (const p of pages) {
    const status = (await fetch(stack.url + p.path)).status;
    if (status !== 200) throw new Error(`${p.path} answered ${status}`);
    const runs: Result[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measure(stack.url + p.path, chrome.port));
    const m = (key: keyof Result) => median(runs.map((r) => r[key]));
    console.log(
      `${p.name.padEnd(8)} ${String(m("performance")).padStart(5)} ${String(m("accessibility")).padStart(5)} ${String(m("bestPractices")).padStart(5)} ${String(m("seo")).padStart(5)} ${m("lcpMs").toFixed(0).padStart(8)} ${m("tbtMs").toFixed(0).padStart(7)} ${m("cls").toFixed(3).padStart(6)} ${String(m("jsBytes")).padStart(7)} ${String(m("cssBytes")).padStart(7)}`,
    );
  }
} finally {
  await chrome.kill();
  await stack.stop();
}
process.exit(0);
