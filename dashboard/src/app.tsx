/**
 * The app: the session gate (sign-in page or the signed-in shell) around the routes.
 * Behind Cloudflare Access the server knows the person from the Access assertion the browser's
 * requests carry, so GET /api/v1/session signs them in with no token asked for.
 * Who is signed in (name and roles — never the token) is remembered in localStorage so a
 * returning person's page renders at once; the server is asked in parallel, and any 401
 * shows the sign-in page.
 */
import { useEffect, useState } from "preact/hooks";
import { get, onUnauthorized } from "./api/client.ts";
import type { Session } from "./api/types.ts";
import { Shell } from "./components/Shell.tsx";
import { SignIn } from "./pages/SignIn.tsx";
import { Routes } from "./routes.tsx";
import { SessionContext } from "./session.ts";

const KEY = "ym-session-view";

function remembered(): Session | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? "null") as Session | null;
    return s && typeof s.kind === "string" && Array.isArray(s.scopes) && Array.isArray(s.roles) ? s : undefined;
  } catch {
    return undefined;
  }
}

function remember(session: Session | null): void {
  try {
    if (session) {
      const { kind, name, email, scopes, projects, roles } = session;
      localStorage.setItem(KEY, JSON.stringify({ kind, name, email, scopes, projects, roles, token: null }));
    }
    else localStorage.removeItem(KEY);
  } catch {
    // storage disabled: ask the server every time
  }
}

export function App() {
  // undefined: asking the server; null: signed out.
  const [session, setSession] = useState<Session | null | undefined>(remembered);
  const update = (s: Session | null) => {
    remember(s);
    setSession(s);
  };

  useEffect(() => {
    get<Session>("/api/v1/session").then(update, () => update(null));
    return onUnauthorized(() => update(null));
  }, []);

  if (session === undefined) return <div class="splash" aria-busy="true" />;
  if (session === null) return <SignIn onSignedIn={update} />;
  return (
    <SessionContext.Provider value={session}>
      <Shell session={session} onSignedOut={() => update(null)}>
        <Routes />
      </Shell>
    </SessionContext.Provider>
  );
}
