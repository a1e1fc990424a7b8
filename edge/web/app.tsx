import { type Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { PROBLEMS } from "../../common/problems";
import type { AppEnv } from "../env";
import { ApiError, problemResponse } from "../lib/problem";
import { render } from "./layout";
import { accountPages } from "./pages/account";
import { boardPages } from "./pages/boards";
import { cartPages } from "./pages/cart";
import { consolePages } from "./pages/console";
import { seoRoutes } from "./pages/seo";
import { signInPages } from "./pages/sign-in";
import { storefrontPages } from "./pages/storefront";
import { studioPages } from "./pages/studio";

/**
 * The web app for people, served by the same Worker as the API: the storefront (home, search,
 * image pages, contributor profiles), sign-in, the buyer's cart and account, the contributor's
 * studio and the admin console. Pages are rendered on the server with Hono's JSX and call the same
 * services as the API; the little client code there is lives in edge/web/public/static/ and calls
 * the API with the session cookie and the page's CSRF token. Static files are Workers Static Assets
 * (wrangler.toml [assets]).
 */
export const webRoutes = new Hono<AppEnv>()
  .route("/", storefrontPages)
  .route("/", signInPages)
  .route("/", cartPages)
  .route("/", accountPages)
  .route("/", boardPages)
  .route("/studio", studioPages)
  .route("/console", consolePages)
  .route("/", seoRoutes);

/** Whether the caller is a browser navigating (wants a page) rather than a script (wants a problem). */
export function wantsHtml(c: Context<AppEnv>): boolean {
  return (c.req.header("accept") ?? "").includes("text/html");
}

/** An error as a page: its title and what to do, with the problem's status. */
export function errorPage(c: Context<AppEnv>, error: ApiError): Promise<Response> {
  const { status, title } = PROBLEMS[error.type];
  return render(
    c,
    { title, noindex: true, status },
    <section class="narrow">
      <h1>{title}</h1>
      {error.detail && error.detail !== title && <p>{error.detail}</p>}
      <p>
        <a href="/">Back to the home page</a>
      </p>
    </section>,
  );
}

// Errors on pages: a page for browsers, the usual problem document for scripts.
webRoutes.onError((error, c) => {
  let problem: ApiError;
  if (error instanceof ApiError) problem = error;
  else if (error instanceof HTTPException && error.status === 400) problem = new ApiError("bad-request", error.message);
  else if (error instanceof HTTPException && error.status === 413) problem = new ApiError("payload-too-large");
  else {
    c.var.log.error("unhandled error", { error });
    problem = new ApiError("internal");
  }
  return wantsHtml(c) ? errorPage(c, problem) : problemResponse(c, problem);
});
