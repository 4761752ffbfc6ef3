/**
 * Sign-in with an API token (or the admin token). The token goes once, in a JSON body, to
 * POST /api/v1/session, which answers with an HttpOnly cookie; it is never put in a URL or in
 * storage, and the field is cleared as soon as the request is sent.
 */
import { useState } from "preact/hooks";
import { api } from "../api/client.ts";
import type { Session } from "../api/types.ts";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { ThemeToggle } from "../components/ThemeToggle.tsx";

export function SignIn({ onSignedIn }: { onSignedIn(session: Session): void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const input = form.elements.namedItem("token") as HTMLInputElement;
    const token = input.value.trim();
    input.value = "";
    if (!token) return;
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api<Session>("POST", "/api/v1/session", { token }));
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <div class="signin">
      <div class="signin-theme">
        <ThemeToggle />
      </div>
      <form class="card signin-card" onSubmit={submit} method="post" action="/api/v1/session">
        <div class="brand brand-lg">
          <img src="/favicon.svg" alt="" width={32} height={32} />
          <span>Yardmaster</span>
        </div>
        <h1>Sign in</h1>
        <p class="muted">
          Paste an API token (from <code>POST /api/v1/tokens</code>) or the admin token. It is kept in an HttpOnly cookie for this
          site only.
        </p>
        <label class="field">
          <span>Token</span>
          <input name="token" type="password" autocomplete="current-password" required autofocus spellcheck={false} placeholder="ymt_…" />
        </label>
        <ErrorNotice error={error} />
        <button type="submit" class="btn btn-primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
