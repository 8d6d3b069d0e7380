// The SDK builds an Ajv JSON-Schema validator for every Server and Client unless
// given one. lmcp never needs it (the server sends no elicitation requests, the
// hub never lists a backend's tools, `lmcp call --list` lists but calls nothing),
// and Ajv costs memory and start-up time, so every Server and Client gets this
// validator instead; it is never called. The compiled binary leaves Ajv out
// altogether (build/build.ts).
import type { jsonSchemaValidator } from "@modelcontextprotocol/server";

export const unusedJsonSchemaValidator: jsonSchemaValidator = {
  getValidator() {
    return () => ({ valid: false, data: undefined, errorMessage: "lmcp does not validate JSON Schema here (no elicitation, no tool listing)" });
  },
};
