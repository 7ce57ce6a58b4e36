/** busboy's own Content-Type parser (lib/utils.js, CommonJS): the one it reads the boundary with. */
declare module 'busboy/lib/utils.js' {
  export function parseContentType(value: string): { type: string; subtype: string; params: Record<string, string> } | undefined;
}
