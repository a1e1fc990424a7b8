import { type Context, Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../../env";
import { ApiError } from "../../lib/problem";
import { ALL_ROLES } from "../../lib/route";
import * as s from "../../lib/schemas";
import { csrfToken } from "../../lib/session-cookies";
import {
  addToCollection,
  CollectionInputSchema,
  type CollectionView,
  createCollection,
  deleteCollection,
  LicenseAllSchema,
  licenseAll,
  listCollections,
  loadCollection,
  loadSharedCollection,
  removeFromCollection,
  reorderCollection,
  ShareTokenParamSchema,
  shareCollection,
  unshareCollection,
  updateCollection,
} from "../../services/catalogue/collections";
import { Notice } from "../components";
import { CsrfField, render } from "../layout";
import { formFields, page, visitor } from "../page";
import { AccountNav, parseForm } from "./account-parts";

/**
 * Boards (collections): the owner's pages under /account/boards, saving from an image page
 * (`POST /boards/save`), and the read-only page behind a share link (`/boards/<token>`). Everything goes
 * through the services the /v1/collections routes use (edge/services/catalogue/collections.ts).
 */

const STYLES = ["account.css"];
const IdParam = v.object({ id: s.uuid });
const ItemParam = v.object({ id: s.uuid, imageId: s.uuid });
const SaveForm = v.object({ imageId: s.uuid, boardId: v.optional(v.union([s.uuid, v.literal("")])), name: v.optional(s.text(100, 0)) });
const deps = (c: Context<AppEnv>) => ({ db: c.var.db, urls: c.var.urls });
const boardId = (c: Context<AppEnv>) => parseForm(IdParam, { id: c.req.param("id") }, "This link is not valid").id;
const shareUrl = (c: Context<AppEnv>, token: string) => `${c.var.urls.app.replace(/\/+$/, "")}/boards/${token}`;

function Items({ board, csrf }: { board: CollectionView; csrf: string }) {
  if (board.items.length === 0) return <p class="empty">No images yet: save some from an image page.</p>;
  return (
    <ul class="lines">
      {board.items.map((item, i) => (
        <li>
          {item.thumbnailUrl ? <img src={item.thumbnailUrl} alt={item.title} width={96} height={96} loading="lazy" decoding="async" /> : <span class="thumb" aria-hidden="true" />}
          <span class="grow">
            {item.unavailable ? item.title : <a href={`/images/${item.imageId}`}>{item.title}</a>}
            {item.unavailable && (
              <>
                <br />
                <span class="badge failed">No longer available</span>
              </>
            )}
            {item.note && (
              <>
                <br />
                <span class="muted">{item.note}</span>
              </>
            )}
          </span>
          {i > 0 && (
            <form method="post" action={`/account/boards/${board.id}/items/${item.imageId}/up`} class="inline">
              <CsrfField token={csrf} />
              <button type="submit" class="secondary">
                Move up<span class="sr"> {item.title}</span>
              </button>
            </form>
          )}
          <form method="post" action={`/account/boards/${board.id}/items/${item.imageId}/remove`} class="inline">
            <CsrfField token={csrf} />
            <button type="submit" class="secondary">
              Remove<span class="sr"> {item.title}</span>
            </button>
          </form>
        </li>
      ))}
    </ul>
  );
}

async function boardPage(c: Context<AppEnv>, id: string, notice?: string) {
  const principal = visitor(c);
  const board = await loadCollection(deps(c), principal.userId, id);
  const csrf = await csrfToken(c);
  return render(
    c,
    { title: board.name, noindex: true, styles: STYLES },
    <section class="buyer">
      <h1>{board.name}</h1>
      <AccountNav role={principal.role} current="/account/boards" />
      {notice && <Notice>{notice}</Notice>}
      {board.description && <p>{board.description}</p>}
      <p class="muted">
        {board.items.length} of at most {board.maxItems} images. <a href="/account/boards">All boards</a>
      </p>
      <Items board={board} csrf={csrf} />
      <h2>Share</h2>
      {board.shareToken ? (
        <>
          <label>
            Anyone with this link sees the board, read-only
            <input readonly value={shareUrl(c, board.shareToken)} class="mono" />
          </label>
          <form method="post" action={`/account/boards/${board.id}/unshare`} class="inline">
            <CsrfField token={csrf} />
            <button type="submit" class="secondary">
              Stop sharing
            </button>
          </form>
        </>
      ) : (
        <form method="post" action={`/account/boards/${board.id}/share`}>
          <CsrfField token={csrf} />
          <button type="submit">Create a share link</button>
        </form>
      )}
      {principal.role === "buyer" && board.items.length > 0 && (
        <>
          <h2>License all</h2>
          <form method="post" action={`/account/boards/${board.id}/license-all`}>
            <CsrfField token={csrf} />
            <label>
              Licence
              <select name="licenseType">
                <option value="standard">Standard</option>
                <option value="enhanced">Enhanced</option>
                <option value="editorial">Editorial</option>
              </select>
            </label>
            <button type="submit">Add every image to the cart</button>
          </form>
        </>
      )}
      <h2>Rename</h2>
      <form method="post" action={`/account/boards/${board.id}/rename`}>
        <CsrfField token={csrf} />
        <label>
          Name
          <input name="name" required maxlength={100} value={board.name} />
        </label>
        <label>
          Description
          <input name="description" maxlength={1000} value={board.description ?? ""} />
        </label>
        <button type="submit">Save</button>
      </form>
      <form method="post" action={`/account/boards/${board.id}/delete`}>
        <CsrfField token={csrf} />
        <button type="submit" class="secondary">
          Delete this board
        </button>
      </form>
    </section>,
  );
}

export const boardPages = new Hono<AppEnv>()
  .get("/account/boards", page({ access: ALL_ROLES }), async (c) => {
    const principal = visitor(c);
    const boards = await listCollections(deps(c), principal.userId);
    const csrf = await csrfToken(c);
    return render(
      c,
      { title: "Boards", noindex: true, styles: STYLES },
      <section class="buyer">
        <h1>Boards</h1>
        <AccountNav role={principal.role} current="/account/boards" />
        <p>Keep candidate images together, share a board read-only by link, and license a whole board at once.</p>
        {boards.items.length === 0 ? (
          <p class="empty">No boards yet.</p>
        ) : (
          <ul class="lines">
            {boards.items.map((board) => (
              <li>
                {board.coverUrl ? <img src={board.coverUrl} alt="" width={96} height={96} loading="lazy" decoding="async" /> : <span class="thumb" aria-hidden="true" />}
                <span class="grow">
                  <a href={`/account/boards/${board.id}`}>{board.name}</a>
                  <br />
                  <span class="muted">
                    {board.itemCount} {board.itemCount === 1 ? "image" : "images"}
                    {board.shareToken ? ", shared by link" : ""}
                  </span>
                </span>
              </li>
            ))}
          </ul>
        )}
        <h2>New board</h2>
        <form method="post" action="/account/boards">
          <CsrfField token={csrf} />
          <label>
            Name
            <input name="name" required maxlength={100} />
          </label>
          <button type="submit">Create</button>
        </form>
      </section>,
    );
  })
  .post("/account/boards", page({ access: ALL_ROLES }), async (c) => {
    const input = parseForm(CollectionInputSchema, await formFields(c), "The board was not created");
    const board = await createCollection(deps(c), visitor(c).userId, input);
    return c.redirect(`/account/boards/${board.id}`, 303);
  })
  .get("/account/boards/:id", page({ access: ALL_ROLES }), (c) => boardPage(c, boardId(c)))
  .post("/account/boards/:id/rename", page({ access: ALL_ROLES }), async (c) => {
    const id = boardId(c);
    await updateCollection(deps(c), visitor(c).userId, id, parseForm(CollectionInputSchema, await formFields(c), "The board was not renamed"));
    return c.redirect(`/account/boards/${id}`, 303);
  })
  .post("/account/boards/:id/delete", page({ access: ALL_ROLES }), async (c) => {
    await deleteCollection(c.var.db, visitor(c).userId, boardId(c));
    return c.redirect("/account/boards", 303);
  })
  .post("/account/boards/:id/share", page({ access: ALL_ROLES }), async (c) => {
    const id = boardId(c);
    await shareCollection(c.var.db, visitor(c).userId, id);
    return c.redirect(`/account/boards/${id}`, 303);
  })
  .post("/account/boards/:id/unshare", page({ access: ALL_ROLES }), async (c) => {
    const id = boardId(c);
    await unshareCollection(c.var.db, visitor(c).userId, id);
    return c.redirect(`/account/boards/${id}`, 303);
  })
  .post("/account/boards/:id/items/:imageId/remove", page({ access: ALL_ROLES }), async (c) => {
    const { id, imageId } = parseForm(ItemParam, { id: c.req.param("id"), imageId: c.req.param("imageId") }, "This link is not valid");
    await removeFromCollection(c.var.db, visitor(c).userId, id, imageId);
    return c.redirect(`/account/boards/${id}`, 303);
  })
  .post("/account/boards/:id/items/:imageId/up", page({ access: ALL_ROLES }), async (c) => {
    const { id, imageId } = parseForm(ItemParam, { id: c.req.param("id"), imageId: c.req.param("imageId") }, "This link is not valid");
    const userId = visitor(c).userId;
    const order = (await loadCollection(deps(c), userId, id)).items.map((item) => item.imageId);
    const at = order.indexOf(imageId);
    if (at < 0) throw new ApiError("not-found", "this image is not on the board");
    if (at > 0) [order[at - 1], order[at]] = [order[at] as string, order[at - 1] as string];
    await reorderCollection(c.var.db, userId, id, order);
    return c.redirect(`/account/boards/${id}`, 303);
  })
  .post("/account/boards/:id/license-all", page({ access: ["buyer"] }), async (c) => {
    const id = boardId(c);
    const { licenseType } = parseForm(LicenseAllSchema, await formFields(c), "Choose a licence");
    const result = await licenseAll(deps(c), visitor(c).userId, id, licenseType);
    if (result.skipped.length === 0) return c.redirect("/cart", 303);
    return boardPage(c, id, `${result.added} added to the cart; ${result.skipped.length} could not be: ${result.skipped.map((s) => s.reason).join("; ")}.`);
  })
  .post("/boards/save", page({ access: ALL_ROLES }), async (c) => {
    const form = parseForm(SaveForm, await formFields(c), "The image was not saved");
    const userId = visitor(c).userId;
    const id = form.boardId ? form.boardId : (await createCollection(deps(c), userId, { name: form.name || "My board" })).id;
    await addToCollection(c.var.db, userId, id, form.imageId, {});
    return c.redirect(`/account/boards/${id}`, 303);
  })
  .get("/boards/:token", page({ access: "public" }), async (c) => {
    const { token } = parseForm(ShareTokenParamSchema, { token: c.req.param("token") }, "This link is not valid");
    const board = await loadSharedCollection(deps(c), token);
    c.header("cache-control", "private, no-store");
    // The token is in this page's URL: never send it on as a Referer, to our own pages or anyone's.
    c.header("referrer-policy", "no-referrer");
    return render(
      c,
      { title: board.name, noindex: true, styles: STYLES },
      <section class="buyer">
        <h1>{board.name}</h1>
        <p class="muted">A board shared by {board.ownerName}.</p>
        {board.description && <p>{board.description}</p>}
        {board.items.length === 0 ? (
          <p class="empty">No images on this board right now.</p>
        ) : (
          <ul class="lines">
            {board.items.map((item) => (
              <li>
                {item.thumbnailUrl ? (
                  <img src={item.thumbnailUrl} alt={item.title} width={96} height={96} loading="lazy" decoding="async" />
                ) : (
                  <span class="thumb" aria-hidden="true" />
                )}
                <span class="grow">
                  <a href={`/images/${item.imageId}`}>{item.title}</a>
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>,
    );
  });
