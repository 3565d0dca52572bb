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

export function postJSON(path, body) {
  return request(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
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

async function request(path, init) {
  if (apiKey) init.headers = { ...init.headers, Authorization: `Bearer ${apiKey}` };
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("Could not reach the service. Is it still running?");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(describe(response.status, body?.detail));
  return body;
}

function describe(status, detail) {
  // 422 details are FastAPI's list of {loc, msg}; every other error has one line of text.
  const text = Array.isArray(detail)
    ? detail.map((error) => `${error.loc.at(-1)}: ${error.msg}`).join("; ")
    : detail ?? `the service answered ${status}`;
  const reason = PLAIN_REASONS[status];
  return reason ? `${reason}: ${text}` : capitalize(text);
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
