/**
 * One log line → HTML, with ansi_up: it escapes every character of the text (& < > " ') and
 * only ever emits <span> with its own class/style attributes, and <a href> for OSC 8 links
 * whose scheme is http or https. Log text can therefore never become markup (tested with
 * <script> and <img onerror> lines in test/browser/log-safety.test.ts).
 *
 * Each line is drawn on its own (the viewer is virtualised), starting from the colour state
 * the lines before it left (LogBuffer.prefix). A line holding escape codes gets a fresh
 * AnsiUp, so an unfinished sequence at its end can never leak into another line.
 */
import { AnsiUp } from "ansi_up";

function make(): AnsiUp {
  const au = new AnsiUp();
  au.use_classes = true; // colours from the theme (app CSS), not fixed RGB
  return au;
}

const plain = make();

/** `\r` without `\n` rewrites the line in a terminal (progress bars): show what stays. */
function lastRewrite(text: string): string {
  const cr = text.lastIndexOf("\r");
  if (cr === -1) return text;
  // Keep the colours set before the rewrite.
  // eslint-disable-next-line no-control-regex
  const codes = text.slice(0, cr).match(/\x1b\[[0-9;]*m/g);
  return (codes ? codes.join("") : "") + text.slice(cr + 1);
}

export function lineToHtml(prefix: string, raw: string): string {
  const text = lastRewrite(raw);
  if (!prefix && !text.includes("\x1b")) return plain.ansi_to_html(text);
  return make().ansi_to_html(prefix + text);
}
