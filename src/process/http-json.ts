// A JSON request to one of the project's own HTTP endpoints (the admin API, a control port, the
// monitor): the body sent as JSON, a bearer token, a timeout; a status that is not 2xx is an error
// quoting the start of the answer.
export interface JsonRequest {
  method?: string;
  body?: unknown;
  token?: string;
  timeoutMs?: number;
}

export async function httpJson<T = unknown>(url: string, init: JsonRequest = {}): Promise<T> {
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : null) as T;
}
