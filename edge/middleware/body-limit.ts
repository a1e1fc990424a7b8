import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { MAX_QUERY_IMAGE_BYTES } from "../../common/embed-service";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/problem";

/** The paths that take a picture as their body (search by image: the API and the search page), with their own limit. */
const IMAGE_BODY_PATHS = new Set(["/v1/search/by-image", "/search/by-image"]);

/** Every request body but a query image is limited to MAX_JSON_BODY_BYTES (forms and JSON alike). */
export const requestBodyLimit: MiddlewareHandler<AppEnv> = (c, next) =>
  IMAGE_BODY_PATHS.has(c.req.path)
    ? next()
    : bodyLimit({
        maxSize: c.var.config.MAX_JSON_BODY_BYTES,
        onError: () => {
          throw new ApiError("payload-too-large", `bodies are limited to ${c.var.config.MAX_JSON_BODY_BYTES} bytes`, {
            maxBytes: c.var.config.MAX_JSON_BODY_BYTES,
          });
        },
      })(c, next);

/** A query image's limit (search by image), counted as the body streams in, whatever Content-Length says. */
export const queryImageBodyLimit: MiddlewareHandler<AppEnv> = bodyLimit({
  maxSize: MAX_QUERY_IMAGE_BYTES,
  onError: () => {
    throw new ApiError("payload-too-large", `images are limited to ${MAX_QUERY_IMAGE_BYTES} bytes`, { maxBytes: MAX_QUERY_IMAGE_BYTES });
  },
});
