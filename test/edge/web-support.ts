import { expect } from "vitest";
import { api, sharedWorker, signUp, type WorkerTarget } from "./support";

/**
 * A browser for the edge tests: keeps cookies between requests, reads each page's CSRF token, and
 * signs in through the web app's own form. Page tests in test/edge/ drive the Worker with it; the
 * real-browser tests are in test/web/.
 */
export class Browser {
  readonly cookies = new Map<string, string>();
  /** The CSRF token of the last page that carried one. */
  csrf = "";
  readonly ip: string;

  constructor(
    readonly target: WorkerTarget = sharedWorker,
    ip = `203.0.113.${Math.floor(Math.random() * 250)}`,
  ) {
    this.ip = ip;
  }

  /** A request as a browser sends it: its cookies, Accept: text/html unless `init.headers` says otherwise; redirects not followed. */
  async fetch(path: string, init: RequestInit & { form?: Record<string, string>; json?: unknown } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (!headers.has("accept")) headers.set("accept", "text/html,application/xhtml+xml");
    if (this.cookies.size > 0) headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    let body = init.body;
    if (init.form) {
      headers.set("content-type", "application/x-www-form-urlencoded");
      body = new URLSearchParams(init.form).toString();
    }
    const { form: _form, ...rest } = init;
    const res = await api(path, { ...rest, body, headers, ip: this.ip, target: this.target, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";");
      const [name = "", value = ""] = pair.split("=");
      const expired = attributes.some((a) => /max-age=0\b/i.test(a.trim()) || /expires=Thu, 01 Jan 1970/i.test(a.trim()));
      if (expired || value === "") this.cookies.delete(name.trim());
      else this.cookies.set(name.trim(), value.trim());
    }
    const type = res.headers.get("content-type") ?? "";
    if (type.startsWith("text/html")) {
      const html = await res.clone().text();
      const token = /<meta name="csrf-token" content="([^"]+)"/.exec(html)?.[1];
      if (token) this.csrf = token;
    }
    return res;
  }

  /** Opens a page and returns its HTML (expecting 200). */
  async page(path: string): Promise<string> {
    const res = await this.fetch(path);
    const html = await res.text();
    expect(res.status, `${path}: ${html.slice(0, 500)}`).toBe(200);
    return html;
  }

  /** Submits a form with this browser's CSRF token (opening `from` first when there is none yet). */
  async submit(path: string, fields: Record<string, string>, from = "/"): Promise<Response> {
    if (!this.csrf) await this.page(from);
    return this.fetch(path, { method: "POST", form: { _csrf: this.csrf, ...fields } });
  }

  /** Signs in through the sign-in form, then loads the home page (new session, new CSRF token). */
  async signIn(email: string, password: string): Promise<void> {
    await this.page("/login");
    const res = await this.submit("/login", { email, password });
    expect(res.status, await res.clone().text()).toBe(303);
    await this.page("/");
  }
}

/** A new account of `role` and a browser signed in as it. */
export async function signedInBrowser(role: "buyer" | "contributor" | "admin", target: WorkerTarget = sharedWorker) {
  const account = await signUp(role, target);
  const browser = new Browser(target);
  await browser.signIn(account.email, account.password);
  return { account, browser };
}
