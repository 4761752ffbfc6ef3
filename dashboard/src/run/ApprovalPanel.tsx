/**
 * A `type: approval` job on the run page: its prompt, and while it waits, a form for its typed
 * inputs with **Approve** and **Reject** (with a reason) for those who may run; once decided,
 * who decided and the inputs given (its outputs). The API checks the inputs: a 400 naming one
 * (`details.input`) is shown at its field, anything else above the buttons.
 */
import { useState } from "preact/hooks";
import { ApiError, api } from "../api/client.ts";
import type { JobAttemptView, JobView, RunView } from "../api/types.ts";
import { Dialog } from "../components/Dialog.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { awaitsApproval } from "./model.ts";

type Approval = NonNullable<JobView["approval"]>;
type Input = Approval["inputs"][string];

/** The form's values as the API takes them: typed, blanks left out (the default or "required" applies). */
function inputsFrom(form: HTMLFormElement, approval: Approval): Record<string, string | number | boolean> {
  const data = new FormData(form);
  const inputs: Record<string, string | number | boolean> = {};
  for (const [name, input] of Object.entries(approval.inputs)) {
    if (input.type === "boolean") {
      inputs[name] = data.get(`input:${name}`) === "on";
      continue;
    }
    const raw = String(data.get(`input:${name}`) ?? "");
    if (raw.trim() === "") continue;
    inputs[name] = input.type === "number" ? Number(raw) : raw;
  }
  return inputs;
}

/** A rejection's reason, from the message the engine writes (`rejected by <who>: <reason>`). */
function reasonOf(attempt: JobAttemptView): string | null {
  const prefix = `rejected by ${attempt.decidedBy}: `;
  return attempt.message?.startsWith(prefix) ? attempt.message.slice(prefix.length) : null;
}

function InputField({ name, input, error }: { name: string; input: Input; error: string | null }) {
  const id = `approval-input-${name}`;
  const described = [input.description ? `${id}-help` : null, error ? `${id}-error` : null].filter(Boolean).join(" ") || undefined;
  const common = { id, name: `input:${name}`, "aria-invalid": error ? true : undefined, "aria-describedby": described };
  const typed = { defaultValue: input.default ?? "", required: input.required };
  const label = (
    <span class="mono">
      {name}
      {input.required && input.type !== "boolean" && (
        <>
          {" "}
          <abbr class="required-mark" title="required" aria-label="required">
            *
          </abbr>
        </>
      )}
    </span>
  );
  return (
    <div class={`field${input.type === "boolean" ? " field-check" : ""}`} data-input={name}>
      {input.type === "boolean" ? (
        <label for={id} class="field field-inline">
          <input type="checkbox" {...common} defaultChecked={input.default === "true"} />
          {label}
        </label>
      ) : (
        <>
          <label for={id}>{label}</label>
          {input.type === "number" ? (
            <input type="number" step="any" {...common} {...typed} />
          ) : (
            <input type="text" {...common} {...typed} spellcheck={false} autocomplete="off" />
          )}
        </>
      )}
      {input.description && (
        <small id={`${id}-help`} class="muted">
          {input.description}
        </small>
      )}
      {error && (
        <small id={`${id}-error`} class="field-error">
          {error}
        </small>
      )}
    </div>
  );
}

export function ApprovalPanel({
  runId,
  job,
  attempt,
  canDecide,
  onDecided,
}: {
  runId: string;
  job: JobView;
  attempt: JobAttemptView | undefined;
  /** Whether the signed-in person or token may run on the run's project (the API's `run` scope). */
  canDecide: boolean;
  onDecided(run: RunView): void;
}) {
  const approval = job.approval!;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [rejecting, setRejecting] = useState(false);
  const waiting = awaitsApproval(job);
  const inputs = Object.entries(approval.inputs);
  // A refusal that names an input of the form is shown at that input; any other above the buttons.
  const named = error instanceof ApiError && error.status === 400 ? (error.details as { input?: unknown } | undefined)?.input : undefined;
  const fieldError = typeof named === "string" && Object.hasOwn(approval.inputs, named) ? named : null;

  const decide = async (verb: "approve" | "reject", body: object) => {
    setBusy(true);
    setError(null);
    try {
      onDecided(await api<RunView>("POST", `/api/v1/runs/${runId}/jobs/${encodeURIComponent(job.key)}/${verb}`, body));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const approve = (event: SubmitEvent) => {
    event.preventDefault();
    void decide("approve", { inputs: inputsFrom(event.currentTarget as HTMLFormElement, approval) });
  };
  const reject = (event: SubmitEvent) => {
    event.preventDefault();
    const reason = String(new FormData(event.currentTarget as HTMLFormElement).get("reason") ?? "").trim();
    setRejecting(false);
    void decide("reject", reason ? { reason } : {});
  };

  return (
    <section class="approval" aria-labelledby={`approval-${job.key}`}>
      <h3 id={`approval-${job.key}`} class="approval-prompt">
        {approval.prompt}
      </h3>
      {attempt?.decidedBy && (
        <p class={`notice ${attempt.status === "SUCCESS" ? "notice-success" : "notice-error"}`} data-decided-by={attempt.decidedBy}>
          {attempt.status === "SUCCESS" ? "Approved" : "Rejected"} by <strong>{attempt.decidedBy}</strong>
          {attempt.endedAt && <> at {new Date(attempt.endedAt).toLocaleString()}</>}
          {reasonOf(attempt) && <>. Reason: {reasonOf(attempt)}</>}
        </p>
      )}
      {!attempt?.decidedBy && attempt?.reason === "timeout" && <p class="notice notice-error">No one approved or rejected it in time.</p>}
      {attempt?.decidedBy && Object.keys(job.outputs).length > 0 && (
        <p class="approval-given">
          <span class="muted">Inputs given: </span>
          {Object.entries(job.outputs).map(([k, v]) => (
            <span key={k} class="kv" data-output={k}>
              <span class="kv-k">{k}</span>
              <span class="kv-v">{v}</span>
            </span>
          ))}
        </p>
      )}
      {waiting && !canDecide && <p class="muted">Waiting for someone who may run this project's pipelines to approve or reject it.</p>}
      {waiting && canDecide && (
        <form class="form approval-form" onSubmit={approve} noValidate aria-label={`Approve ${job.key}`}>
          {inputs.length > 0 && (
            <fieldset class="fieldset">
              <legend>Inputs</legend>
              {inputs.map(([name, input]) => (
                <InputField key={name} name={name} input={input} error={fieldError === name ? (error as ApiError).message : null} />
              ))}
            </fieldset>
          )}
          {fieldError === null && <ErrorNotice error={error} />}
          <div class="form-actions approval-actions">
            <button type="button" class="btn btn-danger" disabled={busy} onClick={() => setRejecting(true)}>
              Reject…
            </button>
            <button type="submit" class="btn btn-primary" disabled={busy}>
              Approve
            </button>
          </div>
        </form>
      )}
      <Dialog open={rejecting} title={`Reject ${job.key}?`} onClose={() => setRejecting(false)}>
        <form class="form" onSubmit={reject}>
          <p>The jobs that need it will not run.</p>
          <label class="field">
            <span>Reason (optional)</span>
            <textarea name="reason" rows={3} maxLength={1000} />
          </label>
          <div class="form-actions">
            <button type="button" class="btn" onClick={() => setRejecting(false)}>
              Keep waiting
            </button>
            <button type="submit" class="btn btn-danger">
              Reject
            </button>
          </div>
        </form>
      </Dialog>
    </section>
  );
}
