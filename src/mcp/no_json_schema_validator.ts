// The SDK builds an Ajv JSON-Schema validator for every Server and Client unless
// given one. lmcp never needs it (the server sends no elicitation requests, the
// hub never lists a backend's tools), and Ajv costs several MB of memory and
// start-up time, so both get this validator instead; it is never called.
import type { jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";

export const unusedJsonSchemaValidator: jsonSchemaValidator = {
  getValidator() {
    return () => ({ valid: false, data: undefined, errorMessage: "lmcp does not validate JSON Schema here (no elicitation, no tool listing)" });
  },
};
