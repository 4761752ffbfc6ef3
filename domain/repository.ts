/**
 * A repository URL as people see it. A clone URL may carry a credential
 * (`https://user:token@host/…`, `https://ghp_…@github.com/…`): it is kept only for the checkout
 * (the job assignment's `repository`); every view — projects, lineage events, the dashboard —
 * shows the userinfo as `***`. An ssh or scp-like user without a password (`git@github.com:…`)
 * is a login name, not a secret, and stays.
 */
export function redactRepository(repository: string): string {
  const url = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)@/.exec(repository);
  if (url) {
    const [whole, scheme, userinfo] = url as unknown as [string, string, string];
    const secretive = /^https?:|^ftps?:/i.test(scheme) || userinfo.includes(":");
    return secretive ? `${scheme}***@${repository.slice(whole.length)}` : repository;
  }
  // scp-like `user:password@host:path` (git accepts it for ssh).
  const scp = /^([^/@:]+):([^/@]*)@/.exec(repository);
  return scp ? `***@${repository.slice(scp[0].length)}` : repository;
}
