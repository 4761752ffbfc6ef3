/** The frame of every signed-in page: brand, navigation, theme toggle, sign-out. */
import type { ComponentChildren } from "preact";
import { api } from "../api/client.ts";
import type { Session } from "../api/types.ts";
import { Link, useLocation } from "../router.tsx";
import { canEverywhere } from "../session.ts";
import { ThemeToggle } from "./ThemeToggle.tsx";

const NAV = [
  ["/runs", "Runs"],
  ["/projects", "Projects"],
  ["/queue", "Queue"],
  ["/artifacts", "Artifacts"],
  ["/datasets", "Datasets"],
  ["/agents", "Agents"],
] as const;
/** Pages for admins of every project: people and their roles, the audit log. */
const ADMIN_NAV = [
  ["/settings/people", "People"],
  ["/audit", "Audit"],
] as const;

export function Shell({ session, onSignedOut, children }: { session: Session; onSignedOut(): void; children: ComponentChildren }) {
  const { path } = useLocation();
  const signOut = async () => {
    await api("DELETE", "/api/v1/session").catch(() => undefined);
    onSignedOut();
  };
  return (
    <div class="shell">
      <header class="topbar">
        <Link href="/runs" class="brand" aria-label="Yardmaster home">
          <img src="/favicon.svg" alt="" width={22} height={22} />
          <span>Yardmaster</span>
        </Link>
        <nav class="mainnav" aria-label="Main">
          {[...NAV, ...(canEverywhere(session, "admin") ? ADMIN_NAV : [])].map(([href, label]) => (
            <Link key={href} href={href} aria-current={path === href || path.startsWith(`${href}/`) ? "page" : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <div class="topbar-end">
          <ThemeToggle />
          <span class="who" data-kind={session.kind} title={session.kind === "admin" ? "admin token" : session.kind === "user" ? `signed in through Cloudflare Access as ${session.email}` : `token ${session.name}`}>
            {session.kind === "admin" ? "admin" : session.name}
          </span>
          {session.kind === "user" ? (
            // A person's sign-in is Access's: signing out ends the Access session.
            <a class="btn btn-ghost btn-sm" href="/cdn-cgi/access/logout">
              Sign out
            </a>
          ) : (
            <button type="button" class="btn btn-ghost btn-sm" onClick={signOut}>
              Sign out
            </button>
          )}
        </div>
      </header>
      <main class="content" id="main">
        {children}
      </main>
    </div>
  );
}
