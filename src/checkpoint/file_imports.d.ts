/** `import path from "./x.sql" with { type: "file" }`: the file's path (embedded by `bun build --compile`). */
declare module "*.sql" {
  const path: string;
  export default path;
}
