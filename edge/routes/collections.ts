import { type Context, Hono } from "hono";
import type { AppEnv } from "../env";
import { ALL_ROLES, caller, input, spec } from "../lib/route";
import {
  addToCollection,
  CollectionIdSchema,
  CollectionInputSchema,
  CollectionItemInputSchema,
  CollectionItemParamSchema,
  CollectionListSchema,
  CollectionOrderSchema,
  CollectionPatchSchema,
  CollectionSchema,
  createCollection,
  deleteCollection,
  LicenseAllResultSchema,
  LicenseAllSchema,
  licenseAll,
  listCollections,
  loadCollection,
  loadSharedCollection,
  MAX_COLLECTION_ITEMS,
  MAX_COLLECTIONS,
  removeFromCollection,
  reorderCollection,
  SharedCollectionSchema,
  ShareTokenParamSchema,
  shareCollection,
  unshareCollection,
  updateCollection,
} from "../services/catalogue/collections";

const access = ALL_ROLES;
const tags = ["collections"];
const deps = (c: Context<AppEnv>) => ({ db: c.var.db, urls: c.var.urls });

/** Collections (lightboxes): a signed-in user's boards of images; another user's board is a 404. */
export const collectionRoutes = new Hono<AppEnv>()
  .get("/", spec({ summary: "Your collections, newest first", tags, access, responses: { 200: { description: "Your collections", schema: CollectionListSchema } } }), async (c) =>
    c.json(await listCollections(deps(c), caller(c).userId)),
  )
  .post(
    "/",
    spec({
      summary: "Create a collection (private)",
      description: `422 past ${MAX_COLLECTIONS} collections.`,
      tags,
      access,
      responses: { 201: { description: "The new collection", schema: CollectionSchema } },
    }),
    input("json", CollectionInputSchema),
    async (c) => c.json(await createCollection(deps(c), caller(c).userId, c.req.valid("json")), 201),
  )
  .get(
    "/:id",
    spec({
      summary: "One of your collections with its images in your order",
      description: "Images no longer listed stay, marked `unavailable`, without a thumbnail.",
      tags,
      access,
      responses: { 200: { description: "The collection", schema: CollectionSchema } },
    }),
    input("param", CollectionIdSchema),
    async (c) => c.json(await loadCollection(deps(c), caller(c).userId, c.req.valid("param").id)),
  )
  .patch(
    "/:id",
    spec({ summary: "Rename a collection, and change its description when given", tags, access, responses: { 200: { description: "The collection", schema: CollectionSchema } } }),
    input("param", CollectionIdSchema),
    input("json", CollectionPatchSchema),
    async (c) => c.json(await updateCollection(deps(c), caller(c).userId, c.req.valid("param").id, c.req.valid("json"))),
  )
  .delete(
    "/:id",
    spec({ summary: "Delete a collection (its share link stops working)", tags, access, responses: { 204: { description: "Deleted" } } }),
    input("param", CollectionIdSchema),
    async (c) => {
      await deleteCollection(c.var.db, caller(c).userId, c.req.valid("param").id);
      return c.body(null, 204);
    },
  )
  .put(
    "/:id/items/:imageId",
    spec({
      summary: "Add an image to a collection (at the end), or change its note",
      description: `Idempotent: 200 when the image is there already. 404 for an image that is not listed; 422 past ${MAX_COLLECTION_ITEMS} images.`,
      tags,
      access,
      responses: {
        201: { description: "Added; the collection", schema: CollectionSchema },
        200: { description: "Already there; the collection", schema: CollectionSchema },
      },
    }),
    input("param", CollectionItemParamSchema),
    input("json", CollectionItemInputSchema),
    async (c) => {
      const { id, imageId } = c.req.valid("param");
      const userId = caller(c).userId;
      const { added } = await addToCollection(c.var.db, userId, id, imageId, c.req.valid("json"));
      return c.json(await loadCollection(deps(c), userId, id), added ? 201 : 200);
    },
  )
  .delete(
    "/:id/items/:imageId",
    spec({ summary: "Remove an image from a collection", tags, access, responses: { 204: { description: "Removed" } } }),
    input("param", CollectionItemParamSchema),
    async (c) => {
      const { id, imageId } = c.req.valid("param");
      await removeFromCollection(c.var.db, caller(c).userId, id, imageId);
      return c.body(null, 204);
    },
  )
  .put(
    "/:id/order",
    spec({
      summary: "Reorder a collection",
      description: "`imageIds` names every image of the collection exactly once, in the new order; 422 otherwise.",
      tags,
      access,
      responses: { 200: { description: "The collection", schema: CollectionSchema } },
    }),
    input("param", CollectionIdSchema),
    input("json", CollectionOrderSchema),
    async (c) => {
      const { id } = c.req.valid("param");
      const userId = caller(c).userId;
      await reorderCollection(c.var.db, userId, id, c.req.valid("json").imageIds);
      return c.json(await loadCollection(deps(c), userId, id));
    },
  )
  .post(
    "/:id/share",
    spec({
      summary: "Create a share link (a new one replaces the old)",
      description: "Anyone with the link sees the collection read-only: `GET /v1/shared/collections/{shareToken}`, or `/boards/{shareToken}` in the web app.",
      tags,
      access,
      responses: { 201: { description: "The collection with its new `shareToken`", schema: CollectionSchema } },
    }),
    input("param", CollectionIdSchema),
    async (c) => {
      const { id } = c.req.valid("param");
      const userId = caller(c).userId;
      await shareCollection(c.var.db, userId, id);
      return c.json(await loadCollection(deps(c), userId, id), 201);
    },
  )
  .delete(
    "/:id/share",
    spec({ summary: "Revoke the share link", tags, access, responses: { 204: { description: "Revoked (or there was none)" } } }),
    input("param", CollectionIdSchema),
    async (c) => {
      await unshareCollection(c.var.db, caller(c).userId, c.req.valid("param").id);
      return c.body(null, 204);
    },
  )
  .post(
    "/:id/license-all",
    spec({
      summary: "Put every image of a collection in your cart under one license type",
      description: "Each image goes through the cart's rules; those that cannot be added (not for sale, already licensed, cart full) are listed in `skipped` with the reason.",
      tags,
      access: ["buyer"],
      responses: { 200: { description: "What was added and skipped, and the cart", schema: LicenseAllResultSchema } },
    }),
    input("param", CollectionIdSchema),
    input("json", LicenseAllSchema),
    async (c) => c.json(await licenseAll(deps(c), caller(c).userId, c.req.valid("param").id, c.req.valid("json").licenseType)),
  );

/** The read-only view behind a share link, apart from the owner's routes: `/v1/shared/collections/{token}`. */
export const sharedCollectionRoutes = new Hono<AppEnv>().get(
  "/:token",
  spec({
    summary: "A collection shared by link, read-only",
    description: "Only images listed now are shown. 404 for an unknown or revoked link.",
    tags,
    access: "public",
    responses: { 200: { description: "The shared collection", schema: SharedCollectionSchema } },
  }),
  input("param", ShareTokenParamSchema),
  async (c) => c.json(await loadSharedCollection(deps(c), c.req.valid("param").token), 200, { "cache-control": "private, no-store" }),
);
