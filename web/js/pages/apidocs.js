// /api/docs: the API reference, rendered here from the server's own /api/openapi.json (no CDN, nothing
// fetched but the document). Operations are grouped by tag; each is a <details> (keyboard-operable, no
// script needed to open it) showing its parameters, request body, and every status it can answer with
// the schema, headers and examples. A filter narrows the list by path, method, summary or status.
// Deep links: #op-<operationId> opens that operation.

import { api } from "../api.js";
import { h, icon, uid } from "../dom.js";
import { publicWidePage } from "../layout.js";
import { button, chip, liveRegion } from "../ui.js";

const METHOD_KIND = { get: "success", post: "accent", put: "warning", patch: "warning", delete: "danger" };
const METHODS = ["get", "post", "put", "patch", "delete"];
const MAX_DEPTH = 6;

function frame(...content) {
  return publicWidePage("API reference", ...content);
}

/** `#/components/<kind>/<name>` → the object it names (null when the document has none). */
function deref(doc, value) {
  let current = value;
  for (let hops = 0; current && typeof current === "object" && typeof current.$ref === "string" && hops < 8; hops += 1) {
    const parts = current.$ref.replace(/^#\//, "").split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    current = parts.reduce((node, key) => (node && typeof node === "object" ? node[key] : undefined), doc) || null;
  }
  return current;
}

function refName(value) {
  return value && typeof value.$ref === "string" ? value.$ref.split("/").pop() : null;
}

/** Text with `backtick` spans as <code> (the document's descriptions use them). */
function rich(text) {
  return String(text || "").split(/(`[^`]+`)/).map((part) =>
    (part.length > 2 && part.startsWith("`") && part.endsWith("`") ? h("code", {}, part.slice(1, -1)) : part));
}

/** Worth a nested view: a named schema, an object with properties, or a choice among such. */
function structured(schema) {
  if (!schema || typeof schema !== "object") return false;
  if (refName(schema) || schema.properties) return true;
  if (schema.type === "array") return structured(schema.items);
  const options = schema.anyOf || schema.oneOf;
  return Array.isArray(options) && options.some(structured);
}

function pretty(value) {
  return h("pre", { class: "apidocs-code", tabindex: "0" }, JSON.stringify(value, null, 2));
}

/** A one-line summary of a schema's type: "string (email)", "array of UserOut", "SessionOut | null". */
function typeLabel(doc, schema) {
  if (!schema || typeof schema !== "object") return "any";
  const name = refName(schema);
  if (name) return name;
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  const options = schema.anyOf || schema.oneOf;
  if (Array.isArray(options)) return options.map((option) => typeLabel(doc, option)).join(" | ");
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type;
  if (type === "array") return `array of ${typeLabel(doc, schema.items)}`;
  if (type === "object" && !schema.properties && schema.additionalProperties && typeof schema.additionalProperties === "object") {
    return `map of ${typeLabel(doc, schema.additionalProperties)}`;
  }
  if (!type) return Object.keys(schema).length ? "object" : "any";
  return schema.format ? `${type} (${schema.format})` : type;
}

const CONSTRAINTS = ["minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "minProperties",
  "maxProperties", "pattern", "default"];

/** A schema as a nested list of its properties; named schemas expand on demand (a <details> each). */
function schemaView(doc, schema, depth = 0, seen = new Set()) {
  if (!schema || typeof schema !== "object") return h("p", { class: "muted small" }, "Any JSON value.");
  const name = refName(schema);
  if (name) {
    const target = deref(doc, schema);
    if (!target || seen.has(name) || depth >= MAX_DEPTH) return h("p", { class: "small" }, h("code", {}, name));
    const inner = new Set(seen).add(name);
    const box = h("details", { class: "apidocs-schema" },
      h("summary", {}, h("code", {}, name), target.description ? h("span", { class: "muted" }, " — ", rich(target.description)) : null));
    // Built when first opened: recursive schemas and big documents stay cheap.
    box.addEventListener("toggle", () => {
      if (box.open && box.childElementCount === 1) box.append(schemaView(doc, target, depth + 1, inner));
    });
    return box;
  }
  const options = schema.anyOf || schema.oneOf;
  if (Array.isArray(options)) {
    return h("div", { class: "apidocs-schema-options" },
      h("p", { class: "small muted" }, "One of:"),
      h("ul", { class: "apidocs-props" }, options.map((option) => h("li", {}, schemaView(doc, option, depth + 1, seen)))));
  }
  const props = schema.properties && typeof schema.properties === "object" ? Object.entries(schema.properties) : [];
  if (!props.length) {
    const extra = CONSTRAINTS.filter((key) => schema[key] !== undefined).map((key) => `${key}: ${JSON.stringify(schema[key])}`);
    const items = schema.type === "array" && refName(schema.items) ? schemaView(doc, schema.items, depth + 1, seen) : null;
    return h("div", {}, h("p", { class: "small" }, h("code", {}, typeLabel(doc, schema)),
      extra.length ? h("span", { class: "muted" }, ` (${extra.join(", ")})`) : null), items);
  }
  const required = new Set(schema.required || []);
  return h("ul", { class: "apidocs-props" }, props.map(([prop, sub]) => {
    const nested = structured(sub) ? schemaView(doc, sub, depth + 1, seen) : null;
    return h("li", {},
      h("div", { class: "apidocs-prop" },
        h("code", { class: "apidocs-prop-name" }, prop),
        h("span", { class: "apidocs-type" }, typeLabel(doc, sub)),
        required.has(prop) ? chip("required", "outline") : null),
      sub && sub.description ? h("p", { class: "muted small" }, rich(sub.description)) : null,
      nested);
  }));
}

function statusKind(status) {
  if (status.startsWith("2")) return "success";
  if (status.startsWith("3")) return "neutral";
  if (status.startsWith("5")) return "danger";
  return "warning";
}

function mediaBlock(doc, mediaType, media) {
  const examples = Object.entries((media && media.examples) || {}).map(([key, example]) => {
    const resolved = deref(doc, example) || {};
    return h("div", { class: "apidocs-example" },
      h("p", { class: "small" }, h("strong", {}, "Example: "), resolved.summary || h("code", {}, key)),
      pretty(resolved.value));
  });
  return h("div", { class: "apidocs-media" },
    h("p", { class: "small" }, h("span", { class: "muted" }, "Media type "), h("code", {}, mediaType)),
    media && media.schema ? schemaView(doc, media.schema) : null,
    examples);
}

function responseBlock(doc, status, given) {
  const response = deref(doc, given) || {};
  const shared = refName(given);
  const headers = Object.entries(response.headers || {});
  const content = Object.entries(response.content || {});
  return h("li", { class: "apidocs-response" },
    h("div", { class: "apidocs-response-head" },
      chip(status, statusKind(status)),
      h("span", {}, rich(response.description)),
      shared ? h("span", { class: "muted small" }, `(shared: ${shared})`) : null),
    headers.length
      ? h("p", { class: "small" }, h("span", { class: "muted" }, "Headers "), headers.map(([name, header], i) => [i ? ", " : "", h("code", {}, name), header.required ? "" : " (optional)"]))
      : null,
    content.length ? content.map(([mediaType, media]) => mediaBlock(doc, mediaType, media)) : h("p", { class: "muted small" }, "No body."));
}

function parametersBlock(params) {
  return h("ul", { class: "apidocs-props" }, params.map((param) => h("li", {},
    h("div", { class: "apidocs-prop" },
      h("code", { class: "apidocs-prop-name" }, param.name),
      h("span", { class: "apidocs-type" }, `${param.in} · ${typeLabel(null, param.schema)}`),
      param.required ? chip("required", "outline") : null),
    param.description ? h("p", { class: "muted small" }, rich(param.description)) : null)));
}

function operationBlock(doc, path, method, op, { open }) {
  const id = `op-${op.operationId || uid("op")}`;
  const statuses = Object.keys(op.responses || {});
  const params = (op.parameters || []).map((p) => deref(doc, p)).filter(Boolean);
  const body = deref(doc, op.requestBody);
  const details = h("details", {
    class: "apidocs-op",
    id,
    open: open || undefined,
    dataset: { search: `${method} ${path} ${op.summary || ""} ${statuses.join(" ")} ${(op.tags || []).join(" ")}`.toLowerCase() },
  },
  h("summary", { class: "apidocs-op-summary" },
    h("h3", { class: "apidocs-op-title" },
      h("span", { class: ["chip", `chip-${METHOD_KIND[method] || "neutral"}`, "apidocs-method"] }, method.toUpperCase()),
      h("code", { class: "apidocs-path" }, path),
      h("span", { class: "apidocs-op-text" }, rich(op.summary)))),
  h("div", { class: "apidocs-op-body" },
    op.security && op.security.length
      ? h("p", { class: "small" }, icon("key", { size: 14 }), " Needs a session (the session cookie).")
      : null,
    params.length ? h("section", {}, h("h4", { class: "subheading" }, "Parameters"), parametersBlock(params)) : null,
    body ? h("section", {},
      h("h4", { class: "subheading" }, "Request body"),
      body.description ? h("p", { class: "muted small" }, rich(body.description)) : null,
      Object.entries(body.content || {}).map(([mediaType, media]) => mediaBlock(doc, mediaType, media))) : null,
    h("section", {},
      h("h4", { class: "subheading" }, "Responses"),
      h("ul", { class: "apidocs-responses" }, statuses.map((status) => responseBlock(doc, status, op.responses[status]))))));
  return details;
}

export async function apiDocsPage(ctx) {
  const doc = await api("/api/openapi.json", { signal: ctx.signal });
  const wanted = ctx.hash ? decodeURIComponent(ctx.hash.slice(1)) : "";
  const byTag = new Map();
  let total = 0;
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op });
      total += 1;
    }
  }
  const tags = [...(doc.tags || []).map((t) => t.name), ...byTag.keys()].filter((t, i, all) => byTag.has(t) && all.indexOf(t) === i);

  const sections = tags.map((tag) => {
    const headingId = `tag-${tag}`;
    const ops = byTag.get(tag).map(({ path, method, op }) =>
      operationBlock(doc, path, method, op, { open: wanted === `op-${op.operationId}` }));
    return h("section", { class: "apidocs-tag", "aria-labelledby": headingId, dataset: { tag } },
      h("h2", { class: "apidocs-tag-title", id: headingId }, tag, h("span", { class: "muted small" }, ` ${ops.length}`)),
      h("div", { class: "apidocs-ops" }, ops));
  });

  const status = liveRegion("status");
  const filterId = uid("filter");
  const filter = h("input", { id: filterId, class: "input", type: "search", autocomplete: "off", placeholder: "Path, method, summary or status" });
  const applyFilter = () => {
    const words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const section of sections) {
      let inSection = 0;
      for (const op of section.querySelectorAll(".apidocs-op")) {
        const hit = words.every((word) => op.dataset.search.includes(word));
        op.hidden = !hit;
        if (hit) inSection += 1;
      }
      section.hidden = inSection === 0;
      shown += inSection;
    }
    status.show(words.length ? `${shown} of ${total} operations match.` : `${total} operations.`, "info");
  };
  filter.addEventListener("input", applyFilter);
  const setAll = (open) => {
    for (const op of document.querySelectorAll(".apidocs-op:not([hidden])")) op.open = open;
  };
  const toc = h("nav", { class: "apidocs-toc", "aria-label": "Tags" },
    h("ul", {}, tags.map((tag) => h("li", {}, h("a", { href: `#tag-${tag}` }, tag)))));

  const info = doc.info || {};
  return frame(
    h("div", { class: "page-header" },
      h("span", { class: "ws-avatar", "aria-hidden": "true" }, icon("layout", { size: 20 })),
      h("div", { class: "page-header-text" },
        h("p", { class: "eyebrow" }, `OpenAPI ${doc.openapi || ""} · ${info.title || "API"} ${info.version || ""}`),
        h("h1", { class: "page-title" }, "API reference"),
        h("p", { class: "muted" }, rich(info.description),
          " The document itself: ", h("a", { href: "/api/openapi.json", "data-native": "" }, h("code", {}, "/api/openapi.json")), "."))),
    h("div", { class: "apidocs-tools" },
      h("div", { class: "field apidocs-filter" }, h("label", { for: filterId }, "Filter operations"), filter),
      h("div", { class: "button-row" },
        button("Expand all", { variant: "secondary", size: "sm", onClick: () => setAll(true) }),
        button("Collapse all", { variant: "ghost", size: "sm", onClick: () => setAll(false) }))),
    status.el,
    toc,
    sections);
}
