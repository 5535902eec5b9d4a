// Render each Mermaid file named on the command line with the real Mermaid CLI
// (@mermaid-js/mermaid-cli) in Debian's Chromium, write the SVG into OUT_DIR, then load that
// SVG alone in the browser and measure what a reader sees: every edge label's box and every
// state's box, as laid out. Prints one JSON line per file; exits 1 if a file fails to render.
//
//   node render.mjs OUT_DIR FILE.mmd...      (CHROMIUM=/usr/bin/chromium by default)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import puppeteer from "puppeteer";
import { renderMermaid } from "@mermaid-js/mermaid-cli";

const [outDir, ...files] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // As root in a container, and with no network but the registries: nothing to reach out to.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

function measure() {
  const box = (element) => {
    const r = element.getBoundingClientRect();
    return { x: r.x, y: r.y, w: r.width, h: r.height };
  };
  const svg = document.querySelector("svg");
  // At its own size (the CLI's SVG scales to the page's width): one unit, one pixel.
  const view = svg.viewBox.baseVal;
  svg.style.maxWidth = "none";
  svg.setAttribute("width", String(view.width));
  svg.setAttribute("height", String(view.height));
  const labels = [];
  for (const label of svg.querySelectorAll("g.edgeLabel")) {
    const text = label.textContent.trim();
    if (!text) continue; // the edges to and from [*] carry no label
    const shown = label.querySelector("foreignObject") ?? label;
    labels.push({ text, html: (label.querySelector("span.edgeLabel") ?? label).innerHTML, ...box(shown) });
  }
  const nodes = [];
  for (const node of svg.querySelectorAll("g.node")) {
    nodes.push({ id: node.id, text: node.textContent.trim(), ...box(node) });
  }
  // Every line, sampled every 2 px: the boxes it runs under, other than the two it joins (a
  // line under a box reads as a move through it).
  const inside = (n, p, margin) =>
    p.x > n.x + margin && p.x < n.x + n.w - margin && p.y > n.y + margin && p.y < n.y + n.h - margin;
  const shapes = nodes.filter((n) => n.w > 10);
  const crossings = [];
  for (const path of svg.querySelectorAll("path[data-edge='true']")) {
    const length = path.getTotalLength();
    const matrix = path.getScreenCTM();
    const at = (d) => {
      const point = path.getPointAtLength(d);
      return new DOMPoint(point.x, point.y).matrixTransform(matrix);
    };
    const ends = [at(0), at(length)];
    const joined = shapes.filter((n) => ends.some((p) => inside(n, p, -4)));
    const under = new Set();
    for (let d = 0; d <= length; d += 2) {
      const point = at(d);
      for (const n of shapes) {
        if (!joined.includes(n) && inside(n, point, 2)) under.add(n.text);
      }
    }
    if (under.size) {
      crossings.push({ edge: path.id, joins: joined.map((n) => n.text), under: [...under] });
    }
  }
  return { svg: box(svg), labels, nodes, crossings };
}

let failed = 0;
for (const file of files) {
  try {
    const { data } = await renderMermaid(browser, readFileSync(file, "utf8"), "svg", {
      viewport: { width: 1600, height: 1200, deviceScaleFactor: 1 },
    });
    const svgText = Buffer.from(data).toString("utf8");
    const out = join(outDir, basename(file).replace(/\.mmd$/, "") + ".svg");
    writeFileSync(out, svgText);
    const page = await browser.newPage();
    try {
      await page.setContent(`<!doctype html><html><body style="margin:0">${svgText}</body></html>`);
      const result = await page.evaluate(measure);
      console.log(JSON.stringify({ file, ok: true, out, ...result }));
    } finally {
      await page.close();
    }
  } catch (error) {
    failed += 1;
    console.log(JSON.stringify({ file, ok: false, error: String(error?.message ?? error) }));
  }
}
await browser.close();
process.exit(failed ? 1 : 0);
