/**
 * @module
 * The dashboard served at `GET /`: one self-contained HTML page (inline CSS and JS, hand-drawn
 * SVG charts, nothing fetched but the status server's own JSON), imported as text so that
 * `bun build --compile` embeds it in the binary.
 */
import page from "./dashboard.html" with { type: "text" };

/**
 * The page's HTML. (bun-types declares every `*.html` import as an HTML bundle; with
 * `type: "text"` Bun hands over the file's text.)
 */
export const DASHBOARD_HTML: string = page as unknown as string;
