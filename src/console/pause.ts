// The emergency stop: one switch, in memory, that makes the MCP layer refuse
// every tools/call (src/mcp/server.ts asks `message()` first) until an operator
// resumes from the console. A restart also clears it: the stop is for now.

export interface PauseState {
  by: string;
  at: Date;
}

export class EmergencyStop {
  private state: PauseState | undefined;
  private readonly listeners = new Set<(paused: boolean) => void>();
  /** Where the console is, for the refusal's "how to resume"; set once the listener is up. */
  consoleUrl = "/ui";

  get current(): PauseState | undefined {
    return this.state;
  }

  /** Pauses every agent; false when already paused (the first pause's time and name are kept). */
  stop(by: string, now = new Date()): boolean {
    if (this.state) return false;
    this.state = { by, at: now };
    this.tell(true);
    return true;
  }

  /** Lets agents call again; false when nothing was paused. */
  resume(): boolean {
    if (!this.state) return false;
    this.state = undefined;
    this.tell(false);
    return true;
  }

  /** The refusal every call gets while paused, in words an agent and the human behind it can act on; undefined when running. */
  message(): string | undefined {
    const s = this.state;
    if (!s) return undefined;
    return (
      `Refused: the operator paused all agents from the lmcp console (emergency stop by ${s.by} at ${s.at.toISOString()}). ` +
      `No tool call runs until someone presses Resume on the console at ${this.consoleUrl}. ` +
      "Do not retry in a loop: tell the user, and wait for them to resume."
    );
  }

  onChange(listener: (paused: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private tell(paused: boolean): void {
    for (const l of this.listeners) l(paused);
  }
}
