// The worker thread that runs search_files (search_engine.ts), so a long walk
// or grep never holds up the server's event loop. It takes one job at a time
// and answers each with what it found; the server stops it through the job's
// shared stop word. Built into the binary as its own entrypoint (build/build.ts).
import { type SearchAnswer, type SearchJob, runSearch, stopReader } from "./search_engine.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<SearchJob>) => {
  let answer: SearchAnswer;
  try {
    answer = runSearch(event.data.request, stopReader(event.data.stop));
  } catch (err) {
    answer = { error: `internal error in search_files: ${err instanceof Error ? err.message : String(err)} (a bug in lmcp; please report it)` };
  }
  self.postMessage(answer);
};
