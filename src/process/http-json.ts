// A JSON request to one of the project's own HTTP endpoints (the admin API, a control port, the
// monitor): the body sent as JSON, a bearer token, a timeout; a status that is not 2xx is an error
// quoting the start of the answer; a connection that broke is named with its cause, and a GET whose
// kept-alive connection broke is asked once more. A 503 may be asked again (retryUnavailableMs).
export interface JsonRequest {
  method?: string;
  body?: unknown;
  token?: string;
  timeoutMs?: number;
  /** Ask again, a second apart, while the answer is 503 (Unavailable: a node's Redis did not answer
   *  in time), for up to this long. Only for requests that may be repeated (stop, expire). */
  retryUnavailableMs?: number;
  /** told before each repeat */
  onRetry?(error: HttpStatusError): void;
}

/** An answer whose status is not 2xx. */
export class HttpStatusError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const UNAVAILABLE = 503;
const RETRY_EVERY_MS = 1000;

export async function httpJson<T = unknown>(url: string, init: JsonRequest = {}): Promise<T> {
  const until = Date.now() + (init.retryUnavailableMs ?? 0);
  for (;;) {
    try {
      return await requestOnce<T>(url, init);
    } catch (err) {
      if (!(err instanceof HttpStatusError) || err.status !== UNAVAILABLE || Date.now() + RETRY_EVERY_MS > until) throw err;
      init.onRetry?.(err);
      await new Promise((r) => setTimeout(r, RETRY_EVERY_MS));
    }
  }
}

async function requestOnce<T>(url: string, init: JsonRequest): Promise<T> {
  const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
  const send = () =>
    fetch(url, {
      method,
      headers: {
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
    });
  let res: Response | undefined;
  for (let attempt = 1; res === undefined; attempt++) {
    try {
      res = await send();
    } catch (err) {
      if (!isNetworkError(err)) throw err;
      // A kept-alive connection the other side closed as it was reused ("fetch failed": under load,
      // after a pause longer than its keep-alive): a GET changes nothing, so it is asked once more.
      if (method === 'GET' && attempt === 1) continue;
      const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`${method} ${url}: ${(err as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`);
    }
  }
  const text = await res.text();
  if (!res.ok) throw new HttpStatusError(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 300)}`, res.status);
  return (text ? JSON.parse(text) : null) as T;
}

/** fetch's own error for a connection that failed or broke (not a timeout, not an HTTP status). */
function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError && err.message === 'fetch failed';
}
