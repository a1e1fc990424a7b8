/** Values the edge global setup hands to the workerd test pool (see vitest.config.ts). */
declare module "vitest" {
  export interface ProvidedContext {
    edgeBindings: Record<string, string>;
  }
}

export {};
