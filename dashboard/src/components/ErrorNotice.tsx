/** An API error, said plainly. */
import { ApiError } from "../api/client.ts";

export function ErrorNotice({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof ApiError ? error.code : undefined;
  return (
    <div class="notice notice-error" role="alert">
      {title && <strong>{title}: </strong>}
      {message}
      {code && <code class="muted"> ({code})</code>}
    </div>
  );
}
