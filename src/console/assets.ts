// The console's static files, embedded in the binary by Bun's text imports:
// htmx (from the htmx.org package, never a CDN), the page script and the CSS.
// Each is served with a content hash as its ETag and in its URL.
import htmx from "htmx.org/dist/htmx.min.js" with { type: "text" };
import script from "./assets/console.client.js" with { type: "text" };
import css from "./assets/console.css" with { type: "text" };
import { sha256Hex } from "../crypto.ts";

interface Asset {
  body: string;
  type: string;
  etag: string;
}

const asset = (body: string, type: string): Asset => ({ body, type, etag: `"${sha256Hex(body).slice(0, 16)}"` });

export type AssetName = "htmx.min.js" | "console.js" | "console.css" | "favicon.svg";

/** A prompt sign on a dark square: the tab is easy to find among others. */
const favicon = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2329"/><path d="M4 5l3 3-3 3" stroke="#7ee2a8" stroke-width="1.8" fill="none"/><path d="M8.5 11.5h4" stroke="#fff" stroke-width="1.8"/></svg>';

const assets: Record<AssetName, Asset> = {
  "htmx.min.js": asset(htmx, "text/javascript; charset=utf-8"),
  "console.js": asset(script, "text/javascript; charset=utf-8"),
  "console.css": asset(css, "text/css; charset=utf-8"),
  "favicon.svg": asset(favicon, "image/svg+xml"),
};

/** The URL a page links an asset by: the hash changes when the file does, so browsers may cache it for good. */
export function assetUrl(name: AssetName): string {
  return `/ui/assets/${name}?v=${assets[name].etag.slice(1, 9)}`;
}

/** GET /ui/assets/NAME, or undefined when there is no such asset. */
export function serveAsset(name: string, req: Request): Response | undefined {
  const a = Object.hasOwn(assets, name) ? assets[name as AssetName] : undefined;
  if (!a) return undefined;
  const headers = { "content-type": a.type, etag: a.etag, "cache-control": "public, max-age=86400", "x-content-type-options": "nosniff" };
  if (req.headers.get("if-none-match") === a.etag) return new Response(null, { status: 304, headers });
  return new Response(req.method === "HEAD" ? null : a.body, { headers });
}
