import type { Page, Project } from "../api/types.ts";
import { useResource } from "../hooks/use-resource.ts";

/** A listing's "Project" filter: All, or one of the projects (read once). */
export function ProjectFilter({ value, onChange }: { value: string; onChange(slug: string): void }) {
  const projects = useResource<Page<Project>>("/api/v1/projects");
  return (
    <label class="field field-inline">
      <span>Project</span>
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">All</option>
        {projects.data?.items.map((p) => (
          <option key={p.slug} value={p.slug}>
            {p.slug}
          </option>
        ))}
      </select>
    </label>
  );
}
