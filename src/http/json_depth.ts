// Measures a JSON body's nesting and size in values without parsing it, so a
// hostile `[[[[…` or `[{},{},…]` (millions of objects from a few MiB) is refused
// before any recursive parser, validator or allocation sees it.

export interface JsonLimits {
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
  /** Most values: a parsed value costs tens of bytes, so a body's count bounds what parsing it allocates. */
  maxValues: number;
}

/**
 * What is wrong with the shape of the JSON `text`, or undefined. Strings and their escapes are skipped. Values are
 * counted as containers plus separators, which is at least the number of values a parse would make, less one.
 */
export function jsonShapeProblem(text: string, limits: JsonLimits): "too_deep" | "too_many_values" | undefined {
  let depth = 0;
  let values = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > limits.maxDepth) return "too_deep";
      if (++values > limits.maxValues) return "too_many_values";
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      depth--;
    } else if (c === 44 /* , */) {
      if (++values > limits.maxValues) return "too_many_values";
    }
  }
  return undefined;
}
