// One registry from several sources, in precedence order (backends.toml, then
// ssh_config, then ansible): per name, the lmcp link (url, token) and the SSH
// route (target, port, options) each come whole from the first source that has
// one; tags are the union; allowed_paths only ever come from backends.toml.
import type { Backend } from "../registry.ts";

export type HostSource = "backends.toml" | "ssh_config" | "ansible";

export interface SourcedBackend extends Backend {
  /** The source that named this host first (precedence order): the one that wins. */
  source: HostSource;
  /** Every source that has it, in precedence order. */
  sources: HostSource[];
}

export function mergeSources(lists: { source: HostSource; backends: Backend[] }[]): SourcedBackend[] {
  const byName = new Map<string, SourcedBackend>();
  for (const { source, backends } of lists) {
    for (const b of backends) {
      const have = byName.get(b.name);
      if (!have) {
        byName.set(b.name, { ...b, ssh_options: [...b.ssh_options], tags: [...b.tags], source, sources: [source] });
        continue;
      }
      if (!have.sources.includes(source)) have.sources.push(source);
      // A route is taken whole: a port or -F from one source must never reach another source's target.
      if (have.url === undefined && b.url !== undefined) {
        have.url = b.url;
        have.token = b.token;
        have.tokenFile = b.tokenFile;
      }
      if (have.ssh === undefined && b.ssh !== undefined) {
        have.ssh = b.ssh;
        have.ssh_port = b.ssh_port;
        have.ssh_options = [...b.ssh_options];
      }
      for (const t of b.tags) if (!have.tags.includes(t)) have.tags.push(t);
    }
  }
  return [...byName.values()];
}
