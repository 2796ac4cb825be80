import assert from "node:assert/strict";
import { test } from "node:test";

import {
  INLINE_IMAGE_BYTES, PREVIEW_HEIGHT, PREVIEW_WIDTH, drawAttachments, fitBox, humanSize,
  previewOf, readAttachments, sameSiteUrl, typeLabel,
} from "../../flask_chatroom/static/chatroom/attachments.js";
import { fakeDocument } from "./fakes.mjs";

const BASE = "https://chat.example/chat/lobby";

test("attachments: sizes read as people say them", () => {
  assert.equal(humanSize(0), "0 B");
  assert.equal(humanSize(512), "512 B");
  assert.equal(humanSize(1023), "1023 B");
  assert.equal(humanSize(1024), "1 KB");
  assert.equal(humanSize(1536), "1.5 KB");
  assert.equal(humanSize(1.2 * 1024 * 1024), "1.2 MB");
  assert.equal(humanSize(12 * 1024 * 1024 + 1), "12 MB");
  assert.equal(humanSize(340 * 1024), "340 KB");
  assert.equal(humanSize(1024 * 1024 - 1), "1 MB"); // not "1024 KB"
  assert.equal(humanSize(3 * 1024 ** 3), "3 GB");
  assert.equal(humanSize(-1), "");
  assert.equal(humanSize(null), "");
  assert.equal(humanSize(Number.NaN), "");
});

test("attachments: a file's type in a word or two", () => {
  assert.equal(typeLabel("application/pdf", "a.pdf"), "PDF");
  assert.equal(typeLabel("image/png", "shot.png"), "PNG image");
  assert.equal(typeLabel("image/jpeg", "x"), "JPEG image");
  assert.equal(typeLabel("image/svg+xml", "x"), "SVG image");
  assert.equal(typeLabel("text/plain; charset=utf-8", "notes"), "Text file");
  assert.equal(typeLabel("application/octet-stream", "data.bin"), "BIN file");
  assert.equal(typeLabel("application/octet-stream", "noext"), "File");
  assert.equal(typeLabel("", ".hidden"), "File");
  assert.equal(typeLabel(undefined, "x.<b>"), "File");
});

test("attachments: only http(s) URLs on the page's own site are kept", () => {
  assert.equal(sameSiteUrl("/chat/files/a1/x.png", BASE), "https://chat.example/chat/files/a1/x.png");
  assert.equal(sameSiteUrl("https://chat.example/f", BASE), "https://chat.example/f");
  assert.equal(sameSiteUrl("https://evil.example/f", BASE), null);
  assert.equal(sameSiteUrl("//evil.example/f", BASE), null);
  assert.equal(sameSiteUrl("javascript:alert(1)", BASE), null);
  assert.equal(sameSiteUrl("data:image/png;base64,AAAA", BASE), null);
  assert.equal(sameSiteUrl("", BASE), null);
  assert.equal(sameSiteUrl(null, BASE), null);
});

test("attachments: a payload's list, checked", () => {
  const list = readAttachments([
    { id: "a1", name: "cat.png", size: 2048, type: "image/PNG", url: "/f/a1",
      width: 800, height: 600, thumbnail_url: "/f/a1/thumb" },
    { id: "a1", name: "again.png", size: 1, type: "image/png", url: "/f/a1" }, // duplicate
    { id: "a2", name: "x.pdf", size: 10, type: "application/pdf", url: "https://evil.example/x" },
    { id: "a3", name: "notes.txt", size: 10, type: "text/plain", url: "/f/a3",
      thumbnail_url: "https://evil.example/t", width: 0, height: 5 },
    { name: "no id", url: "/f/x" },
    null,
    "a4",
  ], BASE);
  assert.deepEqual(list, [
    { id: "a1", name: "cat.png", size: 2048, type: "image/png",
      url: "https://chat.example/f/a1", width: 800, height: 600,
      thumbnailUrl: "https://chat.example/f/a1/thumb" },
    { id: "a3", name: "notes.txt", size: 10, type: "text/plain",
      url: "https://chat.example/f/a3", width: null, height: null, thumbnailUrl: null },
  ]);
  assert.deepEqual(readAttachments(undefined, BASE), []);
  assert.deepEqual(readAttachments("nope", BASE), []);
});

test("attachments: an image shows its thumbnail, or itself when small", () => {
  const image = (extra) => ({ type: "image/png", size: 1000, url: "U", thumbnailUrl: null,
                              ...extra });
  assert.equal(previewOf(image({ thumbnailUrl: "T" })), "T");
  assert.equal(previewOf(image({})), "U");
  assert.equal(previewOf(image({ size: INLINE_IMAGE_BYTES + 1 })), null);
  assert.equal(previewOf(image({ size: null })), null);
  assert.equal(previewOf(image({ type: "image/svg+xml", thumbnailUrl: "T" })), null);
  assert.equal(previewOf(image({ type: "application/pdf" })), null);
});

test("attachments: sizes scale down to fit the box, never up", () => {
  assert.deepEqual(fitBox(800, 600), { width: 320, height: 240 });
  assert.deepEqual(fitBox(3000, 300), { width: PREVIEW_WIDTH, height: 32 });
  assert.deepEqual(fitBox(300, 3000), { width: 24, height: PREVIEW_HEIGHT });
  assert.deepEqual(fitBox(100, 50), { width: 100, height: 50 });
  assert.deepEqual(fitBox(10000, 1), { width: 320, height: 1 });
  assert.deepEqual(fitBox(640, 480, 100, 100), { width: 100, height: 75 });
  assert.equal(fitBox(null, 10), null);
  assert.equal(fitBox(0, 10), null);
});

test("attachments: an image is a linked <img> with its name as alt text", () => {
  const [cat] = readAttachments([{ id: "a1", name: "cat <b>.png", size: 2048,
    type: "image/png", url: "/f/a1", width: 800, height: 600, thumbnail_url: "/f/a1/t" }], BASE);
  const box = drawAttachments(fakeDocument, [cat]);
  assert.equal(box.className, "chatroom__files");
  const [link] = box.children;
  assert.equal(link.localName, "a");
  assert.equal(link.getAttribute("href"), "https://chat.example/f/a1");
  assert.equal(link.getAttribute("target"), "_blank");
  assert.equal(link.getAttribute("rel"), "noopener");
  const [img] = link.all("img");
  assert.equal(img.getAttribute("src"), "https://chat.example/f/a1/t");
  assert.equal(img.getAttribute("alt"), "cat <b>.png"); // an attribute value, never markup
  assert.equal(img.getAttribute("loading"), "lazy");
  assert.equal(img.getAttribute("width"), "320");
  assert.equal(img.getAttribute("height"), "240");
});

test("attachments: another file is a card with name, type, size and a download link", () => {
  const list = readAttachments([
    { id: "a2", name: "<img src=x onerror=alert(1)>.pdf", size: 1258291,
      type: "application/pdf", url: "/f/a2" },
    { id: "a3", name: "big.png", size: 5 * 1024 * 1024, type: "image/png", url: "/f/a3" },
  ], BASE);
  const box = drawAttachments(fakeDocument, list);
  const [pdf, big] = box.children;
  assert.equal(pdf.className, "chatroom__file chatroom__file--card");
  const [link] = pdf.all("a");
  assert.equal(link.textContent, "<img src=x onerror=alert(1)>.pdf"); // text, not markup
  assert.equal(link.getAttribute("href"), "https://chat.example/f/a2");
  assert.equal(link.getAttribute("download"), "<img src=x onerror=alert(1)>.pdf");
  assert.equal(pdf.all("img").length, 0);
  assert.match(pdf.textContent, /PDF · 1\.2 MB$/);
  // A big image without a thumbnail is a card too (no 5 MB inline image).
  assert.equal(big.className, "chatroom__file chatroom__file--card");
  assert.match(big.textContent, /PNG image · 5 MB$/);
  assert.equal(drawAttachments(fakeDocument, []), null);
});
