/** Pipeline files shared by the parser tests. */

// The example of DESIGN.md §2, verbatim.
export const DESIGN_EXAMPLE = `name: build
env: { CI: "true" }
jobs:
  test:
    runs-on: [linux, node]        # the agent must carry every label
    priority: 0                   # higher is claimed first; then queue position, then age
    timeout: 10m
    retries: 2                    # job attempts after the first
    steps:
      - id: install
        run: npm ci
      - id: unit
        needs: [install]
        run: npm test
      - id: lint
        needs: [install]
        run: npm run lint
        continue-on-error: true    # a failure here makes the job WARNING, not FAILED
    outputs: { version: "\${{ steps.install.outputs.version }}" }
    artifacts: [coverage/**]
    lineage: { inputs: [{ namespace: "s3://raw", name: "events" }], outputs: [] }
  deploy:
    needs: [test]
    runs-on: [linux]
    steps:
      - run: ./deploy.sh \${{ needs.test.outputs.version }}
`;
