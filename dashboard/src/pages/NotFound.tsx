import { Link } from "../router.tsx";

export function NotFound() {
  return (
    <div class="empty">
      <h1>Not found</h1>
      <p>
        There is no page here. <Link href="/runs">See the runs</Link>.
      </p>
    </div>
  );
}
