/**
 * Upload or edit a pipeline (.act file). Saving PUTs the text; a refused file shows every
 * problem at its line and column (in the gutter, behind the text, and in a list that moves
 * the caret there). Nothing is stored until the whole file is valid.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../api/client.ts";
import type { PipelineDetail, PipelineProblem, PipelineSummary } from "../api/types.ts";
import { CodeEditor, type EditorHandle } from "../components/CodeEditor.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { useResource } from "../hooks/use-resource.ts";
import { Link, navigate } from "../router.tsx";
import { can, useSession } from "../session.ts";
import { PipelineTrends } from "./PipelineTrends.tsx";
import { RunDialog } from "./RunDialog.tsx";
import { PIPELINE_TEMPLATES } from "./pipeline-templates.ts";

const TEMPLATE = PIPELINE_TEMPLATES[0]!.text("build");

export function PipelineEditorPage({ project, pipeline }: { project: string; pipeline: string | null }) {
  const session = useSession();
  const existing = useResource<PipelineDetail>(pipeline ? `/api/v1/projects/${project}/pipelines/${encodeURIComponent(pipeline)}` : null);
  const [name, setName] = useState(pipeline ?? "");
  const [text, setText] = useState<string | null>(pipeline ? null : TEMPLATE);
  const [problems, setProblems] = useState<PipelineProblem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [running, setRunning] = useState(false);
  const editor = useRef<EditorHandle | null>(null);
  const mayEdit = can(session, "admin", project);

  // Another pipeline opened in this editor: start over from its file.
  const shownFor = useRef(pipeline);
  useEffect(() => {
    if (shownFor.current === pipeline || shownFor.current === null) {
      shownFor.current = pipeline;
      return;
    }
    shownFor.current = pipeline;
    setName(pipeline ?? "");
    setText(pipeline ? null : TEMPLATE);
    setProblems([]);
    setSaved(null);
  }, [pipeline]);
  useEffect(() => {
    if (existing.data && text === null) setText(existing.data.content);
  }, [existing.data, text]);

  const save = async () => {
    if (text === null) return;
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      const result = await api<PipelineSummary & { changed: boolean }>("PUT", `/api/v1/projects/${project}/pipelines/${encodeURIComponent(name)}`, undefined, { text });
      setProblems([]);
      setSaved(result.changed ? `Saved as version ${result.version.version}.` : `No change: version ${result.version.version} is the same.`);
      if (pipeline === null) navigate(`/projects/${project}/pipelines/${encodeURIComponent(name)}`, { replace: true });
      else existing.reload();
    } catch (e) {
      if (e instanceof ApiError && e.code === "invalid_pipeline") {
        const list = (e.details as { problems?: PipelineProblem[] } | undefined)?.problems ?? [];
        setProblems(list);
        const first = list[0];
        if (first && first.line > 0) editor.current?.jumpTo(first.line, first.column);
      } else setError(e);
    } finally {
      setBusy(false);
    }
  };

  const upload = async (file: File | undefined) => {
    if (!file) return;
    setText(await file.text());
    setProblems([]);
    if (!name) setName(file.name.replace(/\.(act|ya?ml)$/i, "").replace(/[^A-Za-z0-9_.-]/g, "-"));
  };

  return (
    <>
      <PageHeader
        title={pipeline ? pipeline : "New pipeline"}
        sub={
          <>
            <Link href="/projects">Projects</Link> / <Link href={`/projects/${project}`}>{project}</Link>
            {existing.data && <span class="muted"> · version {existing.data.version.version}</span>}
          </>
        }
        actions={
          pipeline &&
          can(session, "run", project) && (
            <button type="button" class="btn" onClick={() => setRunning(true)}>
              ▶ Run
            </button>
          )
        }
      />
      <ErrorNotice error={existing.error ?? error} />
      <form
        class="editor-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <div class="editor-toolbar">
          {pipeline === null && (
            <label class="field field-inline">
              <span>Name</span>
              <input value={name} onInput={(e) => setName(e.currentTarget.value)} required pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}" placeholder="build" spellcheck={false} />
            </label>
          )}
          {pipeline === null &&
            PIPELINE_TEMPLATES.map((t) => (
              <button
                type="button"
                class="btn"
                key={t.id}
                title={t.hint}
                data-template={t.id}
                onClick={() => {
                  setText(t.text(name));
                  setProblems([]);
                }}
              >
                {t.label}
              </button>
            ))}
          <label class="btn btn-file">
            Upload .act file…
            <input type="file" accept=".act,.yaml,.yml,text/plain" onChange={(e) => upload(e.currentTarget.files?.[0])} />
          </label>
          <span class="grow" />
          {saved && (
            <span class="ok-text" role="status">
              {saved}
            </span>
          )}
          {mayEdit && (
            <button type="submit" class="btn btn-primary" disabled={busy || text === null || !name}>
              {busy ? "Saving…" : "Save"}
            </button>
          )}
        </div>
        {problems.length > 0 && (
          <div class="notice notice-error problems" role="alert">
            <strong>
              {problems.length} problem{problems.length === 1 ? "" : "s"}; nothing was saved.
            </strong>
            <ul>
              {problems.map((p, i) => (
                <li key={i}>
                  <button type="button" class="linkish" onClick={() => editor.current?.jumpTo(p.line, p.column)}>
                    line {p.line}, column {p.column}
                  </button>
                  : {p.message}
                </li>
              ))}
            </ul>
          </div>
        )}
        {text !== null && <CodeEditor value={text} onInput={(v) => setText(v)} problems={problems} handle={editor} label="Pipeline file" name={name} />}
      </form>
      {pipeline && <PipelineTrends project={project} pipeline={pipeline} />}
      {running && pipeline && <RunDialog project={project} pipelines={[pipeline]} initial={pipeline} onClose={() => setRunning(false)} />}
    </>
  );
}
