// The public v1 API, and its errors turned into sentences a person can read.

const PLAIN_REASONS = {
  401: "This service needs an API key (see the bottom of the page)",
  413: "Too large",
  415: "Not an image",
  503: "The model is still loading; try again in a moment",
};

let apiKey = "";

export function useApiKey(key) {
  apiKey = key.trim();
}

export class ApiError extends Error {}

// `fields`: what to call the body's fields in an error, in words ({ text: "Number" }); a field left out
// keeps its name.
export function postJSON(path, body, fields = {}) {
  return request(
    path,
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) },
    fields,
  );
}

export function getJSON(path) {
  return request(path, { method: "GET" });
}

// `fields`: further form fields (the model's name), left out where undefined.
export function postFile(path, file, fields = {}) {
  const form = new FormData();
  form.append("file", file, file.name ?? "digit.png");
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) form.append(name, value);
  return request(path, { method: "POST", body: form });
}

async function request(path, init, fields = {}) {
  if (apiKey) init.headers = { ...init.headers, Authorization: `Bearer ${apiKey}` };
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("Could not reach the service. Is it still running?");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(describe(response.status, body?.detail, fields));
  return body;
}

function describe(status, detail, fields) {
  // 422 details are FastAPI's list of {loc, msg}; every other error has one line of text.
  const text = Array.isArray(detail)
    ? detail.map((error) => `${fieldName(error.loc, fields)}: ${error.msg}`).join("; ")
    : detail ?? `the service answered ${status}`;
  const reason = PLAIN_REASONS[status];
  return reason ? `${reason}: ${text}` : capitalize(text);
}

// The field's name in words where `fields` has one, also for an item of it (["body", "z", 3]), or a name
// per item (["body", "seeds", 0]: the first of its names); otherwise the last field name of its location as
// the service gives it, never an item's index.
function fieldName(loc, fields) {
  const at = loc.findLastIndex((part) => Object.hasOwn(fields, part));
  if (at === -1) return loc.findLast((part) => typeof part === "string" && part !== "body") ?? "the request";
  const name = fields[loc[at]];
  return Array.isArray(name) ? (name[loc[at + 1]] ?? name[0]) : name;
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
