// Bun's text imports (`with { type: "text" }`) of the programs that run on backends.
declare module "*.pl" {
  const text: string;
  export default text;
}
