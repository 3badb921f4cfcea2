// The admin API as the dashboard calls it. One bearer token, kept in this tab's session storage
// (gone when the tab closes, never in a cookie, never in local storage), taken from a
// `#token=...` fragment when the URL has one (wall screens), and sent with every call as the API
// wants it: `Authorization: Bearer <token>`. The read token shows everything; drain and resume
// need the admin token (the API answers 403 to the read token, and the page says so).

const KEY = "fleetgate.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // 0 when the coordinator did not answer at all
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  sessionStorage.setItem(KEY, value.trim());
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

// "#token=abc" (or "#view=x&token=abc"). Only percent-decoding: a base64 token's "+" is a "+".
// The fragment then leaves the address bar and the history entry; the token stays in session
// storage, so a reload keeps working. Returns whether a token was found.
export function takeTokenFromFragment() {
  const fragment = location.hash.replace(/^#/, "");
  for (const part of fragment.split("&")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq) !== "token") continue;
    let value = part.slice(eq + 1);
    try { value = decodeURIComponent(value); } catch { /* keep it as written */ }
    history.replaceState(null, "", location.pathname + location.search);
    if (value.trim() === "") return false;
    setToken(value);
    return true;
  }
  return false;
}

async function call(method, path, body) {
  const current = token();
  if (!current) throw new ApiError(401, "no_token", "no token");
  const headers = { "Authorization": "Bearer " + current, "Accept": "application/json" };
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (failure) {
    throw new ApiError(0, "unreachable", "the coordinator did not answer (" + failure.message + ")");
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.code) || "http_" + response.status,
                       (data && data.error) || response.statusText || "HTTP " + response.status);
  }
  return data;
}

export const api = {
  get: (path) => call("GET", path),
  post: (path, body) => call("POST", path, body),
};
