import { describe, expect, it } from "vitest";
import { final, runJob, eachTestServer } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const ctx = eachTestServer();

describe("outputs leave the agent masked (issue 13: `echo k=$SECRET >> $YM_OUTPUT`)", () => {
  it("step and job outputs that carry a secret (as is, base64, wrapped, URL-encoded) are reported with ***; later steps of the job get the value", async () => {
    // 64 bytes: its base64 wraps at 76 columns.
    const secret = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0-very-long-secret-value-0042";
    const job = makeAssignment({
      mask: [secret],
      env: { SECRET: secret },
      steps: [
        {
          id: "make",
          run: [
            `echo "k=$SECRET" >> "$YM_OUTPUT"`,
            `echo "auth=$(printf 'user:%s' "$SECRET" | base64 -w0)" >> "$YM_OUTPUT"`,
            `{ echo 'wrapped<<EOF'; printf '%s' "$SECRET" | base64; echo EOF; } >> "$YM_OUTPUT"`,
            `echo "url=https://u:$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$SECRET")@example.com" >> "$YM_OUTPUT"`,
            `echo "name_$SECRET=x" >> "$YM_OUTPUT"`,
            `echo "plain=1.2.3" >> "$YM_OUTPUT"`,
          ].join("\n"),
        },
        {
          id: "use",
          needs: ["make"],
          run: `[ '\${{ steps.make.outputs.k }}' = "$SECRET" ] && echo "got_value=yes" >> "$YM_OUTPUT"`,
        },
      ],
      outputs: { k: "${{ steps.make.outputs.k }}", both: "${{ steps.make.outputs.plain }}/${{ steps.make.outputs.k }}" },
    });
    const record = ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.outcome.status).toBe("SUCCESS");

    const made = final(r.steps, "make")!.outputs!;
    expect(made.k).toBe("***");
    expect(made.auth).toMatch(/^dXNlcj\w?\*\*\*[\w=]{0,3}$/);
    expect(made.wrapped).toMatch(/^\*\*\*\n?[\w=]{0,3}$/);
    expect(made.url).toBe("https://u:***@example.com");
    expect(made.plain).toBe("1.2.3");
    expect(Object.keys(made).sort()).toEqual(["auth", "k", "plain", "url", "wrapped"]); // the secret-named one dropped
    expect(r.log).toContain('warning: output "name_***" dropped: its name contains a secret');

    // Within the job the step got the value itself.
    expect(final(r.steps, "use")!.outputs).toEqual({ got_value: "yes" });
    expect(record.finish).toMatchObject({ status: "SUCCESS", outputs: { k: "***", both: "1.2.3/***" } });

    const everything = JSON.stringify({ steps: r.steps, finish: record.finish }) + r.log;
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(Buffer.from(secret).toString("base64").slice(0, 40));
  });
});
