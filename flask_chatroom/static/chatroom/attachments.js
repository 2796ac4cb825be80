/* flask-chatroom: the files a message carries, drawn below its text. No
 * globals: the caller hands in the document to build in (and the page's
 * address, to resolve the server's URLs against), so Node tests run it on a
 * stand-in.
 *
 *   readAttachments(list, base)  a payload's "attachments", checked: only
 *                                entries with an id, a name, a size and a URL
 *                                on this site are kept
 *   humanSize(bytes)             "512 B", "1.2 KB", "12 MB"
 *   typeLabel(type, name)        "PDF", "PNG image", "ZIP archive", "TXT file"
 *   previewOf(attachment)        what an image shows: its thumbnail, or the
 *                                image itself when it is small; null for a card
 *   fitBox(w, h, maxW, maxH)     a size scaled down (never up) to fit a box
 *   drawAttachments(doc, list)   the nodes: a linked <img> per image, a card
 *                                (name, type, size, a download link) per file
 *
 * Every URL drawn was checked to be on the page's own site (the chat's CSP
 * allows images from there only); names are text nodes, never markup.
 */

// The box an image preview fits in, in CSS pixels.
export const PREVIEW_WIDTH = 320;
export const PREVIEW_HEIGHT = 240;
// An image without a thumbnail is shown inline up to this size; bigger ones
// get a card (the server makes thumbnails for those it can).
export const INLINE_IMAGE_BYTES = 512 * 1024;
// Images a browser shows in an <img> (never SVG: it can hold script).
export const IMAGE_TYPES = new Set([
  "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp",
]);

const UNITS = ["B", "KB", "MB", "GB", "TB"];
const NAMED_TYPES = {
  "application/pdf": "PDF",
  "application/zip": "ZIP archive",
  "application/gzip": "GZIP archive",
  "application/x-tar": "TAR archive",
  "application/json": "JSON file",
  "text/plain": "Text file",
  "text/csv": "CSV file",
  "text/markdown": "Markdown file",
  "audio/mpeg": "MP3 audio",
  "video/mp4": "MP4 video",
};

// "1.2 MB": bytes in binary units, one decimal below 10, none above.
export function humanSize(bytes) {
  if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes < 0) {
    return "";
  }
  let value = Math.floor(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) {
    return value + " B";
  }
  // 1023.96 KB reads as "1 MB", not "1024 KB".
  if (value >= 1023.95 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = value < 10 ? value.toFixed(1).replace(/\.0$/, "") : String(Math.round(value));
  return shown + " " + UNITS[unit];
}

// A short word for a file's type: from its MIME type, else its name's extension.
export function typeLabel(type, name = "") {
  const mime = typeof type === "string" ? type.toLowerCase().split(";")[0].trim() : "";
  if (NAMED_TYPES[mime]) {
    return NAMED_TYPES[mime];
  }
  const sub = mime.split("/")[1] || "";
  if (mime.startsWith("image/") && /^[a-z0-9.+-]+$/.test(sub)) {
    return (sub === "jpeg" ? "JPEG" : sub.split("+")[0].toUpperCase()) + " image";
  }
  const dot = String(name).lastIndexOf(".");
  const ext = dot > 0 ? String(name).slice(dot + 1) : "";
  if (/^[A-Za-z0-9]{1,8}$/.test(ext)) {
    return ext.toUpperCase() + " file";
  }
  return "File";
}

// *url* resolved against *base*, when it is an http(s) address on base's own
// site; else null.
export function sameSiteUrl(url, base) {
  if (typeof url !== "string" || !url || typeof base !== "string") {
    return null;
  }
  let resolved;
  let origin;
  try {
    resolved = new URL(url, base);
    origin = new URL(base).origin;
  } catch (e) {
    return null;
  }
  if ((resolved.protocol !== "http:" && resolved.protocol !== "https:") ||
      resolved.origin !== origin) {
    return null;
  }
  return resolved.href;
}

function dimension(value) {
  return typeof value === "number" && Number.isFinite(value) && value >= 1
    ? Math.floor(value) : null;
}

// The attachments of a payload that can be drawn, each {id, name, size, type,
// url, width, height, thumbnailUrl} with its URLs resolved against *base*.
export function readAttachments(list, base) {
  if (!Array.isArray(list)) {
    return [];
  }
  const out = [];
  const seen = new Set();
  for (const entry of list) {
    if (!entry || typeof entry !== "object" || typeof entry.id !== "string" || !entry.id ||
        seen.has(entry.id) || typeof entry.name !== "string") {
      continue;
    }
    const url = sameSiteUrl(entry.url, base);
    if (!url) {
      continue;
    }
    seen.add(entry.id);
    const width = dimension(entry.width);
    const height = dimension(entry.height);
    out.push({
      id: entry.id,
      name: entry.name || "file",
      size: typeof entry.size === "number" && entry.size >= 0 ? entry.size : null,
      type: typeof entry.type === "string" ? entry.type.toLowerCase() : "",
      url: url,
      width: width && height ? width : null,
      height: width && height ? height : null,
      thumbnailUrl: sameSiteUrl(entry.thumbnail_url, base),
    });
  }
  return out;
}

export function isImage(attachment) {
  return IMAGE_TYPES.has(attachment.type);
}

// The URL an image's preview shows: its thumbnail, or the image itself when it
// is small enough; null when the attachment is drawn as a card.
export function previewOf(attachment) {
  if (!isImage(attachment)) {
    return null;
  }
  if (attachment.thumbnailUrl) {
    return attachment.thumbnailUrl;
  }
  if (attachment.size !== null && attachment.size <= INLINE_IMAGE_BYTES) {
    return attachment.url;
  }
  return null;
}

// {width, height} scaled down to fit maxWidth x maxHeight, keeping the aspect
// ratio; never scaled up; null when the size is not known.
export function fitBox(width, height, maxWidth = PREVIEW_WIDTH, maxHeight = PREVIEW_HEIGHT) {
  if (!dimension(width) || !dimension(height)) {
    return null;
  }
  const scale = Math.min(1, maxWidth / width, maxHeight / height);
  return {
    width: Math.max(1, Math.round(width * scale)),
    height: Math.max(1, Math.round(height * scale)),
  };
}

function element(doc, tag, className, text = null) {
  const node = doc.createElement(tag);
  node.className = className;
  if (text !== null) {
    node.textContent = text;
  }
  return node;
}

// An image: its preview in a link that opens the full-size image.
function drawImage(doc, attachment, preview) {
  const link = element(doc, "a", "chatroom__file chatroom__file--image");
  link.setAttribute("href", attachment.url);
  link.setAttribute("target", "_blank");
  link.setAttribute("rel", "noopener");
  link.setAttribute("title", attachment.name);
  const img = doc.createElement("img");
  img.className = "chatroom__file-image";
  img.setAttribute("src", preview);
  img.setAttribute("alt", attachment.name);
  img.setAttribute("loading", "lazy");
  const box = fitBox(attachment.width, attachment.height);
  if (box) {
    img.setAttribute("width", String(box.width));
    img.setAttribute("height", String(box.height));
  }
  link.appendChild(img);
  return link;
}

// Any other file: its name, type and size, and a link that downloads it.
function drawCard(doc, attachment) {
  const card = element(doc, "div", "chatroom__file chatroom__file--card");
  const icon = element(doc, "span", "chatroom__file-icon", "📄");
  icon.setAttribute("aria-hidden", "true");
  card.appendChild(icon);
  const body = element(doc, "span", "chatroom__file-body");
  const link = element(doc, "a", "chatroom__file-name", attachment.name);
  link.setAttribute("href", attachment.url);
  link.setAttribute("download", attachment.name);
  link.setAttribute("rel", "noopener");
  body.appendChild(link);
  const details = [typeLabel(attachment.type, attachment.name), humanSize(attachment.size)]
    .filter(Boolean).join(" · ");
  body.appendChild(element(doc, "span", "chatroom__file-meta", details));
  card.appendChild(body);
  return card;
}

// The nodes for *attachments* (as readAttachments gives them): a container
// with one image or card each; null when there are none.
export function drawAttachments(doc, attachments) {
  if (!attachments || !attachments.length) {
    return null;
  }
  const box = element(doc, "div", "chatroom__files");
  for (const attachment of attachments) {
    const preview = previewOf(attachment);
    box.appendChild(preview ? drawImage(doc, attachment, preview) : drawCard(doc, attachment));
  }
  return box;
}
