/** What every test client keeps of an HTTP answer, wherever the request went (workerd, wrangler dev). */
export interface Reply {
  status: number;
  /** The body parsed as JSON; undefined when empty or not JSON (the text says what it was). */
  json: any;
  text: string;
  headers: Headers;
}

/** Reads a response whole: tests assert on error bodies too, so a body that is not JSON is kept as text. */
export async function readReply(response: Response): Promise<Reply> {
  const text = await response.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, headers: response.headers };
}
